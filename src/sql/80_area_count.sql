-----------------------------------------------------------------------------
-- Coverage kept per micro grid (issue 22): what coverage and
-- coverage_by_tier count, per micro grid and tier, so that a province's
-- screen sums 26,000 grids' rows instead of 2.4 million residents'.
--
-- A resident's status moves with the clock (a window opens, a due time
-- passes) without any write, so a grid's row keeps no status counts but the
-- times at which its residents' statuses change, sorted: the due times of
-- every window, and the due and opening times of the windows of residents
-- visited before.  At read time width_bucket(now(), times) counts by binary
-- search those already passed (80_views.sql, area_count_now).
--
-- Writes do not update these rows: a write of a resident (registration,
-- check-in, tier change, move, deactivation, deletion) appends its grid's id
-- to area_count_dirty (no index, no key: nothing two writers wait for), and
-- a grid listed there is counted from its residents when read, until the
-- sweep folds it (area_count_fold): the rows of the listed grids are
-- counted again, those grids only, and the listing removed.  Both tables
-- are written only by the trigger below and these functions.
-----------------------------------------------------------------------------
CREATE TABLE area_count (
	area_id bigint NOT NULL,
	tier risk_tier NOT NULL,
	residents integer NOT NULL,
	due timestamptz[] NOT NULL,
	visited_due timestamptz[] NOT NULL,
	visited_opens timestamptz[] NOT NULL,
	PRIMARY KEY (area_id, tier)
);
-- a grid's times stay inline and uncompressed up to 8 kB (about 300 residents)
ALTER TABLE area_count SET (toast_tuple_target = 8160);
REVOKE ALL ON area_count FROM PUBLIC;
COMMENT ON TABLE area_count IS 'per micro grid and tier, as of the last fold: active residents in the programme, the sorted due times of their windows, and the sorted due and opening times of those visited before (kept by area_count_fold; read through area_count_now)';

-- a town's row of the screen finds the town by its path as text
CREATE INDEX area_path_text ON area ((path::text));

CREATE TABLE area_count_dirty (
	area_id bigint NOT NULL
);
REVOKE ALL ON area_count_dirty FROM PUBLIC;
COMMENT ON TABLE area_count_dirty IS 'micro grids whose residents were written since area_count last counted them (appended by a trigger on resident, removed by area_count_fold)';

