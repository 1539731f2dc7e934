-- The departments' lists (一人一档, spec 9) that make demo builds its
-- residents from, generated here independently of sanse: a population of
-- people (the paper's tiers times a scale, the factor sets of generate.sql),
-- each listed by every department that asserts one of their factors:
--   civil_affairs (民政: elderly living alone): lives_alone, no_caregiver, partial_care
--   health (卫健: chronic and sudden illness, recently discharged): sudden_illness,
--     accident_risk, unstable_chronic, recently_discharged, mental_disorder
--   disabled_federation (残联): disabled, mobility_impaired, self_care_difficulty
-- with a few deliberately bad rows of each kind spec 9 names, and what the
-- generator expects of every row (sanse_demo.feed_line.expect), so a test
-- can hold apply_feed's outcomes against it.  No table here holds a clear
-- ID number: a row keeps the person's number in the population, and
-- sanse_demo.id_number writes the 18 characters (GB 11643, its check
-- character by ISO 7064 MOD 11-2, computed here) only into the department's
-- file that the loader COPYs in (load_feed.psql).
CREATE SCHEMA IF NOT EXISTS sanse_demo;

CREATE TABLE IF NOT EXISTS sanse_demo.department_factor (department text, factor text, PRIMARY KEY (department, factor));
INSERT INTO sanse_demo.department_factor VALUES
	('civil_affairs', 'lives_alone'), ('civil_affairs', 'no_caregiver'), ('civil_affairs', 'partial_care'),
	('health', 'sudden_illness'), ('health', 'accident_risk'), ('health', 'unstable_chronic'),
	('health', 'recently_discharged'), ('health', 'mental_disorder'),
	('disabled_federation', 'disabled'), ('disabled_federation', 'mobility_impaired'),
	('disabled_federation', 'self_care_difficulty')
ON CONFLICT DO NOTHING;

-- the people the departments know (no is the person; area_path their micro
-- grid), which departments' list named them first
CREATE TABLE IF NOT EXISTS sanse_demo.person (no int PRIMARY KEY, name text NOT NULL, area_path text NOT NULL,
                                              factors text[] NOT NULL, first_listed text);
-- every row of every department's file, and what the generator expects of it
CREATE TABLE IF NOT EXISTS sanse_demo.feed_line (department text, batch text, line int, person_no int NOT NULL,
                                                 id_fault text, name text, area_path text, factors text[],
                                                 left_programme boolean NOT NULL DEFAULT false, expect text NOT NULL,
                                                 PRIMARY KEY (department, batch, line));
-- the people a corrected list moves, from which tier to which (as the
-- generator made their factors: '-' for a person new to the programme)
CREATE TABLE IF NOT EXISTS sanse_demo.corrected_move (department text, batch text, person_no int, from_tier text, to_tier text,
                                                      PRIMARY KEY (department, batch, person_no));

-- The ISO 7064 MOD 11-2 check character of a 17-digit body (GB 11643):
-- weights 2^(17-i) mod 11, check (12 - sum mod 11) mod 11, 10 written X.
CREATE OR REPLACE FUNCTION sanse_demo.check_character(body text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT substr('10X98765432',
	              (SELECT sum(substr(body, i, 1)::int * ((2 ^ (18 - i))::int % 11)) FROM generate_series(1, 17) i)::int % 11 + 1, 1)
$$;

-- Person no's 18-character ID number: region 510107, a birth date of the
-- 1930s-50s, a sequence number, and the check character.  fault 'bad check
-- character' writes the next character of 0-9, X instead.
CREATE OR REPLACE FUNCTION sanse_demo.id_number(no int, fault text DEFAULT NULL) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT b.body || CASE WHEN fault = 'bad check character'
	                      THEN substr('0123456789X', strpos('0123456789X', sanse_demo.check_character(b.body)) % 11 + 1, 1)
	                      ELSE sanse_demo.check_character(b.body) END
	  FROM (SELECT '510107' || to_char(date '1930-01-01' + no % 9000, 'YYYYMMDD') || lpad((no / 9000)::text, 3, '0') AS body) b
$$;

-- The population: the paper's tiers times scale (sanse_demo.factors_of),
-- spread over the micro grids at random.
CREATE OR REPLACE FUNCTION sanse_demo.make_population(scale float8) RETURNS bigint
LANGUAGE sql AS $$
	INSERT INTO sanse_demo.person (no, name, area_path, factors)
	SELECT g.i, 'resident ' || g.i, m.path::text, sanse_demo.factors_of(g.i, scale)
	  FROM (SELECT i, floor(random() * (SELECT count(*) FROM sanse.area WHERE kind = 'micro_grid'))::int AS k
	          FROM generate_series(1, (round(28 * scale) + round(506 * scale) + round(1836 * scale))::int) i) g
	  JOIN (SELECT path, row_number() OVER (ORDER BY id) - 1 AS k FROM sanse.area WHERE kind = 'micro_grid') m ON m.k = g.k;
	SELECT count(*) FROM sanse_demo.person;
$$;

-- A department's whole list (a snapshot) as batch: a row for every person
-- with a factor it asserts (those factors only; name and micro grid), each
-- expected registered the first time any list names the person and matched
-- after; with bad, six bad rows about people nobody lists: two with a bad
-- check character, one with an unknown factor, one whose area is a general
-- grid, and one person twice.  Returns the rows written.
CREATE OR REPLACE FUNCTION sanse_demo.write_feed(dept text, batch_name text, bad boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n int;
	own text[] := ARRAY(SELECT factor FROM sanse_demo.department_factor WHERE department = dept ORDER BY factor);
	stranger int := 1000000 + 100 * (SELECT count(DISTINCT (department, batch)) FROM sanse_demo.feed_line);
	grid text := (SELECT min(area_path) FROM sanse_demo.person);
BEGIN
	INSERT INTO sanse_demo.feed_line (department, batch, line, person_no, name, area_path, factors, expect)
	SELECT dept, batch_name, row_number() OVER (ORDER BY p.no), p.no, p.name, p.area_path,
	       ARRAY(SELECT f FROM unnest(p.factors) f WHERE f = ANY (own)),
	       CASE WHEN p.first_listed IS NULL THEN 'registered' ELSE 'matched' END
	  FROM sanse_demo.person p WHERE p.factors && own;
	GET DIAGNOSTICS n = ROW_COUNT;
	UPDATE sanse_demo.person p SET first_listed = dept || ' ' || batch_name WHERE p.first_listed IS NULL AND p.factors && own;
	IF bad THEN
		INSERT INTO sanse_demo.feed_line (department, batch, line, person_no, id_fault, name, area_path, factors, expect)
		SELECT dept, batch_name, n + b.k, stranger + b.who, b.fault, 'stranger ' || (stranger + b.who), b.area, b.factors, 'rejected: ' || b.why
		  FROM (VALUES (1, 1, 'bad check character', grid, ARRAY[own[1]], 'bad check character'),
		               (2, 2, 'bad check character', grid, ARRAY[own[1]], 'bad check character'),
		               (3, 3, NULL, grid, ARRAY[own[1], 'frail'], 'unknown factor "frail"'),
		               (4, 4, NULL, subpath(grid::ltree, 0, 5)::text, ARRAY[own[1]], 'the area is not a micro grid'),
		               (5, 5, NULL, grid, ARRAY[own[1]], 'the same person is twice in this batch'),
		               (6, 5, NULL, grid, ARRAY[own[2]], 'the same person is twice in this batch')) b(k, who, fault, area, factors, why);
		n := n + 6;
	END IF;
	RETURN n;
END
$$;

-- Health's corrected list: some people's illness changed since its first
-- list, moving them between tiers, and a few people newly discharged from
-- hospital at risk of an accident (new to the programme, red):
--   blue {unstable_chronic, lives_alone} + accident_risk      -> red
--   yellow {partial_care, unstable_chronic} + accident_risk   -> red
--   red {accident_risk, lives_alone}, accident risk gone, unstable chronic -> blue
-- (per the rules of spec 4, by the generator's own account).  Writes the
-- list as batch_name; returns the people it moves.
CREATE OR REPLACE FUNCTION sanse_demo.correct_health(scale float8, batch_name text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	k int := greatest(1, round(8 * scale));
	last_no int := (SELECT max(no) FROM sanse_demo.person);
BEGIN
	INSERT INTO sanse_demo.corrected_move (department, batch, person_no, from_tier, to_tier)
	SELECT 'health', batch_name, x.no, x.from_tier, x.to_tier
	  FROM ((SELECT no, 'blue' AS from_tier, 'red' AS to_tier FROM sanse_demo.person
	          WHERE factors = '{unstable_chronic,lives_alone}' ORDER BY no LIMIT k)
	        UNION ALL
	        (SELECT no, 'yellow', 'red' FROM sanse_demo.person
	          WHERE factors = '{partial_care,unstable_chronic}' ORDER BY no LIMIT greatest(1, k / 2))
	        UNION ALL
	        (SELECT no, 'red', 'blue' FROM sanse_demo.person
	          WHERE factors = '{accident_risk,lives_alone}' ORDER BY no LIMIT greatest(1, k / 2))) x;
	UPDATE sanse_demo.person p
	   SET factors = CASE m.to_tier WHEN 'red' THEN p.factors || 'accident_risk'::text ELSE '{unstable_chronic,lives_alone}' END
	  FROM sanse_demo.corrected_move m WHERE m.batch = batch_name AND m.person_no = p.no;
	INSERT INTO sanse_demo.person (no, name, area_path, factors)
	SELECT last_no + i, 'resident ' || (last_no + i),
	       (SELECT area_path FROM sanse_demo.person ORDER BY no OFFSET (i * 37) % last_no LIMIT 1),
	       '{recently_discharged,accident_risk}'
	  FROM generate_series(1, greatest(1, round(2 * scale))::int) i;
	INSERT INTO sanse_demo.corrected_move (department, batch, person_no, from_tier, to_tier)
	SELECT 'health', batch_name, no, '-', 'red' FROM sanse_demo.person WHERE no > last_no;
	PERFORM sanse_demo.write_feed('health', batch_name, false);
	RETURN (SELECT count(*) FROM sanse_demo.corrected_move WHERE batch = batch_name);
END
$$;
