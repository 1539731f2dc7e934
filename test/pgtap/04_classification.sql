-- pgTAP: risk classification (spec 4; issue 3).  The expected tiers below are
-- written by hand from the spec's default rules:
--   red    <= {sudden_illness, no_caregiver}      red    <= {accident_risk}
--   yellow <= {partial_care, unstable_chronic}    yellow <= {partial_care, mobility_impaired}
--   blue   <= {self_care_difficulty}  blue <= {unstable_chronic}  blue <= {mobility_impaired}
-- The most severe matching rule wins; no match gives NULL.
BEGIN;
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(135);

SELECT has_function('sanse', 'classify', ARRAY['text[]'], 'sanse.classify(text[]) exists');
SELECT function_returns('sanse', 'classify', ARRAY['text[]'], 'risk_tier', 'classify returns risk_tier');
SELECT has_function('sanse', 'classify_explain', ARRAY['text[]'], 'sanse.classify_explain(text[]) exists');
SELECT has_function('sanse', 'factor_names', 'sanse.factor_names() exists');
SELECT has_table('sanse', 'classification_rule', 'table sanse.classification_rule exists');
SELECT volatility_is('sanse', 'classify', ARRAY['text[]'], 'stable', 'classify reads the rule table: STABLE');

SELECT is(sanse.factor_names(),
          ARRAY['sudden_illness', 'no_caregiver', 'accident_risk', 'partial_care', 'unstable_chronic',
                'mobility_impaired', 'self_care_difficulty', 'lives_alone', 'disabled', 'mental_disorder',
                'recently_discharged'],
          'factor_names() gives the eleven pinned factors');

-- the default rules, exactly
SELECT bag_eq($$SELECT tier::text, array(SELECT f FROM unnest(all_of) f ORDER BY f)
                 FROM sanse.classification_rule WHERE builtin AND enabled$$,
              $$VALUES ('red', ARRAY['no_caregiver', 'sudden_illness']),
                       ('red', ARRAY['accident_risk']),
                       ('yellow', ARRAY['partial_care', 'unstable_chronic']),
                       ('yellow', ARRAY['mobility_impaired', 'partial_care']),
                       ('blue', ARRAY['self_care_difficulty']),
                       ('blue', ARRAY['unstable_chronic']),
                       ('blue', ARRAY['mobility_impaired'])$$,
              'the seven default rules are built in and enabled');
SELECT is((SELECT count(*)::int FROM sanse.classification_rule), 7, 'and there are no other rules');

