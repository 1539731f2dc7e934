-----------------------------------------------------------------------------
-- Cell suppression (spec 8, "Small cells stay hidden under arithmetic"):
-- the machinery publish_screen and publish_history_day (79_publish.sql) run
-- on the session's work tables; 77_published.sql says what is hidden and
-- why.  The owner's only: every function here is revoked from PUBLIC.
-----------------------------------------------------------------------------

-- The session's work tables of a suppression (sc_cell), and with p_screen
-- those of publish_screen's cells (sc_cov, sc_oe, sc_lm, sc_gdr), with
-- p_shown its shown cells (sc_shown): 55000 when one is missing, so a step
-- run out of turn refuses before it reads anything.
CREATE OR REPLACE FUNCTION suppress_require(p_screen boolean, p_shown boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF to_regclass('pg_temp.sc_cell') IS NULL
	   OR (p_screen AND (to_regclass('pg_temp.sc_cov') IS NULL OR to_regclass('pg_temp.sc_oe') IS NULL
	                     OR to_regclass('pg_temp.sc_lm') IS NULL OR to_regclass('pg_temp.sc_gdr') IS NULL))
	   OR (p_shown AND to_regclass('pg_temp.sc_shown') IS NULL) THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION suppress_require(boolean, boolean) FROM PUBLIC;

-- Drop publish_screen's work tables of the transaction, where they are.
CREATE OR REPLACE FUNCTION screen_drop_work() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['sc_cov', 'sc_oe', 'sc_lm', 'sc_gdr', 'sc_dev', 'sc_shown'] LOOP
		IF to_regclass('pg_temp.' || t) IS NOT NULL THEN
			EXECUTE format('DROP TABLE pg_temp.%I', t);
		END IF;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION screen_drop_work() FROM PUBLIC;

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
	PERFORM sanse.suppress_require(false, false);
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
	PERFORM sanse.suppress_require(false, false);
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
	PERFORM sanse.suppress_require(false, false);
	INSERT INTO pg_temp.sc_member (gid, cid, sign, part)
	SELECT pg_catalog.hashtextextended(p_name || '/' || c.area_id || '/' || c.k, 0), c.cid,
	       CASE WHEN c.m = p_total THEN 1 ELSE -1 END, true
	  FROM pg_temp.sc_cell c
	 WHERE c.src = p_src AND (c.m = p_total OR c.m = ANY (p_parts)) AND NOT c.frozen;
END
$$;
REVOKE ALL ON FUNCTION suppress_row_group(text, text, text, text[]) FROM PUBLIC;
