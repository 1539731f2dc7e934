-----------------------------------------------------------------------------
-- The city screen (spec 11, doc/city.md), the city's side: a city database
-- (sanse installed, with postgres_fdw) reads each district's PII-free
-- screen views through postgres_fdw as a role whose only grant there is
-- aggregate (so it reads what the district published, small cells hidden),
-- and receives each district's published days in city_day by a
-- subscription to the district's publication sanse_city.
--   city_add_district(...)  the foreign server sanse_city_<name>
--                           (async_capable), the user mapping for the owner
--                           of sanse, the foreign tables in schema
--                           sanse_city_<name>, the row of city_district;
--   city_screen             one row per district and root area: the numbers
--                           read now (aggregated in each district, all
--                           districts at once), the last day received, what
--                           is missing and since when.
-- The subscription is one statement of the recipe (doc/city.md): CREATE
-- SUBSCRIPTION makes its replication slot and cannot run in a function.
-----------------------------------------------------------------------------

CREATE TABLE city_district (
	name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
	added_at timestamptz NOT NULL DEFAULT now(),
	seen_at timestamptz,
	failing_since timestamptz,
	last_error text
);
COMMENT ON TABLE city_district IS 'the districts a city database reads (foreign server and schema sanse_city_<name>): when added, the last read that answered, the first failed read since, its error';
REVOKE ALL ON city_district FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('city_district', '');

-- Add a district: its foreign server (async_capable, so the districts
-- answer a screen query in parallel; connect_timeout and the district's
-- statement_timeout, so one that does not answer costs seconds, not
-- minutes), the user mapping of the owner of
-- sanse (whose city_screen reads it; user mappings are readable only by
-- their user and superusers), the foreign tables of the screen views the
-- city reads.  Nothing connects yet: a district that is down can be added.
-- The caller needs to create foreign servers (a superuser, as a rule).
CREATE OR REPLACE FUNCTION city_add_district(name text, host text, port integer, dbname text,
                                             login text, password text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s text := 'sanse_city_' || name;
	o regrole := (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'sanse')::regrole;
BEGIN
	IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,39}$' THEN
		RAISE EXCEPTION 'invalid district name for the city: %', coalesce(pg_catalog.quote_literal(name), 'NULL')
		      USING ERRCODE = '22023',
		            DETAIL = 'A district''s city name is 1 to 40 lower-case letters, digits or underscores, starting with a letter.';
	END IF;
	IF host IS NULL OR port IS NULL OR dbname IS NULL OR login IS NULL OR password IS NULL THEN
		RAISE EXCEPTION 'a district needs a host, a port, a database, a login and its password'
		      USING ERRCODE = '22023';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_data_wrapper w WHERE w.fdwname = 'postgres_fdw') THEN
		RAISE EXCEPTION 'postgres_fdw is not installed in this database'
		      USING ERRCODE = '55000', HINT = 'Run CREATE EXTENSION postgres_fdw first.';
	END IF;
	EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L, '
	               'async_capable %L, connect_timeout %L, options %L, application_name %L)',
	               s, host, port::text, dbname, 'true', '5', '-c statement_timeout=10s', 'sanse_city');
	EXECUTE format('CREATE USER MAPPING FOR %s SERVER %I OPTIONS (user %L, password %L)', o, s, login, password);
	EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %s', s, o);
	INSERT INTO sanse.city_district (name) VALUES (city_add_district.name);
	PERFORM sanse.city_foreign_tables(name);
	RETURN s;
