-- pgTAP: after a random mix of inserts, factor changes, overrides, activity
-- changes, visits, rule edits and policy changes, every resident keeps the
-- invariants of spec 3 and 4.
BEGIN;
SET LOCAL search_path = public, sanse;
SELECT plan(6);

INSERT INTO area (path, kind, name) VALUES ('i', 'district', 'I'), ('i.t', 'town', 'T'), ('i.t.v', 'village', 'V'),
  ('i.t.v.tg', 'total_grid', 'TG'), ('i.t.v.tg.g', 'general_grid', 'G'),
  ('i.t.v.tg.g.m1', 'micro_grid', 'M1'), ('i.t.v.tg.g.m2', 'micro_grid', 'M2');

CREATE FUNCTION pg_temp.random_factors() RETURNS text[] LANGUAGE sql VOLATILE AS $$
	SELECT coalesce(array_agg(f), '{}') FROM unnest(sanse.factor_names()) f WHERE random() < 0.25
$$;

SELECT setseed(0.31);
INSERT INTO resident (area_id, name, factors, registered_at, last_visit_at)
SELECT (SELECT id FROM area WHERE kind = 'micro_grid' ORDER BY random() LIMIT 1), 'r' || i, pg_temp.random_factors(),
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
			UPDATE sanse.resident SET factors = pg_temp.random_factors() WHERE id = pick;
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
			SELECT id, 'late ' || k, pg_temp.random_factors(), timestamptz '2024-06-01' + random() * interval '90 days'
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

SELECT ok((SELECT count(*) FROM resident) >= 300, 'the mix ran over at least 300 residents');
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
