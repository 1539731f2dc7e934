-- Sweeps cost in proportion to due work: with many residents and little due,
-- they read indexes, never the whole resident table.
SET search_path = sanse, public;
SET TimeZone = 'Asia/Shanghai';
INSERT INTO area (path, kind, name) VALUES
  ('p', 'district', 'P'), ('p.t', 'town', 'T'), ('p.t.v', 'village', 'V'),
  ('p.t.v.tg', 'total_grid', 'TG'), ('p.t.v.tg.g', 'general_grid', 'G'), ('p.t.v.tg.g.m', 'micro_grid', 'M');
-- 20,000 blue residents registered today (due next month), 10 red ones due
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'r' || i, CASE WHEN i <= 10 THEN '{accident_risk}'::text[] ELSE '{mobility_impaired}' END,
       CASE WHEN i <= 10 THEN now() - interval '3 days' ELSE now() END
  FROM area a, generate_series(1, 20000) i WHERE a.kind = 'micro_grid';
-- and a history of 20,000 closed events
INSERT INTO event (resident_id, area_id, tier, level, due_at, level_since, status, resolved_at)
SELECT r.id, r.area_id, 'blue', 1, now() - interval '40 days', now() - interval '40 days', 'closed', now() - interval '39 days'
  FROM resident r;
ANALYZE resident;
ANALYZE event;

-- the overdue sweep's scan (the query inside sanse.sweep_overdue)
EXPLAIN (COSTS OFF)
SELECT r.id FROM sanse.resident r
 WHERE r.active AND r.next_visit IS NOT NULL AND sanse.due_at(r.next_visit) <= now()
   FOR NO KEY UPDATE OF r;

-- the escalation sweep's scan (the query inside sanse.escalate_events)
EXPLAIN (COSTS OFF)
UPDATE sanse.event e SET level = e.level + 1
  FROM sanse.tier_policy p
 WHERE p.tier = e.tier AND e.status <> 'closed' AND e.next_step_at <= now();

-- the real functions: a sweep that finds nothing new reads indexes only
BEGIN;
-- the 10 red windows were due a day ago: opened, then 3 steps each (4 h apart)
SELECT overdue_opened, escalations, skipped FROM sweep(now());
CREATE TEMP TABLE scans_before AS
  SELECT relname, seq_scan, idx_scan FROM pg_stat_xact_user_tables
   WHERE schemaname = 'sanse' AND relname IN ('resident', 'event');
SELECT overdue_opened, escalations, skipped FROM sweep(now());
SELECT s.relname, s.seq_scan - b.seq_scan AS new_seq_scans, s.idx_scan > b.idx_scan AS used_index
  FROM pg_stat_xact_user_tables s JOIN scans_before b USING (relname)
 WHERE s.schemaname = 'sanse'
 ORDER BY s.relname;
ROLLBACK;

TRUNCATE event_step, event, tier_history, resident, area RESTART IDENTITY CASCADE;
