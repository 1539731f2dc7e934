-- pgTAP: a day of history recorded from what the day changed (issue 22).
-- record_area_day now carries the residents in the programme from the day
-- before (area_day_member, area_day_tally) and counts again only those a
-- write noted in area_day_change.  What it records must stay exactly what
-- the full count recorded: that count is copied below, as it was before
-- (area_day_residents and record_area_day, into the schema old15, writing
-- old15.area_day), and run on the same data right after each day the sweep
-- recorded.  Nine days of a district with random changes of every kind:
-- check-ins on time and late, back-dated visits, tier changes dated during
-- and after the day, registrations dated during and after the day,
-- deactivations, reactivations, residents moving between micro grids,
-- overdue events opened, escalated and closed by the sweeps, loop events,
-- forgotten residents; then a tail of days deleted and recorded again, and
-- a day recorded after a gap.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'Asia/Shanghai';	-- the zone of sanse.timezone: days are its days
SET LOCAL client_min_messages = warning;
SET LOCAL sanse.max_backdate = '100 years';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(37);

CREATE SCHEMA old15;
CREATE TABLE old15.area_day (LIKE sanse.area_day);
CREATE FUNCTION old15.area_day_residents(e timestamptz) RETURNS TABLE (id bigint, area_id bigint, tier sanse.risk_tier)
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse AS $$
-- The residents whose tier at e is read from their history: those with a
-- change at or after e, and those forgotten since e.  Their history in one
-- pass over tier_history (as cheap as one probe per resident once many have
-- changed, e.g. after a bulk load), without a sort: how many rows, and the
-- tier of a lone row (the registration: the answer whatever e is; most
-- residents have no other).
WITH forgotten AS MATERIALIZED (
	SELECT r.id FROM sanse.resident r
	 WHERE r.forgotten_at IS NOT NULL AND NOT r.active AND r.deactivated_at >= e),
hist AS MATERIALIZED (
	SELECT h.resident_id, count(*) AS n, (array_agg(h.new_tier))[1] AS lone_tier
	  FROM sanse.tier_history h
	 GROUP BY h.resident_id
	HAVING max(h.changed_at) >= e OR h.resident_id IN (SELECT f.id FROM forgotten f)),
-- the tier at e of the others as tier_at gives it: the last change before
-- e, else the first row (the registration)
changed_tier AS MATERIALIZED (
	SELECT x.resident_id, x.lone_tier AS new_tier FROM hist x WHERE x.n = 1
	UNION ALL
	(SELECT DISTINCT ON (h.resident_id) h.resident_id, h.new_tier
	   FROM sanse.tier_history h
	  WHERE h.resident_id IN (SELECT x.resident_id FROM hist x WHERE x.n > 1)
	  ORDER BY h.resident_id, h.changed_at < e DESC,
	           CASE WHEN h.changed_at < e THEN h.changed_at END DESC, CASE WHEN h.changed_at < e THEN h.id END DESC,
	           h.changed_at, h.id))
SELECT p.id, p.area_id, p.tier
  FROM (SELECT r.id, r.area_id, CASE WHEN ct.resident_id IS NULL THEN r.tier ELSE ct.new_tier END AS tier
          FROM sanse.resident r
          LEFT JOIN changed_tier ct ON ct.resident_id = r.id
         WHERE r.registered_at < e AND (r.active OR r.deactivated_at >= e)) p
 WHERE p.tier IS NOT NULL;
$$;
CREATE FUNCTION old15.record_area_day(p_day date, p_zone text) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s timestamptz := p_day::timestamp AT TIME ZONE p_zone;
	e timestamptz := (p_day + 1)::timestamp AT TIME ZONE p_zone;
	n int;
