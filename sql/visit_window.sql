-- sanse.visit_window: I/O, constructor, accessors, operators, opclasses
SET search_path = sanse, public;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- accepted text forms, each side any timestamptz text
SELECT input, input::visit_window AS w
  FROM (VALUES ('[2024-01-01 00:00:00+00,2024-01-03 00:00:00+00)'),
               ('  [2024-01-01 08:00+08 , 2024-01-02)  '),
               ('["January 8, 2024 10:00 UTC","January 9, 2024 10:00 UTC")'),
               ('[epoch,2000-01-01)'),
               ('[2024-02-29 12:00 Asia/Shanghai,2024-03-01 00:00 Europe/Berlin)')) AS t(input);

-- output follows DateStyle and TimeZone like timestamptz
SELECT w, opens_at(w), due_at(w)
  FROM (SELECT '[2024-07-01 00:00+00,2024-07-02 00:00+00)'::visit_window) s(w);
SET TimeZone = 'Asia/Shanghai';
SELECT '[2024-07-01 00:00+00,2024-07-02 00:00+00)'::visit_window;
SET DateStyle = 'Postgres, MDY';
SELECT '[2024-07-01 00:00+00,2024-07-02 00:00+00)'::visit_window;
SET DateStyle = 'SQL, DMY';
SELECT '[2024-07-01 00:00+00,2024-07-02 00:00+00)'::visit_window;
-- German style has no commas; round trip through every style gives the same value
SELECT style, (SELECT bool_and(w::text::visit_window = w) FROM (SELECT
        '[2024-07-01 00:00:00.5+00,2024-07-02 00:00+00)'::visit_window) x(w)) AS round_trip
  FROM unnest(ARRAY['ISO, YMD','Postgres, MDY','SQL, DMY','German, DMY']) style
 WHERE set_config('DateStyle', style, true) IS NOT NULL;
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';