---------------------------------------------------------------------------
-- Table-driven: factor combinations that matter, expected tier by hand
---------------------------------------------------------------------------
SELECT is(sanse.classify(f), t::sanse.risk_tier, format('classify(%s) = %s', f, coalesce(t, 'NULL')))
  FROM (VALUES
	-- each rule exactly
	('{sudden_illness,no_caregiver}'::text[], 'red'),
	('{accident_risk}', 'red'),
	('{partial_care,unstable_chronic}', 'yellow'),
	('{partial_care,mobility_impaired}', 'yellow'),
	('{self_care_difficulty}', 'blue'),
	('{unstable_chronic}', 'blue'),
	('{mobility_impaired}', 'blue'),
	-- order does not matter
	('{no_caregiver,sudden_illness}', 'red'),
	('{unstable_chronic,partial_care}', 'yellow'),
	('{mobility_impaired,partial_care}', 'yellow'),
	-- supersets keep the tier
	('{sudden_illness,no_caregiver,lives_alone}', 'red'),
	('{accident_risk,disabled,mental_disorder}', 'red'),
	('{partial_care,unstable_chronic,recently_discharged}', 'yellow'),
	('{partial_care,mobility_impaired,lives_alone,disabled}', 'yellow'),
	('{self_care_difficulty,lives_alone}', 'blue'),
	('{unstable_chronic,mental_disorder,recently_discharged}', 'blue'),
	('{mobility_impaired,disabled}', 'blue'),
	-- near misses: half of a two-factor rule is nothing
	('{sudden_illness}', NULL),
	('{no_caregiver}', NULL),
	('{partial_care}', NULL),
	('{}', NULL),
	('{sudden_illness,partial_care}', NULL),
	('{no_caregiver,partial_care,lives_alone}', NULL),
	('{sudden_illness,lives_alone,disabled,mental_disorder,recently_discharged,partial_care}', NULL),
	-- half of a red rule plus a blue factor is blue
	('{sudden_illness,mobility_impaired}', 'blue'),
	('{no_caregiver,unstable_chronic}', 'blue'),
	('{no_caregiver,self_care_difficulty}', 'blue'),
	-- a yellow rule without partial_care falls back to its blue parts
	('{unstable_chronic,mobility_impaired}', 'blue'),
	('{partial_care,self_care_difficulty}', 'blue'),
	-- factors no rule uses, alone or together
	('{lives_alone}', NULL),
	('{disabled}', NULL),
	('{mental_disorder}', NULL),
	('{recently_discharged}', NULL),
	('{lives_alone,disabled,mental_disorder,recently_discharged}', NULL),
	-- the most severe match wins
	('{accident_risk,self_care_difficulty}', 'red'),
	('{accident_risk,partial_care,unstable_chronic}', 'red'),
	('{sudden_illness,no_caregiver,partial_care,mobility_impaired}', 'red'),
	('{partial_care,mobility_impaired,self_care_difficulty}', 'yellow'),
	('{partial_care,unstable_chronic,mobility_impaired}', 'yellow'),
	('{partial_care,unstable_chronic,mobility_impaired,self_care_difficulty,sudden_illness}', 'yellow'),
	('{sudden_illness,no_caregiver,accident_risk,partial_care,unstable_chronic,mobility_impaired,self_care_difficulty,lives_alone,disabled,mental_disorder,recently_discharged}', 'red'),
	-- duplicates in the array
	('{accident_risk,accident_risk}', 'red'),
	('{sudden_illness,sudden_illness}', NULL),
	('{partial_care,partial_care}', NULL),
	('{partial_care,partial_care,unstable_chronic,unstable_chronic}', 'yellow'),
	('{mobility_impaired,mobility_impaired,lives_alone}', 'blue'),
	-- more supersets, orders and duplicates
	('{accident_risk,unstable_chronic}', 'red'),
	('{partial_care,unstable_chronic,sudden_illness}', 'yellow'),
	('{partial_care,unstable_chronic,accident_risk}', 'red'),
	('{self_care_difficulty,partial_care,mobility_impaired,disabled}', 'yellow'),
	('{unstable_chronic,unstable_chronic}', 'blue'),
	('{mobility_impaired,partial_care,partial_care}', 'yellow')
  ) v(f, t);

SELECT is(sanse.classify(NULL), NULL, 'classify(NULL) is NULL');
SELECT is(sanse.classify('{}'::text[]), NULL, 'classify of no factors is NULL');

---------------------------------------------------------------------------
-- Every one of the 2^11 subsets
---------------------------------------------------------------------------
CREATE TEMP TABLE subset ON COMMIT DROP AS
SELECT m, array(SELECT n[i] FROM generate_subscripts(n, 1) i WHERE m & (1 << (i - 1)) <> 0) AS s
  FROM generate_series(0, 2047) m, sanse.factor_names() n;

SELECT is((SELECT count(DISTINCT s)::int FROM subset), 2048, '2048 distinct factor subsets');
-- the spec's rules as a predicate, independent of the rule table
SELECT is((SELECT count(*)::int FROM subset
            WHERE sanse.classify(s) IS DISTINCT FROM
                  CASE WHEN s @> '{sudden_illness,no_caregiver}' OR s @> '{accident_risk}' THEN 'red'
                       WHEN s @> '{partial_care,unstable_chronic}' OR s @> '{partial_care,mobility_impaired}' THEN 'yellow'
                       WHEN s @> '{self_care_difficulty}' OR s @> '{unstable_chronic}' OR s @> '{mobility_impaired}' THEN 'blue'
                  END::sanse.risk_tier),
          0, 'classify agrees with the spec''s rules on all 2048 subsets');
