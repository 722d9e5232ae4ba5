/*
 * lifetimes.h - the one codec of completed lifetimes, for both layouts
 * trace_format.h names: the writer encodes them with it
 * (lib/debug/trace_store.c), the reader decodes them with it
 * (lib/report/trace_read.c), the tests build traces with it.
 *
 * HANDLE__TRACE_LAYOUT: a slot of a `lifetimes` row, six integers or NULLs
 * (handle__wslot_*). HANDLE__LAYOUT_JSON (read, and written by the tests):
 * a chunk is one `batches` row, a JSON array of elements
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
#include "trace_format.h"

/* Completed lifetimes per `batches` row. */
#define HANDLE__CODEC_CHUNK_MAX 1024u
/* deleted_thread of a lifetime completed without a deletion (the exit
 * check's reconciliation): the view gives NULL. */
#define HANDLE__CODEC_NO_THREAD UINT32_MAX

struct handle__lifetime {
    uint64_t h, created_ns, deleted_ns;
    uint32_t tag, created_thread, created_stack, deleted_thread, deleted_stack;
};

/*
 * A slot of a `lifetimes` row (HANDLE__TRACE_LAYOUT): its columns hK, cK,
 * dK, sK, eK, tK in v[HANDLE__RF_*], null[i] when column i is NULL.
 * handle__wslot_encode() gives what the writer binds (a lifetime completed
 * without a deletion, deleted_thread HANDLE__CODEC_NO_THREAD, has deleted
 * stack 0). handle__wslot_decode() gives the lifetime the `handles` view
 * shows for a slot whose h is not NULL; false when the slot is not one of
 * this layout: c, d or s NULL, c + d beyond int64 (the view's sum would be
 * a float), or t not a 32-bit id.
 */
enum { HANDLE__RF_H, HANDLE__RF_C, HANDLE__RF_D, HANDLE__RF_S, HANDLE__RF_E, HANDLE__RF_T };
struct handle__wslot {
    int64_t v[HANDLE__ROW_FIELDS];
    bool null[HANDLE__ROW_FIELDS];
};
HANDLE__HIDDEN void handle__wslot_encode(const struct handle__lifetime *l, struct handle__wslot *s);
HANDLE__HIDDEN bool handle__wslot_decode(const struct handle__wslot *s, struct handle__lifetime *l);

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
