-- pgTAP: a randomized invariant test (spec 3 "the window invariant", spec 4;
-- issue 3).  ~300 residents with random factors, registrations and visits,
-- then a few hundred random statements: factor changes, overrides set and
-- cleared, activations, visits, registrations, rule inserts, edits, toggles and
-- deletes, cadence changes, new residents, multi-row updates.  Afterwards (and
-- after every single statement) nothing may break:
--   next_visit = window_after(tier, coalesce(last_visit_at, registered_at))
--     for active residents with a tier, NULL otherwise;
--   computed_tier = classify(factors); tier = coalesce(tier_override, computed_tier);
--   override bookkeeping; tier_history a complete chain of the changes.
-- The seed is printed; rerun one with PGOPTIONS='-c sanse_test.seed=0.123'.
-- Everything is rolled back.
BEGIN;
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
\ir include/district.psql
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SELECT plan(22);

CREATE TEMP TABLE seed ON COMMIT DROP AS
SELECT coalesce(nullif(current_setting('sanse_test.seed', true), '')::float8,
                (extract(microseconds FROM clock_timestamp())::bigint % 1000000) / 1000000.0) AS s;
SELECT diag('random seed: ' || s) FROM seed;
SELECT setseed(s) FROM seed;

CREATE FUNCTION pg_temp.rand_factors(p float8) RETURNS text[] LANGUAGE sql VOLATILE
RETURN array(SELECT f FROM unnest(sanse.factor_names()) f WHERE random() < p);
CREATE FUNCTION pg_temp.rand_tier() RETURNS sanse.risk_tier LANGUAGE sql VOLATILE
RETURN (ARRAY['red', 'yellow', 'blue'])[1 + floor(random() * 3)::int]::sanse.risk_tier;
CREATE FUNCTION pg_temp.rand_time() RETURNS timestamptz LANGUAGE sql VOLATILE
RETURN timestamptz '2024-01-01 00:00+08' + random() * interval '500 days';

-- violations of the derived-column invariants among this test's residents
CREATE FUNCTION pg_temp.window_violations() RETURNS bigint LANGUAGE sql STABLE
RETURN (SELECT count(*) FROM sanse.resident r
         WHERE r.name LIKE 'inv%'
           AND r.next_visit IS DISTINCT FROM
               CASE WHEN r.active AND r.tier IS NOT NULL
                    THEN sanse.window_after(r.tier, coalesce(r.last_visit_at, r.registered_at)) END);
CREATE FUNCTION pg_temp.tier_violations() RETURNS bigint LANGUAGE sql STABLE
RETURN (SELECT count(*) FROM sanse.resident r
         WHERE r.name LIKE 'inv%'
           AND (r.computed_tier IS DISTINCT FROM sanse.classify(r.factors)
                OR r.tier IS DISTINCT FROM coalesce(r.tier_override, r.computed_tier)));

-- the shared district's micro grids M1, M2, M3
SELECT lives_ok($$
	INSERT INTO sanse.resident (area_id, name, factors, registered_at, last_visit_at, active, tier_override, override_reason)
	SELECT (SELECT id FROM sanse.area WHERE name = 'M' || (1 + n % 3)),
	       'inv' || n, pg_temp.rand_factors(0.25), reg,
	       CASE WHEN random() < 0.4 THEN NULL ELSE reg + random() * interval '60 days' END,
	       random() < 0.9,
	       ovr, CASE WHEN ovr IS NOT NULL THEN 'initial override ' || n END
	  FROM (SELECT n, pg_temp.rand_time() AS reg,
	               CASE WHEN random() < 0.15 THEN pg_temp.rand_tier() END AS ovr
	          FROM generate_series(1, 300) n) s
$$, '300 residents with random factors, registrations, visits, states and overrides');
SELECT is(pg_temp.window_violations() + pg_temp.tier_violations(), 0::bigint, 'the bulk load keeps every invariant');

CREATE TEMP TABLE action_log (step int, kind text, window_bad bigint, tier_bad bigint) ON COMMIT DROP;

DO $$
DECLARE
	kinds CONSTANT text[] := ARRAY['factors', 'factors', 'override_set', 'override_clear', 'active',
	                               'last_visit', 'rule_insert', 'rule_toggle', 'rule_edit_or_delete',
	                               'cadence', 'new_resident', 'registered', 'bulk_factors', 'bulk_override',
	                               'area_move'];
	cadences CONSTANT text[] := ARRAY['rolling 2 days', 'rolling 36 hours', 'rolling 1 day', 'rolling 3 days',
	                                  'rolling 10 days', 'calendar day', 'calendar week', 'calendar month'];
	k text;
	rid bigint;
	rule bigint;
	n_new int := 300;
