/*
 * trace_codec.h - the compact JSON encoding of completed lifetimes (internal
 * to the trace writer; the layout is described with the schema in
 * trace_schema.h). A chunk is one `batches` row being built: a JSON array of
 * elements [d,dur,idx,gen,tag,cthr,cstk,dstk(,dthr)], times relative to the
 * deleted_ns of its first element (base). Pure: no I/O, no SQLite, no
 * allocation but the chunk's one buffer.
 */
#ifndef HANDLE_DEBUG_TRACE_CODEC_H
#define HANDLE_DEBUG_TRACE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

/* Completed lifetimes per `batches` row. */
#define HANDLE__CODEC_CHUNK_MAX 1024u
/* deleted_thread of a lifetime completed without a deletion (the exit
 * check's reconciliation): the view gives NULL. */
#define HANDLE__CODEC_NO_THREAD UINT32_MAX

struct handle__lifetime {
    uint64_t h, created_ns, deleted_ns;
    uint32_t tag, created_thread, created_stack, deleted_thread, deleted_stack;
};

struct handle__chunk {
    char *buf;     /* HANDLE__CODEC_CHUNK_MAX elements and the brackets */
    size_t len;
    uint32_t n;    /* elements so far */
    uint64_t base; /* deleted_ns of the first */
};

/* Allocates the chunk's buffer; false if out of memory. */
HANDLE__HIDDEN bool handle__chunk_init(struct handle__chunk *c);
HANDLE__HIDDEN void handle__chunk_free(struct handle__chunk *c);
/* Appends one lifetime; the chunk must not be full. Returns true when it
 * is full now (HANDLE__CODEC_CHUNK_MAX elements). */
HANDLE__HIDDEN bool handle__chunk_add(struct handle__chunk *c, const struct handle__lifetime *l);
/* Closes the array (n > 0) and returns its text, len in *len; the chunk is
 * empty again after handle__chunk_clear(). */
HANDLE__HIDDEN const char *handle__chunk_text(struct handle__chunk *c, size_t *len);
HANDLE__HIDDEN void handle__chunk_clear(struct handle__chunk *c);

#endif
