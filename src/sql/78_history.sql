-----------------------------------------------------------------------------
-- The daily history of the screen (巡屏): at the first sweep after local
-- midnight (sanse.timezone) sanse records, for each day that ended and is
-- not recorded yet, one row per area (rolled up the hierarchy) with the
-- day's numbers as they stood at the day's end.  Every number is derived
-- from times in the data (tier history, visit times, due and closing times,
-- step times, arrivals), never from "current" columns, so a day recorded
-- late (sweeps stopped for days) gets exactly the row a sweep on time would
-- have written from the same data.  History starts at the first sweep: the
-- day before it is marked as the start and never recorded.
-----------------------------------------------------------------------------

-- One row per recorded day: the zone its boundaries were cut in, the time
-- of the sweep that recorded it and how many area rows it has (NULL: the
-- day before the history started, not recorded).
CREATE TABLE area_day_recorded (
	day date PRIMARY KEY,
	zone text NOT NULL,
	swept_at timestamptz NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	areas integer
);
REVOKE ALL ON area_day_recorded FROM PUBLIC;
COMMENT ON TABLE area_day_recorded IS 'days recorded in area_day: zone, sweep time, area rows (NULL: the day before the history started)';

-- The day's own numbers of an area rolled up over its subtree; an area
-- without a resident in the programme nor an event that day has no row.
CREATE TABLE area_day (
	day date NOT NULL,
	area_id bigint NOT NULL,
	residents integer NOT NULL,
	red integer NOT NULL,
	yellow integer NOT NULL,
	blue integer NOT NULL,
	overdue integer NOT NULL,
	windows_met integer NOT NULL,
	events_opened integer NOT NULL,
	events_closed integer NOT NULL,
	open_level_1 integer NOT NULL,
	open_level_2 integer NOT NULL,
	open_level_3 integer NOT NULL,
	open_level_4 integer NOT NULL,
	loop_raised integer NOT NULL,
	loop_answered_in_time integer NOT NULL,
	PRIMARY KEY (day, area_id)
);
CREATE INDEX area_day_area ON area_day (area_id, day);
REVOKE ALL ON area_day FROM PUBLIC;
COMMENT ON TABLE area_day IS 'daily history per area (rolled up) as of the end of each local day: residents in the programme by tier, overdue, windows met, overdue events opened, closed and open by level, loop events raised and answered in time; written only by the sweep';

-- What the days are computed from, by time: tier changes after a day's end
-- (the tier at that end is then read from the history), and open overdue
-- events (with the closed ones found by event_closed_at).
CREATE INDEX tier_history_changed_at ON tier_history (changed_at);
CREATE INDEX event_open_overdue ON event (due_at) WHERE kind = 'overdue' AND status <> 'closed';

-- History is never rewritten: UPDATE and TRUNCATE are refused (the owner
-- may DELETE a tail of days to have the next sweep record them again).
CREATE OR REPLACE FUNCTION area_day_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'area_day_keep', ARRAY['sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass],
		'sanse''s daily history');
	RAISE EXCEPTION 'sanse.% keeps the daily history: % is refused', TG_TABLE_NAME, TG_OP
		USING ERRCODE = '42501', HINT = 'Recorded days are never changed; sanse.sweep records each day once.';
END
$$;
REVOKE ALL ON FUNCTION area_day_keep() FROM PUBLIC;
CREATE TRIGGER area_day_keep BEFORE UPDATE ON area_day
	FOR EACH ROW EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_no_truncate BEFORE TRUNCATE ON area_day
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_recorded_keep BEFORE UPDATE ON area_day_recorded
	FOR EACH ROW EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_recorded_no_truncate BEFORE TRUNCATE ON area_day_recorded
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_keep();
SELECT pg_catalog.pg_extension_config_dump('area_day', '');
SELECT pg_catalog.pg_extension_config_dump('area_day_recorded', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day_recorded FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- The residents in the programme at the end e of a day, with their tier at
-- e: registered before e, active or deactivated at or after e, with a tier
-- at e (the current tier unless it changed at or after e, then as tier_at
-- reads the history).  A step of record_area_day.
CREATE OR REPLACE FUNCTION area_day_residents(e timestamptz) RETURNS TABLE (id bigint, area_id bigint, tier sanse.risk_tier)
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse SET work_mem = '64MB' AS $$
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
REVOKE ALL ON FUNCTION area_day_residents(timestamptz) FROM PUBLIC;

-- One day's rows, as of its end e = next local midnight (every state below
-- is the one just before e; what happens at e belongs to the next day):
--   residents   registered before e, active then (active now, or deactivated
--               at or after e), with a tier at e (the current tier unless it
--               changed at or after e, then as tier_at reads the history);
--   overdue     those of them with an overdue event open at e (due before e,
--               not closed before e);
--   windows_met visits of the day that met a window (window_due set);
--   events      overdue events due (opened) and closed during the day, and
--               those open at e by the level their steps had reached before e;
--   loop        loop events raised during the day, and those of them whose
--               first arrival came before their first arrival step and before e.
-- Each part reads an index on time (tier_history_changed_at, visit_at,
-- event_due_at, event_open_overdue, event_closed_at); the residents are
-- carried from the day before by what changed (area_day_advance,
-- 78_history_day.sql); rolled up over the area hierarchy.
CREATE OR REPLACE FUNCTION record_area_day(p_day date, p_zone text) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s timestamptz := p_day::timestamp AT TIME ZONE p_zone;
	e timestamptz := (p_day + 1)::timestamp AT TIME ZONE p_zone;
	n int;
