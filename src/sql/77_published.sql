-----------------------------------------------------------------------------
-- Published screen (spec 8, "Small cells stay hidden under arithmetic").
-- What a role whose access to an area is aggregate only reads of it is not
-- computed when it asks: it is the rows the sweep published last, with
-- their small cells hidden by cell suppression (statistical disclosure
-- control, as statistical offices publish tables):
--   primary suppression:   a count from 1 to sanse.min_cell - 1 is hidden;
--   secondary (complementary) suppression: in every additive group a
--       published count belongs to (an area and its children at every level
--       of the hierarchy, the residents and their three tiers, opened =
--       closed + still open = the levels reached, raised = closed + still
--       open, a month and its recorded days, a micro grid's events of a day
--       and the history's overdue and loop events of that day) no hidden
--       cell is alone, and the hidden cells of a group never add up to a
--       known 0: the smallest other count of the group is hidden too, again
--       and again until nothing changes (a fixpoint);
--   zeros: in a row's partition with a hidden cell (residents and their
--       tiers, opened and closed + still open, opened and its levels) every
--       0 is hidden as well: a 0 beside a hidden total tells its make-up
--       ("residents hidden, yellow 0, blue 0" would say every household
--       there is red).  Elsewhere a 0 is shown, and an area, month or day
--       without a row is a 0 anyone sees; a complement is a 0 only in such
--       a partition, and only when its group has no other count left;
--   a rate, median or mean over a hidden count is hidden.
-- A recorded day of the history is published once, when it is recorded,
-- and never changes; the views of now (coverage, the months, the daily
-- report) are published again by the sweep at most every ten minutes (and
-- at once after a day was recorded).  Only the owner (and the sweep) writes
-- them.  EXPLAIN ANALYZE of a screen view by such a role shows the scan of
-- these tables and nothing beneath them.
-----------------------------------------------------------------------------

-- The last publication: when, and with which sanse.min_cell.
CREATE TABLE screen_publication (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	published_at timestamptz NOT NULL,
	published_clock timestamptz NOT NULL DEFAULT clock_timestamp(),
	min_cell integer NOT NULL,
	cells integer NOT NULL,
	hidden integer NOT NULL
);
COMMENT ON TABLE screen_publication IS 'the last publication of the screen for aggregate-only roles: as of when (the sweep''s time), when on the clock, sanse.min_cell, count cells published and hidden';

-- Each recorded day of the history, published once.
CREATE TABLE published_history_day (
	day date PRIMARY KEY,
	published_at timestamptz NOT NULL,
	min_cell integer NOT NULL
);
COMMENT ON TABLE published_history_day IS 'recorded days of area_day published for aggregate-only roles (once, never changed)';

CREATE TABLE published_coverage_history (
	day date NOT NULL,
	area_id bigint NOT NULL,
	residents bigint, red bigint, yellow bigint, blue bigint, overdue bigint, windows_met bigint,
	events_opened bigint, events_closed bigint,
	open_level_1 bigint, open_level_2 bigint, open_level_3 bigint, open_level_4 bigint,
	loop_raised bigint, loop_answered_in_time bigint,
	coverage_rate numeric, response_rate numeric,
	PRIMARY KEY (day, area_id)
);
COMMENT ON TABLE published_coverage_history IS 'coverage_history as aggregate-only roles read it: the rows of area_day of each published day, hidden cells NULL (an area without a row: zeros)';

