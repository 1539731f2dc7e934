-- Issue 23, the city screen (src/sql/97_city_district.sql, 98_city.sql):
-- a district's published days for the city (city_member, city_day) and a
-- city's districts (city_district).  New tables only; nothing moves.
CREATE TABLE city_member (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	name text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
	since timestamptz NOT NULL DEFAULT now()
);
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
SELECT pg_catalog.pg_extension_config_dump('city_member', '');
SELECT pg_catalog.pg_extension_config_dump('city_day', '');
CREATE TABLE city_district (
	name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
	added_at timestamptz NOT NULL DEFAULT now(),
	seen_at timestamptz,
	failing_since timestamptz,
	last_error text
);
SELECT pg_catalog.pg_extension_config_dump('city_district', '');