BEGIN
	INSERT INTO old15.area_day (day, area_id, residents, red, yellow, blue, overdue, windows_met,
	                            events_opened, events_closed, open_level_1, open_level_2, open_level_3, open_level_4,
	                            loop_raised, loop_answered_in_time)
	WITH open_overdue AS MATERIALIZED (
		SELECT ev.id, ev.resident_id, ev.area_id FROM sanse.event ev
		 WHERE ev.kind = 'overdue' AND ev.status <> 'closed' AND ev.due_at < e
		UNION ALL
		SELECT ev.id, ev.resident_id, ev.area_id FROM sanse.event ev
		 WHERE ev.kind = 'overdue' AND ev.status = 'closed' AND ev.resolved_at >= e AND ev.due_at < e),
	leaf (area_id, residents, red, yellow, blue, overdue, windows_met, events_opened, events_closed,
	      level, loop_raised, loop_answered_in_time) AS (
		SELECT p.area_id, 1, (p.tier = 'red')::int, (p.tier = 'yellow')::int, (p.tier = 'blue')::int,
		       (p.id IN (SELECT o.resident_id FROM open_overdue o))::int, 0, 0, 0, 0, 0, 0
		  FROM old15.area_day_residents(e) p
		UNION ALL
		SELECT v.area_id, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0
		  FROM sanse.visit v
		 WHERE v.at >= s AND v.at < e AND v.window_due IS NOT NULL
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0
		  FROM sanse.event ev
		 WHERE ev.due_at >= s AND ev.due_at < e AND ev.kind = 'overdue'
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0
		  FROM sanse.event ev
		 WHERE ev.status = 'closed' AND ev.resolved_at >= s AND ev.resolved_at < e AND ev.kind = 'overdue'
		UNION ALL
		SELECT o.area_id, 0, 0, 0, 0, 0, 0, 0, 0,
		       coalesce((SELECT max(st.level) FROM sanse.event_step st WHERE st.event_id = o.id AND st.at < e), 1),
		       0, 0
		  FROM open_overdue o
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		       coalesce((SELECT min(t.at) FROM sanse.event_transition t
		                  WHERE t.event_id = ev.id AND t.stage = 'arrived' AND t.at < e)
		                < sanse.zone_add(ev.due_at, sanse.step_interval(ev.kind, ev.tier, 'called')), false)::int
		  FROM sanse.event ev
		 WHERE ev.due_at >= s AND ev.due_at < e AND ev.kind <> 'overdue'),
	per_area AS (
		SELECT l.area_id, sum(l.residents) AS residents, sum(l.red) AS red, sum(l.yellow) AS yellow,
		       sum(l.blue) AS blue, sum(l.overdue) AS overdue, sum(l.windows_met) AS windows_met,
		       sum(l.events_opened) AS events_opened, sum(l.events_closed) AS events_closed,
		       count(*) FILTER (WHERE l.level = 1) AS open_level_1, count(*) FILTER (WHERE l.level = 2) AS open_level_2,
		       count(*) FILTER (WHERE l.level = 3) AS open_level_3, count(*) FILTER (WHERE l.level = 4) AS open_level_4,
		       sum(l.loop_raised) AS loop_raised, sum(l.loop_answered_in_time) AS loop_answered_in_time
		  FROM leaf l
		 GROUP BY l.area_id)
	SELECT p_day, up.id, sum(g.residents), sum(g.red), sum(g.yellow), sum(g.blue), sum(g.overdue),
	       sum(g.windows_met), sum(g.events_opened), sum(g.events_closed),
	       sum(g.open_level_1), sum(g.open_level_2), sum(g.open_level_3), sum(g.open_level_4),
	       sum(g.loop_raised), sum(g.loop_answered_in_time)
	  FROM per_area g
	  JOIN sanse.area m ON m.id = g.area_id
	  JOIN sanse.area up ON sanse.path_contains(up.path, m.path)
	 GROUP BY up.id
	 ORDER BY up.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-----------------------------------------------------------------------------
-- The district: 48 residents over M1-M4 (tiers from their factors), each
-- with its micro grid's member as carer.
-----------------------------------------------------------------------------
SELECT setseed(0.44);
INSERT INTO worker (name, force, role, area_id)
SELECT 'c' || i, 'volunteer', 'member', pg_temp.area_id(p)
  FROM (VALUES (1, 'd.t.v.tg.g.m1'), (2, 'd.t.v.tg.g.m2'), (3, 'd.t.v.tg.g2.m3'), (4, 'd.t.v.tg2.g.m4')) v(i, p);