CREATE TABLE published_coverage (
	area_id bigint PRIMARY KEY, path text NOT NULL, kind text NOT NULL, name text NOT NULL,
	residents bigint, red bigint, yellow bigint, blue bigint, overdue_now bigint, window_met bigint,
	coverage_rate numeric
);
CREATE TABLE published_coverage_by_tier (
	area_id bigint NOT NULL, path text NOT NULL, kind text NOT NULL, name text NOT NULL, tier text NOT NULL,
	residents bigint, overdue_now bigint, window_met bigint, coverage_rate numeric,
	PRIMARY KEY (area_id, tier)
);
CREATE TABLE published_overdue_events (
	area_id bigint NOT NULL, path text NOT NULL, kind text NOT NULL, name text NOT NULL, month date NOT NULL,
	opened bigint, closed bigint, still_open bigint,
	reached_level_1 bigint, reached_level_2 bigint, reached_level_3 bigint, reached_level_4 bigint,
	median_time_to_close interval,
	PRIMARY KEY (area_id, month)
);
CREATE TABLE published_loop_metrics (
	area_id bigint NOT NULL, path text NOT NULL, name text NOT NULL, month date NOT NULL, kind text NOT NULL,
	raised bigint, answered_in_time bigint, response_rate numeric, median_time_to_arrive interval,
	handled bigint, closed bigint, reopened bigint, mean_rating numeric, confirmed_solved bigint, still_open bigint,
	PRIMARY KEY (area_id, month, kind)
);
CREATE TABLE published_grid_daily_report (
	area_id bigint NOT NULL, path text NOT NULL, name text NOT NULL, day date NOT NULL,
	visits bigint, complete_checklists bigint, flagged_visits bigint, events_opened bigint, events_closed bigint,
	PRIMARY KEY (area_id, day)
);
CREATE TABLE published_worker_checkin_rate (
	worker_id bigint NOT NULL, worker_name text NOT NULL, force text NOT NULL, area_id bigint NOT NULL, month date NOT NULL,
	windows_due bigint, windows_met bigint, checkin_rate numeric, visits bigint, flagged_visits bigint,
	checklist_completeness numeric,
	PRIMARY KEY (worker_id, month)
);
COMMENT ON TABLE published_coverage IS 'coverage as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_coverage_by_tier IS 'coverage_by_tier as aggregate-only roles read it: every area and tier, the same cells as published_coverage';
COMMENT ON TABLE published_overdue_events IS 'overdue_events as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_loop_metrics IS 'loop_metrics as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_grid_daily_report IS 'grid_daily_report as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
COMMENT ON TABLE published_worker_checkin_rate IS 'worker_checkin_rate as aggregate-only roles read it (small cells NULL), as of screen_publication.published_at';
REVOKE ALL ON screen_publication, published_history_day, published_coverage_history, published_coverage,
              published_coverage_by_tier, published_overdue_events, published_loop_metrics,
              published_grid_daily_report, published_worker_checkin_rate FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('screen_publication', '');
SELECT pg_catalog.pg_extension_config_dump('published_history_day', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage_history', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage', '');
SELECT pg_catalog.pg_extension_config_dump('published_coverage_by_tier', '');
SELECT pg_catalog.pg_extension_config_dump('published_overdue_events', '');
SELECT pg_catalog.pg_extension_config_dump('published_loop_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('published_grid_daily_report', '');
SELECT pg_catalog.pg_extension_config_dump('published_worker_checkin_rate', '');

-- Whether the current user sees some area exactly (read or care), and some
-- area as aggregates only: the one-time filters of the screen views' two
-- branches (the live computation and the published rows), so the branch a
-- role has no area for is never executed.
CREATE OR REPLACE FUNCTION screen_sees_exact() RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM sanse.granted_areas('read', current_user));
COMMENT ON FUNCTION screen_sees_exact() IS 'true when current_user sees some area exactly (read or care): the screen views compute its rows live';
CREATE OR REPLACE FUNCTION screen_sees_aggregate() RETURNS boolean
LANGUAGE sql STABLE
RETURN EXISTS (SELECT 1 FROM sanse.granted_areas('aggregate', current_user) g(id)
                WHERE g.id NOT IN (SELECT sanse.granted_areas('read', current_user)));
COMMENT ON FUNCTION screen_sees_aggregate() IS 'true when current_user sees some area as aggregates only: the screen views read its published rows';

-- When the rows an aggregate-only role reads were published (NULL: never).
CREATE OR REPLACE FUNCTION screen_published_at() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse
RETURN (SELECT p.published_at FROM sanse.screen_publication p);
COMMENT ON FUNCTION screen_published_at() IS 'when the screen rows aggregate-only roles read were published by the sweep (NULL: never yet)';

-- sanse.min_cell as sanse.cell applies it (reading it through sanse.cell
-- first loads the library: never a placeholder a role set before).
CREATE OR REPLACE FUNCTION min_cell_in_force() RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.cell(0, false);
	RETURN pg_catalog.current_setting('sanse.min_cell')::integer;
END
$$;
COMMENT ON FUNCTION min_cell_in_force() IS 'the setting sanse.min_cell that sanse.cell applies';