-- counted by hand: red = 2048 - 3*256 = 1280 (accident_risk, or both sudden_illness
-- and no_caregiver); of the 3 * 2^8 others, yellow = 3 * 96 = 288, blue = 3 * 128 = 384,
-- none = 3 * 32 = 96
SELECT results_eq($$SELECT coalesce(sanse.classify(s)::text, 'none'), count(*)::int FROM subset GROUP BY 1 ORDER BY 1$$,
                  $$VALUES ('blue', 384), ('none', 96), ('red', 1280), ('yellow', 288)$$,
                  'tiers over all subsets: 1280 red, 288 yellow, 384 blue, 96 none');
-- the rule table as SQL
SELECT is((SELECT count(*)::int FROM subset
            WHERE sanse.classify(s) IS DISTINCT FROM
                  (SELECT max(r.tier) FROM sanse.classification_rule r WHERE r.enabled AND r.all_of <@ s)),
          0, 'classify = max(tier) of the enabled rules contained in the subset, for all 2048 subsets');
-- the explanation agrees: the decisive rules carry classify's tier, the others a lower one
SELECT is((SELECT count(*)::int FROM subset
            WHERE (SELECT max(e.tier) FROM sanse.classify_explain(s) e WHERE e.decisive) IS DISTINCT FROM sanse.classify(s)
               OR (SELECT min(e.tier) FROM sanse.classify_explain(s) e WHERE e.decisive) IS DISTINCT FROM sanse.classify(s)
               OR EXISTS (SELECT 1 FROM sanse.classify_explain(s) e WHERE NOT e.decisive AND e.tier >= sanse.classify(s))
               OR (SELECT count(*) FROM sanse.classify_explain(s))
                  <> (SELECT count(*) FROM sanse.classification_rule r WHERE r.enabled AND r.all_of <@ s)),
          0, 'classify_explain lists exactly the matching rules and marks the decisive ones, for all 2048 subsets');

---------------------------------------------------------------------------
-- Bad input
---------------------------------------------------------------------------
SELECT throws_ok($$SELECT sanse.classify('{xyz}')$$, '22023', 'unknown risk factor "xyz"',
	'an unknown factor is 22023 and the message names it');
SELECT throws_ok($$SELECT sanse.classify('{accident_risk,xyz}')$$, '22023', 'unknown risk factor "xyz"',
	'an unknown factor after a known one is 22023 naming it');
SELECT throws_ok($$SELECT sanse.classify('{lives_alone,no_such_thing}')$$, '22023', 'unknown risk factor "no_such_thing"',
	'the message names whichever factor is unknown');
SELECT throws_ok($$SELECT sanse.classify(ARRAY['accident_risk', NULL])$$, '22004', NULL,
	'a NULL factor is 22004');
SELECT throws_ok($$SELECT * FROM sanse.classify_explain('{xyz}')$$, '22023', 'unknown risk factor "xyz"',
	'classify_explain of an unknown factor is 22023 too');

---------------------------------------------------------------------------
-- classify_explain
---------------------------------------------------------------------------
SELECT results_eq(
	$$SELECT tier::text, array(SELECT f FROM unnest(all_of) f ORDER BY f), decisive
	    FROM sanse.classify_explain('{partial_care,unstable_chronic,mobility_impaired,self_care_difficulty}')
	   ORDER BY tier DESC, 2$$,
	$$VALUES ('yellow', ARRAY['mobility_impaired', 'partial_care'], true),
	         ('yellow', ARRAY['partial_care', 'unstable_chronic'], true),
	         ('blue', ARRAY['mobility_impaired'], false),
	         ('blue', ARRAY['self_care_difficulty'], false),
	         ('blue', ARRAY['unstable_chronic'], false)$$,
	'classify_explain lists both yellow rules (decisive) and the three blue ones (not decisive)');
