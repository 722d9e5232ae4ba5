/*
 * trace_format.h - the trace's format in one place (SPEC section 5): the
 * SQL that creates a trace, the layout of completed lifetimes and the name
 * that `meta.layout` gives it. Shared by the writer (lib/debug/trace_store.c),
 * the reader (lib/report/trace_read.c) and the tests that build traces
 * (tests/unit/reader_fixtures/tracegen.h); the encoder and decoder of the
 * lifetimes are lifetimes.c. The positions of an element's fields are
 * defined once (HANDLE__LT_*) and both the codec and the `handles` view
 * use them.
 */
#ifndef HANDLE_FORMAT_TRACE_FORMAT_H
#define HANDLE_FORMAT_TRACE_FORMAT_H

/* meta.layout of the traces this writer makes: completed lifetimes as JSON
 * arrays in `batches`, live handles in `live`. A trace without the key is
 * of the same layout if its views are the writer's (traces made before the
 * key); any other value is read through the `handles` view alone. */
#define HANDLE__TRACE_LAYOUT "batches-json-1"

/*
 * A `batches` element is [d, dur, idx, gen, tag, cthr, cstk, dstk(, dthr)]:
 * deleted_ns = base_ns + d, created_ns = deleted_ns - dur, handle =
 * gen << 32 | idx, dthr only when it differs from cthr, -1 for none (a
 * handle the exit check completed: deleted_thread NULL); tag and stacks
 * are ids, 0 for none. Elements before `skip` were dropped by max_history.
 * The positions, as numbers (the codec) and as text (the view's SQL):
 */
#define HANDLE__LT_D 0
#define HANDLE__LT_DUR 1
#define HANDLE__LT_IDX 2
#define HANDLE__LT_GEN 3
#define HANDLE__LT_TAG 4
#define HANDLE__LT_CTHR 5
#define HANDLE__LT_CSTK 6
#define HANDLE__LT_DSTK 7
#define HANDLE__LT_DTHR 8 /* optional: absent when it equals cthr */
#define HANDLE__LT_MIN 8  /* fields every element has */
#define HANDLE__LT_MAX 9
#define HANDLE__LT_STR_(x) #x
#define HANDLE__LT_STR(x) HANDLE__LT_STR_(x)
/* json_extract of field F of the element j.value */
#define HANDLE__LT_SQL(F) "json_extract(j.value, '$[" HANDLE__LT_STR(HANDLE__LT_##F) "]')"

/*
 * The schema. Comments inside CREATE statements are kept by SQLite, so
 * `.schema` in the sqlite3 shell documents the layout for users.
 */
static const char handle__trace_schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;\n"
    "CREATE TABLE batches( -- completed lifetimes, read them through the view handles\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  base_ns INTEGER NOT NULL, -- deleted_ns of the first element\n"
    "  n INTEGER NOT NULL,       -- elements in data\n"
    "  skip INTEGER NOT NULL,    -- leading elements dropped by max_history\n"
    "  data TEXT NOT NULL        -- JSON [[d,dur,idx,gen,tag,cthr,cstk,dstk(,dthr)],...]\n"
    ");\n"
    "CREATE TABLE live( -- handles live at the last commit\n"
    "  handle INTEGER PRIMARY KEY, tag INTEGER, created_ns INTEGER,\n"
    "  created_thread INTEGER, created_stack INTEGER);\n"
    "CREATE TABLE errors(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, handle INTEGER,\n"
    "  at_ns INTEGER, thread INTEGER, stack INTEGER, message TEXT, tag TEXT,\n"
    "  created_thread INTEGER, created_stack INTEGER,\n"
    "  deleted_thread INTEGER, deleted_stack INTEGER);\n"
    "CREATE TABLE stacks( -- one row per frame, depth 0 = frame #0\n"
    "  id INTEGER NOT NULL, depth INTEGER NOT NULL, pc INTEGER NOT NULL,\n"
    "  module INTEGER, PRIMARY KEY (id, depth)) WITHOUT ROWID;\n"
    "CREATE TABLE modules(id INTEGER PRIMARY KEY, path TEXT, build_id TEXT,\n"
    "  bias INTEGER, lo INTEGER, hi INTEGER, -- pc - bias is the ELF address\n"
    "  loaded_ns INTEGER, unloaded_ns INTEGER);\n"
    "CREATE TABLE symbols( -- frames of leak sites and errors, symbolized by the runtime\n"
    "  module INTEGER NOT NULL, -- modules.id\n"
    "  offset INTEGER NOT NULL, -- pc - modules.bias (stacks.pc is a return address)\n"
    "  idx INTEGER NOT NULL,    -- 0 the innermost inlined call ... the real function last\n"
    "  function TEXT, file TEXT, line INTEGER, col INTEGER,\n"
    "  inlined INTEGER NOT NULL, -- 1: inlined into the row with the next idx\n"
    "  PRIMARY KEY (module, offset, idx)) WITHOUT ROWID;\n"
    "CREATE TABLE threads(id INTEGER PRIMARY KEY, tid INTEGER, name TEXT, first_ns INTEGER);\n"
    "CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
    "CREATE VIEW handles(handle, tag, created_ns, created_thread, created_stack,\n"
    "                    deleted_ns, deleted_thread, deleted_stack) AS\n"
    "  SELECT (" HANDLE__LT_SQL(GEN) " << 32) | " HANDLE__LT_SQL(IDX) ",\n"
    "         (SELECT name FROM tags WHERE id = " HANDLE__LT_SQL(TAG) "),\n"
    "         b.base_ns + " HANDLE__LT_SQL(D) " - " HANDLE__LT_SQL(DUR) ",\n"
    "         " HANDLE__LT_SQL(CTHR) ",\n"
    "         nullif(" HANDLE__LT_SQL(CSTK) ", 0),\n"
    "         b.base_ns + " HANDLE__LT_SQL(D) ",\n"
    "         nullif(coalesce(" HANDLE__LT_SQL(DTHR) ", " HANDLE__LT_SQL(CTHR) "), -1),\n"
    "         nullif(" HANDLE__LT_SQL(DSTK) ", 0)\n"
    "    FROM batches AS b, json_each(b.data) AS j WHERE j.key >= b.skip\n"
    "  UNION ALL\n"
    "  SELECT l.handle, (SELECT name FROM tags WHERE id = l.tag), l.created_ns,\n"
    "         l.created_thread, nullif(l.created_stack, 0), NULL, NULL, NULL\n"
    "    FROM live AS l;\n"
    "CREATE VIEW leaks(handle, tag, created_ns, created_thread, created_stack,\n"
    "                  deleted_ns, deleted_thread, deleted_stack) AS\n"
    "  SELECT l.handle, (SELECT name FROM tags WHERE id = l.tag), l.created_ns,\n"
    "         l.created_thread, nullif(l.created_stack, 0), NULL, NULL, NULL\n"
    "    FROM live AS l;\n"
    "CREATE VIEW frames(stack, depth, pc, module, path, build_id, offset) AS\n"
    "  SELECT s.id, s.depth, s.pc, s.module, m.path, m.build_id, s.pc - m.bias\n"
    "    FROM stacks AS s LEFT JOIN modules AS m ON m.id = s.module;\n";

#endif