-- The suppression itself, on the session's work tables sc_cell (a count:
-- value, hidden, frozen = already published and never changed, w = how many
-- hidden cells a frozen one stands for, round = the round of the fixpoint
-- that hid it)
-- and sc_member (group, cell, sign:
-- in a group, sum(sign * value) = 0).  Returns how many cells it hid.
CREATE OR REPLACE FUNCTION suppress_cells() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	n int;
	z int;
	r int := 0;
	total int := 0;
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	-- a group of one cell says nothing
	DELETE FROM pg_temp.sc_member m
	 WHERE m.gid IN (SELECT x.gid FROM pg_temp.sc_member x GROUP BY x.gid HAVING count(*) < 2);
	ANALYZE pg_temp.sc_member;
	-- primary: the small counts (sanse.cell reads sanse.min_cell in C); the
	-- hidden cells of each round are "new" (round r): only the groups they
	-- belong to are looked at again
	UPDATE pg_temp.sc_cell c SET hidden = true, round = 0
	 WHERE NOT c.frozen AND NOT c.hidden AND sanse.cell(c.val, false) IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	total := n;
	UPDATE pg_temp.sc_cell c SET round = 0 WHERE c.frozen AND c.hidden;
	ANALYZE pg_temp.sc_cell;
	LOOP
		DELETE FROM pg_temp.sc_touched;
		INSERT INTO pg_temp.sc_touched (gid)
		SELECT DISTINCT m.gid FROM pg_temp.sc_cell c JOIN pg_temp.sc_member m ON m.cid = c.cid WHERE c.round = r;
		-- zeros of a row's partition with a hidden cell (its tiers, closed
		-- and still open, levels): a 0 there tells the hidden one's make-up
		UPDATE pg_temp.sc_cell c SET hidden = true, round = r + 1
		 WHERE NOT c.frozen AND NOT c.hidden AND c.val = 0
		   AND c.cid IN (SELECT m.cid FROM pg_temp.sc_touched t JOIN pg_temp.sc_member m ON m.gid = t.gid WHERE m.part);
		GET DIAGNOSTICS z = ROW_COUNT;
		-- complements: a group with one hidden cell, or whose hidden cells all
		-- count the same way and add up to what is shown (then all are 0),
		-- hides its smallest other count (not a 0 if it can, a part before
		-- the total)
		WITH g AS (
			SELECT m.gid
			  FROM pg_temp.sc_touched t JOIN pg_temp.sc_member m ON m.gid = t.gid JOIN pg_temp.sc_cell c ON c.cid = m.cid
			 GROUP BY m.gid
			HAVING sum(c.w) FILTER (WHERE c.hidden) = 1
			    OR (sum(c.w) FILTER (WHERE c.hidden) > 1
			        AND min(m.sign) FILTER (WHERE c.hidden) = max(m.sign) FILTER (WHERE c.hidden)
			        AND coalesce(sum(m.sign * c.val) FILTER (WHERE NOT c.hidden), 0) = 0)),
		pick AS (
			SELECT DISTINCT ON (m.gid) m.cid
			  FROM g JOIN pg_temp.sc_member m ON m.gid = g.gid JOIN pg_temp.sc_cell c ON c.cid = m.cid
			 WHERE NOT c.hidden AND NOT c.frozen
			   -- a 0 only where it is part of a row's partition: a 0 hidden
			   -- elsewhere could be read back from a month or day without a row
			   AND (c.val <> 0 OR EXISTS (SELECT 1 FROM pg_temp.sc_member pm WHERE pm.cid = c.cid AND pm.part))
			 ORDER BY m.gid, c.val = 0, m.sign, c.val, c.cid)
		UPDATE pg_temp.sc_cell c SET hidden = true, round = r + 1 FROM pick WHERE c.cid = pick.cid AND NOT c.hidden;
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + z + n;
		RAISE DEBUG 'suppress_cells: round %, % zeros and % complements hidden', r + 1, z, n;
		EXIT WHEN z = 0 AND n = 0;
		r := r + 1;
	END LOOP;
	RETURN total;
END
$$;
REVOKE ALL ON FUNCTION suppress_cells() FROM PUBLIC;
COMMENT ON FUNCTION suppress_cells() IS 'primary and secondary cell suppression on the session''s sc_cell and sc_member, to a fixpoint; returns how many cells it hid';

-- Fresh work tables for one suppression.
CREATE OR REPLACE FUNCTION suppress_begin() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	-- made once a transaction and emptied after (no new relation, so no new
	-- lock, for each day a sweep publishes)
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		CREATE TEMP TABLE sc_cell (
			cid serial PRIMARY KEY, src text NOT NULL, area_id bigint, k text NOT NULL DEFAULT '', m text NOT NULL,
			val bigint NOT NULL, hidden boolean NOT NULL DEFAULT false, frozen boolean NOT NULL DEFAULT false,
			w integer NOT NULL DEFAULT 1, round integer) ON COMMIT DROP;
		CREATE INDEX ON pg_temp.sc_cell (src, area_id, k, m);
		CREATE TEMP TABLE sc_member (gid bigint NOT NULL, cid integer NOT NULL, sign integer NOT NULL,
		                             part boolean NOT NULL DEFAULT false) ON COMMIT DROP;
		CREATE INDEX ON pg_temp.sc_member (gid);
		CREATE INDEX ON pg_temp.sc_member (cid);
		CREATE TEMP TABLE sc_parent (id bigint PRIMARY KEY, parent bigint NOT NULL) ON COMMIT DROP;
		CREATE TEMP TABLE sc_touched (gid bigint NOT NULL) ON COMMIT DROP;
	ELSE
		TRUNCATE pg_temp.sc_cell, pg_temp.sc_member, pg_temp.sc_parent, pg_temp.sc_touched;
	END IF;
	INSERT INTO pg_temp.sc_parent (id, parent)
	SELECT a.id, p.id
	  FROM sanse.area a
	  JOIN sanse.area p ON p.path::text = pg_catalog.regexp_replace(a.path::text, '[.][^.]*$', '')
	 WHERE pg_catalog.strpos(a.path::text, '.') > 0;
