/*
 * trace_schema.h - the SQL that creates a trace (SPEC section 5), shared by
 * the writer (trace.c) and the tests that build traces by hand
 * (tests/unit/reader_fixtures/tracegen.h), so that those test the layout
 * the writer really makes.
 */
#ifndef HANDLE_DEBUG_TRACE_SCHEMA_H
#define HANDLE_DEBUG_TRACE_SCHEMA_H

/*
 * The schema. Comments inside CREATE statements are kept by SQLite, so
 * `.schema` in the sqlite3 shell documents the layout for users.
 *
 * A `batches` element is [d, dur, idx, gen, tag, cthr, cstk, dstk(, dthr)]:
 * deleted_ns = base_ns + d, created_ns = deleted_ns - dur, handle =
 * gen << 32 | idx, dthr only when it differs from cthr, -1 for none (a
 * handle the exit check completed: deleted_thread NULL); tag and stacks
 * are ids, 0 for none. Elements before `skip` were dropped by max_history.
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
    "  SELECT (json_extract(j.value, '$[3]') << 32) | json_extract(j.value, '$[2]'),\n"
    "         (SELECT name FROM tags WHERE id = json_extract(j.value, '$[4]')),\n"
    "         b.base_ns + json_extract(j.value, '$[0]') - json_extract(j.value, '$[1]'),\n"
    "         json_extract(j.value, '$[5]'),\n"
    "         nullif(json_extract(j.value, '$[6]'), 0),\n"
    "         b.base_ns + json_extract(j.value, '$[0]'),\n"
    "         nullif(coalesce(json_extract(j.value, '$[8]'), json_extract(j.value, '$[5]')), -1),\n"
    "         nullif(json_extract(j.value, '$[7]'), 0)\n"
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
