-- pgTAP: the city screen inside one database (issue 23, doc/city.md); the
-- districts and the city on clusters of their own are test/city.sh.
--   district side: city_day is written only once the district is in a city
--   (city_publish), holds each published day of every root area exactly as
--   an aggregate-only role reads it in coverage_history (hidden cells NULL,
--   never 0), one row per root and day; the publication sanse_city carries
--   city_day and nothing else; screen_as_of says as of when;
--   city side: city_add_district refuses a bad name and a database without
--   postgres_fdw, makes the server (async_capable), the mapping, the foreign
--   tables; a district that does not answer is a row "down" with no current
--   number, its last day received marked with its date, missing since it
--   was added (never seen); city_drop_district takes it all away.
-- Fixture (shared district): M1 three red residents, M2 six blue, M3 two
-- yellow and five blue, M4 one red (17 in D: red 4, yellow 2, blue 11).
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SET LOCAL client_min_messages = warning;
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(31);

INSERT INTO sanse.resident (area_id, name, factors, registered_at)
SELECT pg_temp.area_id(v.path), v.path || ' ' || i, v.factors, '2024-03-01 09:00+08'
  FROM (VALUES ('d.t.v.tg.g.m1', 3, '{accident_risk}'::text[]), ('d.t.v.tg.g.m2', 6, '{mobility_impaired}'),
               ('d.t.v.tg.g2.m3', 2, '{partial_care,mobility_impaired}'), ('d.t.v.tg.g2.m3', 5, '{mobility_impaired}'),
               ('d.t.v.tg2.g.m4', 1, '{accident_risk}')) v(path, n, factors),
       generate_series(1, v.n) i;
CREATE ROLE t39_agg NOLOGIN;
CREATE ROLE t39_none NOLOGIN;
INSERT INTO sanse.area_grant (role, path, access) VALUES ('t39_agg', 'd', 'aggregate'), ('t39_agg', 'e', 'aggregate');
GRANT USAGE ON SCHEMA sanse TO t39_none;

