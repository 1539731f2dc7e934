-- pgTAP (issue 19): the visit flags as a vocabulary the catalog answers
-- (sanse.visit_flag, read by everyone, written by no one), and check-in's
-- stable entry points: this version binds sanse.check_in to check_in_1_4,
-- and the symbol the released 1.0, 1.2 and 1.3 scripts bind (check_in) still
-- records the same visit with the same flags.  test/entry_points.sh runs
-- databases left at each released version.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(17);

-- the vocabulary: its shape and its four values, in order
SELECT has_table('sanse', 'visit_flag', 'sanse.visit_flag exists');
SELECT col_is_pk('sanse', 'visit_flag', 'value', 'a flag is its value');
SELECT col_type_is('sanse', 'visit_flag', 'position', 'smallint', 'position is a smallint');
SELECT col_is_unique('sanse', 'visit_flag', 'position', 'positions are unique');
SELECT col_not_null('sanse', 'visit_flag', 'meaning', 'every flag has a meaning');
SELECT results_eq(
	'SELECT value, position::int FROM sanse.visit_flag ORDER BY position',
	$$VALUES ('quick_succession'::text, 1), ('impossible_travel', 2), ('repeat_visit', 3), ('late', 4)$$,
	'the four flags of spec 5.3.3, in the order check_in writes them');

-- everyone reads it, nobody writes it
CREATE ROLE regress_sanse_flag_reader;
SELECT is(pg_temp.sqlstate_as('regress_sanse_flag_reader', 'SELECT count(*) FROM sanse.visit_flag'), 'ok',
	'a role with no grant of its own reads sanse.visit_flag');
SELECT is(pg_temp.sqlstate_as('regress_sanse_flag_reader', s), '42501', d)
  FROM (VALUES ('INSERT INTO sanse.visit_flag VALUES (''invented'', 9, ''x'')', 'nobody else adds a flag'),
               ('UPDATE sanse.visit_flag SET meaning = ''x''', 'nobody else changes a meaning'),
               ('DELETE FROM sanse.visit_flag', 'nobody else deletes a flag')) t(s, d);

-- the entry point this version's SQL binds
SELECT is((SELECT prosrc FROM pg_proc WHERE oid = 'sanse.check_in'::regproc), 'check_in_1_4',
	'sanse.check_in is bound to check_in_1_4, the entry point written for 1.4''s SQL');

-- two homes 11 km apart in M1, a volunteer caring for both, registered four days ago
INSERT INTO resident (area_id, name, factors, registered_at, lat, lon)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Near', '{accident_risk}', now() - interval '4 days', 30.0, 120.0),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'Far', '{accident_risk}', now() - interval '4 days', 30.1, 120.0);
INSERT INTO worker (name, force, role, area_id) VALUES ('flag vol', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg.g.m1'));
INSERT INTO carer (resident_id, worker_id) SELECT r.id, pg_temp.worker_id('flag vol') FROM resident r WHERE r.name IN ('Near', 'Far');
CREATE FUNCTION pg_temp.ci(res text, at timestamptz) RETURNS bigint LANGUAGE sql AS $$
	SELECT sanse.check_in(pg_temp.token(res), pg_temp.worker_id('flag vol'), at)
$$;
CREATE FUNCTION pg_temp.flags(visit bigint) RETURNS text[] LANGUAGE sql STABLE AS $$
	SELECT v.flags FROM sanse.visit v WHERE v.id = visit
$$;

-- under check_in_1_4: late at Near, then Far a minute later (quick, 11 km in a minute), then Near again
SELECT pg_temp.ci('Near', now() - interval '3 hours') AS v1 \gset
SELECT pg_temp.ci('Far', now() - interval '3 hours' + interval '1 minute') AS v2 \gset
SELECT pg_temp.ci('Near', now() - interval '3 hours' + interval '10 minutes') AS v3 \gset
SELECT is(pg_temp.flags(:v1), '{late}', 'check_in_1_4: a visit after the due time is late');
SELECT is(pg_temp.flags(:v2), '{quick_succession,impossible_travel,late}',
	'check_in_1_4: quick succession and impossible travel, in the vocabulary''s order');

-- the same under the symbol 1.3's SQL binds (rebound in this transaction only)
CREATE OR REPLACE FUNCTION sanse.check_in(token text, worker_id bigint, at timestamptz DEFAULT now(),
                                          checklist text[] DEFAULT '{}', note text DEFAULT NULL) RETURNS bigint
	AS '$libdir/sanse', 'check_in' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, sanse SET lock_timeout = '5s';
SELECT is(pg_temp.ci('Near', now() - interval '3 hours'), :v1::bigint, 'check_in (1.3''s symbol): a retried scan gets the same visit');
SELECT pg_temp.ci('Far', now() - interval '3 hours' + interval '11 minutes') AS v4 \gset
SELECT is(pg_temp.flags(:v4), '{quick_succession,impossible_travel,repeat_visit}',
	'check_in (1.3''s symbol): the same flags from the same facts (and Far again within 30 minutes: a repeat)');
SELECT is((SELECT count(*)::int FROM sanse.event e JOIN resident r ON r.id = e.resident_id
            WHERE r.name IN ('Near', 'Far') AND e.kind = 'overdue' AND e.status <> 'closed'), 0,
	'the late visits closed their overdue events');

-- whatever the entry point, the flags written are values of the vocabulary
SELECT is((SELECT count(*)::int FROM sanse.visit v, unnest(v.flags) f WHERE f NOT IN (SELECT value FROM sanse.visit_flag)), 0,
	'every flag on a visit is a value of sanse.visit_flag');

SELECT * FROM finish();
ROLLBACK;
