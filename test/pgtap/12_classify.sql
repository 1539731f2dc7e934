-- pgTAP: classification by the default rules, table-driven; rules are data.
BEGIN;
SET LOCAL search_path = public, sanse;
SELECT plan(46);

SELECT has_function('sanse', 'classify', ARRAY['text[]'], 'classify(factors)');
SELECT has_function('sanse', 'classify_explain', ARRAY['text[]'], 'classify_explain(factors)');
SELECT volatility_is('sanse', 'classify', ARRAY['text[]'], 'stable', 'classify reads the rule table: STABLE');

-- Expected tiers written from spec 4's default rules:
-- red <= {sudden_illness, no_caregiver}; red <= {accident_risk};
-- yellow <= {partial_care, unstable_chronic}; yellow <= {partial_care, mobility_impaired};
-- blue <= {self_care_difficulty}; blue <= {unstable_chronic}; blue <= {mobility_impaired}.
SELECT is(classify(f)::text, want, format('%s -> %s', f, coalesce(want, 'none')))
  FROM (VALUES
    ('{sudden_illness,no_caregiver}'::text[], 'red'),
    ('{accident_risk}', 'red'),
    ('{partial_care,unstable_chronic}', 'yellow'),
    ('{partial_care,mobility_impaired}', 'yellow'),
    ('{self_care_difficulty}', 'blue'),
    ('{unstable_chronic}', 'blue'),
    ('{mobility_impaired}', 'blue'),
    -- near misses
    ('{sudden_illness}', NULL),
    ('{no_caregiver}', NULL),
    ('{partial_care}', NULL),
    ('{}', NULL),
    ('{lives_alone}', NULL),
    ('{disabled}', NULL),
    ('{mental_disorder}', NULL),
    ('{recently_discharged}', NULL),
    ('{lives_alone,disabled,mental_disorder,recently_discharged}', NULL),
    -- supersets and the most severe match
    ('{sudden_illness,no_caregiver,lives_alone}', 'red'),
    ('{accident_risk,unstable_chronic}', 'red'),
    ('{partial_care,unstable_chronic,sudden_illness}', 'yellow'),
    ('{unstable_chronic,mobility_impaired}', 'blue'),
    ('{partial_care,unstable_chronic,accident_risk}', 'red'),
    ('{self_care_difficulty,partial_care,mobility_impaired,disabled}', 'yellow'),
    -- order and duplicates do not matter
    ('{no_caregiver,sudden_illness}', 'red'),
    ('{unstable_chronic,unstable_chronic}', 'blue'),
    ('{mobility_impaired,partial_care,partial_care}', 'yellow')
  ) v(f, want);

-- Every one of the 2^11 factor subsets agrees with the rule table read in SQL.
SELECT is((SELECT count(*) FROM (
             SELECT array(SELECT n FROM unnest(factor_names()) WITH ORDINALITY x(n, i)
                           WHERE (b >> (i::int - 1)) & 1 = 1) AS f
               FROM generate_series(0, 2047) b) s
            WHERE classify(s.f) IS DISTINCT FROM
                  (SELECT max(r.tier) FROM classification_rule r WHERE r.enabled AND r.all_of <@ s.f)),
          0::bigint, 'classify agrees with the rule table on all 2048 factor subsets');

SELECT throws_ok($$SELECT sanse.classify('{accident_risk,flying}')$$, '22023', 'unknown risk factor "flying"',
                 'an unknown factor is 22023, named');
SELECT throws_ok($$SELECT sanse.classify(ARRAY['accident_risk', NULL])$$, '22004', NULL, 'a NULL factor is 22004');
SELECT is(classify(NULL), NULL, 'NULL factors give NULL');

SELECT results_eq($$SELECT tier::text, all_of, decisive FROM sanse.classify_explain('{accident_risk,partial_care,unstable_chronic}')$$,
                  $$VALUES ('red', '{accident_risk}'::text[], true), ('yellow', '{partial_care,unstable_chronic}', false),
                           ('blue', '{unstable_chronic}', false)$$,
                  'classify_explain lists the matching rules, the most severe decisive');