SELECT results_eq(
	$$SELECT tier::text, all_of, decisive FROM sanse.classify_explain('{accident_risk,lives_alone}')$$,
	$$VALUES ('red', ARRAY['accident_risk'], true)$$,
	'classify_explain of accident risk is the one red rule, decisive');
SELECT results_eq($$SELECT tier::text, all_of, decisive FROM sanse.classify_explain('{accident_risk,partial_care,unstable_chronic}')$$,
                  $$VALUES ('red', '{accident_risk}'::text[], true), ('yellow', '{partial_care,unstable_chronic}', false),
                           ('blue', '{unstable_chronic}', false)$$,
                  'classify_explain lists the matching rules, the most severe first and decisive');
SELECT is_empty($$SELECT * FROM sanse.classify_explain('{lives_alone,sudden_illness}')$$,
	'classify_explain of a near miss is empty');
SELECT ok((SELECT bool_and(e.rule_id = r.id AND e.note IS NOT DISTINCT FROM r.note)
             FROM sanse.classify_explain('{accident_risk}') e JOIN sanse.classification_rule r ON r.all_of = '{accident_risk}'),
	'classify_explain gives the rule''s id and note');

---------------------------------------------------------------------------
-- Rules are data: new, disabled and edited rules re-classify residents
---------------------------------------------------------------------------
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
SELECT a.id, v.name, v.factors, '2024-03-01 09:00+08'
  FROM sanse.area a,
       (VALUES ('c_alone_disabled', '{lives_alone,disabled}'::text[]),
               ('c_alone', '{lives_alone}'),
               ('c_chronic', '{unstable_chronic}'),
               ('c_mobility', '{mobility_impaired}'),
               ('c_partial_mobility', '{partial_care,mobility_impaired}'),
               ('c_overridden', '{lives_alone,disabled,mental_disorder}')) v(name, factors)
 WHERE a.path = 'd.t.v.tg.g.m1';
UPDATE sanse.resident SET tier_override = 'blue', override_reason = 'family nearby' WHERE name = 'c_overridden';
CREATE FUNCTION pg_temp.tiers(n text) RETURNS text LANGUAGE sql
RETURN (SELECT concat_ws('/', coalesce(computed_tier::text, '-'), coalesce(tier::text, '-'),
                         coalesce(sanse.due_at(next_visit)::text, '-'))
          FROM sanse.resident WHERE name = n);
SET LOCAL TimeZone = 'Asia/Shanghai';
SET LOCAL sanse.timezone = 'Asia/Shanghai';

-- before: lives_alone + disabled is not in the programme
SELECT is(pg_temp.tiers('c_alone_disabled'), '-/-/-', 'lives alone and disabled: no tier, no window');
SELECT is(pg_temp.tiers('c_chronic'), 'blue/blue/2024-05-01 00:00:00+08', 'unstable chronic: blue, due at the end of April');

-- a custom rule
CREATE TEMP TABLE h0 ON COMMIT DROP AS SELECT name, pg_temp.history_rows(name) AS n FROM sanse.resident r WHERE r.name LIKE 'c\_%';
SELECT lives_ok($$INSERT INTO sanse.classification_rule (tier, all_of, note) VALUES ('yellow', '{lives_alone,disabled}', 'local rule')$$,
	'a custom rule (builtin defaults to false) is inserted');