-- the one column of the rows a query returns as a role, as text, joined by ' ; '
CREATE FUNCTION pg_temp.rows_as(r name, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	res text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	EXECUTE format($q$SELECT string_agg(x.v::text, ' ; ') FROM (%s) x(v)$q$, q) INTO res;
	RESET ROLE;
	RETURN res;
END
$$;

-- not in a city: the sweep records and publishes days, city_day stays empty
SELECT sanse.sweep('2024-04-05 12:00+08') \gset
SELECT sanse.sweep('2024-04-06 12:00+08') \gset
SELECT is((SELECT count(*)::int FROM sanse.published_history_day WHERE day = '2024-04-05'), 1, 'the fixture: 2024-04-05 recorded and published');
SELECT is((SELECT count(*)::int FROM sanse.city_day), 0, 'a district in no city writes no city_day row');

-- in a city
SELECT throws_ok($$SELECT sanse.city_publish('East')$$, '22023', NULL, 'city_publish: a name with a capital is 22023');
SELECT throws_ok($$SELECT sanse.city_publish(NULL)$$, '22023', NULL, 'city_publish: no name is 22023');
SET LOCAL client_min_messages = error;	-- no "wal_level is insufficient" where it is replica
SELECT is(sanse.city_publish('east'), 2, 'city_publish: the day already published, for each root area (d, e)');
SELECT is((SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables WHERE pubname = 'sanse_city'),
          'sanse.city_day', 'the publication sanse_city carries city_day and nothing else');
SELECT is((SELECT string_agg(format('%s %s %s', district, path, day), ', ' ORDER BY path) FROM sanse.city_day),
          'east d 2024-04-05, east e 2024-04-05', 'one row per root area and published day, under the city''s name');
SELECT is((SELECT format('%s|%s|%s|%s', residents, red, yellow, blue) FROM sanse.city_day WHERE path = 'd'),
          '17|||11', 'D''s day: residents 17 and blue 11 shown, red (4) and yellow (2) hidden as NULL, never 0');
SELECT is((SELECT format('%s|%s|%s', residents, red, coverage_rate) FROM sanse.city_day WHERE path = 'e'),
          '0|0|', 'E, without a resident: zeros, as coverage_history shows it');
SELECT sanse.sweep('2024-04-07 12:00+08') \gset
SELECT is((SELECT string_agg(day::text, ',' ORDER BY day) FROM sanse.city_day WHERE path = 'd'),
          '2024-04-05,2024-04-06', 'the sweep''s next published day is added');
SELECT is((SELECT string_agg(ROW(c.day, c.residents, c.red, c.yellow, c.blue, c.overdue, c.windows_met, c.events_opened,
                                      c.events_closed, c.open_level_1, c.open_level_2, c.open_level_3, c.open_level_4,
                                      c.loop_raised, c.loop_answered_in_time, c.coverage_rate, c.response_rate)::text, ' ; ' ORDER BY c.path, c.day)
             FROM sanse.city_day c),
          pg_temp.rows_as('t39_agg', $$SELECT ROW(day, residents, red, yellow, blue, overdue, windows_met, events_opened,
                                      events_closed, open_level_1, open_level_2, open_level_3, open_level_4,
                                      loop_raised, loop_answered_in_time, coverage_rate, response_rate)::text
                                        FROM sanse.coverage_history WHERE path IN ('d', 'e') ORDER BY path, day$$),
          'every row of city_day is the root''s coverage_history as the aggregate-only role reads it');
SELECT is((SELECT count(*)::int FROM sanse.city_day c JOIN sanse.published_history_day p USING (day) WHERE c.published_at = p.published_at), 4,
          'each row carries the publication time of its day');
SELECT is(sanse.city_publish('west'), 4, 'city_publish under another name: the rows again');
SELECT is((SELECT string_agg(DISTINCT district, ',') FROM sanse.city_day), 'west', '... and none under the old name');
SELECT is((SELECT name FROM sanse.city_member), 'west', 'city_member holds the name');

-- as of when
SELECT is(pg_temp.rows_as('t39_agg', 'SELECT published_at = sanse.screen_published_at() AND last_day = date ''2024-04-06'' FROM sanse.screen_as_of'),
          'true', 'screen_as_of: the publication time and the last day published, for a role with a grant');
SELECT is(pg_temp.rows_as('t39_none', 'SELECT * FROM sanse.screen_as_of'), NULL, 'screen_as_of: no row for a role without a grant');

-- the city's side
SELECT throws_ok($$SELECT sanse.city_add_district('bad name', '127.0.0.1', 1, 'care', 'u', 'p')$$, '22023', NULL,
                 'city_add_district: a bad name is 22023');
SELECT throws_ok($$SELECT sanse.city_add_district('nowhere', '127.0.0.1', 1, 'care', 'u', 'p')$$, '55000',
                 'postgres_fdw is not installed in this database', 'city_add_district without postgres_fdw is 55000');
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
SELECT is(sanse.city_add_district('nowhere', '127.0.0.1', 1, 'care', 'u', 'p'), 'sanse_city_nowhere',
          'city_add_district: a district nothing answers for can be added');
SELECT is((SELECT array_to_string(srvoptions, ',') FROM pg_foreign_server WHERE srvname = 'sanse_city_nowhere'),
          'host=127.0.0.1,port=1,dbname=care,async_capable=true,connect_timeout=5,options=-c statement_timeout=10s,application_name=sanse_city',
          'its foreign server: async_capable (districts answer in parallel), connect_timeout 5 s, statement_timeout 10 s there');
SELECT is((SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c WHERE c.relnamespace = 'sanse_city_nowhere'::regnamespace AND c.relkind = 'f'),
          'coverage,loop_metrics,overdue_events,screen_as_of,worker_checkin_rate', 'its foreign tables: the screen views the city reads');
INSERT INTO sanse.city_day (district, path, day, name, residents, overdue, coverage_rate, published_at)
VALUES ('nowhere', 'n', '2024-04-06', 'N', 120, 6, 0.95, '2024-04-07 00:05+08');
SELECT is((SELECT format('%s|%s|%s|%s|%s|%s|%s', district, path, state, residents IS NULL AND coverage_rate IS NULL AND as_of IS NULL,
                         last_day, last_day_residents, missing_since = (SELECT added_at FROM sanse.city_district WHERE name = 'nowhere'))
             FROM sanse.city_screen),
          'nowhere|n|down|t|2024-04-06|120|t',
          'a district that does not answer: down, no current number, its last day received marked, missing since it was added');
SELECT matches((SELECT missing FROM sanse.city_screen), '^live screen: the district does not answer \(',
               'and the screen says what is missing');
SELECT is((SELECT (failing_since IS NOT NULL AND seen_at IS NULL AND last_error LIKE 'the district does not answer%')::text
             FROM sanse.city_district WHERE name = 'nowhere'), 'true', 'city_district keeps the first failure and its reason');
SELECT throws_ok($$SELECT sanse.city_read_live(ARRAY['nowhere', 'elsewhere'], '2024-04-01')$$, '22023',
                 'district ''elsewhere'' is not in the city', 'city_read_live refuses a name that is not a district of the city');
SELECT is(sanse.city_failure('08001', 'could not connect to server "s"', 'connection failed: FATAL:  password authentication failed for user "u"'),
          'the district refused the city''s login (wrong credentials)', 'city_failure: wrong credentials said so');
SAVEPOINT read_only;
SET LOCAL transaction_read_only = on;
SELECT is((SELECT state FROM sanse.city_screen), 'down', 'read-only (a standby of the city): the screen still answers, keeping no health');
ROLLBACK TO SAVEPOINT read_only;
SELECT is(sanse.city_drop_district('nowhere'), true, 'city_drop_district: true for a district of the city');
SELECT is((SELECT count(*) FROM pg_foreign_server WHERE srvname = 'sanse_city_nowhere') + (SELECT count(*) FROM pg_namespace WHERE nspname = 'sanse_city_nowhere')
           + (SELECT count(*) FROM sanse.city_day WHERE district = 'nowhere') + (SELECT count(*) FROM sanse.city_district), 0::bigint,
          '... its server, schema, received days and row gone');
SELECT is(sanse.city_drop_district('nowhere'), false, '... and false a second time');

SELECT * FROM finish();
ROLLBACK;
