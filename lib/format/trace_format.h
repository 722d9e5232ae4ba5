/*
 * trace_format.h - the trace's format in one place (SPEC section 5): the
 * SQL that creates a trace, the layouts of completed lifetimes and the
 * names that `meta.layout` gives them. Shared by the writer
 * (lib/debug/trace_store.c), the reader (lib/report/trace_read.c) and the
 * tests that build traces (tests/unit/reader_fixtures/tracegen.h); the
 * codec of the lifetimes is lifetimes.c. The positions of a lifetime's
 * fields are defined once (HANDLE__ROW_*, HANDLE__LT_*) and both the codec
 * and the `handles` view use them.
 */
#ifndef HANDLE_FORMAT_TRACE_FORMAT_H
#define HANDLE_FORMAT_TRACE_FORMAT_H

/* meta.layout of the traces this writer makes: completed lifetimes in
 * `lifetimes`, eight to a row of plain integers (HANDLE__ROW_*), live
 * handles in `live`. */
#define HANDLE__TRACE_LAYOUT "wide-8-1"
/* The layout before it, still read: completed lifetimes as JSON arrays in
 * `batches` (HANDLE__LT_*). A trace without the key is of this layout if
 * its tables are (traces made before the key). Any other value is read
 * through the `handles` view alone. */
#define HANDLE__LAYOUT_JSON "batches-json-1"

/*
 * A `lifetimes` row holds up to HANDLE__ROW_WIDTH completed lifetimes in
 * slots 0, 1, ...; slot K is the columns hK, cK, dK, sK, eK, tK:
 *   h  the handle; NULL: the slot is empty (the row's last ones, when a
 *      commit came first) or its lifetime was dropped by max_history
 *      (the row's first ones)
 *   c  created_ns
 *   d  deleted_ns - created_ns
 *   s  created_thread << 32 | created_stack
 *   e  deleted_stack alone when deleted_thread = created_thread, else
 *      (deleted_thread + 1) << 32 | deleted_stack; NULL when no thread
 *      deleted it (the exit check completed it: deleted_thread NULL)
 *   t  the tag's id; NULL: none
 * Stack 0 is none (NULL in the view). Plain integers, which SQLite stores
 * in 0 to 8 bytes: some 24 B a lifetime, and `handles` is eight plain
 * scans (the queries of BENCHMARKS.md in 0.1-0.4 s per million).
 */
#define HANDLE__ROW_WIDTH 8
#define HANDLE__ROW_FIELDS 6
#define HANDLE__ROW_EACH(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define HANDLE__ROW_COLS_(K) ", h" #K ", c" #K ", d" #K ", s" #K ", e" #K ", t" #K
#define HANDLE__ROW_DECL_(K) ",\n  h" #K ", c" #K ", d" #K ", s" #K ", e" #K ", t" #K
#define HANDLE__ROW_QMARKS_(K) ", ?, ?, ?, ?, ?, ?"
/* `handles` for slot K: one arm of the view's UNION ALL (the tag's name
 * by a join on tags' primary key: some 10% faster in every query than a
 * subquery, since SQLite computes every column of a compound view) */
#define HANDLE__ROW_ARM_(K)                                                                   \
    "  SELECT h" #K ", g.name, c" #K ",\n"                                                     \
    "         (s" #K " >> 32) & 4294967295, nullif(s" #K " & 4294967295, 0), c" #K " + d" #K ",\n" \
    "         CASE WHEN e" #K " >> 32 = 0 THEN (s" #K " >> 32) & 4294967295\n"                  \
    "              ELSE ((e" #K " >> 32) & 4294967295) - 1 END,\n"                             \
    "         nullif(e" #K " & 4294967295, 0)\n"                                               \
    "    FROM lifetimes LEFT JOIN tags AS g ON g.id = t" #K " WHERE h" #K " IS NOT NULL\n"     \
    "  UNION ALL\n"
/* The writer's statements on `lifetimes` (lib/debug/trace_store.c). */
#define HANDLE__ROW_INSERT_SQL                                                                \
    "INSERT INTO lifetimes(id" HANDLE__ROW_EACH(HANDLE__ROW_COLS_) ") VALUES (NULL"           \
        HANDLE__ROW_EACH(HANDLE__ROW_QMARKS_) ")"
#define HANDLE__ROW_VISIBLE_(K) " + (h" #K " IS NOT NULL)"
#define HANDLE__ROW_FIRST_(K) " WHEN h" #K " IS NOT NULL THEN " #K
/* The oldest row: its id, visible lifetimes and first visible slot. */
#define HANDLE__ROW_OLDEST_SQL                                                                \
    "SELECT id, 0" HANDLE__ROW_EACH(HANDLE__ROW_VISIBLE_) ", CASE"                            \
        HANDLE__ROW_EACH(HANDLE__ROW_FIRST_) " ELSE 8 END FROM lifetimes ORDER BY id LIMIT 1"
#define HANDLE__ROW_DROP_(K) ", h" #K " = CASE WHEN " #K " < ?2 THEN NULL ELSE h" #K " END"
/* Drops the slots before ?2 of row ?1. */
#define HANDLE__ROW_DROP_SQL                                                                  \
    "UPDATE lifetimes SET id = id" HANDLE__ROW_EACH(HANDLE__ROW_DROP_) " WHERE id = ?1"
