-- sanse.risk_tier: input forms, errors, ordering, opclasses, binary I/O
SET search_path = sanse, public;

-- every accepted spelling, with the tier it must give
SELECT input, input::risk_tier AS tier
  FROM (VALUES ('red'), ('yellow'), ('blue'), ('RED'), ('Yellow'), ('bLuE'),
               ('  red  '), (E'\tyellow\n'), ('红'), ('黄'), ('蓝'),
               ('红色'), ('黄色'), ('蓝色'), (' 蓝色 ')) AS t(input);

-- rejected input: 22P02 with a hint listing the valid values
SELECT 'green'::risk_tier;
\echo SQLSTATE :SQLSTATE
SELECT ''::risk_tier;
\echo SQLSTATE :SQLSTATE
SELECT 'red yellow'::risk_tier;
\echo SQLSTATE :SQLSTATE
SELECT '绿'::risk_tier;
\echo SQLSTATE :SQLSTATE
SELECT '红红'::risk_tier;
\echo SQLSTATE :SQLSTATE

-- severity order and every operator
SELECT a, b, a < b AS lt, a <= b AS le, a = b AS eq, a <> b AS ne, a >= b AS ge, a > b AS gt,
       risk_tier_cmp(a, b) AS cmp
  FROM unnest('{blue,yellow,red}'::risk_tier[]) a,
       unnest('{blue,yellow,red}'::risk_tier[]) b
 ORDER BY a, b;

-- hashing agrees with equality
SELECT count(DISTINCT risk_tier_hash(t)) AS distinct_hashes,
       bool_and(risk_tier_hash(t) = risk_tier_hash(t::text::risk_tier)) AS stable
  FROM unnest('{blue,yellow,red}'::risk_tier[]) t;

-- max/min, DISTINCT, GROUP BY (hash and sort), ORDER BY DESC
CREATE TEMP TABLE tiers AS
  SELECT (ARRAY['blue','yellow','red'])[1 + i % 3]::risk_tier AS tier, i
    FROM generate_series(1, 3000) i;
SELECT max(tier), min(tier) FROM tiers;
SELECT max(tier), min(tier) FROM tiers WHERE tier <> 'red';
SELECT DISTINCT tier FROM tiers ORDER BY tier DESC;
SET enable_sort = off;
SELECT tier, count(*) FROM tiers GROUP BY tier ORDER BY tier;
RESET enable_sort;
SET enable_hashagg = off;
SELECT tier, count(*) FROM tiers GROUP BY tier ORDER BY tier;
RESET enable_hashagg;

-- a hash join on tiers
SET enable_mergejoin = off;
SET enable_nestloop = off;
CREATE TEMP TABLE wanted AS SELECT 'red'::risk_tier AS t UNION ALL SELECT 'blue';
ANALYZE wanted;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tiers a JOIN wanted v ON a.tier = v.t;
SELECT count(*) FROM tiers a JOIN wanted v ON a.tier = v.t;
RESET enable_mergejoin;
RESET enable_nestloop;

-- btree and hash indexes are used for equality and ORDER BY
CREATE INDEX tiers_btree ON tiers (tier);
CREATE INDEX tiers_hash ON tiers USING hash (tier);
ANALYZE tiers;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT i FROM tiers ORDER BY tier DESC LIMIT 1;
SELECT tier FROM tiers ORDER BY tier DESC LIMIT 1;
DROP INDEX tiers_btree;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tiers WHERE tier = 'yellow';
SELECT count(*) FROM tiers WHERE tier = 'yellow';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- binary COPY round trip
CREATE TEMP TABLE tiers_copy (LIKE tiers);
COPY tiers TO '/tmp/sanse_risk_tier.bin' WITH (FORMAT binary);
COPY tiers_copy FROM '/tmp/sanse_risk_tier.bin' WITH (FORMAT binary);
SELECT count(*) AS rows, count(*) FILTER (WHERE a.tier = b.tier) AS same
  FROM tiers a JOIN tiers_copy b USING (i);
SELECT risk_tier_send('red'), risk_tier_send('yellow'), risk_tier_send('blue');

-- a bad byte on the wire: 22P03 (a bytea column writes the raw payload)
CREATE TEMP TABLE bad_in (t risk_tier);
COPY (SELECT '\x04'::bytea) TO '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
COPY bad_in FROM '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
COPY (SELECT '\x00'::bytea) TO '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
COPY bad_in FROM '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
COPY (SELECT '\x0102'::bytea) TO '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
COPY bad_in FROM '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
-- an empty value: 22P03 too, bad data rather than a protocol violation
COPY (SELECT ''::bytea) TO '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
COPY bad_in FROM '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
\echo SQLSTATE :SQLSTATE
COPY (SELECT '\x03'::bytea) TO '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
COPY bad_in FROM '/tmp/sanse_bad_tier.bin' WITH (FORMAT binary);
SELECT t FROM bad_in;

-- opclasses validate
SELECT opcname, amname, amvalidate(opc.oid)
  FROM pg_opclass opc JOIN pg_am am ON am.oid = opcmethod
 WHERE opcnamespace = 'sanse'::regnamespace
 ORDER BY opcname;

-- size and passing
SELECT typlen, typbyval, typalign FROM pg_type WHERE oid = 'risk_tier'::regtype;
