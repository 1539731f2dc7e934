-----------------------------------------------------------------------------
-- A district in a city (spec 11, doc/city.md), the district's side: the
-- daily history a city database receives by core logical replication.
-- What travels is not area_day itself (its counts are exact, small cells
-- included: a city holding them would know what the district hides from
-- its aggregate-only roles) but each recorded day of the district's root
-- areas as published for aggregate-only roles (published_coverage_history,
-- cells hidden), one row per root area and day, under the name the city
-- knows the district by.  Rows are keyed by that name, so the districts'
-- rows never collide in the city's copy of this table, and the city's copy
-- is this very table (the city installs sanse too): the same version on
-- both sides has the same columns.  sanse.city_publish(name) names the
-- district, creates the publication sanse_city and copies the days already
-- published; from then on each day the sweep publishes is added.
-----------------------------------------------------------------------------

-- The name the city knows this district by (none: not in a city).
CREATE TABLE city_member (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
	since timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE city_member IS 'the name the city knows this district by, set by sanse.city_publish (no row: not in a city)';

-- Each published day of each root area, as aggregate-only roles read it
-- in coverage_history (hidden cells NULL): the rows the publication
-- sanse_city carries to the city (and, in the city, the rows received).
CREATE TABLE city_day (
	district text NOT NULL,
	path text NOT NULL,
	day date NOT NULL,
	name text NOT NULL,
	residents bigint, red bigint, yellow bigint, blue bigint, overdue bigint, windows_met bigint,
	events_opened bigint, events_closed bigint,
	open_level_1 bigint, open_level_2 bigint, open_level_3 bigint, open_level_4 bigint,
	loop_raised bigint, loop_answered_in_time bigint,
	coverage_rate numeric, response_rate numeric,
	published_at timestamptz NOT NULL,
	PRIMARY KEY (district, path, day)
);
COMMENT ON TABLE city_day IS 'each published day of the root areas as aggregate-only roles read it (cells hidden), under the district''s city name: published to the city (publication sanse_city); in a city database, the days received from every district';
REVOKE ALL ON city_member, city_day FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('city_member', '');
SELECT pg_catalog.pg_extension_config_dump('city_day', '');

-- The rows of city_day for one published day (run by publish_history_day;
-- nothing when the district is not in a city).  A root area without a row
-- that day has zeros, as coverage_history shows it.
CREATE OR REPLACE FUNCTION city_day_publish(p_day date) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	INSERT INTO sanse.city_day AS c
	-- a root area without a row that day: zeros; a hidden cell stays NULL
	SELECT m.name, a.path::text, d.day, a.name,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.residents END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.red END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.yellow END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.blue END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.overdue END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.windows_met END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_opened END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.events_closed END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_1 END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_2 END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_3 END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.open_level_4 END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_raised END,
	       CASE WHEN h.area_id IS NULL THEN 0 ELSE h.loop_answered_in_time END,
	       h.coverage_rate, h.response_rate, d.published_at
	  FROM sanse.city_member m
	 CROSS JOIN sanse.published_history_day d
	  JOIN sanse.area a ON pg_catalog.strpos(a.path::text, '.') = 0
	  LEFT JOIN sanse.published_coverage_history h ON h.day = d.day AND h.area_id = a.id
	 WHERE d.day = p_day
	ON CONFLICT (district, path, day) DO UPDATE
	   SET name = EXCLUDED.name, residents = EXCLUDED.residents, red = EXCLUDED.red, yellow = EXCLUDED.yellow,
	       blue = EXCLUDED.blue, overdue = EXCLUDED.overdue, windows_met = EXCLUDED.windows_met,
	       events_opened = EXCLUDED.events_opened, events_closed = EXCLUDED.events_closed,
	       open_level_1 = EXCLUDED.open_level_1, open_level_2 = EXCLUDED.open_level_2,
	       open_level_3 = EXCLUDED.open_level_3, open_level_4 = EXCLUDED.open_level_4,
	       loop_raised = EXCLUDED.loop_raised, loop_answered_in_time = EXCLUDED.loop_answered_in_time,
	       coverage_rate = EXCLUDED.coverage_rate, response_rate = EXCLUDED.response_rate,
	       published_at = EXCLUDED.published_at;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION city_day_publish(date) FROM PUBLIC;
COMMENT ON FUNCTION city_day_publish(date) IS 'the rows of city_day for one published day of the history (run by publish_history_day; nothing when the district is not in a city)';

-- Put this district in a city under a name: the name, the publication
-- sanse_city (FOR TABLE sanse.city_day) and every day already published.
-- Called again with another name, the rows are renamed (the old name's
-- rows go, the new name's come).  Owner only.
CREATE OR REPLACE FUNCTION city_publish(name text) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	d date;
	n int := 0;
BEGIN
	IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,39}$' THEN
		RAISE EXCEPTION 'invalid district name for the city: %', coalesce(pg_catalog.quote_literal(name), 'NULL')
		      USING ERRCODE = '22023',
		            DETAIL = 'A district''s city name is 1 to 40 lower-case letters, digits or underscores, starting with a letter.';
	END IF;
	INSERT INTO sanse.city_member AS m (name) VALUES (city_publish.name)
	ON CONFLICT (one) DO UPDATE SET name = EXCLUDED.name, since = now() WHERE m.name <> EXCLUDED.name;
	DELETE FROM sanse.city_day c WHERE c.district <> city_publish.name;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication p WHERE p.pubname = 'sanse_city') THEN
		CREATE PUBLICATION sanse_city FOR TABLE sanse.city_day;
	END IF;
	FOR d IN SELECT p.day FROM sanse.published_history_day p ORDER BY p.day LOOP
		n := n + sanse.city_day_publish(d);
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION city_publish(text) FROM PUBLIC;
COMMENT ON FUNCTION city_publish(text) IS 'put this district in a city under a name: the publication sanse_city of city_day and the days already published; returns the rows written (owner only)';

-- As of when the screen rows an aggregate-only role reads were published,
-- and the last day of the history published: what a city reads beside the
-- numbers, so that it never shows an old number as a current one.  A role
-- without any grant sees no row.
CREATE OR REPLACE VIEW screen_as_of AS
SELECT sanse.screen_published_at() AS published_at,
       (SELECT max(p.day) FROM sanse.published_history_day p) AS last_day
 WHERE sanse.screen_sees_aggregate() OR sanse.screen_sees_exact();
GRANT SELECT ON screen_as_of TO PUBLIC;
COMMENT ON VIEW screen_as_of IS 'when the screen rows aggregate-only roles read were published, and the last day of the history published (no row for a role without a grant)';
