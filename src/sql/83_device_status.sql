-----------------------------------------------------------------------------
-- sanse.device_status (spec 10): per area at every level (rolled up like
-- coverage) the active devices, those silent now (an open silent task:
-- a later reading does not close it, whoever fixes the device does) and
-- the open warnings raised by devices.  No names, no residents, no
-- devices: counts.  An area a role sees as aggregates only is read from
-- what the sweep published (published_device_status), its small cells and
-- their complements hidden with the rest of the screen (79_publish.sql).
-----------------------------------------------------------------------------
CREATE OR REPLACE VIEW device_status_all AS
WITH per_grid AS (
	SELECT x.area_id, sum(x.devices) AS devices, sum(x.silent) AS silent, sum(x.open_warnings) AS open_warnings,
	       sum(x.other) AS other
	  FROM (SELECT d.area_id, 1 AS devices,
	               (EXISTS (SELECT 1 FROM sanse.event e
	                         WHERE e.device_id = d.id AND e.rule = 'silent' AND e.kind = 'task' AND e.status <> 'closed'))::int AS silent,
	               0 AS open_warnings, 0 AS other
	          FROM sanse.device d
	         WHERE d.active
	        UNION ALL
	        SELECT e.area_id, 0, 0, (e.device_id IS NOT NULL)::int, (e.device_id IS NULL)::int
	          FROM sanse.event e
	         WHERE e.kind = 'warning' AND e.status <> 'closed') x
	 GROUP BY x.area_id),
rolled AS (
	SELECT up.id, sum(g.devices) AS devices, sum(g.silent) AS silent, sum(g.open_warnings) AS open_warnings,
	       sum(g.other) AS other
	  FROM per_grid g
	  JOIN sanse.area m ON m.id = g.area_id
	  JOIN sanse.area up ON up.path @> m.path
	 GROUP BY up.id)
SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name,
       coalesce(r.devices, 0)::bigint AS devices,
       coalesce(r.silent, 0)::bigint AS silent,
       coalesce(r.open_warnings, 0)::bigint AS open_warnings,
       coalesce(r.other, 0)::bigint AS other_open_warnings
  FROM sanse.area a
  LEFT JOIN rolled r ON r.id = a.id;
REVOKE ALL ON device_status_all FROM PUBLIC;
COMMENT ON VIEW device_status_all IS 'all areas, for the owner (read device_status): per area (rolled up) active devices, devices silent now (an open silent task), open warnings raised by devices (and the other open warnings, which publishing needs)';

CREATE TABLE published_device_status (
	area_id bigint PRIMARY KEY, path text NOT NULL, kind text NOT NULL, name text NOT NULL,
	devices bigint, silent bigint, open_warnings bigint
);
REVOKE ALL ON published_device_status FROM PUBLIC;
COMMENT ON TABLE published_device_status IS 'device_status as aggregate-only roles read it (hidden cells NULL), as of screen_publication.published_at';
SELECT pg_catalog.pg_extension_config_dump('published_device_status', '');

CREATE OR REPLACE VIEW device_status AS
-- a subquery: the security barrier keeps a caller's WHERE above both branches
SELECT u.* FROM (
	SELECT p.area_id, a.path::text AS path, a.kind, a.name, p.devices, p.silent, p.open_warnings
	  FROM sanse.published_device_status p
	  JOIN sanse.area a ON a.id = p.area_id
	  JOIN sanse.screen_areas() v ON v.id = p.area_id AND NOT v.exact
	 WHERE sanse.screen_sees_aggregate()
	UNION ALL
	SELECT s.area_id, s.path, s.kind, s.name, s.devices, s.silent, s.open_warnings
	  FROM sanse.device_status_all s
	  JOIN sanse.screen_areas() v ON v.id = s.area_id AND v.exact
	 WHERE sanse.screen_sees_exact()) u;
ALTER VIEW device_status SET (security_barrier = true);
COMMENT ON VIEW device_status IS 'per area (rolled up) the role may see: active devices, devices silent now (an open silent task), open warnings raised by devices (for aggregate-only roles: as published by the sweep, cells suppressed)';

-- publish_screen's steps for devices (on the session's work tables, the
-- owner's): the cells of now (kept as sc_dev), their groups (the
-- hierarchy; silent and the warnings are parts of no total shown here,
-- but where every open warning of an area is a device's, its open
-- warnings are the sum of loop_metrics' still_open warnings over the
-- months: one group), and the published rows.
CREATE OR REPLACE FUNCTION screen_cells_devices() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(true, false);
	CREATE TEMP TABLE sc_dev ON COMMIT DROP AS SELECT * FROM sanse.device_status_all;
	INSERT INTO pg_temp.sc_cell (src, area_id, k, m, val)
	SELECT 'dev', d.area_id, '', x.m, x.v
	  FROM pg_temp.sc_dev d
	 CROSS JOIN LATERAL (VALUES ('devices', d.devices), ('silent', d.silent), ('open_warnings', d.open_warnings)) x(m, v);
END
$$;
REVOKE ALL ON FUNCTION screen_cells_devices() FROM PUBLIC;

-- (sc_dev missing: run out of turn, 55000 as suppress_require says)
CREATE OR REPLACE FUNCTION screen_devices_require() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF to_regclass('pg_temp.sc_dev') IS NULL THEN
		RAISE EXCEPTION 'no cells to suppress in this session' USING ERRCODE = '55000',
			HINT = 'sanse.publish_screen() makes them (with sanse.suppress_begin()).';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION screen_devices_require() FROM PUBLIC;

CREATE OR REPLACE FUNCTION screen_groups_devices() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(true, false);
	PERFORM sanse.screen_devices_require();
	PERFORM sanse.suppress_hierarchy(ARRAY['dev']);
	INSERT INTO pg_temp.sc_member (gid, cid, sign)
	SELECT hashtextextended('dw/' || c.area_id, 0), c.cid, CASE c.src WHEN 'dev' THEN 1 ELSE -1 END
	  FROM pg_temp.sc_cell c
	 WHERE ((c.src = 'dev' AND c.m = 'open_warnings') OR (c.src = 'lm' AND c.m = 'still_open' AND split_part(c.k, '/', 2) = 'warning'))
	   AND EXISTS (SELECT 1 FROM pg_temp.sc_dev d WHERE d.area_id = c.area_id AND d.other_open_warnings = 0);
END
$$;
REVOKE ALL ON FUNCTION screen_groups_devices() FROM PUBLIC;

CREATE OR REPLACE FUNCTION screen_write_devices() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET jit = off AS $$
BEGIN
	PERFORM sanse.suppress_require(true, true);
	PERFORM sanse.screen_devices_require();
	DELETE FROM sanse.published_device_status;
	INSERT INTO sanse.published_device_status
	SELECT d.area_id, d.path, d.kind, d.name,
	       (s.j ->> 'devices')::bigint, (s.j ->> 'silent')::bigint, (s.j ->> 'open_warnings')::bigint
	  FROM pg_temp.sc_dev d JOIN pg_temp.sc_shown s ON s.src = 'dev' AND s.area_id = d.area_id AND s.k = '';
END
$$;
REVOKE ALL ON FUNCTION screen_write_devices() FROM PUBLIC;

