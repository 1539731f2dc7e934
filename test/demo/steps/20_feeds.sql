-- make demo, step 2: the residents come from three departments' lists
-- (test/demo/feeds.sql), each loaded with COPY by the department's loader
-- role, granted by one row of sanse.feed_grant (the recipe of doc/feeds.md),
-- and applied with sanse.apply_feed; then every resident gets a five-for-one
-- and a last visit before the replay starts.
INSERT INTO sanse.department (code, name) VALUES ('disabled_federation', '残联 disabled persons'' federation')
ON CONFLICT DO NOTHING;
-- the loaders, <database>_<department> (NOLOGIN here: the demo acts as them
-- with SET ROLE), each granted by one row of sanse.feed_grant
SELECT format('CREATE ROLE %I NOLOGIN', current_database() || '_' || d)
  FROM unnest(ARRAY['civil_affairs', 'health', 'disabled_federation']) d
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = current_database() || '_' || d) \gexec
INSERT INTO sanse.feed_grant (role, department, path)
SELECT current_database() || '_' || d, d, 'q' FROM unnest(ARRAY['civil_affairs', 'health', 'disabled_federation']) d;
SELECT sanse_demo.make_population(:scale) AS people \gset
\echo 'the departments list' :people 'people; each list has six bad rows (bad check characters, an unknown factor, a general grid, one person twice):'
SELECT sanse_demo.write_feed('civil_affairs', 'list-1', true), sanse_demo.write_feed('health', 'list-1', true),
       sanse_demo.write_feed('disabled_federation', 'list-1', true) \gset
\set batch list-1
\set dept civil_affairs
\i test/demo/load_feed.psql
\set dept health
\i test/demo/load_feed.psql
\set dept disabled_federation
\i test/demo/load_feed.psql
-- registered before the replay's start (their history begins there), with
-- a place on the map, carers and a last visit in their cadence
UPDATE sanse.resident SET registered_at = :'start'::timestamptz - interval '120 days',
                          lat = 30.55 + random() * 0.2, lon = 103.95 + random() * 0.2;
SELECT sanse_demo.settle(:scale, :'start') AS settled \gset
SELECT * FROM sanse_demo.district_counts();
SELECT format('built the district in %s s', round(extract(epoch FROM clock_timestamp() - :'began')::numeric, 1)) AS said \gset
\echo :said