BEGIN
	FOR step IN 1..400 LOOP
		k := kinds[1 + floor(random() * array_length(kinds, 1))::int];
		SELECT id INTO rid FROM sanse.resident WHERE name LIKE 'inv%' ORDER BY random() LIMIT 1;
		CASE k
		WHEN 'factors' THEN
			UPDATE sanse.resident SET factors = pg_temp.rand_factors(0.25) WHERE id = rid;
		WHEN 'override_set' THEN
			UPDATE sanse.resident SET tier_override = pg_temp.rand_tier(), override_reason = 'reason at step ' || step
			 WHERE id = rid;
		WHEN 'override_clear' THEN
			UPDATE sanse.resident SET tier_override = NULL WHERE id = rid;
		WHEN 'active' THEN
			UPDATE sanse.resident SET active = NOT active WHERE id = rid;
		WHEN 'last_visit' THEN
			UPDATE sanse.resident
			   SET last_visit_at = CASE WHEN random() < 0.1 THEN NULL
			                            ELSE greatest(registered_at, coalesce(last_visit_at, registered_at))
			                                 + random() * interval '20 days' END
			 WHERE id = rid;
		WHEN 'rule_insert' THEN
			INSERT INTO sanse.classification_rule (tier, all_of, note)
			SELECT pg_temp.rand_tier(),
			       array(SELECT f FROM unnest(sanse.factor_names()) f ORDER BY random() LIMIT 1 + floor(random() * 3)::int),
			       'random rule at step ' || step;
		WHEN 'rule_toggle' THEN
			SELECT id INTO rule FROM sanse.classification_rule ORDER BY random() LIMIT 1;
			UPDATE sanse.classification_rule SET enabled = NOT enabled WHERE id = rule;
		WHEN 'rule_edit_or_delete' THEN
			SELECT id INTO rule FROM sanse.classification_rule WHERE NOT builtin ORDER BY random() LIMIT 1;
			IF random() < 0.5 THEN
				DELETE FROM sanse.classification_rule WHERE id = rule;
			ELSE
				UPDATE sanse.classification_rule
				   SET tier = pg_temp.rand_tier(),
				       all_of = array(SELECT f FROM unnest(sanse.factor_names()) f ORDER BY random() LIMIT 1 + floor(random() * 3)::int)
				 WHERE id = rule;
			END IF;
		WHEN 'cadence' THEN
			UPDATE sanse.tier_policy SET cadence = cadences[1 + floor(random() * array_length(cadences, 1))::int]
			 WHERE tier = pg_temp.rand_tier();
		WHEN 'new_resident' THEN
			n_new := n_new + 1;
			INSERT INTO sanse.resident (area_id, name, factors, registered_at)
			SELECT id, 'inv' || n_new, pg_temp.rand_factors(0.3), pg_temp.rand_time()
			  FROM sanse.area WHERE name = 'M2';
		WHEN 'registered' THEN
			UPDATE sanse.resident SET registered_at = pg_temp.rand_time() WHERE id = rid;
		WHEN 'bulk_factors' THEN
			UPDATE sanse.resident SET factors = pg_temp.rand_factors(0.2)
			 WHERE name LIKE 'inv%' AND id % 11 = step % 11;
		WHEN 'bulk_override' THEN
			UPDATE sanse.resident
			   SET tier_override = CASE WHEN random() < 0.5 THEN pg_temp.rand_tier() END,
			       override_reason = 'bulk at step ' || step
			 WHERE name LIKE 'inv%' AND id % 13 = step % 13;
		WHEN 'area_move' THEN
			UPDATE sanse.resident SET area_id = (SELECT id FROM sanse.area WHERE name = 'M3')
			 WHERE id = rid;
		END CASE;
		INSERT INTO action_log VALUES (step, k, pg_temp.window_violations(), pg_temp.tier_violations());
	END LOOP;
END
$$;

SELECT is((SELECT count(*)::int FROM action_log), 400, '400 random statements ran');
SELECT is((SELECT count(DISTINCT kind)::int FROM action_log), 14, 'every kind of statement ran at least once');
SELECT is(coalesce((SELECT step || ' ' || kind FROM action_log WHERE window_bad > 0 OR tier_bad > 0 ORDER BY step LIMIT 1), 'none'), 'none',
	'no statement left any resident breaking an invariant (first bad step, if any)');

-- the final state
SELECT is((SELECT count(*)::int FROM sanse.resident r
            WHERE r.name LIKE 'inv%' AND r.active AND r.tier IS NOT NULL
              AND r.next_visit IS DISTINCT FROM sanse.window_after(r.tier, coalesce(r.last_visit_at, r.registered_at))),
          0, 'no active resident with a tier violates next_visit = window_after(tier, coalesce(last_visit_at, registered_at))');
