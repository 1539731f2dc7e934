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
ALTER TABLE published_loop_metrics ADD COLUMN cancelled bigint;	-- 1.5, after the columns of 1.4
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