SELECT is((SELECT builtin FROM sanse.classification_rule WHERE note = 'local rule'), false, 'the custom rule is not built in');
SELECT is(sanse.classify('{lives_alone,disabled}'), 'yellow', 'the new rule changes classify at once');
SELECT is(sanse.classify('{disabled,lives_alone,accident_risk}'), 'red', 'a more severe rule still wins over it');
SELECT is(sanse.classify('{lives_alone}'), NULL, 'half of the new rule is still nothing');
-- calendar week after Fri 2024-03-01 09:00+08 is Mon 03-04 .. Mon 03-11
SELECT is(pg_temp.tiers('c_alone_disabled'), 'yellow/yellow/2024-03-11 00:00:00+08',
	'the existing resident is re-classified yellow with a weekly window');
SELECT is(pg_temp.tiers('c_overridden'), 'yellow/blue/2024-05-01 00:00:00+08',
	'an overridden resident gets the new computed tier and keeps its override');
SELECT is(pg_temp.tiers('c_alone'), '-/-/-', 'a resident with half the rule is not touched');
SELECT results_eq($$SELECT name, tier::text FROM sanse.resident WHERE name IN ('c_alone', 'c_alone_disabled', 'c_mobility') ORDER BY name$$,
                  $$VALUES ('c_alone', NULL), ('c_alone_disabled', 'yellow'), ('c_mobility', 'blue')$$,
                  'a new rule re-classifies exactly the residents it matches');
SELECT results_eq(
	$$SELECT old_computed_tier::text, new_computed_tier::text, old_tier::text, new_tier::text, changed_by::text
	    FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id
	   WHERE r.name = 'c_alone_disabled' ORDER BY h.id DESC LIMIT 1$$,
	$$VALUES (NULL::text, 'yellow'::text, NULL::text, 'yellow'::text, current_user::text)$$,
	'the re-classification is in tier_history (NULL -> yellow, by current_user)');
SELECT results_eq(
	$$SELECT old_computed_tier::text, new_computed_tier::text, old_tier::text, new_tier::text, old_override::text, new_override::text
	    FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id
	   WHERE r.name = 'c_overridden' ORDER BY h.id DESC LIMIT 1$$,
	$$VALUES (NULL::text, 'yellow'::text, 'blue'::text, 'blue'::text, 'blue'::text, 'blue'::text)$$,
	'the overridden resident''s new computed tier is in tier_history');
SELECT is((SELECT count(*)::int FROM h0 WHERE pg_temp.history_rows(name) <> n), 2,
	'only the two residents the rule affects got a history row');

-- disabling a built-in rule
SELECT lives_ok($$UPDATE sanse.classification_rule SET enabled = false WHERE builtin AND all_of = '{unstable_chronic}'$$,
	'a built-in rule can be switched off');
SELECT is(sanse.classify('{unstable_chronic}'), NULL, 'unstable chronic alone is no longer blue');
SELECT is(sanse.classify('{partial_care,unstable_chronic}'), 'yellow', 'the yellow rule with it still applies');
SELECT is(pg_temp.tiers('c_chronic'), '-/-/-', 'the unstable-chronic resident leaves the programme (no tier, no window)');
SELECT results_eq(
	$$SELECT old_computed_tier::text, new_computed_tier::text, old_tier::text, new_tier::text
	    FROM sanse.tier_history h JOIN sanse.resident r ON r.id = h.resident_id
	   WHERE r.name = 'c_chronic' ORDER BY h.id DESC LIMIT 1$$,
	$$VALUES ('blue'::text, NULL::text, 'blue'::text, NULL::text)$$,
	'that change is in tier_history (blue -> NULL)');
SELECT is(pg_temp.tiers('c_mobility'), 'blue/blue/2024-05-01 00:00:00+08', 'other blue residents are untouched');
SELECT lives_ok($$UPDATE sanse.classification_rule SET enabled = true WHERE builtin AND all_of = '{unstable_chronic}'$$,
	'the built-in rule can be switched on again');
