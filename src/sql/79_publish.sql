-----------------------------------------------------------------------------
-- Publishing the screen for aggregate-only roles (77_published.sql holds the
-- tables and what is hidden, 76_suppression.sql the suppression): a recorded
-- day once, the views of now at most every ten minutes, from the sweep.
-----------------------------------------------------------------------------

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
	PERFORM sanse.city_day_publish(p_day);	-- the day for the city, if the district is in one
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION publish_history_day(date, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION publish_history_day(date, timestamptz) IS 'publish one recorded day of area_day for aggregate-only roles, cells suppressed (run by record_history and publish_screen)';

-- The steps of publish_screen, each on the session's work tables (the
-- owner's: revoked from PUBLIC); run out of turn, a step refuses (55000).
-- Step 1, the cells of now: coverage (with its tiers: coverage_by_tier has
-- the same cells), overdue_events, loop_metrics, grid_daily_report as the
-- owner reads them (kept as sc_cov, sc_oe, sc_lm, sc_gdr for the published
-- rows), and each worker's month (no group: its counts are of that worker only).
CREATE OR REPLACE FUNCTION screen_cells_now() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(false, false);
	PERFORM sanse.screen_drop_work();
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
	                            ('still_open', l.still_open), ('cancelled', l.cancelled)) x(m, v);

	CREATE TEMP TABLE sc_gdr ON COMMIT DROP AS SELECT * FROM sanse.grid_daily_report_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'gdr', g.area_id, g.day::text, x.m, x.v
	  FROM pg_temp.sc_gdr g
	 CROSS JOIN LATERAL (VALUES ('visits', g.visits), ('complete_checklists', g.complete_checklists),
	                            ('flagged_visits', g.flagged_visits), ('events_opened', g.events_opened),
	                            ('events_closed', g.events_closed)) x(m, v);

	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'wk', t.worker_id, t.month::text, x.m, x.v
	  FROM sanse.worker_tally t
	 CROSS JOIN LATERAL (VALUES ('windows_due', t.windows_met + t.windows_missed), ('windows_met', t.windows_met),
	                            ('visits', t.visits), ('flagged_visits', t.flagged_visits)) x(m, v)
	 WHERE t.windows_met + t.windows_missed > 0 OR t.visits > 0;
END
$$;
REVOKE ALL ON FUNCTION screen_cells_now() FROM PUBLIC;

-- Step 2, the published days, frozen: per area and month, the hidden days of
-- overdue events opened and loop events raised (standing for as many
-- hidden cells) and the shown ones; per micro grid and day of the daily
-- report, that day's two cells.
CREATE OR REPLACE FUNCTION screen_cells_frozen() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(true, false);
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
END
$$;
REVOKE ALL ON FUNCTION screen_cells_frozen() FROM PUBLIC;

-- Step 3, the groups: the hierarchy, the partitions inside a row, and a
-- month's or day's totals against its published days.
CREATE OR REPLACE FUNCTION screen_groups() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(true, false);
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
END
$$;
REVOKE ALL ON FUNCTION screen_groups() FROM PUBLIC;

-- Step 4, the published rows (hidden cells NULL, and what is built on them),
-- from the cells shown per source, area and key (sc_shown): coverage and
-- coverage_by_tier,
CREATE OR REPLACE FUNCTION screen_write_coverage() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(true, true);
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
END
$$;
REVOKE ALL ON FUNCTION screen_write_coverage() FROM PUBLIC;

-- overdue_events and loop_metrics,
CREATE OR REPLACE FUNCTION screen_write_events() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(true, true);
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
	       (s.j ->> 'confirmed_solved')::bigint, (s.j ->> 'still_open')::bigint, (s.j ->> 'cancelled')::bigint
	  FROM pg_temp.sc_lm l JOIN pg_temp.sc_shown s ON s.src = 'lm' AND s.area_id = l.area_id AND s.k = l.month || '/' || l.kind;
END
$$;
REVOKE ALL ON FUNCTION screen_write_events() FROM PUBLIC;

-- grid_daily_report and worker_checkin_rate.
CREATE OR REPLACE FUNCTION screen_write_reports() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(true, true);
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
END
$$;
REVOKE ALL ON FUNCTION screen_write_reports() FROM PUBLIC;

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

	-- the cells, their groups, the suppression
	PERFORM sanse.suppress_begin();
	PERFORM sanse.screen_cells_now();
	PERFORM sanse.screen_cells_devices();	-- 83_device_status.sql
	PERFORM sanse.screen_cells_frozen();
	ANALYZE pg_temp.sc_cell;
	PERFORM sanse.screen_groups();
	PERFORM sanse.screen_groups_devices();
	n_hidden := sanse.suppress_cells();
	SELECT count(*) INTO n_cells FROM pg_temp.sc_cell c WHERE NOT c.frozen;

	-- the published rows
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
	PERFORM sanse.screen_write_coverage();
	PERFORM sanse.screen_write_events();
	PERFORM sanse.screen_write_reports();
	PERFORM sanse.screen_write_devices();

	INSERT INTO sanse.screen_publication (one, published_at, min_cell, cells, hidden)
	VALUES (true, at, sanse.min_cell_in_force(), n_cells, n_hidden)
	ON CONFLICT (one) DO UPDATE SET published_at = EXCLUDED.published_at, published_clock = EXCLUDED.published_clock,
	                                min_cell = EXCLUDED.min_cell,
	                                cells = EXCLUDED.cells, hidden = EXCLUDED.hidden;
	PERFORM sanse.screen_drop_work();
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