SELECT is((SELECT count(*)::int FROM sanse.resident r
            WHERE r.name LIKE 'inv%' AND (NOT r.active OR r.tier IS NULL) AND r.next_visit IS NOT NULL),
          0, 'inactive and untiered residents have no next_visit');
SELECT is((SELECT count(*)::int FROM sanse.resident r
            WHERE r.name LIKE 'inv%' AND r.computed_tier IS DISTINCT FROM sanse.classify(r.factors)),
          0, 'every computed_tier = classify(factors) under the final rules');
SELECT is((SELECT count(*)::int FROM sanse.resident r
            WHERE r.name LIKE 'inv%'
              AND r.computed_tier IS DISTINCT FROM
                  (SELECT max(c.tier) FROM sanse.classification_rule c WHERE c.enabled AND c.all_of <@ r.factors)),
          0, 'every computed_tier = the most severe enabled rule the factors satisfy (computed in SQL)');
SELECT is((SELECT count(*)::int FROM sanse.resident r
            WHERE r.name LIKE 'inv%' AND r.tier IS DISTINCT FROM coalesce(r.tier_override, r.computed_tier)),
          0, 'every tier = coalesce(tier_override, computed_tier)');
SELECT is((SELECT count(*)::int FROM sanse.resident r
            WHERE r.name LIKE 'inv%'
              AND CASE WHEN r.tier_override IS NOT NULL
                       THEN coalesce(btrim(r.override_reason), '') = '' OR r.override_by IS NULL OR r.override_at IS NULL
                       ELSE r.override_reason IS NOT NULL OR r.override_by IS NOT NULL OR r.override_at IS NOT NULL END),
          0, 'overrides have reason, who and when; residents without one have none of them');

-- the rule table after random edits still drives classify, for all 2^11 subsets
SELECT is((SELECT count(*)::int
             FROM generate_series(0, 2047) m, sanse.factor_names() n,
                  LATERAL (SELECT array(SELECT n[i] FROM generate_subscripts(n, 1) i WHERE m & (1 << (i - 1)) <> 0) AS s) x
            WHERE sanse.classify(x.s) IS DISTINCT FROM
                  (SELECT max(c.tier) FROM sanse.classification_rule c WHERE c.enabled AND c.all_of <@ x.s)),
          0, 'classify = max(tier) of the enabled rules contained in each of the 2048 subsets, after the random rule edits');

-- tier_history is the complete chain of changes
CREATE TEMP TABLE hist ON COMMIT DROP AS
SELECT h.*, lag(h.new_computed_tier) OVER w AS prev_computed, lag(h.new_override) OVER w AS prev_override,
       lag(h.new_tier) OVER w AS prev_tier, row_number() OVER w AS nr,
       row_number() OVER (PARTITION BY h.resident_id ORDER BY h.id DESC) AS from_last
  FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id
 WHERE r.name LIKE 'inv%'
WINDOW w AS (PARTITION BY h.resident_id ORDER BY h.id);
SELECT is((SELECT count(*)::int FROM hist
            WHERE (old_computed_tier, old_override, old_tier) IS DISTINCT FROM (prev_computed, prev_override, prev_tier)),
          0, 'each history row starts where the resident''s previous one ended (the first from nothing)');
SELECT is((SELECT count(*)::int FROM hist
            WHERE (old_computed_tier, old_override, old_tier) IS NOT DISTINCT FROM (new_computed_tier, new_override, new_tier)),
          0, 'each history row records a change');
SELECT is((SELECT count(*)::int FROM sanse.resident r
            WHERE r.name LIKE 'inv%'
              AND (r.computed_tier, r.tier_override, r.tier) IS DISTINCT FROM
                  (SELECT (h.new_computed_tier, h.new_override, h.new_tier) FROM hist h
                    WHERE h.resident_id = r.id AND h.from_last = 1)
              AND NOT (r.computed_tier IS NULL AND r.tier_override IS NULL AND r.tier IS NULL
                       AND NOT EXISTS (SELECT 1 FROM hist h WHERE h.resident_id = r.id))),
          0, 'each resident''s last history row is its current state (no history only for one never tiered)');
SELECT ok((SELECT count(*) FROM hist) > 300, 'the random mix left a substantial history');