SELECT is(pg_temp.tiers('c_chronic'), 'blue/blue/2024-05-01 00:00:00+08', 'and the resident is blue again');
UPDATE sanse.classification_rule SET enabled = false WHERE builtin AND all_of = '{mobility_impaired}';
SELECT is((SELECT tier FROM sanse.resident WHERE name = 'c_mobility'), NULL, 'switching the mobility rule off re-classifies');
SELECT is((SELECT next_visit FROM sanse.resident WHERE name = 'c_mobility'), NULL, 'and a resident left without a tier has no window');
UPDATE sanse.classification_rule SET enabled = true WHERE builtin AND all_of = '{mobility_impaired}';
SELECT is((SELECT tier::text FROM sanse.resident WHERE name = 'c_mobility'), 'blue', 'switching it back on re-classifies again');

-- editing and deleting a custom rule
SELECT lives_ok($$UPDATE sanse.classification_rule SET tier = 'red' WHERE note = 'local rule'$$, 'a custom rule''s tier can be edited');
SELECT is(pg_temp.tiers('c_alone_disabled'), 'red/red/2024-03-03 09:00:00+08', 'its resident becomes red (rolling 2 days)');
SELECT lives_ok($$UPDATE sanse.classification_rule SET all_of = '{lives_alone}' WHERE note = 'local rule'$$, 'a custom rule''s factors can be edited');
SELECT is(sanse.classify('{lives_alone}'), 'red', 'lives alone is red under the edited rule');
SELECT is(pg_temp.tiers('c_alone'), 'red/red/2024-03-03 09:00:00+08', 'a resident matching only the new factors is re-classified');
SELECT is(pg_temp.tiers('c_alone_disabled'), 'red/red/2024-03-03 09:00:00+08', 'a resident matching old and new factors stays red');
SELECT lives_ok($$DELETE FROM sanse.classification_rule WHERE note = 'local rule'$$, 'a custom rule can be deleted');
SELECT is(pg_temp.tiers('c_alone'), '-/-/-', 'after the delete lives alone is out of the programme again');
SELECT is(pg_temp.tiers('c_overridden'), '-/blue/2024-05-01 00:00:00+08', 'the overridden resident keeps its override, computed NULL');
SELECT is(pg_temp.tiers('c_partial_mobility'), 'yellow/yellow/2024-03-11 00:00:00+08', 'an unrelated yellow resident never moved');

-- a rule inserted in a rolled-back subtransaction stops applying
CREATE TEMP TABLE seen (t text) ON COMMIT DROP;
DO $$
DECLARE
	inside sanse.risk_tier;
BEGIN
	BEGIN
		INSERT INTO sanse.classification_rule (tier, all_of) VALUES ('red', '{recently_discharged}');
		inside := sanse.classify('{recently_discharged}');
		RAISE EXCEPTION 'undo';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
	INSERT INTO seen VALUES (inside::text);
END
$$;
SELECT is((SELECT t FROM seen), 'red', 'inside a subtransaction a new rule applies at once');
SELECT is(sanse.classify('{recently_discharged}'), NULL, 'after that subtransaction rolls back the rule no longer applies');

-- a new rule that is less severe than an existing match changes nothing
INSERT INTO sanse.classification_rule (tier, all_of) VALUES ('blue', '{accident_risk}');
SELECT is(sanse.classify('{accident_risk}'), 'red', 'a blue rule on accident risk does not lower red');

-- with a custom rule and a disabled built-in rule, the rule table still drives classify
INSERT INTO sanse.classification_rule (tier, all_of) VALUES ('yellow', '{mental_disorder,recently_discharged}');
UPDATE sanse.classification_rule SET enabled = false WHERE builtin AND all_of = '{accident_risk}';
SELECT is((SELECT count(*)::int FROM subset
            WHERE sanse.classify(s) IS DISTINCT FROM
                  (SELECT max(r.tier) FROM sanse.classification_rule r WHERE r.enabled AND r.all_of <@ s)),
          0, 'after rule edits classify still = max(tier) of the enabled rules contained in each of the 2048 subsets');
