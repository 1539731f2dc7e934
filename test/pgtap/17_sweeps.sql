-- pgTAP: overdue events and escalation; the same history whether sweeps run
-- every hour, every six hours or once at the end.
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'Asia/Shanghai';
SELECT plan(15);

INSERT INTO area (path, kind, name) VALUES ('w', 'district', 'W'), ('w.t', 'town', 'T'), ('w.t.v', 'village', 'V'),
  ('w.t.v.tg', 'total_grid', 'TG'), ('w.t.v.tg.g', 'general_grid', 'G'),
  ('w.t.v.tg.g.m1', 'micro_grid', 'M1'), ('w.t.v.tg.g.m2', 'micro_grid', 'M2');
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, v.force, v.role, a.id
  FROM (VALUES ('lead m1', 'grid_officer', 'micro_grid_leader', 'w.t.v.tg.g.m1'),
               ('lead g', 'community_cadre', 'general_grid_leader', 'w.t.v.tg.g'),
               ('lead tg', 'community_cadre', 'total_grid_leader', 'w.t.v.tg'),
               ('task force', 'department_staff', 'task_force', 'w'),
               ('carer m1', 'volunteer', 'member', 'w.t.v.tg.g.m1'),
               ('carer m2', 'volunteer', 'member', 'w.t.v.tg.g.m2')) v(name, force, role, path)
  JOIN area a ON a.path = v.path::ltree;

-- 30 residents registered 2024-03-01 00:00+08: k = 1..10 red, 11..20 yellow, 21..30 blue;
-- even k in M1 (which has a micro grid leader), odd k in M2 (which has none)
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'r' || k,
       CASE WHEN k <= 10 THEN '{accident_risk}'::text[] WHEN k <= 20 THEN '{partial_care,unstable_chronic}' ELSE '{mobility_impaired}' END,
       '2024-03-01 00:00+08'
  FROM generate_series(1, 30) k
  JOIN area a ON a.path = (CASE WHEN k % 2 = 0 THEN 'w.t.v.tg.g.m1' ELSE 'w.t.v.tg.g.m2' END)::ltree;
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r JOIN worker w ON w.area_id = r.area_id AND w.role = 'member';

-- basic sweep behaviour, at logical times
SELECT is((sweep_overdue('2024-03-03 00:00+08')), 10, 'the ten red windows (due 03-03 00:00) open at their due time');
SELECT is((sweep_overdue('2024-03-03 12:00+08')), 0, 'a second sweep opens nothing new');
SELECT results_eq($$SELECT count(*), count(DISTINCT resident_id), min(level), max(level) FROM sanse.event$$,
                  $$VALUES (10::bigint, 10::bigint, 1::smallint, 1::smallint)$$, 'one level-1 event per missed window');
SELECT results_eq($$SELECT DISTINCT w.name FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id
                     LEFT JOIN sanse.worker w ON w.id = e.assignee_id WHERE r.area_id = (SELECT id FROM sanse.area WHERE name = 'M1')$$,
                  $$VALUES ('lead m1'::text)$$, 'level 1 goes to the micro grid leader');
SELECT is((SELECT count(*) FROM event e JOIN resident r ON r.id = e.resident_id
            WHERE r.area_id = (SELECT id FROM area WHERE name = 'M2') AND e.assignee_id IS NULL), 5::bigint,
          'a micro grid without a leader records a NULL assignee');
SELECT is(sweep_escalations('2024-03-03 08:00+08'), 20, 'red: 4 h per step, so levels 2 and 3 are due by 08:00');
SELECT results_eq($$SELECT s.level, s.at, w.name FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                     JOIN sanse.resident r ON r.id = e.resident_id LEFT JOIN sanse.worker w ON w.id = s.assignee_id
                    WHERE r.name = 'r2' ORDER BY s.level$$,
                  $$VALUES (1::smallint, '2024-03-03 00:00+08'::timestamptz, 'lead m1'::text),
                           (2::smallint, '2024-03-03 04:00+08', 'lead g'), (3::smallint, '2024-03-03 08:00+08', 'lead tg')$$,
                  'each step at its logical time with the leader of its level');
SELECT is(sweep_escalations('2024-03-09 00:00+08'), 10, 'the last step, to the task force');
SELECT results_eq($$SELECT max(level), count(*) FILTER (WHERE next_step_at IS NULL) FROM sanse.event$$,
                  $$VALUES (4::smallint, 10::bigint)$$, 'level 4 is the last');
SELECT results_eq($$SELECT s.at, w.name FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                     JOIN sanse.resident r ON r.id = e.resident_id JOIN sanse.worker w ON w.id = s.assignee_id
                    WHERE r.name = 'r2' AND s.level = 4$$,
                  $$VALUES ('2024-03-03 12:00+08'::timestamptz, 'task force'::text)$$,
                  'a late sweep still dates the step from the data: due + 3 x 4 h');
