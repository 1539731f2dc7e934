-- Quiet warnings replayed with readings arriving late (spec 10, issue 21),
-- against an independent model.  Four red homes, each with a water meter
-- (quiet after 12 hours without use; silent rule removed here so that only
-- quiet is judged) reporting every hour from 2024-05-06 00:00 UTC to
-- 2024-05-08 23:00, with gateway outages whose readings reach the server
-- late (synced_at):
--   A  used 00:00-08:00 on the 6th; its readings of 09:00-21:00 (a use at
--      19:00 among them) synced at 23:00; used again from 09:00 on the 7th.
--      Span 08:00-20:00 is raised, then disproved (cancelled); the real
--      span 19:00 to 07:00 on the 7th is a new warning.
--   B  used every 6 hours; its readings of the 7th 00:00-12:00 synced at
--      13:00: the span 18:00 to 06:00 is raised on time, then cancelled.
--   C  used at 07:00 and 23:00 on the 6th, then every 3 hours; a use dated
--      20:00 on the 6th synced at 10:00 on the 7th: after the warning's
--      logical time 19:00, it cancels nothing.
--   D  used 00:00-02:00 on the 6th; readings of 03:00-17:00 (a use at
--      13:00) synced at 18:00; its carer arrives 10 minutes after each of
--      its warnings is called: nothing is cancelled once somebody arrived.
-- The replay runs twice, the first in a subtransaction rolled back after
-- its events are compared: sweeps every hour, then every 6 hours.  Before each
-- sweep at S the readings synced by S are inserted (a gateway's COPY,
-- through sanse's write path), then sanse.sweep_devices(S).  The model
-- below derives the warnings from the readings, their sync times and the
-- sweep times alone, in plain SQL: a span (a, a + 12 h) for consecutive
-- uses a, b known at S with b >= a + 12 h, or a last use a with
-- a + 12 h <= S (installed_at counting as a use); a span raised once, a
-- new warning unless the device's warning is open (then a repeat); a
-- raised span with a use inside it known at a later sweep is disproved:
-- its warning cancelled at that sweep if nobody arrived, and the repeats
-- counted on a cancelled warning raised again.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET search_path = public, sanse;
SET TimeZone = 'UTC';
SET sanse.max_backdate = '10 years';
BEGIN;
SELECT plan(8);
INSERT INTO area (path, kind, name) VALUES
  ('r', 'district', 'R'), ('r.t', 'town', 'RT'), ('r.t.v', 'village', 'RV'), ('r.t.v.tg', 'total_grid', 'RTG'),
  ('r.t.v.tg.g', 'general_grid', 'RG'), ('r.t.v.tg.g.m', 'micro_grid', 'RM');
INSERT INTO worker (name, force, role, area_id)
SELECT 'carer d', 'volunteer', 'member', id FROM area WHERE path = 'r.t.v.tg.g.m';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'home ' || h, '{accident_risk}', '2024-01-01 00:00Z' FROM area a, unnest(ARRAY['A', 'B', 'C', 'D']) h
 WHERE a.path = 'r.t.v.tg.g.m';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r, worker w WHERE r.name = 'home D' AND w.name = 'carer d';
DELETE FROM device_rule WHERE kind = 'water_meter' AND rule = 'silent';
DO $$ BEGIN PERFORM reading_partition(d::date) FROM generate_series('2024-05-05'::date, '2024-05-10', '1 day') d; END $$;
INSERT INTO device (kind, resident_id, area_id, report_every, installed_at)
SELECT 'water_meter', r.id, r.area_id, '1 hour', '2024-05-06 00:00Z' FROM resident r ORDER BY r.name;
CREATE TEMP TABLE dev AS SELECT right(r.name, 1) AS name, d.id, d.installed_at FROM device d JOIN resident r ON r.id = d.resident_id;
SELECT is((SELECT string_agg(name || ':' || (SELECT quiet_for FROM device x WHERE x.id = dev.id), ' ' ORDER BY name) FROM dev),
          'A:12:00:00 B:12:00:00 C:12:00:00 D:12:00:00', 'four water meters, quiet after 12 hours');

-- The readings: (meter, own time, value, synced at).
CREATE TEMP TABLE rd AS
WITH h AS (SELECT t FROM generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-08 23:00Z', '1 hour') t)
SELECT 'A'::text AS name, t AS at,
       CASE WHEN t <= '2024-05-06 08:00Z' OR t = '2024-05-06 19:00Z' OR t >= '2024-05-07 09:00Z' THEN 1 ELSE 0 END::float8 AS value,
       CASE WHEN t BETWEEN '2024-05-06 09:00Z' AND '2024-05-06 21:00Z' THEN '2024-05-06 23:00Z'::timestamptz ELSE t END AS synced_at
  FROM h
UNION ALL
SELECT 'B', t, CASE WHEN extract(hour FROM t)::int % 6 = 0 THEN 1 ELSE 0 END,
       CASE WHEN t BETWEEN '2024-05-07 00:00Z' AND '2024-05-07 12:00Z' THEN '2024-05-07 13:00Z'::timestamptz ELSE t END
  FROM h
UNION ALL
SELECT 'C', t, CASE WHEN t IN ('2024-05-06 07:00Z', '2024-05-06 23:00Z')
                         OR (t >= '2024-05-07 00:00Z' AND extract(hour FROM t)::int % 3 = 0) THEN 1 ELSE 0 END,
       t
  FROM h
UNION ALL
SELECT 'C', '2024-05-06 20:00:30Z', 1, '2024-05-07 10:00Z'
UNION ALL
SELECT 'D', t, CASE WHEN t <= '2024-05-06 02:00Z' OR t = '2024-05-06 13:00Z' OR t >= '2024-05-06 17:00Z' THEN 1 ELSE 0 END,
       CASE WHEN t BETWEEN '2024-05-06 03:00Z' AND '2024-05-06 17:00Z' THEN '2024-05-06 18:00Z'::timestamptz ELSE t END
  FROM h;

-----------------------------------------------------------------------------
-- The model: plain SQL over rd, dev and the sweep times.
-----------------------------------------------------------------------------
CREATE TEMP TABLE mwarn (id serial, name text, called_at timestamptz, cancelled_at timestamptz, arrived boolean, repeats int);
CREATE TEMP TABLE mspan (name text, span_from timestamptz, ends_at timestamptz, warning int, repeat boolean, disproved boolean);
-- the spans of a meter known at S
CREATE FUNCTION pg_temp.known_spans(p_name text, s timestamptz) RETURNS TABLE (span_from timestamptz, ends_at timestamptz)
LANGUAGE sql AS $$
	WITH u AS (SELECT installed_at AS at FROM dev WHERE name = p_name
	           UNION SELECT r.at FROM rd r WHERE r.name = p_name AND r.value > 0 AND r.synced_at <= s),
	     p AS (SELECT at, lead(at) OVER (ORDER BY at) AS nxt FROM u)
	SELECT at, at + interval '12 hours' FROM p
	 WHERE (nxt IS NULL AND at + interval '12 hours' <= s) OR nxt >= at + interval '12 hours'
$$;
-- a use inside a span, known at S
CREATE FUNCTION pg_temp.used_inside(p_name text, a timestamptz, e timestamptz, s timestamptz) RETURNS boolean
LANGUAGE sql AS $$
	SELECT EXISTS (SELECT 1 FROM rd r WHERE r.name = p_name AND r.value > 0 AND r.synced_at <= s AND r.at > a AND r.at < e)
$$;
CREATE FUNCTION pg_temp.model(sweeps timestamptz[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	s timestamptz;
	x record;
	w int;
BEGIN
	TRUNCATE mwarn, mspan;
	FOREACH s IN ARRAY sweeps LOOP
		-- disproved: raised spans whose warning waits, with a use inside
		FOR x IN SELECT m.* FROM mspan m JOIN mwarn v ON v.id = m.warning
		          WHERE NOT m.disproved AND v.cancelled_at IS NULL AND NOT v.arrived
		            AND pg_temp.used_inside(m.name, m.span_from, m.ends_at, s)
		          ORDER BY m.name, m.ends_at LOOP
			UPDATE mspan SET disproved = true WHERE name = x.name AND ends_at = x.ends_at;
			IF x.repeat THEN
				UPDATE mwarn SET repeats = repeats - 1 WHERE id = x.warning;
			ELSE
				UPDATE mwarn SET cancelled_at = s, repeats = 0 WHERE id = x.warning;
				UPDATE mspan SET warning = NULL, repeat = false WHERE warning = x.warning AND repeat AND NOT disproved;
			END IF;
		END LOOP;
		-- new spans, and those waiting again, in the order of their ends
		INSERT INTO mspan SELECT d.name, k.span_from, k.ends_at, NULL, false, false
		  FROM dev d CROSS JOIN LATERAL pg_temp.known_spans(d.name, s) k
		 WHERE NOT EXISTS (SELECT 1 FROM mspan m WHERE m.name = d.name AND m.ends_at = k.ends_at);
		FOR x IN SELECT * FROM mspan m WHERE m.warning IS NULL AND NOT m.disproved ORDER BY m.ends_at, m.name LOOP
			IF pg_temp.used_inside(x.name, x.span_from, x.ends_at, s) THEN
				UPDATE mspan SET disproved = true WHERE name = x.name AND ends_at = x.ends_at;
				CONTINUE;
			END IF;
			SELECT v.id INTO w FROM mwarn v WHERE v.name = x.name AND v.cancelled_at IS NULL ORDER BY v.id DESC LIMIT 1;
			IF w IS NOT NULL THEN
				UPDATE mwarn SET repeats = repeats + 1 WHERE id = w;
				UPDATE mspan SET warning = w, repeat = true WHERE name = x.name AND ends_at = x.ends_at;
			ELSE
				INSERT INTO mwarn (name, called_at, cancelled_at, arrived, repeats)
				VALUES (x.name, x.ends_at, NULL, x.name = 'D', 0) RETURNING id INTO w;
				UPDATE mspan SET warning = w WHERE name = x.name AND ends_at = x.ends_at;
			END IF;
		END LOOP;
	END LOOP;
END
$$;

-----------------------------------------------------------------------------
-- The replay through sanse.
-----------------------------------------------------------------------------
CREATE FUNCTION pg_temp.replay(sweeps timestamptz[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	s timestamptz;
	prev timestamptz := '-infinity';
	e record;
BEGIN
	FOREACH s IN ARRAY sweeps LOOP
		-- what the gateways synced since the last sweep, in sync order
		INSERT INTO sanse.reading (device_id, at, value)
		SELECT d.id, r.at, r.value FROM rd r JOIN dev d ON d.name = r.name
		 WHERE r.synced_at > prev AND r.synced_at <= s ORDER BY r.synced_at, r.at;
		PERFORM sanse.sweep_devices(s);
		-- D's carer arrives 10 minutes after each new warning of D
		FOR e IN SELECT x.id, x.called_at, x.resident_id FROM sanse.event x JOIN dev d ON d.id = x.device_id
		          WHERE d.name = 'D' AND x.status = 'called' AND x.rule = 'quiet' LOOP
			PERFORM sanse.arrive(e.id, (SELECT w.id FROM sanse.worker w WHERE w.name = 'carer d'),
			                     sanse.door_token(e.resident_id), e.called_at + interval '10 minutes');
		END LOOP;
		prev := s;
	END LOOP;
END
$$;
-- sanse's warnings, as the model's
CREATE FUNCTION pg_temp.sanse_warnings() RETURNS TABLE (name text, called_at timestamptz, status text, cancelled_at timestamptz, repeats int)
LANGUAGE sql AS $$
	SELECT d.name, e.first_called_at, e.status,
	       (SELECT t.at FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage = 'cancelled'), e.repeats
	  FROM sanse.event e JOIN dev d ON d.id = e.device_id
	 WHERE e.kind = 'warning' AND e.rule = 'quiet'
$$;
CREATE FUNCTION pg_temp.model_warnings() RETURNS TABLE (name text, called_at timestamptz, status text, cancelled_at timestamptz, repeats int)
LANGUAGE sql AS $$
	SELECT name, called_at, CASE WHEN cancelled_at IS NOT NULL THEN 'closed' WHEN arrived THEN 'arrived' ELSE 'called' END,
	       cancelled_at, repeats
	  FROM mwarn
$$;

-- Run 1: a sweep every hour.
SAVEPOINT run;
SELECT pg_temp.replay(ARRAY(SELECT generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-09 00:00Z', '1 hour')));
SELECT pg_temp.model(ARRAY(SELECT generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-09 00:00Z', '1 hour')));
SELECT set_eq($$SELECT * FROM pg_temp.sanse_warnings()$$, $$SELECT * FROM pg_temp.model_warnings()$$,
              'sweeps every hour: the warnings, their logical times, cancellations and repeats are the model''s');
-- the cases the script was written for, read from the model (so that the
-- model itself is known to say what the story says)
SELECT results_eq($$SELECT name, called_at, cancelled_at FROM pg_temp.model_warnings() ORDER BY name, called_at$$,
                  $$VALUES ('A'::text, '2024-05-06 20:00Z'::timestamptz, '2024-05-06 23:00Z'::timestamptz),
                           ('A', '2024-05-07 07:00Z', NULL),
                           ('B', '2024-05-07 06:00Z', '2024-05-07 13:00Z'),
                           ('C', '2024-05-06 19:00Z', NULL),
                           ('D', '2024-05-06 14:00Z', NULL)$$,
                  'hourly: A cancelled then raised at 07:00, B''s gateway outage cancelled, C''s use after 19:00 and D''s arrival cancel nothing');
SELECT results_eq($$SELECT raised, answered_in_time, cancelled FROM loop_metrics_all WHERE path = 'r' AND kind = 'warning'$$,
                  $$VALUES (5::bigint, 1::bigint, 2::bigint)$$, 'loop_metrics: five raised, D answered in time, two cancelled');
ROLLBACK TO SAVEPOINT run;

-- Run 2: a sweep every 6 hours.
SELECT pg_temp.replay(ARRAY(SELECT generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-09 00:00Z', '6 hours')));
SELECT pg_temp.model(ARRAY(SELECT generate_series('2024-05-06 00:00Z'::timestamptz, '2024-05-09 00:00Z', '6 hours')));
SELECT set_eq($$SELECT * FROM pg_temp.sanse_warnings()$$, $$SELECT * FROM pg_temp.model_warnings()$$,
              'sweeps every 6 hours: the warnings are the model''s');
SELECT results_eq($$SELECT name, called_at, cancelled_at FROM pg_temp.model_warnings() ORDER BY name, called_at$$,
                  $$VALUES ('A'::text, '2024-05-07 07:00Z'::timestamptz, NULL::timestamptz),
                           ('B', '2024-05-07 06:00Z', '2024-05-07 18:00Z'),
                           ('C', '2024-05-06 19:00Z', NULL)$$,
                  'every 6 hours: A''s and D''s late uses came before any sweep saw their spans (nothing raised), B''s is cancelled at the next sweep');
SELECT is((SELECT count(*) FROM device_span WHERE disproved_at IS NOT NULL), 1::bigint, 'one span disproved: B''s');
-- what stands does not depend on the sweeps, once nobody arrived
SELECT is((SELECT string_agg(name || ' ' || called_at, ', ' ORDER BY name) FROM pg_temp.sanse_warnings() WHERE status <> 'closed'),
          'A 2024-05-07 07:00:00+00, C 2024-05-06 19:00:00+00',
          'the warnings standing are those of the readings'' own times (as in the hourly run but for D, at whose warning somebody arrived)');
SELECT * FROM finish();
ROLLBACK;