END
$$;
REVOKE ALL ON FUNCTION suppress_begin() FROM PUBLIC;
COMMENT ON FUNCTION suppress_begin() IS 'create the session''s work tables of one suppression (sc_cell, sc_member, sc_parent)';

-- Hierarchy groups for the cells of some sources: an area's count and the
-- same count of its children (same key and measure).
CREATE OR REPLACE FUNCTION suppress_hierarchy(p_src text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	INSERT INTO pg_temp.sc_member (gid, cid, sign)
	SELECT pg_catalog.hashtextextended('h/' || c.src || '/' || c.area_id || '/' || c.k || '/' || c.m, 0), c.cid, 1
	  FROM pg_temp.sc_cell c
	 WHERE c.src = ANY (p_src) AND NOT c.frozen
	   AND c.area_id IN (SELECT p.parent FROM pg_temp.sc_parent p)
	UNION ALL
	SELECT pg_catalog.hashtextextended('h/' || c.src || '/' || p.parent || '/' || c.k || '/' || c.m, 0), c.cid, -1
	  FROM pg_temp.sc_cell c JOIN pg_temp.sc_parent p ON p.id = c.area_id
	 WHERE c.src = ANY (p_src) AND NOT c.frozen;
END
$$;
REVOKE ALL ON FUNCTION suppress_hierarchy(text[]) FROM PUBLIC;

-- Groups inside a row: (total measure, part measures) of each (src, area, k).
CREATE OR REPLACE FUNCTION suppress_row_group(p_src text, p_name text, p_total text, p_parts text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
	INSERT INTO pg_temp.sc_member (gid, cid, sign, part)
	SELECT pg_catalog.hashtextextended(p_name || '/' || c.area_id || '/' || c.k, 0), c.cid,
	       CASE WHEN c.m = p_total THEN 1 ELSE -1 END, true
	  FROM pg_temp.sc_cell c
	 WHERE c.src = p_src AND (c.m = p_total OR c.m = ANY (p_parts)) AND NOT c.frozen;
END
$$;
REVOKE ALL ON FUNCTION suppress_row_group(text, text, text, text[]) FROM PUBLIC;

-- One recorded day of the history, published: its area_day rows, cells
-- suppressed within the day (hierarchy and tiers), frozen from then on.
CREATE OR REPLACE FUNCTION publish_history_day(p_day date, at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	n int;
BEGIN
	PERFORM sanse.suppress_begin();
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'hist', h.area_id, '', x.m, x.v
	  FROM sanse.area_day h
	 CROSS JOIN LATERAL (VALUES ('residents', h.residents), ('red', h.red), ('yellow', h.yellow), ('blue', h.blue),
	                            ('overdue', h.overdue), ('windows_met', h.windows_met),
	                            ('events_opened', h.events_opened), ('events_closed', h.events_closed),
	                            ('open_level_1', h.open_level_1), ('open_level_2', h.open_level_2),
	                            ('open_level_3', h.open_level_3), ('open_level_4', h.open_level_4),
	                            ('loop_raised', h.loop_raised), ('loop_answered_in_time', h.loop_answered_in_time)) x(m, v)
	 WHERE h.day = p_day;
	PERFORM sanse.suppress_hierarchy(ARRAY['hist']);
	PERFORM sanse.suppress_row_group('hist', 'tiers', 'residents', ARRAY['red', 'yellow', 'blue']);
	PERFORM sanse.suppress_cells();
	DELETE FROM sanse.published_coverage_history p WHERE p.day = p_day;
	INSERT INTO sanse.published_coverage_history
	SELECT p_day, h.area_id,
	       s.c[1], s.c[2], s.c[3], s.c[4], s.c[5], s.c[6], s.c[7], s.c[8], s.c[9], s.c[10], s.c[11], s.c[12], s.c[13], s.c[14],
	       CASE WHEN h.residents > 0 AND s.c[1] IS NOT NULL AND s.c[5] IS NOT NULL
	            THEN round(1 - h.overdue::numeric / h.residents, 4) END,
	       CASE WHEN h.loop_raised > 0 AND s.c[13] IS NOT NULL AND s.c[14] IS NOT NULL
	            THEN round(h.loop_answered_in_time::numeric / h.loop_raised, 4) END
	  FROM sanse.area_day h
	  JOIN (SELECT c.area_id,
	               array_agg(CASE WHEN c.hidden THEN NULL ELSE c.val END
	                         ORDER BY array_position(ARRAY['residents', 'red', 'yellow', 'blue', 'overdue', 'windows_met',
	                                                       'events_opened', 'events_closed', 'open_level_1', 'open_level_2',
	                                                       'open_level_3', 'open_level_4', 'loop_raised', 'loop_answered_in_time'], c.m)) AS c
	          FROM pg_temp.sc_cell c GROUP BY c.area_id) s ON s.area_id = h.area_id
	 WHERE h.day = p_day;
	GET DIAGNOSTICS n = ROW_COUNT;
	INSERT INTO sanse.published_history_day (day, published_at, min_cell)
	VALUES (p_day, at, sanse.min_cell_in_force())
	ON CONFLICT (day) DO UPDATE SET published_at = EXCLUDED.published_at, min_cell = EXCLUDED.min_cell;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION publish_history_day(date, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_history_day(date, timestamptz) IS 'publish one recorded day of area_day for aggregate-only roles, cells suppressed (run by record_history and publish_screen)';

-- Publish the screen for aggregate-only roles: every recorded day not
-- published yet, then coverage (with coverage_by_tier: the same cells),
-- overdue_events, loop_metrics, grid_daily_report and worker_checkin_rate
-- as of now, suppressed together (a month's totals against its published
-- days, whose cells never change).  Returns how many cells it hid.  Runs as
-- the owner: the sweep calls it, and a role the owner grants EXECUTE may
-- publish at once (after a bulk load, say).
CREATE OR REPLACE FUNCTION publish_screen(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET jit = off AS $$
DECLARE
	d date;
	n_hidden int;
	n_cells int;
BEGIN
	-- one publisher at a time
	LOCK TABLE sanse.screen_publication IN EXCLUSIVE MODE;
	FOR d IN SELECT r.day FROM sanse.area_day_recorded r
	          WHERE r.areas IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = r.day)
	          ORDER BY r.day LOOP
		PERFORM sanse.publish_history_day(d, at);
	END LOOP;

	PERFORM sanse.suppress_begin();
	IF to_regclass('pg_temp.sc_cov') IS NOT NULL THEN
		DROP TABLE pg_temp.sc_cov, pg_temp.sc_oe, pg_temp.sc_lm, pg_temp.sc_gdr, pg_temp.sc_shown;
	END IF;
	CREATE TEMP TABLE sc_cov ON COMMIT DROP AS
	SELECT c.area_id, c.path, c.kind, c.name, c.residents, c.red, c.yellow, c.blue, c.overdue_now, c.window_met,
	       coalesce(b.o_red, 0) AS o_red, coalesce(b.o_yellow, 0) AS o_yellow, coalesce(b.o_blue, 0) AS o_blue,
	       coalesce(b.m_red, 0) AS m_red, coalesce(b.m_yellow, 0) AS m_yellow, coalesce(b.m_blue, 0) AS m_blue
	  FROM sanse.coverage_all c
	  LEFT JOIN (SELECT t.area_id,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'red') AS o_red,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'yellow') AS o_yellow,
	                    sum(t.overdue_now) FILTER (WHERE t.tier = 'blue') AS o_blue,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'red') AS m_red,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'yellow') AS m_yellow,
	                    sum(t.window_met) FILTER (WHERE t.tier = 'blue') AS m_blue
	               FROM sanse.coverage_by_tier_all t GROUP BY t.area_id) b ON b.area_id = c.area_id;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'cov', c.area_id, '', x.m, x.v
	  FROM pg_temp.sc_cov c
	 CROSS JOIN LATERAL (VALUES ('residents', c.residents), ('red', c.red), ('yellow', c.yellow), ('blue', c.blue),
	                            ('overdue_now', c.overdue_now), ('window_met', c.window_met),
	                            ('overdue_now:red', c.o_red), ('overdue_now:yellow', c.o_yellow), ('overdue_now:blue', c.o_blue),
	                            ('window_met:red', c.m_red), ('window_met:yellow', c.m_yellow), ('window_met:blue', c.m_blue)) x(m, v);

	CREATE TEMP TABLE sc_oe ON COMMIT DROP AS SELECT * FROM sanse.overdue_events_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'oe', o.area_id, o.month::text, x.m, x.v
	  FROM pg_temp.sc_oe o
	 CROSS JOIN LATERAL (VALUES ('opened', o.opened), ('closed', o.closed), ('still_open', o.still_open),
	                            ('reached_level_1', o.reached_level_1), ('reached_level_2', o.reached_level_2),
	                            ('reached_level_3', o.reached_level_3), ('reached_level_4', o.reached_level_4)) x(m, v);

	CREATE TEMP TABLE sc_lm ON COMMIT DROP AS SELECT * FROM sanse.loop_metrics_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'lm', l.area_id, l.month || '/' || l.kind, x.m, x.v
	  FROM pg_temp.sc_lm l
	 CROSS JOIN LATERAL (VALUES ('raised', l.raised), ('answered_in_time', l.answered_in_time), ('handled', l.handled),
	                            ('closed', l.closed), ('reopened', l.reopened), ('confirmed_solved', l.confirmed_solved),
	                            ('still_open', l.still_open)) x(m, v);

	CREATE TEMP TABLE sc_gdr ON COMMIT DROP AS SELECT * FROM sanse.grid_daily_report_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'gdr', g.area_id, g.day::text, x.m, x.v
	  FROM pg_temp.sc_gdr g
	 CROSS JOIN LATERAL (VALUES ('visits', g.visits), ('complete_checklists', g.complete_checklists),
	                            ('flagged_visits', g.flagged_visits), ('events_opened', g.events_opened),
	                            ('events_closed', g.events_closed)) x(m, v);

	-- a worker's month: no group (its counts are of that worker only)
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'wk', t.worker_id, t.month::text, x.m, x.v
	  FROM sanse.worker_tally t
	 CROSS JOIN LATERAL (VALUES ('windows_due', t.windows_met + t.windows_missed), ('windows_met', t.windows_met),
	                            ('visits', t.visits), ('flagged_visits', t.flagged_visits)) x(m, v)
	 WHERE t.windows_met + t.windows_missed > 0 OR t.visits > 0;

	-- the published days, frozen: per area and month, the hidden days of
	-- overdue events opened and loop events raised (standing for as many
	-- hidden cells) and the shown ones; per micro grid and day of the
	-- daily report, that day's two cells
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val, hidden, frozen, w)
	SELECT 'histm', h.area_id, date_trunc('month', h.day)::date::text, x.m, sum(x.v), x.hid, true,
	       CASE WHEN x.hid THEN count(*) ELSE 1 END
	  FROM sanse.area_day h
	  JOIN sanse.published_coverage_history p ON p.day = h.day AND p.area_id = h.area_id
	 CROSS JOIN LATERAL (VALUES ('events_opened', h.events_opened, p.events_opened IS NULL),
	                            ('loop_raised', h.loop_raised, p.loop_raised IS NULL)) x(m, v, hid)
	 WHERE h.day >= (SELECT least(min(o.month), min(l.month)) FROM (SELECT min(month) AS month FROM pg_temp.sc_oe) o,
	                                                                (SELECT min(month) AS month FROM pg_temp.sc_lm) l)
	 GROUP BY h.area_id, date_trunc('month', h.day), x.m, x.hid;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val, hidden, frozen)
	SELECT 'histd', h.area_id, h.day::text, x.m, x.v, x.hid, true
	  FROM pg_temp.sc_gdr g
	  JOIN sanse.area_day h ON h.day = g.day AND h.area_id = g.area_id
	  JOIN sanse.published_coverage_history p ON p.day = h.day AND p.area_id = h.area_id
	 CROSS JOIN LATERAL (VALUES ('events_opened', h.events_opened, p.events_opened IS NULL),
	                            ('loop_raised', h.loop_raised, p.loop_raised IS NULL)) x(m, v, hid);
	ANALYZE pg_temp.sc_cell;

	-- the groups
	PERFORM sanse.suppress_hierarchy(ARRAY['cov', 'oe', 'lm']);
	PERFORM sanse.suppress_row_group('cov', 'tiers', 'residents', ARRAY['red', 'yellow', 'blue']);
	PERFORM sanse.suppress_row_group('cov', 'overdue_tiers', 'overdue_now', ARRAY['overdue_now:red', 'overdue_now:yellow', 'overdue_now:blue']);
	PERFORM sanse.suppress_row_group('cov', 'met_tiers', 'window_met', ARRAY['window_met:red', 'window_met:yellow', 'window_met:blue']);
	PERFORM sanse.suppress_row_group('oe', 'closed_open', 'opened', ARRAY['closed', 'still_open']);
	PERFORM sanse.suppress_row_group('oe', 'levels', 'opened', ARRAY['reached_level_1', 'reached_level_2', 'reached_level_3', 'reached_level_4']);
	PERFORM sanse.suppress_row_group('lm', 'loop_closed_open', 'raised', ARRAY['closed', 'still_open']);
	INSERT INTO pg_temp.sc_member (gid, cid, sign)
	SELECT hashtextextended('md/' || c.area_id || '/' || c.k, 0), c.cid, CASE c.src WHEN 'oe' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'oe' AND c.m = 'opened') OR (c.src = 'histm' AND c.m = 'events_opened')
	UNION ALL
	SELECT hashtextextended('ml/' || c.area_id || '/' || split_part(c.k, '/', 1), 0), c.cid, CASE c.src WHEN 'lm' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'lm' AND c.m = 'raised') OR (c.src = 'histm' AND c.m = 'loop_raised')
	UNION ALL
	SELECT hashtextextended('gd/' || c.area_id || '/' || c.k, 0), c.cid, CASE c.src WHEN 'gdr' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE (c.src = 'gdr' AND c.m = 'events_opened'
	        AND EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = c.k::date))
	    OR c.src = 'histd';
	-- a month or day whose history has no hidden cell adds nothing: its
	-- frozen cells alone would only ask to hide the total when it is hidden
	DELETE FROM pg_temp.sc_member m
	 USING (SELECT x.gid FROM pg_temp.sc_member x JOIN pg_temp.sc_cell c ON c.cid = x.cid
	         WHERE x.sign = -1 AND c.frozen
	        EXCEPT
	        SELECT x.gid FROM pg_temp.sc_member x JOIN pg_temp.sc_cell c ON c.cid = x.cid
	         WHERE NOT c.frozen AND x.sign = 1 AND c.src IN ('oe', 'lm', 'gdr')) f
	 WHERE m.gid = f.gid;
	n_hidden := sanse.suppress_cells();
	SELECT count(*) INTO n_cells FROM pg_temp.sc_cell c WHERE NOT c.frozen;

	-- the published rows: hidden cells NULL, and what is built on them
	DELETE FROM sanse.published_coverage;
	DELETE FROM sanse.published_coverage_by_tier;
	DELETE FROM sanse.published_overdue_events;
	DELETE FROM sanse.published_loop_metrics;
	DELETE FROM sanse.published_grid_daily_report;
	DELETE FROM sanse.published_worker_checkin_rate;
	CREATE TEMP TABLE sc_shown ON COMMIT DROP AS
	SELECT c.src, c.area_id, c.k, jsonb_object_agg(c.m, CASE WHEN c.hidden THEN NULL ELSE c.val END) AS j
	  FROM pg_temp.sc_cell c WHERE NOT c.frozen
	 GROUP BY c.src, c.area_id, c.k;
	CREATE INDEX ON pg_temp.sc_shown (src, area_id, k);
	ANALYZE pg_temp.sc_shown;
	INSERT INTO sanse.published_coverage
	SELECT c.area_id, c.path, c.kind, c.name,
	       (s.j ->> 'residents')::bigint, (s.j ->> 'red')::bigint, (s.j ->> 'yellow')::bigint, (s.j ->> 'blue')::bigint,
	       (s.j ->> 'overdue_now')::bigint, (s.j ->> 'window_met')::bigint,
	       CASE WHEN c.residents > 0 AND s.j ->> 'residents' IS NOT NULL AND s.j ->> 'overdue_now' IS NOT NULL
	            THEN round(1 - c.overdue_now::numeric / c.residents, 4) END
	  FROM pg_temp.sc_cov c JOIN pg_temp.sc_shown s ON s.src = 'cov' AND s.area_id = c.area_id AND s.k = '';
	INSERT INTO sanse.published_coverage_by_tier
	SELECT c.area_id, c.path, c.kind, c.name, t.tier,
	       (s.j ->> t.tier)::bigint, (s.j ->> ('overdue_now:' || t.tier))::bigint, (s.j ->> ('window_met:' || t.tier))::bigint,
	       CASE WHEN t.n > 0 AND s.j ->> t.tier IS NOT NULL AND s.j ->> ('overdue_now:' || t.tier) IS NOT NULL
	            THEN round(1 - t.o::numeric / t.n, 4) END
	  FROM pg_temp.sc_cov c
	  JOIN pg_temp.sc_shown s ON s.src = 'cov' AND s.area_id = c.area_id AND s.k = ''
	 CROSS JOIN LATERAL (VALUES ('red', c.red, c.o_red), ('yellow', c.yellow, c.o_yellow), ('blue', c.blue, c.o_blue)) t(tier, n, o);
	INSERT INTO sanse.published_overdue_events
	SELECT o.area_id, o.path, o.kind, o.name, o.month,
	       (s.j ->> 'opened')::bigint, (s.j ->> 'closed')::bigint, (s.j ->> 'still_open')::bigint,
	       (s.j ->> 'reached_level_1')::bigint, (s.j ->> 'reached_level_2')::bigint,
	       (s.j ->> 'reached_level_3')::bigint, (s.j ->> 'reached_level_4')::bigint,
	       CASE WHEN s.j ->> 'closed' IS NOT NULL THEN o.median_time_to_close END
	  FROM pg_temp.sc_oe o JOIN pg_temp.sc_shown s ON s.src = 'oe' AND s.area_id = o.area_id AND s.k = o.month::text;
	INSERT INTO sanse.published_loop_metrics
	SELECT l.area_id, l.path, l.name, l.month, l.kind,
	       (s.j ->> 'raised')::bigint, (s.j ->> 'answered_in_time')::bigint,
	       CASE WHEN s.j ->> 'raised' IS NOT NULL AND s.j ->> 'answered_in_time' IS NOT NULL THEN l.response_rate END,
	       -- built on the arrivals, at least as many as answered in time
	       CASE WHEN s.j ->> 'raised' IS NOT NULL AND s.j ->> 'answered_in_time' IS NOT NULL THEN l.median_time_to_arrive END,
	       (s.j ->> 'handled')::bigint, (s.j ->> 'closed')::bigint, (s.j ->> 'reopened')::bigint,
	       NULL::numeric,	-- a mean over the ratings, whose number is not shown
	       (s.j ->> 'confirmed_solved')::bigint, (s.j ->> 'still_open')::bigint
	  FROM pg_temp.sc_lm l JOIN pg_temp.sc_shown s ON s.src = 'lm' AND s.area_id = l.area_id AND s.k = l.month || '/' || l.kind;
	INSERT INTO sanse.published_grid_daily_report
	SELECT g.area_id, g.path, g.name, g.day,
	       (s.j ->> 'visits')::bigint, (s.j ->> 'complete_checklists')::bigint, (s.j ->> 'flagged_visits')::bigint,
	       (s.j ->> 'events_opened')::bigint, (s.j ->> 'events_closed')::bigint
	  FROM pg_temp.sc_gdr g JOIN pg_temp.sc_shown s ON s.src = 'gdr' AND s.area_id = g.area_id AND s.k = g.day::text;
	INSERT INTO sanse.published_worker_checkin_rate
	SELECT t.worker_id, wk.name, wk.force, wk.area_id, t.month,
	       (s.j ->> 'windows_due')::bigint, (s.j ->> 'windows_met')::bigint,
	       CASE WHEN t.windows_met + t.windows_missed > 0 AND s.j ->> 'windows_due' IS NOT NULL AND s.j ->> 'windows_met' IS NOT NULL
	            THEN round(t.windows_met::numeric / (t.windows_met + t.windows_missed), 4) END,
	       (s.j ->> 'visits')::bigint, (s.j ->> 'flagged_visits')::bigint,
	       CASE WHEN t.visits > 0 AND s.j ->> 'visits' IS NOT NULL
	            THEN round(t.checklist_items::numeric / (cardinality(sanse.checklist_items()) * t.visits), 4) END
	  FROM sanse.worker_tally t
	  JOIN sanse.worker wk ON wk.id = t.worker_id
	  JOIN pg_temp.sc_shown s ON s.src = 'wk' AND s.area_id = t.worker_id AND s.k = t.month::text;

	INSERT INTO sanse.screen_publication (one, published_at, min_cell, cells, hidden)
	VALUES (true, at, sanse.min_cell_in_force(), n_cells, n_hidden)
	ON CONFLICT (one) DO UPDATE SET published_at = EXCLUDED.published_at, published_clock = EXCLUDED.published_clock,
	                                min_cell = EXCLUDED.min_cell,
	                                cells = EXCLUDED.cells, hidden = EXCLUDED.hidden;
	DROP TABLE pg_temp.sc_cov, pg_temp.sc_oe, pg_temp.sc_lm, pg_temp.sc_gdr, pg_temp.sc_shown;
	RETURN n_hidden;
END
$$;
REVOKE ALL ON FUNCTION publish_screen(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_screen(timestamptz) IS 'publish the screen views for aggregate-only roles: recorded days not yet published, then the views of now, primary and secondary cell suppression; returns how many cells it hid (run by sanse.sweep)';

-- The sweep's phase: publish when a recorded day is not published yet, or
-- the last publication is ten minutes old on the clock (a replay's sweeps,
-- an hour apart in their own time but not on the clock, publish once a day).
CREATE OR REPLACE FUNCTION publish_screen_if_due(at timestamptz DEFAULT now()) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF coalesce((SELECT p.published_clock FROM sanse.screen_publication p)
	            BETWEEN pg_catalog.clock_timestamp() - interval '10 minutes' AND pg_catalog.clock_timestamp(), false)
	   AND NOT EXISTS (SELECT 1 FROM sanse.area_day_recorded r
	                    WHERE r.areas IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.published_history_day p WHERE p.day = r.day)) THEN
		RETURN false;
	END IF;
	PERFORM sanse.publish_screen(at);
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION publish_screen_if_due(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_screen_if_due(timestamptz) IS 'publish_screen when a recorded day is not published yet or the last publication is ten minutes old on the clock; true when it published';