-- malformed text: 22P02
SELECT '2024-01-01,2024-01-02'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[2024-01-01,2024-01-02]'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[2024-01-01;2024-01-02)'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[,2024-01-02)'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[2024-01-01,not a time)'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[2024-01-01,2024-01-02) trailing'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '["2024-01-01,2024-01-02)'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[January 8, 2024,January 9, 2024)'::visit_window;
\echo SQLSTATE :SQLSTATE
-- opens >= due or an infinite side: 22000
SELECT '[2024-01-02,2024-01-01)'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[2024-01-01,2024-01-01)'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[-infinity,2024-01-01)'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT '[2024-01-01,infinity)'::visit_window;
\echo SQLSTATE :SQLSTATE
SELECT visit_window('2024-01-02', '2024-01-01');
\echo SQLSTATE :SQLSTATE
SELECT visit_window('2024-01-01', 'infinity');
\echo SQLSTATE :SQLSTATE

-- constructor, accessors; NULL in, NULL out
SELECT visit_window('2024-01-01 00:00+00', '2024-01-01 00:00:00.000001+00');
SELECT visit_window(NULL, '2024-01-01') IS NULL AS strict;

-- containment is half-open, overlap too
WITH w(w) AS (SELECT '[2024-01-01 00:00+00,2024-01-02 00:00+00)'::visit_window)
SELECT t, w @> t AS contains, t <@ w AS contained, is_overdue(w, t), lateness(w, t)
  FROM w, unnest(ARRAY['2023-12-31 23:59:59.999999+00', '2024-01-01 00:00+00',
                       '2024-01-01 23:59:59.999999+00', '2024-01-02 00:00+00',
                       '2024-01-03 06:30+00', '2024-03-05 00:00:01+00']::timestamptz[]) t
 ORDER BY t;

SELECT a, b, a && b AS overlaps, b && a AS commuted
  FROM (VALUES ('[2024-01-01,2024-01-02)'::visit_window, '[2024-01-02,2024-01-03)'::visit_window),
               ('[2024-01-01,2024-01-02)', '[2024-01-01 23:59,2024-01-03)'),
               ('[2024-01-01,2024-01-05)', '[2024-01-02,2024-01-03)'),
               ('[2024-01-03,2024-01-04)', '[2024-01-01,2024-01-02)')) v(a, b);

-- ordering: by due, then opens
SELECT a, b, a < b AS lt, a <= b AS le, a = b AS eq, a <> b AS ne, a >= b AS ge, a > b AS gt,
       visit_window_cmp(a, b) AS cmp
  FROM (VALUES ('[2024-01-01,2024-01-03)'::visit_window, '[2024-01-02,2024-01-03)'::visit_window),
               ('[2024-01-01,2024-01-04)', '[2024-01-02,2024-01-03)'),
               ('[2024-01-01,2024-01-03)', '[2024-01-01,2024-01-03)')) v(a, b);

CREATE TEMP TABLE windows AS
  SELECT i, visit_window(t0 + (i % 97) * interval '1 hour',
                         t0 + (i % 97) * interval '1 hour' + (1 + i % 5) * interval '1 day') AS w
    FROM generate_series(1, 5000) i, (SELECT timestamptz '2024-01-01 00:00+00') c(t0);
-- 97 hours x 5 lengths: 485 distinct windows; max/min agree with ORDER BY
SELECT max(w) = (SELECT w FROM windows ORDER BY w DESC LIMIT 1) AS max_is_last,
       min(w) = (SELECT w FROM windows ORDER BY w LIMIT 1) AS min_is_first,
       max(w) = '[2024-01-05 00:00+00,2024-01-10 00:00+00)' AS max_value,
       count(DISTINCT w) AS distinct_windows
  FROM windows;

-- sorted order agrees with (due, opens)
SELECT bool_and(ok) AS sorted_by_due_then_opens FROM (
  SELECT (due_at(lag(w) OVER o), opens_at(lag(w) OVER o)) <= (due_at(w), opens_at(w)) AS ok
    FROM windows WINDOW o AS (ORDER BY w)) s;

-- hashing agrees with equality; hash aggregate and hash join work
SELECT count(*) = count(DISTINCT visit_window_hash(w)) AS hash_per_window
  FROM (SELECT DISTINCT w FROM windows) s;
SET enable_sort = off;
SELECT count(*) FROM (SELECT w FROM windows GROUP BY w) s;
RESET enable_sort;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM windows a JOIN windows b ON a.w = b.w;
-- 150 windows occur 11 times, 335 occur 10 times: 150*121 + 335*100
SELECT count(*) = 150 * 121 + 335 * 100 AS self_join_count FROM windows a JOIN windows b ON a.w = b.w;
RESET enable_mergejoin;
RESET enable_nestloop;

-- btree index serves ORDER BY and equality, hash index equality
CREATE INDEX windows_btree ON windows (w);
CREATE INDEX windows_hash ON windows USING hash (w);
ANALYZE windows;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT w FROM windows ORDER BY w LIMIT 3;
SELECT w FROM windows ORDER BY w LIMIT 3;
EXPLAIN (COSTS OFF) SELECT count(*) FROM windows WHERE w > '[2024-01-04,2024-01-05)';
SELECT count(*) = (SELECT count(*) FROM windows
                    WHERE (due_at(w), opens_at(w)) > (timestamptz '2024-01-05', timestamptz '2024-01-04')) AS index_agrees
  FROM windows WHERE w > '[2024-01-04,2024-01-05)';
DROP INDEX windows_btree;
-- i = 1 (mod 485): 11 rows in 1..5000
EXPLAIN (COSTS OFF) SELECT i FROM windows WHERE w = '[2024-01-01 01:00+00,2024-01-03 01:00+00)';
SELECT count(*) FROM windows WHERE w = '[2024-01-01 01:00+00,2024-01-03 01:00+00)';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- binary COPY round trip, including microseconds and old dates
INSERT INTO windows VALUES (0, '[1901-12-13 20:45:52.123456+00,2100-01-01 00:00:00.000001+00)');
CREATE TEMP TABLE windows_copy (LIKE windows);
COPY windows TO '/tmp/sanse_visit_window.bin' WITH (FORMAT binary);
COPY windows_copy FROM '/tmp/sanse_visit_window.bin' WITH (FORMAT binary);
SELECT count(*) AS rows, count(*) FILTER (WHERE a.w = b.w AND a.w::text = b.w::text) AS same
  FROM windows a JOIN windows_copy b USING (i);
SELECT visit_window_send('[2000-01-01 00:00+00,2000-01-01 00:00:01+00)');

-- the wire is checked like text: a bytea column writes the raw payload
CREATE TEMP TABLE bad_in (w visit_window);
-- reversed: 22000
COPY (SELECT int8send(1000000) || int8send(0)) TO '/tmp/sanse_bad_window.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
COPY bad_in FROM '/tmp/sanse_bad_window.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
-- out of the timestamp range: 22P03
COPY (SELECT int8send(0) || int8send(9223372036854775806)) TO '/tmp/sanse_bad_window.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
COPY bad_in FROM '/tmp/sanse_bad_window.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
-- too short: 22P03, bad data rather than a protocol violation
COPY (SELECT int8send(0)) TO '/tmp/sanse_bad_window.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
COPY bad_in FROM '/tmp/sanse_bad_window.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
-- a good payload is accepted
COPY (SELECT int8send(0) || int8send(86400000000)) TO '/tmp/sanse_bad_window.bin' WITH (FORMAT binary);
COPY bad_in FROM '/tmp/sanse_bad_window.bin' WITH (FORMAT binary);
SELECT w FROM bad_in;

-- opclasses validate, size is 16 bytes
SELECT opcname, amname, amvalidate(opc.oid)
  FROM pg_opclass opc JOIN pg_am am ON am.oid = opcmethod
 WHERE opcnamespace = 'sanse'::regnamespace AND opcintype = 'visit_window'::regtype
 ORDER BY opcname;
SELECT typlen, typbyval, typalign, typstorage FROM pg_type WHERE oid = 'visit_window'::regtype;
