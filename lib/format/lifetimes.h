/*
 * lifetimes.h - the one codec of completed lifetimes (the layout
 * trace_format.h names HANDLE__TRACE_LAYOUT): the writer encodes them with
 * it (lib/debug/trace_store.c), the reader decodes them with it
 * (lib/report/trace_read.c), the tests build traces with it. A chunk is
 * one `batches` row: a JSON array of elements
 * [d,dur,idx,gen,tag,cthr,cstk,dstk(,dthr)] (positions HANDLE__LT_*),
 * times relative to the deleted_ns of its first element (base). Pure: no
 * I/O, no SQLite, no allocation but the chunk's one buffer.
 */
#ifndef HANDLE_FORMAT_LIFETIMES_H
#define HANDLE_FORMAT_LIFETIMES_H

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

/*
 * Decoding. handle__chunk_decode() parses the `data` of one `batches` row
 * (len bytes, base = its base_ns) and calls fn for each element from
 * index `skip` on, in order, with the lifetime as the `handles` view gives
 * it (created_ns and deleted_ns wrap as int64 arithmetic would; tag and
 * stack ids 0 for none; deleted_thread HANDLE__CODEC_NO_THREAD for -1).
 * Returns the number of elements (skipped ones included), or -1 when the
 * text is not exactly a chunk of this layout: anything but an array of
 * arrays of HANDLE__LT_MIN or HANDLE__LT_MAX decimal integers without
 * white space, each fitting its field (ids and threads 32 bits or -1 for
 * the deleted thread, idx and gen 32 bits). fn returning false stops the
 * decoding: -2. No allocation.
 */
typedef bool (*handle__lifetime_fn)(void *ctx, const struct handle__lifetime *l);
HANDLE__HIDDEN long handle__chunk_decode(const char *data, size_t len, int64_t base, int64_t skip,
                                         handle__lifetime_fn fn, void *ctx);

#endif