-- Count some grids again (NULL: every grid) from their residents.  The
-- caller has removed their listing in an earlier statement, so this one
-- sees every write the removed listing stood for.
CREATE OR REPLACE FUNCTION area_count_refresh(p_areas bigint[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF p_areas IS NULL THEN
		DELETE FROM sanse.area_count;
	ELSE
		DELETE FROM sanse.area_count c USING (SELECT DISTINCT i.id FROM unnest(p_areas) i(id)) i WHERE c.area_id = i.id;
	END IF;
	INSERT INTO sanse.area_count (area_id, tier, residents, due, visited_due, visited_opens)
	SELECT r.area_id, r.tier, count(*),
	       coalesce(array_agg(sanse.due_at(r.next_visit) ORDER BY sanse.due_at(r.next_visit))
	                FILTER (WHERE r.next_visit IS NOT NULL), '{}'),
	       coalesce(array_agg(sanse.due_at(r.next_visit) ORDER BY sanse.due_at(r.next_visit))
	                FILTER (WHERE r.next_visit IS NOT NULL AND r.last_visit_at IS NOT NULL), '{}'),
	       coalesce(array_agg(sanse.opens_at(r.next_visit) ORDER BY sanse.opens_at(r.next_visit))
	                FILTER (WHERE r.next_visit IS NOT NULL AND r.last_visit_at IS NOT NULL), '{}')
	  FROM sanse.resident r
	 WHERE r.active AND r.tier IS NOT NULL
	   AND (p_areas IS NULL OR r.area_id IN (SELECT i.id FROM unnest(p_areas) i(id)))
	 GROUP BY r.area_id, r.tier;
END
$$;
REVOKE ALL ON FUNCTION area_count_refresh(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION area_count_refresh(bigint[]) IS 'count area_count again for these micro grids (NULL: all) from their residents';

-- The grids written since the last fold, counted again (run by the sweep).
-- One fold at a time: a second one waits, so an older count never
-- overwrites a newer one.
CREATE OR REPLACE FUNCTION area_count_fold() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	areas bigint[];
BEGIN
	LOCK TABLE sanse.area_count IN EXCLUSIVE MODE;
	-- the fold can wait: a resident table someone locked (DDL, an explicit
	-- LOCK) gives up at once (55P03), the grids stay listed and exact
	LOCK TABLE sanse.resident IN ACCESS SHARE MODE NOWAIT;
	-- the listing this statement sees; writes committed after it stay listed
	WITH gone AS (DELETE FROM sanse.area_count_dirty RETURNING area_id)
	SELECT array_agg(DISTINCT g.area_id) INTO areas FROM gone g;
	IF areas IS NULL THEN
		RETURN 0;
	END IF;
	PERFORM sanse.area_count_refresh(areas);
	RETURN cardinality(areas);
END
$$;
REVOKE ALL ON FUNCTION area_count_fold() FROM PUBLIC;
COMMENT ON FUNCTION area_count_fold() IS 'count again the micro grids listed in area_count_dirty and remove them from the list (the sweep runs it); returns how many grids';

-- Every grid again: after rows were loaded with triggers off.
CREATE OR REPLACE FUNCTION area_count_rebuild() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	LOCK TABLE sanse.area_count IN EXCLUSIVE MODE;
	DELETE FROM sanse.area_count_dirty;
	PERFORM sanse.area_count_refresh(NULL);
	RETURN (SELECT count(*) FROM sanse.area_count);
END
$$;
REVOKE ALL ON FUNCTION area_count_rebuild() FROM PUBLIC;
COMMENT ON FUNCTION area_count_rebuild() IS 'count area_count again for every micro grid (after a load with triggers off); returns its rows';

-- The triggers: the grids of the residents written (both grids of a move).
-- Registrations and deletions per statement; updates per row, by a C
-- function (src/area_count.c) that appends with one heap insert, fired
-- after the resident's other BEFORE triggers (names in order) and only
-- when something coverage counts changed.
CREATE OR REPLACE FUNCTION area_count_mark() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'area_count_mark', '{sanse.resident}');
	IF TG_OP = 'INSERT' THEN
		INSERT INTO sanse.area_count_dirty (area_id) SELECT DISTINCT n.area_id FROM new_rows n;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO sanse.area_count_dirty (area_id) SELECT DISTINCT o.area_id FROM old_rows o;
	ELSIF TG_OP = 'TRUNCATE' THEN
		DELETE FROM sanse.area_count;
		DELETE FROM sanse.area_count_dirty;
	ELSE
		RAISE EXCEPTION 'area_count_mark() fired for %', TG_OP USING ERRCODE = '39P01';
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION area_count_mark() FROM PUBLIC;
CREATE OR REPLACE FUNCTION area_count_mark_row() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
REVOKE ALL ON FUNCTION area_count_mark_row() FROM PUBLIC;
CREATE TRIGGER area_count_insert AFTER INSERT ON resident REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_count_mark();
CREATE TRIGGER resident_90_area_count BEFORE UPDATE ON resident
	FOR EACH ROW
	WHEN ((OLD.area_id, OLD.tier, OLD.active, OLD.next_visit, OLD.last_visit_at)
	      IS DISTINCT FROM (NEW.area_id, NEW.tier, NEW.active, NEW.next_visit, NEW.last_visit_at))
	EXECUTE FUNCTION area_count_mark_row();
CREATE TRIGGER area_count_delete AFTER DELETE ON resident REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_count_mark();
CREATE TRIGGER area_count_truncate AFTER TRUNCATE ON resident
	FOR EACH STATEMENT EXECUTE FUNCTION area_count_mark();
-- restored as they were (pg_restore in replica mode fires no trigger that
-- would list the restored residents' grids)
SELECT pg_catalog.pg_extension_config_dump('area_count', '');
SELECT pg_catalog.pg_extension_config_dump('area_count_dirty', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_count FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_count_dirty FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