BEGIN
	-- the residents at e, by area and tier (area_day_member, area_day_tally)
	PERFORM sanse.area_day_advance(p_day, e);
	INSERT INTO sanse.area_day (day, area_id, residents, red, yellow, blue, overdue, windows_met,
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
		SELECT t.area_id, t.red + t.yellow + t.blue, t.red, t.yellow, t.blue, 0, 0, 0, 0, 0, 0, 0
		  FROM sanse.area_day_tally t
		 WHERE t.red + t.yellow + t.blue > 0
		UNION ALL
		SELECT m.area_id, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0
		  FROM sanse.area_day_member m
		 WHERE m.resident_id IN (SELECT o.resident_id FROM open_overdue o)
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
	 -- each area's ancestors and itself (path_contains), found by their
	 -- paths: a probe of the unique index on path per level, where a GiST
	 -- scan per area cost 0.1 ms (most of the day at 1,000x)
	 CROSS JOIN LATERAL generate_series(0, sanse.path_depth(m.path)) k(depth)
	  JOIN sanse.area up ON sanse.path_equals(up.path, sanse.path_ancestor(m.path, k.depth))
	 GROUP BY up.id
	 ORDER BY up.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION record_area_day(date, text) FROM PUBLIC;
COMMENT ON FUNCTION record_area_day(date, text) IS 'write area_day rows of one local day (in a zone) as of its end; returns how many';

-- The sweep's phase: record every day that ended by at and is not recorded,
-- oldest first, at most max_days in one call (the rest at the next sweep).
-- The first call ever marks the day before its own as the history's start.
-- A sweep with nothing to record reads one index entry.
CREATE OR REPLACE FUNCTION record_history(at timestamptz DEFAULT now(), max_days integer DEFAULT 7) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	zone text := sanse.current_zone();
	d date;
	n int := 0;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- one recorder at a time (sweep holds this lock already)
	LOCK TABLE sanse.sweep_lock IN EXCLUSIVE MODE;
	SELECT r.day + 1 INTO d FROM sanse.area_day_recorded r ORDER BY r.day DESC LIMIT 1;
	IF d IS NULL THEN
		INSERT INTO sanse.area_day_recorded (day, zone, swept_at, areas)
		VALUES ((at AT TIME ZONE zone)::date - 1, zone, at, NULL);
		RETURN 0;
	END IF;
	WHILE n < max_days AND ((d + 1)::timestamp AT TIME ZONE zone) <= at LOOP
		INSERT INTO sanse.area_day_recorded (day, zone, swept_at, areas)
		VALUES (d, zone, at, sanse.record_area_day(d, zone));
		n := n + 1;
		d := d + 1;
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION record_history(timestamptz, integer) FROM PUBLIC;
COMMENT ON FUNCTION record_history(timestamptz, integer) IS 'record in area_day every local day (sanse.timezone) that ended by at and is not recorded yet, oldest first, at most max_days; returns how many days (run by sanse.sweep)';

-- The history for the screen: every recorded day and area the role may see
-- (zeros where an area had no row), PII-free.  Areas seen as aggregates
-- only: the days as published once each by the sweep (published_coverage_
-- history, cells suppressed within the day, and never changed after); the
-- others: area_day itself.
CREATE OR REPLACE VIEW coverage_history AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.residents END AS residents,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.red END AS red,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.yellow END AS yellow,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.blue END AS blue,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.overdue END AS overdue,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.windows_met END AS windows_met,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_opened END AS events_opened,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_closed END AS events_closed,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_1 END AS open_level_1,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_2 END AS open_level_2,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_3 END AS open_level_3,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_4 END AS open_level_4,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_raised END AS loop_raised,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_answered_in_time END AS loop_answered_in_time,
	       h.coverage_rate, h.response_rate
	  FROM sanse.published_history_day d
	 CROSS JOIN sanse.area a
	  JOIN sanse.screen_areas() v ON v.id = a.id AND NOT v.exact
	  LEFT JOIN sanse.published_coverage_history h ON h.day = d.day AND h.area_id = a.id
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
	       coalesce(h.residents, 0)::bigint, coalesce(h.red, 0)::bigint, coalesce(h.yellow, 0)::bigint,
	       coalesce(h.blue, 0)::bigint, coalesce(h.overdue, 0)::bigint, coalesce(h.windows_met, 0)::bigint,
	       coalesce(h.events_opened, 0)::bigint, coalesce(h.events_closed, 0)::bigint,
	       coalesce(h.open_level_1, 0)::bigint, coalesce(h.open_level_2, 0)::bigint,
	       coalesce(h.open_level_3, 0)::bigint, coalesce(h.open_level_4, 0)::bigint,
	       coalesce(h.loop_raised, 0)::bigint, coalesce(h.loop_answered_in_time, 0)::bigint,
	       CASE WHEN h.residents > 0 THEN round(1 - h.overdue::numeric / h.residents, 4) END,
	       CASE WHEN h.loop_raised > 0 THEN round(h.loop_answered_in_time::numeric / h.loop_raised, 4) END
	  FROM sanse.area_day_recorded d
	 CROSS JOIN sanse.area a
	  JOIN sanse.screen_areas() v ON v.id = a.id AND v.exact
	  LEFT JOIN sanse.area_day h ON h.day = d.day AND h.area_id = a.id
	 WHERE d.areas IS NOT NULL AND sanse.screen_sees_exact()) u;
COMMENT ON VIEW coverage_history IS 'daily history per area (rolled up) the role may see and recorded local day, as of the day''s end: residents in the programme by tier, overdue, windows met, overdue events opened, closed and open by level, loop events raised and answered in time, coverage rate, response rate (for aggregate-only roles: the days as published by the sweep, cells suppressed)';