-- yellow: the week after registration is due 03-11 00:00+08; a day per step
SELECT is((SELECT count(*) FROM (SELECT sanse.sweep('2024-03-12 00:00+08')) s), 1::bigint, 'sweep runs');
SELECT results_eq($$SELECT s.level, s.at FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id
                     JOIN sanse.resident r ON r.id = e.resident_id WHERE r.name = 'r12' ORDER BY s.level$$,
                  $$VALUES (1::smallint, '2024-03-11 00:00+08'::timestamptz), (2::smallint, '2024-03-12 00:00+08')$$,
                  'yellow steps a calendar day apart in Asia/Shanghai');

-- The timing invariance: one script of check-ins (on time, late and never),
-- replayed with sweeps every hour, every 6 hours and only once at the end.
DELETE FROM event_step; DELETE FROM event; DELETE FROM visit;
UPDATE resident SET last_visit_at = NULL;
CREATE TEMP TABLE script AS
SELECT r.id AS resident_id, w.id AS worker_id, s.at
  FROM resident r
  JOIN carer c ON c.resident_id = r.id JOIN worker w ON w.id = c.worker_id,
       LATERAL (SELECT k::int AS k FROM (SELECT substr(r.name, 2) AS k) x) n,
       LATERAL generate_series(1, 40) i,
       LATERAL (SELECT timestamptz '2024-03-01 00:00+08' + i * CASE
                  WHEN n.k <= 10 THEN interval '1 hour' * (36 + (n.k * 7) % 30)
                  WHEN n.k <= 20 THEN interval '1 day' * (5 + n.k % 4) + interval '1 hour' * n.k
                  ELSE interval '1 day' * (20 + n.k % 15) + interval '1 hour' * n.k END AS at) s
 WHERE n.k % 10 <> 9 AND s.at < '2024-03-25 00:00+08';

CREATE FUNCTION pg_temp.replay(sweep_every_hours int) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	outcome text[];
	h int;
	v record;
	t0 constant timestamptz := '2024-03-01 00:00+08';
BEGIN
	BEGIN
		FOR h IN 0 .. 24 * 24 - 1 LOOP
			FOR v IN SELECT * FROM script WHERE at >= t0 + h * interval '1 hour' AND at < t0 + (h + 1) * interval '1 hour' ORDER BY at, resident_id LOOP
				PERFORM sanse.check_in(sanse.door_token(v.resident_id), v.worker_id, v.at, '{ask_health}');
			END LOOP;
			IF sweep_every_hours IS NOT NULL AND (h + 1) % sweep_every_hours = 0 THEN
				PERFORM sanse.sweep(t0 + (h + 1) * interval '1 hour');
			END IF;
		END LOOP;
		PERFORM sanse.sweep('2024-03-25 00:00+08');
		SELECT array_agg(x ORDER BY x) INTO outcome FROM (
			SELECT format('event %s %s %s %s %s %s %s %s', r.name, e.due_at, e.status, e.level, e.level_since,
			              e.assignee_id, e.resolved_at, vv.at) AS x
			  FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id LEFT JOIN sanse.visit vv ON vv.id = e.visit_id
			UNION ALL
			SELECT format('step %s %s %s %s %s', r.name, e.due_at, s.level, s.assignee_id, s.at)
			  FROM sanse.event_step s JOIN sanse.event e ON e.id = s.event_id JOIN sanse.resident r ON r.id = e.resident_id) o;
		RAISE EXCEPTION USING ERRCODE = 'P0099';	-- undo this replay
	EXCEPTION WHEN SQLSTATE 'P0099' THEN
		NULL;
	END;
	RETURN QUERY SELECT unnest(outcome);
END
$$;
CREATE TEMP TABLE hourly AS SELECT * FROM pg_temp.replay(1) r(x);
CREATE TEMP TABLE six_hourly AS SELECT * FROM pg_temp.replay(6) r(x);
CREATE TEMP TABLE at_the_end AS SELECT * FROM pg_temp.replay(NULL) r(x);

SELECT ok((SELECT count(*) FILTER (WHERE x LIKE 'event % closed %') > 5 AND count(*) FILTER (WHERE x LIKE 'event % open %') > 2
             AND count(*) FILTER (WHERE x ~ '^event \S+ \S+ \S+ closed [234] ') > 0 FROM hourly),
          'the script makes closed events (some escalated before the visit) and open ones');
SELECT set_eq('SELECT x FROM six_hourly', 'SELECT x FROM hourly', 'sweeping every 6 hours gives the same events, levels and step times as every hour');
SELECT set_eq('SELECT x FROM at_the_end', 'SELECT x FROM hourly', 'one sweep at the end gives the same events, levels and step times');

SELECT * FROM finish();
ROLLBACK;