END
$$;
REVOKE ALL ON FUNCTION city_add_district(text, text, integer, text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION city_add_district(text, text, integer, text, text, text) IS 'add a district to the city screen: foreign server, user mapping of the owner of sanse, foreign tables in schema sanse_city_<name> (the subscription is a statement of its own, doc/city.md)';

-- The foreign tables of one district of city_district (in the schema
-- named like its server): only the columns the city reads.
CREATE OR REPLACE FUNCTION city_foreign_tables(name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s text := 'sanse_city_' || name;
	t record;
BEGIN
	PERFORM sanse.city_check_districts(ARRAY[name]);
	FOR t IN SELECT * FROM (VALUES
		('coverage', 'path text, kind text, residents bigint, overdue_now bigint, coverage_rate numeric'),
		('overdue_events', 'path text, kind text, month date, still_open bigint'),
		('loop_metrics', 'path text, month date, kind text, raised bigint, answered_in_time bigint'),
		('worker_checkin_rate', 'month date, windows_due bigint, windows_met bigint, checkin_rate numeric'),
		('screen_as_of', 'published_at timestamptz, last_day date')) v(tab, cols) LOOP
		EXECUTE format('CREATE FOREIGN TABLE %I.%I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
		               s, t.tab, t.cols, s, 'sanse', t.tab);
		EXECUTE format('REVOKE ALL ON %I.%I FROM PUBLIC', s, t.tab);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION city_foreign_tables(text) FROM PUBLIC;
COMMENT ON FUNCTION city_foreign_tables(text) IS 'the foreign tables of one district''s screen views, only the columns the city reads (run by city_add_district)';

-- Every name given is a district of the city with its server and schema
-- (the steps below build SQL on them), else 22023.
CREATE OR REPLACE FUNCTION city_check_districts(names text[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
DECLARE
	n text;
BEGIN
	FOREACH n IN ARRAY coalesce(names, '{}') LOOP
		IF n IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.city_district d WHERE d.name = n)
		   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server f WHERE f.srvname = 'sanse_city_' || n)
		   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace x WHERE x.nspname = 'sanse_city_' || n) THEN
			RAISE EXCEPTION 'district % is not in the city', coalesce(pg_catalog.quote_literal(n), 'NULL')
			      USING ERRCODE = '22023', HINT = 'Add it with sanse.city_add_district.';
		END IF;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION city_check_districts(text[]) FROM PUBLIC;
COMMENT ON FUNCTION city_check_districts(text[]) IS 'refuse (22023) a name that is not a district of the city with its foreign server and schema';

-- Take a district out of the city screen: its foreign server, user
-- mapping, schema, row and received days.  Its subscription is dropped by
-- DROP SUBSCRIPTION (doc/city.md), which cannot run in a function.
CREATE OR REPLACE FUNCTION city_drop_district(name text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM sanse.city_district d WHERE d.name = city_drop_district.name) THEN
		RETURN false;
	END IF;
	EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', 'sanse_city_' || name);
	EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', 'sanse_city_' || name);
	DELETE FROM sanse.city_district d WHERE d.name = city_drop_district.name;
	DELETE FROM sanse.city_day c WHERE c.district = city_drop_district.name;
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION city_drop_district(text) FROM PUBLIC;
COMMENT ON FUNCTION city_drop_district(text) IS 'take a district out of the city screen: foreign server, mapping, foreign tables, its row and received days (its subscription is dropped by DROP SUBSCRIPTION)';

-- The one query that reads the given districts now, every aggregate
-- computed in the district (postgres_fdw pushes the WHERE, GROUP BY and
-- aggregates down: EXPLAIN VERBOSE shows them in each Remote SQL), the
-- districts' foreign scans under one Append, run asynchronously.  A sum
-- over a view's rows counts the hidden cells beside it, so a sum with a
-- hidden part is never shown as the total.  Rows: (district, m, path, a,
-- b, c, d, t, day), m naming the measure; the caller pivots them.
CREATE OR REPLACE FUNCTION city_live_sql(names text[], month date) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, sanse
RETURN (SELECT string_agg(format($q$
	SELECT %1$L::text AS district, 'c'::text AS m, c.path, c.residents::numeric AS a, c.overdue_now::numeric AS b,
	       c.coverage_rate AS c, NULL::numeric AS d, NULL::timestamptz AS t, NULL::date AS day
	  FROM %2$I.coverage c WHERE c.kind = 'district'
	UNION ALL
	SELECT %1$L, 'o', o.path, sum(o.still_open)::numeric, (count(*) - count(o.still_open))::numeric, NULL, NULL, NULL, NULL
	  FROM %2$I.overdue_events o WHERE o.kind = 'district' GROUP BY o.path
	UNION ALL
	SELECT %1$L, 'l', l.path, sum(l.raised)::numeric, sum(l.answered_in_time)::numeric,
	       (count(*) - count(l.raised + l.answered_in_time))::numeric, NULL, NULL, NULL
	  FROM %2$I.loop_metrics l WHERE l.month = %3$L::date AND strpos(l.path, '.') = 0 GROUP BY l.path
	UNION ALL
	SELECT %1$L, 'w', NULL, sum(w.windows_met) FILTER (WHERE w.checkin_rate IS NOT NULL)::numeric,
	       sum(w.windows_due) FILTER (WHERE w.checkin_rate IS NOT NULL)::numeric, count(*)::numeric,
	       count(w.checkin_rate)::numeric, NULL, NULL
	  FROM %2$I.worker_checkin_rate w WHERE w.month = %3$L::date
	UNION ALL
	SELECT %1$L, 'p', NULL, NULL, NULL, NULL, NULL, p.published_at, p.last_day
	  FROM %2$I.screen_as_of p$q$, n, 'sanse_city_' || n, month), '
	UNION ALL' ORDER BY n)
          FROM unnest(names) n);
REVOKE ALL ON FUNCTION city_live_sql(text[], date) FROM PUBLIC;
COMMENT ON FUNCTION city_live_sql(text[], date) IS 'the query that reads the screen of the given districts now, aggregates pushed down to each, all under one asynchronous Append (run by city_screen_rows)';

-- The live numbers of the given districts as one jsonb array, one element
-- per district and root area: the city screen's columns read now.
CREATE OR REPLACE FUNCTION city_read_live(names text[], month date) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	r jsonb;
BEGIN
	IF coalesce(cardinality(names), 0) = 0 THEN
		RETURN '[]';
	END IF;
	PERFORM sanse.city_check_districts(names);
	EXECUTE format($q$
	WITH u AS MATERIALIZED (%s),
	per_path AS (
		SELECT u.district, u.path,
		       max(u.a) FILTER (WHERE u.m = 'c') AS residents, max(u.b) FILTER (WHERE u.m = 'c') AS overdue_now,
		       max(u.c) FILTER (WHERE u.m = 'c') AS coverage_rate,
		       coalesce(max(u.a) FILTER (WHERE u.m = 'o' AND u.b = 0), CASE WHEN count(*) FILTER (WHERE u.m = 'o') = 0 THEN 0 END) AS overdue_open,
		       coalesce(max(u.a) FILTER (WHERE u.m = 'o'), 0) AS overdue_open_min,
		       coalesce(max(u.a) FILTER (WHERE u.m = 'l' AND u.c = 0), CASE WHEN count(*) FILTER (WHERE u.m = 'l') = 0 THEN 0 END) AS loop_raised,
		       CASE WHEN max(u.a) FILTER (WHERE u.m = 'l' AND u.c = 0) > 0
		            THEN round(max(u.b) FILTER (WHERE u.m = 'l' AND u.c = 0) / max(u.a) FILTER (WHERE u.m = 'l' AND u.c = 0), 4) END AS response_rate
		  FROM u WHERE u.m IN ('c', 'o', 'l') GROUP BY u.district, u.path
		HAVING count(*) FILTER (WHERE u.m = 'c') > 0),
	per_district AS (
		SELECT u.district,
		       CASE WHEN max(u.b) FILTER (WHERE u.m = 'w') > 0
		            THEN round(max(u.a) FILTER (WHERE u.m = 'w') / max(u.b) FILTER (WHERE u.m = 'w'), 4) END AS checkin_rate_shown,
		       max(u.c) FILTER (WHERE u.m = 'w') AS carers, max(u.c - u.d) FILTER (WHERE u.m = 'w') AS carers_hidden,
		       max(u.t) FILTER (WHERE u.m = 'p') AS as_of, max(u.day) FILTER (WHERE u.m = 'p') AS last_day
		  FROM u WHERE u.m IN ('w', 'p') GROUP BY u.district)
	SELECT coalesce(jsonb_agg(to_jsonb(p) || to_jsonb(d) ORDER BY p.district, p.path), '[]')
	  FROM per_district d LEFT JOIN per_path p USING (district)$q$, sanse.city_live_sql(names, month)) INTO r;
	RETURN r;
END
$$;
REVOKE ALL ON FUNCTION city_read_live(text[], date) FROM PUBLIC;
COMMENT ON FUNCTION city_read_live(text[], date) IS 'the numbers of the given districts'' screens read now, one jsonb element per district and root area (run by city_screen_rows)';

-- Why a district did not answer, in words for the screen.
CREATE OR REPLACE FUNCTION city_failure(state text, message text, detail text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, sanse
RETURN CASE
	WHEN concat(message, ' ', detail) ~* 'password authentication failed|role ".*" does not exist|password is required|no password'
		THEN 'the district refused the city''s login (wrong credentials)'
	WHEN state LIKE '08%' THEN 'the district does not answer (' || split_part(coalesce(nullif(detail, ''), message), E'\n', 1) || ')'
	ELSE 'the district''s screen failed (' || state || ': ' || message || ')' END;
REVOKE ALL ON FUNCTION city_failure(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION city_failure(text, text, text) IS 'why a district did not answer the city screen, in words (wrong credentials, not answering, another error)';

-- Read every district now: all at once, and when that fails one by one,
-- so that one district down costs its own row only.  Returns the live rows
-- and, per district that failed, its reason; records both in city_district
-- (not on a standby: there the health is not kept).
CREATE OR REPLACE FUNCTION city_read_all(OUT live jsonb, OUT failed jsonb) RETURNS record
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	names text[] := ARRAY(SELECT d.name FROM sanse.city_district d ORDER BY d.name);
	month date := sanse.month_of(now());
	n text;
	st text; msg text; det text; ctx text;
BEGIN
	failed := '{}';
	-- a district's statement_timeout is its own 57014, caught like any
	-- error of a district; a cancel of the city's own query is not
	BEGIN
		live := sanse.city_read_live(names, month);
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, ctx = PG_EXCEPTION_CONTEXT;
		IF st = '57014' AND ctx NOT LIKE '%remote SQL command%' THEN
			RAISE;
		END IF;
		live := '[]';
		FOREACH n IN ARRAY names LOOP
			BEGIN
				live := live || sanse.city_read_live(ARRAY[n], month);
			EXCEPTION WHEN OTHERS OR query_canceled THEN
				GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
				                        ctx = PG_EXCEPTION_CONTEXT;
				IF st = '57014' AND ctx NOT LIKE '%remote SQL command%' THEN
					RAISE;
				END IF;
				failed := failed || jsonb_build_object(n, sanse.city_failure(st, msg, det));
			END;
		END LOOP;
	END;
	-- rows another reader holds (a BI tool in a long transaction) are left
	-- to it: no reader waits for another
	BEGIN
		UPDATE sanse.city_district d SET seen_at = now(), failing_since = NULL, last_error = NULL
		 WHERE d.name IN (SELECT x.name FROM sanse.city_district x WHERE NOT failed ? x.name FOR UPDATE SKIP LOCKED);
		UPDATE sanse.city_district d SET failing_since = coalesce(d.failing_since, now()), last_error = failed ->> d.name
		 WHERE d.name IN (SELECT x.name FROM sanse.city_district x WHERE failed ? x.name FOR UPDATE SKIP LOCKED);
	EXCEPTION WHEN read_only_sql_transaction THEN
		NULL;
	END;
END
$$;
REVOKE ALL ON FUNCTION city_read_all() FROM PUBLIC;
COMMENT ON FUNCTION city_read_all() IS 'read every district''s screen now (all at once; one by one when that fails): the live rows, the reasons of those that failed (run by city_screen_rows)';

-- The city screen's rows (city_screen): runs as the owner of sanse, whose
-- user mappings log in to the districts.
CREATE OR REPLACE FUNCTION city_screen_rows() RETURNS TABLE (
	district text, path text, state text, as_of timestamptz,
	residents bigint, overdue_now bigint, coverage_rate numeric, overdue_open bigint, overdue_open_min bigint,
	loop_raised bigint, response_rate numeric, checkin_rate_shown numeric, carers bigint, carers_hidden bigint,
	last_day date, last_day_residents bigint, last_day_overdue bigint, last_day_coverage_rate numeric,
	last_day_loop_raised bigint, last_day_response_rate numeric,
	missing text, missing_since timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	r record;
BEGIN
	r := sanse.city_read_all();
	RETURN QUERY
	SELECT d.name, coalesce(l.path, h.path),
	       CASE WHEN r.failed ? d.name THEN 'down' WHEN l.path IS NULL THEN 'no area' ELSE 'live' END,
	       l.as_of, l.residents, l.overdue_now, l.coverage_rate, l.overdue_open, l.overdue_open_min, l.loop_raised, l.response_rate,
	       l.checkin_rate_shown, l.carers, l.carers_hidden,
	       h.day, h.residents, h.overdue, h.coverage_rate, h.loop_raised, h.response_rate,
	       nullif(concat_ws('; ',
	           CASE WHEN r.failed ? d.name THEN 'live screen: ' || (r.failed ->> d.name) END,
	           CASE WHEN NOT r.failed ? d.name AND l.path IS NULL
	                THEN 'live screen: the district shows the city''s login no area (no aggregate grant there?)' END,
	           CASE WHEN l.last_day > h.day OR (l.last_day IS NOT NULL AND h.day IS NULL)
	                THEN format('daily history: the city has %s, the district has recorded up to %s',
	                            coalesce('up to ' || h.day, 'no day'), l.last_day) END), ''),
	       CASE WHEN r.failed ? d.name OR (NOT r.failed ? d.name AND l.path IS NULL) THEN coalesce(d.seen_at, d.added_at)
	            WHEN l.last_day > h.day OR (l.last_day IS NOT NULL AND h.day IS NULL) THEN coalesce(h.published_at, d.added_at) END
	  FROM sanse.city_district d
	  LEFT JOIN jsonb_to_recordset(r.live) AS l(district text, path text, as_of timestamptz, residents bigint,
	            overdue_now bigint, coverage_rate numeric, overdue_open bigint, overdue_open_min bigint, loop_raised bigint, response_rate numeric,
	            checkin_rate_shown numeric, carers bigint, carers_hidden bigint, last_day date)
	    ON l.district = d.name
	  LEFT JOIN LATERAL (SELECT DISTINCT ON (c.path) c.path, c.day, c.residents, c.overdue, c.coverage_rate,
	                            c.loop_raised, c.response_rate, c.published_at
	                       FROM sanse.city_day c
	                      WHERE c.district = d.name AND (l.path IS NULL OR c.path = l.path)
	                      ORDER BY c.path, c.day DESC) h ON true
	 ORDER BY 1, 2;
END
$$;
REVOKE ALL ON FUNCTION city_screen_rows() FROM PUBLIC;
COMMENT ON FUNCTION city_screen_rows() IS 'the rows of city_screen (runs as the owner of sanse, whose user mappings log in to the districts)';

-- The city screen: one row per district and root area.  Read now (state
-- live, as of the district's publication): coverage, overdue now, overdue
-- events still open, the month's loop events and response rate, the
-- month's check-in rate over the carers whose cells are shown; overdue_open
-- is NULL when a month's count is hidden, overdue_open_min then the shown
-- months' sum (at least that many).  Received by
-- replication: the last day (marked with its date).  A sum with a hidden
-- part is NULL, never a smaller number.  missing says what the row lacks
-- (the live screen of a district down or refusing the login, days the
-- subscription has not brought yet) and missing_since since when: the last
-- read that answered, or the publication of the last day received.
CREATE OR REPLACE VIEW city_screen AS
SELECT * FROM sanse.city_screen_rows();
REVOKE ALL ON city_screen FROM PUBLIC;
COMMENT ON VIEW city_screen IS 'the city screen: per district and root area, the numbers read now from each district''s screen (cells hidden as there), the last day received by replication (marked with its date), what is missing and since when';

-- For the city's pg_cron (every minute): read every district, so that
-- missing_since is at most a minute early.  Returns how many answered.
CREATE OR REPLACE FUNCTION city_poll() RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, sanse
RETURN (SELECT count(DISTINCT s.district) FILTER (WHERE s.state = 'live') FROM sanse.city_screen_rows() s);
REVOKE ALL ON FUNCTION city_poll() FROM PUBLIC;
COMMENT ON FUNCTION city_poll() IS 'read every district''s screen (for the city''s pg_cron, every minute): returns how many answered';