#define HANDLE__ROW_DELETE_SQL "DELETE FROM lifetimes WHERE id = ?1"
/* The reader's scan (lib/report/trace_read.c): id, then the slots. */
#define HANDLE__ROW_SELECT_SQL                                                                \
    "SELECT id" HANDLE__ROW_EACH(HANDLE__ROW_COLS_) " FROM lifetimes ORDER BY id"

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
 * The schema: the tables and views every layout has, then the layout's
 * own. Comments inside CREATE statements are kept by SQLite, so `.schema`
 * in the sqlite3 shell documents the layout for users.
 */
#define HANDLE__SCHEMA_COMMON_SQL \
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;\n" \
    "CREATE TABLE live( -- handles live at the last commit\n" \
    "  handle INTEGER PRIMARY KEY, tag INTEGER, created_ns INTEGER,\n" \
    "  created_thread INTEGER, created_stack INTEGER);\n" \
    "CREATE TABLE errors(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, handle INTEGER,\n" \
    "  at_ns INTEGER, thread INTEGER, stack INTEGER, message TEXT, tag TEXT,\n" \
    "  created_thread INTEGER, created_stack INTEGER,\n" \
    "  deleted_thread INTEGER, deleted_stack INTEGER);\n" \
    "CREATE TABLE stacks( -- one row per frame, depth 0 = frame #0\n" \
    "  id INTEGER NOT NULL, depth INTEGER NOT NULL, pc INTEGER NOT NULL,\n" \
    "  module INTEGER, PRIMARY KEY (id, depth)) WITHOUT ROWID;\n" \
    "CREATE TABLE modules(id INTEGER PRIMARY KEY, path TEXT, build_id TEXT,\n" \
    "  bias INTEGER, lo INTEGER, hi INTEGER, -- pc - bias is the ELF address\n" \
    "  loaded_ns INTEGER, unloaded_ns INTEGER);\n" \
    "CREATE TABLE symbols( -- frames of leak sites and errors, symbolized by the runtime\n" \
    "  module INTEGER NOT NULL, -- modules.id\n" \
    "  offset INTEGER NOT NULL, -- pc - modules.bias (stacks.pc is a return address)\n" \
    "  idx INTEGER NOT NULL,    -- 0 the innermost inlined call ... the real function last\n" \
    "  function TEXT, file TEXT, line INTEGER, col INTEGER,\n" \
    "  inlined INTEGER NOT NULL, -- 1: inlined into the row with the next idx\n" \
    "  PRIMARY KEY (module, offset, idx)) WITHOUT ROWID;\n" \
    "CREATE TABLE threads(id INTEGER PRIMARY KEY, tid INTEGER, name TEXT, first_ns INTEGER);\n" \
    "CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n" \
    "CREATE VIEW leaks(handle, tag, created_ns, created_thread, created_stack,\n" \
    "                  deleted_ns, deleted_thread, deleted_stack) AS\n" \
    "  SELECT l.handle, (SELECT name FROM tags WHERE id = l.tag), l.created_ns,\n" \
    "         l.created_thread, nullif(l.created_stack, 0), NULL, NULL, NULL\n" \
    "    FROM live AS l;\n" \
    "CREATE VIEW frames(stack, depth, pc, module, path, build_id, offset) AS\n" \
    "  SELECT s.id, s.depth, s.pc, s.module, m.path, m.build_id, s.pc - m.bias\n" \
    "    FROM stacks AS s LEFT JOIN modules AS m ON m.id = s.module;\n"

#define HANDLE__HANDLES_COLS_SQL                                                               \
    "CREATE VIEW handles(handle, tag, created_ns, created_thread, created_stack,\n"            \
    "                    deleted_ns, deleted_thread, deleted_stack) AS\n"
#define HANDLE__HANDLES_LIVE_SQL                                                               \
    "  SELECT l.handle, (SELECT name FROM tags WHERE id = l.tag), l.created_ns,\n"            \
    "         l.created_thread, nullif(l.created_stack, 0), NULL, NULL, NULL\n"                \
    "    FROM live AS l;\n"

/* The trace this writer makes (HANDLE__TRACE_LAYOUT). */
static const char handle__trace_schema_sql[] =
    HANDLE__SCHEMA_COMMON_SQL
    "CREATE TABLE lifetimes( -- completed lifetimes, 8 a row: read them through the view handles\n"
    "  -- slot K is hK handle (NULL: none), cK created_ns, dK deleted_ns - created_ns,\n"
    "  -- sK created_thread << 32 | created_stack, eK deleted_stack (deleted by the creating\n"
    "  -- thread) or (deleted_thread + 1) << 32 | deleted_stack, tK tag id\n"
    "  id INTEGER PRIMARY KEY" HANDLE__ROW_EACH(HANDLE__ROW_DECL_) ");\n"
    HANDLE__HANDLES_COLS_SQL
    HANDLE__ROW_EACH(HANDLE__ROW_ARM_)
    HANDLE__HANDLES_LIVE_SQL;

/* A trace of the JSON layout before it (HANDLE__LAYOUT_JSON): for the
 * tests of its reader and the bench. */
static const char handle__trace_schema_json_sql[] =
    HANDLE__SCHEMA_COMMON_SQL
    "CREATE TABLE batches( -- completed lifetimes, read them through the view handles\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  base_ns INTEGER NOT NULL, -- deleted_ns of the first element\n"
    "  n INTEGER NOT NULL,       -- elements in data\n"
    "  skip INTEGER NOT NULL,    -- leading elements dropped by max_history\n"
    "  data TEXT NOT NULL        -- JSON [[d,dur,idx,gen,tag,cthr,cstk,dstk(,dthr)],...]\n"
    ");\n"
    HANDLE__HANDLES_COLS_SQL
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
    HANDLE__HANDLES_LIVE_SQL;

#endif