-----------------------------------------------------------------------------
-- A second mix with a fixed seed over 300 more residents (names r<n>,
-- 'late <k>'), with other odds and rule deletes; afterwards every resident
-- of the file keeps the invariants.
-----------------------------------------------------------------------------
SELECT setseed(0.31);
INSERT INTO resident (area_id, name, factors, registered_at, last_visit_at)
SELECT (SELECT id FROM area WHERE kind = 'micro_grid' ORDER BY random() LIMIT 1), 'r' || i, pg_temp.rand_factors(0.25),
       t, CASE WHEN random() < 0.6 THEN t + random() * interval '40 days' END
  FROM generate_series(1, 300) i, LATERAL (SELECT timestamptz '2024-01-01 00:00+08' + random() * interval '300 days' AS t) x;

DO $$
DECLARE
	k int;
	pick bigint;
	roll float8;
BEGIN
	FOR k IN 1 .. 400 LOOP
		pick := (SELECT id FROM sanse.resident ORDER BY random() LIMIT 1);
		roll := random();
		IF roll < 0.25 THEN
			UPDATE sanse.resident SET factors = pg_temp.rand_factors(0.25) WHERE id = pick;
		ELSIF roll < 0.40 THEN
			UPDATE sanse.resident SET tier_override = (ARRAY['red', 'yellow', 'blue'])[1 + floor(random() * 3)::int]::sanse.risk_tier,
			                          override_reason = 'case review ' || k WHERE id = pick;
		ELSIF roll < 0.50 THEN
			UPDATE sanse.resident SET tier_override = NULL WHERE id = pick;
		ELSIF roll < 0.58 THEN
			UPDATE sanse.resident SET active = NOT active WHERE id = pick;
		ELSIF roll < 0.75 THEN
			UPDATE sanse.resident SET last_visit_at = greatest(coalesce(last_visit_at, registered_at), registered_at)
			                                          + random() * interval '20 days' WHERE id = pick;
		ELSIF roll < 0.80 THEN
			INSERT INTO sanse.resident (area_id, name, factors, registered_at)
			SELECT id, 'late ' || k, pg_temp.rand_factors(0.25), timestamptz '2024-06-01' + random() * interval '90 days'
			  FROM sanse.area WHERE kind = 'micro_grid' LIMIT 1;
		ELSIF roll < 0.85 THEN
			INSERT INTO sanse.classification_rule (tier, all_of, note)
			SELECT (ARRAY['red', 'yellow', 'blue'])[1 + floor(random() * 3)::int]::sanse.risk_tier,
			       (SELECT array_agg(f) FROM (SELECT f FROM unnest(sanse.factor_names()) f ORDER BY random() LIMIT 2) s),
			       'random rule ' || k;
		ELSIF roll < 0.90 THEN
			UPDATE sanse.classification_rule SET enabled = NOT enabled
			 WHERE id = (SELECT id FROM sanse.classification_rule ORDER BY random() LIMIT 1);
		ELSIF roll < 0.95 THEN
			UPDATE sanse.tier_policy
			   SET cadence = (ARRAY['rolling 2 days', 'rolling 36 hours', 'calendar day', 'calendar week',
			                        'calendar month', 'rolling 10 days'])[1 + floor(random() * 6)::int]
			 WHERE tier = (ARRAY['red', 'yellow', 'blue'])[1 + floor(random() * 3)::int]::sanse.risk_tier;
		ELSE
			DELETE FROM sanse.classification_rule
			 WHERE id = (SELECT id FROM sanse.classification_rule WHERE NOT builtin ORDER BY random() LIMIT 1);
		END IF;
	END LOOP;
END
$$;

SELECT ok((SELECT count(*) FROM resident WHERE name ~ '^r\d+$' OR name LIKE 'late %') >= 300, 'the second mix ran over at least 300 residents');
SELECT is((SELECT count(*) FROM resident
            WHERE active AND tier IS NOT NULL
              AND next_visit IS DISTINCT FROM window_after(tier, coalesce(last_visit_at, registered_at))),
          0::bigint, 'window invariant: next_visit = window_after(tier, coalesce(last_visit_at, registered_at))');
SELECT is((SELECT count(*) FROM resident WHERE computed_tier IS DISTINCT FROM classify(factors)),
          0::bigint, 'computed_tier = classify(factors) under the current rules');
SELECT is((SELECT count(*) FROM resident WHERE tier IS DISTINCT FROM coalesce(tier_override, computed_tier)),
          0::bigint, 'tier = coalesce(tier_override, computed_tier)');
SELECT is((SELECT count(*) FROM resident WHERE (NOT active OR tier IS NULL) AND next_visit IS NOT NULL),
          0::bigint, 'inactive or untiered residents have no window');
SELECT is((SELECT count(*) FROM resident WHERE tier_override IS NOT NULL
             AND (coalesce(btrim(override_reason), '') = '' OR override_by IS NULL OR override_at IS NULL)),
          0::bigint, 'every override has a reason, who and when');

SELECT * FROM finish();
ROLLBACK;