-- rules are data, and editing them re-classifies the residents they affect
INSERT INTO area (path, kind, name) VALUES ('c', 'district', 'C'), ('c.t', 'town', 'T'), ('c.t.v', 'village', 'V'),
  ('c.t.v.tg', 'total_grid', 'TG'), ('c.t.v.tg.g', 'general_grid', 'G'), ('c.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO resident (area_id, name, factors)
SELECT id, n, f FROM area, (VALUES ('alone', '{lives_alone}'::text[]), ('alone_disabled', '{lives_alone,disabled}'),
                                   ('mobility', '{mobility_impaired}')) v(n, f)
 WHERE kind = 'micro_grid';
INSERT INTO classification_rule (tier, all_of, note) VALUES ('yellow', '{lives_alone,disabled}', 'local rule');
SELECT is(classify('{lives_alone,disabled}')::text, 'yellow', 'a new rule changes classify without code');
SELECT results_eq($$SELECT name, tier::text FROM sanse.resident ORDER BY name$$,
                  $$VALUES ('alone', NULL), ('alone_disabled', 'yellow'), ('mobility', 'blue')$$,
                  'a new rule re-classifies exactly the residents it matches');
SELECT is((SELECT count(*) FROM tier_history h JOIN resident r ON r.id = h.resident_id
            WHERE r.name = 'alone_disabled' AND h.old_computed_tier IS NULL AND h.new_computed_tier = 'yellow'),
          1::bigint, 'the re-classification is in the history');
UPDATE classification_rule SET enabled = false WHERE builtin AND all_of = '{mobility_impaired}';
SELECT is((SELECT tier FROM resident WHERE name = 'mobility'), NULL, 'switching a built-in rule off re-classifies');
SELECT is((SELECT next_visit FROM resident WHERE name = 'mobility'), NULL, 'and a resident left without a tier has no window');
UPDATE classification_rule SET enabled = true WHERE builtin AND all_of = '{mobility_impaired}';
SELECT is((SELECT tier::text FROM resident WHERE name = 'mobility'), 'blue', 'switching it back on re-classifies again');
DELETE FROM classification_rule WHERE note = 'local rule';
SELECT is((SELECT tier FROM resident WHERE name = 'alone_disabled'), NULL, 'deleting a rule re-classifies');

SELECT throws_ok($$DELETE FROM sanse.classification_rule WHERE builtin AND all_of = '{accident_risk}'$$, '23001', NULL,
                 'built-in rules cannot be deleted');
SELECT throws_ok($$UPDATE sanse.classification_rule SET all_of = '{accident_risk,lives_alone}' WHERE builtin AND all_of = '{accident_risk}'$$,
                 '23001', NULL, 'built-in rules cannot be edited');
SELECT throws_ok($$INSERT INTO sanse.classification_rule (tier, all_of, builtin) VALUES ('red', '{disabled}', true)$$,
                 '42501', NULL, 'nobody inserts a new built-in rule');
SELECT throws_ok($$INSERT INTO sanse.classification_rule (tier, all_of) VALUES ('red', '{wings}')$$,
                 '22023', 'unknown risk factor "wings"', 'a rule with an unknown factor is refused');
SELECT throws_ok($$INSERT INTO sanse.classification_rule (tier, all_of) VALUES ('red', '{}')$$,
                 '23514', NULL, 'a rule needs at least one factor');
SELECT throws_ok($$INSERT INTO sanse.resident (area_id, name, factors) SELECT id, 'x', '{bogus}' FROM sanse.area WHERE kind = 'micro_grid'$$,
                 '22023', 'unknown risk factor "bogus"', 'a resident with an unknown factor is refused');

SELECT * FROM finish();
ROLLBACK;
