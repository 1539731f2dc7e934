-- Reading one worker's tally costs in proportion to that worker's rows, not
-- to every pending row: worker_month_pending has a row per worker and an index.
SET search_path = sanse, public;
SET client_min_messages = warning;
INSERT INTO area (path, kind, name) VALUES ('tp', 'district', 'TP');
INSERT INTO worker (name, force, area_id)
SELECT 'w' || i, 'volunteer', a.id FROM area a, generate_series(1, 2000) i WHERE a.path = 'tp';
-- 120,000 unfolded rows spread over the 2,000 workers
INSERT INTO worker_month_pending (worker_id, month, visits)
SELECT w.id, date '2024-03-01', 1 FROM worker w, generate_series(1, 60) g;
ANALYZE worker_month_pending;
SELECT min(id) AS first_worker FROM worker \gset
BEGIN;
SELECT visits FROM worker_tally WHERE worker_id = :first_worker;
-- this transaction's scans: the index, never the whole table
SELECT pg_stat_get_xact_numscans('sanse.worker_month_pending_worker'::regclass) > 0 AS used_worker_index,
       pg_stat_get_xact_numscans('sanse.worker_month_pending'::regclass) AS sequential_scans;
ROLLBACK;
TRUNCATE worker_month_pending, worker_month, worker, area RESTART IDENTITY CASCADE;
