-- fixture.sql - a small merged database following the DESIGN.md "SQLite
-- schema" contract exactly, for the export tests (tests/export).
-- Two threads of one process; spans 'request' > 'parse' / 'compute' with
-- integer, real and text attributes; samples every 0.25 ms, attributed to
-- their innermost span; the hot function is hot_loop (inside 'compute').
-- A second process (pid 200) runs a 'subtask' span whose parent is the
-- worker's request (a cross-process parent, as after fork/traceparent).
-- Sample times never fall on a span boundary.
CREATE TABLE processes(pid INTEGER, host TEXT, exe TEXT, cmdline TEXT, start_ns INTEGER);
CREATE TABLE threads(tid INTEGER, pid INTEGER, name TEXT);
CREATE TABLE spans(span_id INTEGER PRIMARY KEY, parent_id INTEGER, trace_id TEXT, pid INTEGER,
                   tid INTEGER, name TEXT, start_ns INTEGER, end_ns INTEGER, dur_ns INTEGER,
                   depth INTEGER);
CREATE TABLE span_attrs(span_id INTEGER, key TEXT, value);
CREATE TABLE samples(sample_id INTEGER PRIMARY KEY, ts_ns INTEGER, pid INTEGER, tid INTEGER,
                     span_id INTEGER, stack_id INTEGER, weight_ns INTEGER);
CREATE TABLE stacks(stack_id INTEGER PRIMARY KEY, parent_id INTEGER, frame_id INTEGER,
                    depth INTEGER);
CREATE TABLE frames(frame_id INTEGER PRIMARY KEY, func TEXT, file TEXT, line INTEGER,
                    module TEXT, rel_pc INTEGER);

-- T = 1700000000000000000 ns
INSERT INTO processes VALUES (100, 'testhost', '/usr/bin/demo', 'demo --input a.txt',
                              1700000000000000000);
INSERT INTO processes VALUES (200, 'testhost', '/usr/bin/child', 'child', 1700000000001000000);
INSERT INTO threads VALUES (100, 100, 'main'), (101, 100, 'worker'), (200, 200, 'child');

INSERT INTO frames VALUES
  (1, 'main', '/src/demo.c', 10, '/usr/bin/demo', 4096),
  (2, 'work', '/src/demo.c', 20, '/usr/bin/demo', 4196),
  (3, 'hot_loop', '/src/demo.c', 30, '/usr/bin/demo', 4296),
  (4, 'parse_input', '/src/parse.c', 5, '/usr/bin/demo', 8192),
  (5, 'memcpy', NULL, NULL, '/usr/lib/x86_64-linux-gnu/libc.so.6', 65536),
  (6, NULL, NULL, NULL, '/usr/lib/libx.so', 4660),
  (7, 'hot_loop', '/src/demo.c', 31, '/usr/bin/demo', 4300);

-- call-site trie: 1 main; 2 main>work; 3 main>work>hot_loop; 4 main>parse_input;
-- 5 main>parse_input>memcpy; 6 main>work>(unresolved); 7 main>work>hot_loop (line 31)
INSERT INTO stacks VALUES (1, NULL, 1, 0), (2, 1, 2, 1), (3, 2, 3, 2), (4, 1, 4, 1),
                          (5, 4, 5, 2), (6, 2, 6, 2), (7, 2, 7, 2);

INSERT INTO spans VALUES
  (1, NULL, 'trace-a', 100, 100, 'request', 1700000000001500000, 1700000000009500000, 8000000, 0),
  (2, 1, 'trace-a', 100, 100, 'parse', 1700000000002500000, 1700000000004500000, 2000000, 1),
  (3, 1, 'trace-a', 100, 100, 'compute', 1700000000005500000, 1700000000008500000, 3000000, 1),
  (4, NULL, 'trace-b', 100, 101, 'request', 1700000000001500000, 1700000000006500000, 5000000, 0),
  (5, 4, 'trace-b', 100, 101, 'parse', 1700000000002500000, 1700000000003500000, 1000000, 1),
  (6, 4, 'trace-b', 100, 101, 'compute', 1700000000003500000, 1700000000005500000, 2000000, 1),
  (7, 4, 'trace-b', 200, 200, 'subtask', 1700000000001750000, 1700000000004750000, 3000000, 1);

INSERT INTO span_attrs VALUES
  (1, 'bytes', 4096), (1, 'path', '/tmp/a "quoted".txt'), (1, 'ratio', 0.5),
  (1, 'note', CAST(X'6E6FFF7465E282AC0A09' AS TEXT)), -- invalid byte, euro sign, \n, \t
  (2, 'bytes', 1000), (3, 'iterations', 3),
  (4, 'bytes', 20), (4, 'path', 'b.txt'), (5, 'bytes', 10), (6, 'iterations', 7),
  (7, 'shard', 3);

-- 40 samples per thread, every 0.25 ms from T + 0.1 ms.
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 39),
     th(tid) AS (VALUES (100), (101)),
     ts(i, tid, t) AS (SELECT i, tid, 1700000000000100000 + i * 250000 FROM n, th),
     att(i, tid, t, span_id) AS (
       SELECT i, tid, t, (SELECT span_id FROM spans s WHERE s.tid = ts.tid AND s.start_ns <= t
                          AND s.end_ns >= t ORDER BY depth DESC LIMIT 1) FROM ts)
INSERT INTO samples(ts_ns, pid, tid, span_id, stack_id, weight_ns)
SELECT t, 100, tid, span_id,
       CASE (SELECT name FROM spans WHERE spans.span_id = att.span_id)
         WHEN 'parse' THEN CASE i % 2 WHEN 0 THEN 5 ELSE 4 END
         WHEN 'compute' THEN CASE i % 4 WHEN 0 THEN 6 WHEN 1 THEN 7 ELSE 3 END
         WHEN 'request' THEN 2
         ELSE CASE i % 2 WHEN 0 THEN 3 ELSE 1 END END,
       250000
FROM att ORDER BY t, tid;

-- 10 samples of the child process, all inside 'subtask', in hot_loop.
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9)
INSERT INTO samples(ts_ns, pid, tid, span_id, stack_id, weight_ns)
SELECT 1700000000001900000 + i * 250000, 200, 200, 7, 3, 250000 FROM n;

-- A sample with an empty stack (stack_id NULL), outside every span.
INSERT INTO samples(ts_ns, pid, tid, span_id, stack_id, weight_ns)
VALUES (1700000000009950000, 100, 101, NULL, NULL, 250000);