SELECT is(sanse.classify('{accident_risk}'), 'blue', 'with the red accident rule off, the custom blue one decides');
SELECT is(sanse.classify('{mental_disorder,recently_discharged}'), 'yellow', 'the second custom rule applies');
SELECT is((SELECT count(*)::int FROM sanse.resident WHERE computed_tier IS DISTINCT FROM sanse.classify(factors)), 0,
	'every resident''s computed tier agrees with classify after all the rule edits');

---------------------------------------------------------------------------
-- Built-in rules are protected; bad rules are refused
---------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('deleting a built-in rule is refused (23001)', $$DELETE FROM sanse.classification_rule WHERE builtin AND all_of = '{mobility_impaired}'$$, '23001'),
    ('editing a built-in rule''s factors is refused (23001)', $$UPDATE sanse.classification_rule SET all_of = '{mobility_impaired,lives_alone}' WHERE builtin AND all_of = '{mobility_impaired}'$$, '23001'),
    ('editing a built-in rule''s tier is refused (23001)', $$UPDATE sanse.classification_rule SET tier = 'yellow' WHERE builtin AND all_of = '{mobility_impaired}'$$, '23001'),
    ('un-building-in a built-in rule is refused (23001)', $$UPDATE sanse.classification_rule SET builtin = false WHERE builtin AND all_of = '{mobility_impaired}'$$, '23001'),
    ('inserting a built-in rule that does not exist is refused (42501)', $$INSERT INTO sanse.classification_rule (tier, all_of, builtin) VALUES ('red', '{lives_alone}', true)$$, '42501'),
    ('a custom rule cannot become built-in (42501)', $$UPDATE sanse.classification_rule SET builtin = true WHERE all_of = '{mental_disorder,recently_discharged}'$$, '42501')
  ) t(description, stmt, expected);
SELECT throws_ok($$INSERT INTO sanse.classification_rule (tier, all_of) VALUES ('red', '{lives_alone,xyz}')$$,
	'22023', 'unknown risk factor "xyz"', 'a rule with an unknown factor is refused (22023, naming it)');
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('a rule with no factors is refused (23514)', $$INSERT INTO sanse.classification_rule (tier, all_of) VALUES ('red', '{}')$$, '23514'),
    ('a rule with a NULL factor is refused (22004)', $$INSERT INTO sanse.classification_rule (tier, all_of) VALUES ('red', ARRAY['lives_alone', NULL])$$, '22004'),
    ('a rule without a tier is refused (23502)', $$INSERT INTO sanse.classification_rule (tier, all_of) VALUES (NULL, '{lives_alone}')$$, '23502')
  ) t(description, stmt, expected);
SELECT throws_ok($$UPDATE sanse.classification_rule SET all_of = '{xyz}' WHERE all_of = '{mental_disorder,recently_discharged}'$$,
	'22023', 'unknown risk factor "xyz"', 'editing a custom rule to an unknown factor is refused (22023)');
SELECT is((SELECT count(*)::int FROM sanse.classification_rule WHERE builtin), 7, 'still seven built-in rules');
SELECT is(sanse.classify('{mobility_impaired}'), 'blue', 'the protected rule still classifies');

-- a resident's unknown factor is refused by the trigger too
SELECT throws_ok($$INSERT INTO sanse.resident (area_id, name, factors) SELECT id, 'bad', '{xyz}' FROM sanse.area WHERE path = 'd.t.v.tg.g.m1'$$,
	'22023', 'unknown risk factor "xyz"', 'a resident with an unknown factor is refused (22023, naming it)');
SELECT throws_ok($$UPDATE sanse.resident SET factors = ARRAY['lives_alone', NULL] WHERE name = 'c_alone'$$,
	'22004', NULL, 'a resident with a NULL factor is refused (22004)');

SELECT * FROM finish();
ROLLBACK;