CREATE TEMP TABLE tiers (k int PRIMARY KEY, factors text[]);
INSERT INTO tiers VALUES (0, '{accident_risk}'), (1, '{partial_care,mobility_impaired}'), (2, '{mobility_impaired}');
CREATE FUNCTION pg_temp.register(n text, grid int, tk int, at timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	rid bigint;
BEGIN
	INSERT INTO sanse.resident (area_id, name, factors, registered_at)
	SELECT a.id, n, t.factors, at FROM sanse.area a, tiers t WHERE a.name = 'M' || grid AND t.k = tk
	RETURNING id INTO rid;
	INSERT INTO sanse.carer (resident_id, worker_id) VALUES (rid, pg_temp.worker_id('c' || grid));
	-- the registration row of the tier history dated at registration
	UPDATE sanse.tier_history SET changed_at = at WHERE resident_id = rid;
	RETURN rid;
END
$$;
SELECT count(pg_temp.register('r' || i, 1 + i % 4, (i / 4) % 3, date_trunc('day', now()) - interval '20 days' + i * interval '1 hour'))
  FROM generate_series(1, 48) i \g /dev/null

-- A random time in [a, b).
CREATE FUNCTION pg_temp.at(a timestamptz, b timestamptz) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT a + random() * (b - a)
$$;
-- A random resident (active ones unless said otherwise).
CREATE FUNCTION pg_temp.someone(only_active boolean DEFAULT true) RETURNS bigint LANGUAGE sql AS $$
	SELECT r.id FROM sanse.resident r WHERE (r.active OR NOT only_active) AND r.forgotten_at IS NULL ORDER BY random() LIMIT 1
$$;
CREATE TEMP TABLE done (kind text, n int);
-- What happens in [a, b): every kind of change, at random, dated in [a, b)
-- or (some) before or after it.
CREATE FUNCTION pg_temp.churn(a timestamptz, b timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	x record;
	rid bigint;
	k int;
BEGIN
	-- check-ins in time order by the carers; some residents are skipped
	-- (their windows lapse); a few are back-dated by a day
	FOR x IN SELECT y.id, y.name, c.worker_id,
	                CASE WHEN random() < 0.1 THEN pg_temp.at(a - interval '1 day', a) ELSE pg_temp.at(a, b) END AS at
	           FROM sanse.resident y JOIN sanse.carer c ON c.resident_id = y.id
	          WHERE y.active AND y.forgotten_at IS NULL AND random() < 0.35 ORDER BY 4 LOOP
		BEGIN
			PERFORM sanse.check_in(sanse.door_token(x.id), x.worker_id, x.at);
			INSERT INTO done VALUES ('check_in', 1);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO done VALUES ('check_in refused', 1);
		END;
	END LOOP;
	-- tier changes dated in the slot, and one dated a day later
	FOR k IN 1..3 LOOP
		rid := pg_temp.someone(k = 3);
		UPDATE sanse.resident SET factors = (SELECT t.factors FROM tiers t ORDER BY random() LIMIT 1) WHERE id = rid;
		UPDATE sanse.tier_history SET changed_at = CASE WHEN k = 2 THEN pg_temp.at(b, b + interval '1 day') ELSE pg_temp.at(a, b) END
		 WHERE id = (SELECT max(h.id) FROM sanse.tier_history h WHERE h.resident_id = rid);
		INSERT INTO done VALUES ('tier', 1);
	END LOOP;
	-- a registration dated in the slot, one dated after it
	PERFORM pg_temp.register('n' || (SELECT count(*) FROM sanse.resident), 1 + (random() * 3)::int, (random() * 2)::int, pg_temp.at(a, b));
	IF random() < 0.5 THEN
		PERFORM pg_temp.register('n' || (SELECT count(*) FROM sanse.resident), 1 + (random() * 3)::int, (random() * 2)::int,
		                         pg_temp.at(b, b + interval '1 day'));
	END IF;
	INSERT INTO done VALUES ('registration', 1);
	-- a deactivation dated in the slot; now and then a reactivation
	rid := pg_temp.someone();
	UPDATE sanse.resident SET active = false WHERE id = rid;
	UPDATE sanse.resident SET deactivated_at = pg_temp.at(a, b) WHERE id = rid;
	INSERT INTO done VALUES ('deactivation', 1);
	IF random() < 0.3 THEN
		UPDATE sanse.resident SET active = true
		 WHERE id = (SELECT r.id FROM sanse.resident r WHERE NOT r.active AND r.forgotten_at IS NULL ORDER BY random() LIMIT 1);
		INSERT INTO done VALUES ('reactivation', 1);
	END IF;
	-- a move to another micro grid
	rid := pg_temp.someone(false);
	UPDATE sanse.resident r SET area_id = (SELECT m.id FROM sanse.area m WHERE m.kind = 'micro_grid' AND m.id <> r.area_id
	                                        AND m.path <@ 'd' ORDER BY random() LIMIT 1)
	 WHERE r.id = rid;
	INSERT INTO done VALUES ('move', 1);
	-- a loop event, answered or not
	rid := pg_temp.someone();
	k := sanse.raise_event('warning', rid, 'fell', 'grid', pg_temp.at(a, a + (b - a) / 2));
	IF random() < 0.6 THEN
		BEGIN
			PERFORM sanse.arrive(k, (SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = rid LIMIT 1), sanse.door_token(rid),
			                     (SELECT e.due_at FROM sanse.event e WHERE e.id = k) + random() * interval '40 minutes');
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
	END IF;
	INSERT INTO done VALUES ('loop', 1);
	-- now and then a resident forgotten (deactivated long ago or active)
	IF random() < 0.25 THEN
		PERFORM sanse.forget(ARRAY[pg_temp.someone(random() < 0.5)]);
		INSERT INTO done VALUES ('forget', 1);
	END IF;
END
$$;

-- A day: its changes in four slots, a sweep at the end of each (the last
-- one, 30 s after midnight, records the day).
CREATE FUNCTION pg_temp.live(d date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	h int;
	a timestamptz;
BEGIN
	FOR h IN 0..3 LOOP
		a := d::timestamp AT TIME ZONE sanse.current_zone() + h * interval '6 hours';
		PERFORM pg_temp.churn(a, a + interval '6 hours');
		PERFORM sanse.sweep(a + interval '6 hours' + interval '30 seconds');
	END LOOP;
END
$$;
-- The day's rows as recorded, and as the full count gives them now.
CREATE FUNCTION pg_temp.recorded(d date) RETURNS SETOF sanse.area_day LANGUAGE sql AS $$
	SELECT * FROM sanse.area_day WHERE day = d
$$;
CREATE FUNCTION pg_temp.counted(d date) RETURNS SETOF sanse.area_day LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM old15.area_day;
	PERFORM old15.record_area_day(d, sanse.current_zone());
	RETURN QUERY SELECT * FROM old15.area_day;
END
$$;

-----------------------------------------------------------------------------
-- Nine days, compared as each is recorded
-----------------------------------------------------------------------------
SELECT sanse.sweep(date_trunc('day', now()) - interval '10 days' + interval '30 seconds') \g /dev/null
SELECT is((SELECT count(*) FROM area_day_recorded WHERE areas IS NULL), 1::bigint, 'the first sweep marks the start of the history');
CREATE TEMP TABLE days AS
SELECT (current_date - 10 + i) AS d FROM generate_series(0, 8) i;
SELECT pg_temp.live(d) FROM days WHERE d = current_date - 10 \g /dev/null
SELECT bag_eq($$SELECT * FROM pg_temp.recorded(current_date - 10)$$, $$SELECT * FROM pg_temp.counted(current_date - 10)$$,
              'the first day (counted from every resident) as the full count records it');
SELECT is((SELECT day FROM area_day_state), current_date - 10, '... and the residents are kept for that day');

-- Each following day: lived, recorded by the sweep after its midnight, then
-- compared with the full count; the change rows dated before its end are
-- gone, and the residents are kept for it (carried, not counted again).
CREATE FUNCTION pg_temp.day_test(d date) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.live(d);
	RETURN NEXT bag_eq(format('SELECT * FROM pg_temp.recorded(%L)', d), format('SELECT * FROM pg_temp.counted(%L)', d),
	                   format('day %s as the full count records it', d - current_date));
	RETURN NEXT is((SELECT count(*) FROM sanse.area_day_change c WHERE c.at < (d + 1)::timestamp AT TIME ZONE sanse.current_zone()), 0::bigint,
	               format('day %s: no change row dated before its end is left', d - current_date));
	RETURN NEXT is((SELECT s.day FROM sanse.area_day_state s), d, format('day %s: the residents are kept for it', d - current_date));
END
$$;
SELECT pg_temp.day_test(d) FROM days WHERE d > current_date - 10 ORDER BY d;

-- every kind of change happened, and the days recorded them
SELECT is((SELECT string_agg(kind, ',' ORDER BY kind) FROM (SELECT DISTINCT kind FROM done WHERE kind <> 'check_in refused') k),
          'check_in,deactivation,forget,loop,move,reactivation,registration,tier', 'every kind of change was made');
SELECT ok((SELECT least(sum(h.overdue), sum(h.windows_met), sum(h.events_opened), sum(h.events_closed),
                       sum(h.open_level_1 + h.open_level_2 + h.open_level_3 + h.open_level_4),
                       sum(h.loop_raised), sum(h.loop_answered_in_time)) > 0
             FROM area_day h JOIN area a ON a.id = h.area_id WHERE a.path = 'd'),
          'the district''s days have overdue residents, windows met, overdue events opened, closed and open, loop events raised and answered');

-- A check-in notes nothing (its update of the resident is skipped by the
-- trigger's WHEN).
SELECT count(*) AS changes_before FROM area_day_change \gset
SELECT sanse.check_in(sanse.door_token(r.id), c.worker_id, now() - interval '1 hour')
  FROM resident r JOIN carer c ON c.resident_id = r.id WHERE r.active AND r.forgotten_at IS NULL ORDER BY r.id LIMIT 1 \g /dev/null
SELECT is((SELECT count(*) FROM area_day_change), :changes_before::bigint, 'a check-in appends no change row');

-- The tier history edited by hand is noted too: a resident whose notes were
-- all consumed (nothing of it dated after the last recorded day) gets its
-- last tier change re-dated to tomorrow, another a change inserted dated
-- tomorrow; on the day recorded next both still have their earlier tier.
SAVEPOINT edited;
CREATE TEMP TABLE settled AS
SELECT r.id FROM resident r
 WHERE r.active AND r.forgotten_at IS NULL AND r.registered_at < current_date - 2
   AND (SELECT count(DISTINCT h.new_tier) FROM tier_history h WHERE h.resident_id = r.id) > 1
   AND NOT EXISTS (SELECT 1 FROM tier_history h WHERE h.resident_id = r.id AND h.changed_at >= current_date - 2)
 ORDER BY r.id LIMIT 1;
INSERT INTO settled
SELECT r.id FROM resident r
 WHERE r.active AND r.forgotten_at IS NULL AND r.registered_at < current_date - 2 AND r.id NOT IN (SELECT id FROM settled)
   AND NOT EXISTS (SELECT 1 FROM tier_history h WHERE h.resident_id = r.id AND h.changed_at >= current_date - 2)
 ORDER BY r.id LIMIT 1;
DELETE FROM area_day_change WHERE resident_id IN (SELECT id FROM settled);
UPDATE tier_history SET changed_at = now() + interval '1 day'
 WHERE id = (SELECT max(h.id) FROM tier_history h WHERE h.resident_id = (SELECT min(id) FROM settled));
INSERT INTO tier_history (resident_id, changed_at, new_tier)
SELECT r.id, now() + interval '1 day', CASE WHEN r.tier = 'red' THEN 'blue' ELSE 'red' END::risk_tier
  FROM resident r WHERE r.id = (SELECT max(id) FROM settled);
SELECT sanse.record_area_day(current_date - 1, sanse.current_zone()) \g /dev/null
SELECT bag_eq($$SELECT * FROM pg_temp.recorded(current_date - 1)$$, $$SELECT * FROM pg_temp.counted(current_date - 1)$$,
              'a tier change re-dated or inserted by hand is noted (the day after, as the full count records it)');
ROLLBACK TO SAVEPOINT edited;

-- The next day is carried from the kept residents, not counted again: a
-- count planted in the tally shows in it (rolled back).
SAVEPOINT planted;
UPDATE area_day_tally SET red = red + 1000 WHERE area_id = pg_temp.area_id('d.t.v.tg.g.m1');
SELECT sanse.sweep(date_trunc('day', now()) + interval '30 seconds') \g /dev/null
SELECT is((SELECT h.red - o.red FROM area_day h, pg_temp.counted(current_date - 1) o
            WHERE h.day = current_date - 1 AND h.area_id = pg_temp.area_id('d') AND o.area_id = h.area_id), 1000,
          'the day after is carried from the kept residents (a count planted in the tally shows in the district''s row)');
ROLLBACK TO SAVEPOINT planted;

-- A tail of days deleted by the owner is recorded again, counted from every
-- resident (the kept residents are for a later day); then a day after a
-- gap (no day kept before it) too.
DELETE FROM area_day WHERE day >= current_date - 4;
DELETE FROM area_day_recorded WHERE day >= current_date - 4;
SELECT sanse.record_history(date_trunc('day', now()) - interval '3 days' + interval '1 minute', 1) \g /dev/null
SELECT bag_eq($$SELECT * FROM pg_temp.recorded(current_date - 4)$$, $$SELECT * FROM pg_temp.counted(current_date - 4)$$,
              'a day recorded again after the owner deleted a tail, as the full count records it');
SELECT sanse.record_history(date_trunc('day', now()) + interval '1 minute', 7) \g /dev/null
SELECT bag_eq($$SELECT * FROM area_day WHERE day >= current_date - 3$$,
              $$SELECT * FROM pg_temp.counted(current_date - 3) UNION ALL SELECT * FROM pg_temp.counted(current_date - 2)
                UNION ALL SELECT * FROM pg_temp.counted(current_date - 1)$$,
              '... and the days after it, carried from it');
SELECT sanse.sweep(now()) \g /dev/null
DELETE FROM area_day_state;
INSERT INTO area_day_state VALUES (current_date - 9, now());
SELECT lives_ok($$SELECT sanse.record_area_day(current_date + 1, sanse.current_zone())$$, 'a day that does not follow the kept one is counted from every resident');

-- Only the owner reads or writes what the history keeps, or runs its steps.
SELECT is((SELECT string_agg(c || ':' || has_table_privilege('public', c, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'), ' ' ORDER BY c)
             FROM unnest(ARRAY['sanse.area_day_change', 'sanse.area_day_member', 'sanse.area_day_state', 'sanse.area_day_tally']) c),
          'sanse.area_day_change:false sanse.area_day_member:false sanse.area_day_state:false sanse.area_day_tally:false',
          'PUBLIC has no privilege on area_day_change, area_day_member, area_day_tally, area_day_state');
SELECT is((SELECT string_agg(f || ':' || has_function_privilege('public', f, 'EXECUTE'), ' ' ORDER BY f)
             FROM unnest(ARRAY['sanse.area_day_note()', 'sanse.area_day_residents_of(timestamptz,bigint[])',
                               'sanse.area_day_recount(date,timestamptz)', 'sanse.area_day_advance(date,timestamptz)']) f),
          'sanse.area_day_advance(date,timestamptz):false sanse.area_day_note():false sanse.area_day_recount(date,timestamptz):false sanse.area_day_residents_of(timestamptz,bigint[]):false',
          'PUBLIC runs none of the steps (area_day_note is SECURITY DEFINER, owner only)');

SELECT * FROM finish();
ROLLBACK;
