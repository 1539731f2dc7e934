-- make demo, step 2: the residents come from three departments' lists
-- (test/demo/feeds.sql), each loaded with COPY by the department's loader
-- role, granted by one row of sanse.feed_grant (the recipe of doc/feeds.md),
-- and applied with sanse.apply_feed; then every resident gets a five-for-one
-- and a last visit before the replay starts.
INSERT INTO sanse.department (code, name) VALUES ('disabled_federation', '残联 disabled persons'' federation')
ON CONFLICT DO NOTHING;
-- the loaders (NOLOGIN here: the demo acts as them with SET ROLE)
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sanse_demo_civil_affairs') AS create_roles \gset
\if :create_roles
CREATE ROLE sanse_demo_civil_affairs NOLOGIN;
CREATE ROLE sanse_demo_health NOLOGIN;
CREATE ROLE sanse_demo_disabled_federation NOLOGIN;
\endif
INSERT INTO sanse.feed_grant (role, department, path) VALUES
	('sanse_demo_civil_affairs', 'civil_affairs', 'q'), ('sanse_demo_health', 'health', 'q'),
	('sanse_demo_disabled_federation', 'disabled_federation', 'q');
SELECT sanse_demo.make_population(:scale) AS people \gset
\echo 'the departments list' :people 'people; each list has six bad rows (bad check characters, an unknown factor, a general grid, one person twice):'
SELECT sanse_demo.write_feed('civil_affairs', 'list-1', true), sanse_demo.write_feed('health', 'list-1', true),
       sanse_demo.write_feed('disabled_federation', 'list-1', true) \gset
\set batch list-1
\set dept civil_affairs
\set loader sanse_demo_civil_affairs
\i test/demo/load_feed.psql
\set dept health
\set loader sanse_demo_health
\i test/demo/load_feed.psql
\set dept disabled_federation
\set loader sanse_demo_disabled_federation
\i test/demo/load_feed.psql
-- registered before the replay's start (their history begins there), with
-- a place on the map, carers and a last visit in their cadence
UPDATE sanse.resident SET registered_at = :'start'::timestamptz - interval '120 days',
                          lat = 30.55 + random() * 0.2, lon = 103.95 + random() * 0.2;
SELECT sanse_demo.settle(:scale, :'start') AS settled \gset
SELECT * FROM sanse_demo.district_counts();
SELECT format('built the district in %s s', round(extract(epoch FROM clock_timestamp() - :'began')::numeric, 1)) AS said \gset
\echo :said
