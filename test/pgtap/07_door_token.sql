-- pgTAP: door QR tokens (spec 5) — opaque, URL-safe, at most 64 characters,
-- signed with the installation secret, stable until revoked, refused with
-- 28000 when missing, malformed, forged, unknown or revoked, and owner-only.
BEGIN;
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(61);

-----------------------------------------------------------------------------
-- helpers
-----------------------------------------------------------------------------
-- the token with the character at pos replaced by the one whose 6-bit value is xor mask
CREATE FUNCTION pg_temp.flip(t text, pos int, mask int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT overlay(t PLACING substr(a, ((strpos(a, substr(t, pos, 1)) - 1) # mask) + 1, 1) FROM pos FOR 1)
	  FROM (SELECT 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'::text AS a) x
$$;
-- the raw bytes of a base64url token
CREATE FUNCTION pg_temp.raw(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT decode(translate(t, '-_', '+/') || repeat('=', (4 - length(t) % 4) % 4), 'base64')
$$;
-- length of the common prefix of two texts
CREATE FUNCTION pg_temp.common_prefix(a text, b text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(max(i), 0) FROM generate_series(1, least(length(a), length(b))) i
	 WHERE left(a, i) = left(b, i)
$$;
-----------------------------------------------------------------------------
-- fixture: the shared district's M1; residents with large, consecutive ids so that a
-- token containing the id would not be a coincidence
-----------------------------------------------------------------------------
INSERT INTO worker (name, force, role, area_id)
SELECT 'carer', 'volunteer', 'member', id FROM area WHERE path = 'd.t.v.tg.g.m1';
SELECT id AS carer FROM worker WHERE name = 'carer' \gset

INSERT INTO resident (id, area_id, name, factors, registered_at, lat, lon) OVERRIDING SYSTEM VALUE
SELECT v.id, a.id, v.name, v.f, '2024-04-01 09:00+08', 31.2, 121.5
  FROM (VALUES (912345678::bigint, 'Ouyang Xiaoming', '{accident_risk}'::text[]),
               (912345679, 'Zhuge Kongming', '{partial_care,unstable_chronic}'),
               (912345680, 'Ouyang Xiaoming', '{accident_risk}'),
               (912345681, 'Sima Zhongda', '{mobility_impaired}')) v(id, name, f)
  CROSS JOIN area a WHERE a.path = 'd.t.v.tg.g.m1';
INSERT INTO carer (resident_id, worker_id) SELECT id, :carer FROM resident WHERE id BETWEEN 912345678 AND 912345681;

SELECT door_token(912345678) AS t1, door_token(912345679) AS t2, door_token(912345680) AS t3,
       door_token(912345681) AS t4 \gset

-----------------------------------------------------------------------------
-- the pinned functions
-----------------------------------------------------------------------------
SELECT has_function('sanse', 'door_token', ARRAY['bigint'], 'door_token(resident_id bigint) exists');
SELECT has_function('sanse', 'revoke_door_token', ARRAY['bigint'], 'revoke_door_token(resident_id bigint) exists');
SELECT function_returns('sanse', 'door_token', ARRAY['bigint'], 'text', 'door_token returns text');
SELECT function_returns('sanse', 'revoke_door_token', ARRAY['bigint'], 'text', 'revoke_door_token returns text');

-----------------------------------------------------------------------------
-- form: at most 64 characters (43 here), URL-safe alphabet only
-----------------------------------------------------------------------------
SELECT ok(length(:'t1') <= 64, 'a token is at most 64 characters');
SELECT is(length(:'t1'), 43, 'a token is exactly 43 characters');
SELECT ok(:'t1' ~ '^[A-Za-z0-9_-]+$' AND :'t2' ~ '^[A-Za-z0-9_-]+$' AND :'t3' ~ '^[A-Za-z0-9_-]+$'
          AND :'t4' ~ '^[A-Za-z0-9_-]+$', 'tokens use only the URL-safe alphabet (no +, /, = or blanks)');
SELECT is(length(pg_temp.raw(:'t1')), 32, 'a token is the base64url text of 32 bytes (format, nonce, MAC)');
SELECT is(get_byte(pg_temp.raw(:'t1'), 0), 1, 'its first byte is the format version 1');

-- 200 more residents: every token distinct, all 43 URL-safe characters, no shared 7-character head
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'bulk ' || k, '{accident_risk}', '2024-04-01 09:00+08'
  FROM generate_series(1, 200) k CROSS JOIN area a WHERE a.path = 'd.t.v.tg.g.m1';
SELECT results_eq($$SELECT count(*), count(DISTINCT t), count(DISTINCT left(t, 7)),
                           count(*) FILTER (WHERE length(t) = 43 AND t ~ '^[A-Za-z0-9_-]+$')
                      FROM (SELECT sanse.door_token(id) t FROM sanse.resident WHERE name LIKE 'bulk %') x$$,
                  $$VALUES (200::bigint, 200::bigint, 200::bigint, 200::bigint)$$,
                  '200 doors: 200 distinct well-formed tokens that differ within their first 7 characters');

-----------------------------------------------------------------------------
-- stable until revoked
-----------------------------------------------------------------------------
SELECT is(door_token(912345678), :'t1'::text, 'door_token returns the same token on a later call');
SELECT is((SELECT count(DISTINCT door_token(912345678)) FROM generate_series(1, 5)), 1::bigint,
          'five calls in one statement give one token');
SELECT is((SELECT count(*) FROM door_token WHERE resident_id = 912345678), 1::bigint,
          'repeated calls make no new token rows');

-----------------------------------------------------------------------------
-- opaque: no id, name, tier or sequence in it
-----------------------------------------------------------------------------
SELECT isnt(:'t1'::text, :'t2'::text, 'consecutive residents get different tokens');
SELECT isnt(substr(:'t1', 2), substr(:'t2', 2), 'characters 2..43 differ between consecutive residents');
SELECT ok(pg_temp.common_prefix(:'t1', :'t2'::text) <= 4 AND pg_temp.common_prefix(:'t2', :'t3'::text) <= 4
          AND pg_temp.common_prefix(:'t3', :'t4'::text) <= 4,
          'tokens of consecutive residents share no long prefix beyond the format character');
SELECT isnt(:'t1'::text, :'t3'::text, 'two residents with the same name, tier and grid get different tokens');
SELECT ok(substr(:'t1', 2, 20) <> substr(:'t2', 2, 20),
          'tokens of neighbouring residents share nothing in characters 2..21');
SELECT ok(position('912345678' IN substr(:'t1', 1, 3)) = 0 AND position('red' IN lower(:'t1')) = 0,
          'no id or tier in plain sight');
SELECT ok(position('912345678' IN :'t1'::text) = 0 AND position('912345679' IN :'t2'::text) = 0
          AND position(to_hex(912345678) IN lower(:'t1')) = 0
          AND position(translate(rtrim(encode(int8send(912345678), 'base64'), '='), '+/', '-_') IN :'t1'::text) = 0,
          'the token does not contain the resident id in decimal, hex or base64');
SELECT ok(position(int8send(912345678) IN pg_temp.raw(:'t1')) = 0
          AND position(int4send(912345678) IN pg_temp.raw(:'t1')) = 0,
          'nor the id''s bytes once decoded');
SELECT ok(position('ouyang' IN lower(:'t1')) = 0 AND position('xiaoming' IN lower(:'t1')) = 0
          AND position(convert_to('Ouyang', 'UTF8') IN pg_temp.raw(:'t1')) = 0,
          'nor the resident''s name, as text or bytes');
-- the tier is not in it: changing the tier (or the name) leaves the token as it is
UPDATE resident SET factors = '{mobility_impaired}', name = 'Renamed' WHERE id = 912345678;
SELECT is((SELECT tier::text FROM resident WHERE id = 912345678), 'blue', 'the resident is now blue (was red)');
SELECT is(door_token(912345678), :'t1'::text, 'and keeps its token: tier and name are not encoded in it');
SELECT ok(left(:'t1', 1) = left(:'t2', 1) AND left(:'t1', 1) = left(:'t4', 1),
          'red, yellow and blue tokens start alike (only the format character is shared)');

-----------------------------------------------------------------------------
-- check-in accepts the current token
-----------------------------------------------------------------------------
SELECT check_in(:'t2', :carer, '2024-04-02 10:00+08') AS v2 \gset
SELECT is((SELECT resident_id FROM visit WHERE id = :v2), 912345679::bigint,
          'a current token checks in at its resident''s door');

-----------------------------------------------------------------------------
-- revocation
-----------------------------------------------------------------------------
SELECT revoke_door_token(912345679) AS t2_new \gset
SELECT isnt(:'t2_new'::text, :'t2'::text, 'revoke_door_token returns a new token');
SELECT ok(length(:'t2_new') = 43 AND :'t2_new' ~ '^[A-Za-z0-9_-]+$', 'the new token has the same form');
SELECT is(door_token(912345679), :'t2_new'::text, 'door_token returns the new token after revocation');
SELECT throws_ok(pg_temp.check_in_sql(:'t2', :carer, '2024-04-02 11:00+08'), '28000', NULL,
                 'the revoked token is refused with 28000');
SELECT ok(check_in(:'t2_new', :carer, '2024-04-02 11:00+08') > 0, 'the new token works');
SELECT is(door_token(912345678), :'t1'::text, 'revoking one door leaves the other doors'' tokens alone');
SELECT ok(check_in(:'t1', :carer, '2024-04-02 11:30+08') > 0, 'and they still work');
SELECT revoke_door_token(912345679) AS t2_third \gset
SELECT ok(:'t2_third' <> :'t2_new' AND :'t2_third' <> :'t2'::text, 'a second revocation issues a third token');
SELECT is(pg_temp.sqlstate_of(pg_temp.check_in_sql(:'t2_new', :carer, '2024-04-02 12:00+08')) || '/'
          || pg_temp.sqlstate_of(pg_temp.check_in_sql(:'t2', :carer, '2024-04-02 12:00+08')) || '/'
          || pg_temp.sqlstate_of(pg_temp.check_in_sql(:'t2_third', :carer, '2024-04-02 12:00+08')),
          '28000/28000/ok', 'both earlier tokens are dead, the third works');
SELECT results_eq($$SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL) FROM sanse.door_token WHERE resident_id = 912345679$$,
                  $$VALUES (3::bigint, 1::bigint)$$, 'every token is kept, one of them current');
SELECT revoke_door_token(912345681) AS t4_new \gset
SELECT isnt(:'t4_new'::text, :'t4'::text, 'revoking works for a door that was never scanned');
SELECT throws_ok($$SELECT sanse.door_token(-42)$$, '22023', NULL, 'door_token of a missing resident is 22023');
SELECT throws_ok($$SELECT sanse.revoke_door_token(-42)$$, '22023', NULL, 'revoke_door_token of a missing resident is 22023');
SELECT is(door_token(NULL), NULL, 'door_token(NULL) is NULL');

-----------------------------------------------------------------------------
-- forged, malformed, unknown, missing: 28000
-----------------------------------------------------------------------------
SELECT throws_ok(pg_temp.check_in_sql(pg_temp.flip(:'t1', 30, 32), :carer, '2024-04-03 10:00+08'), '28000', NULL,
                 'one character of the MAC part changed: 28000');
SELECT throws_ok(pg_temp.check_in_sql(pg_temp.flip(:'t1', 10, 1), :carer, '2024-04-03 10:00+08'), '28000', NULL,
                 'one bit of the random part changed: 28000');
SELECT is((SELECT count(*) FROM generate_series(1, 43) p
            WHERE pg_temp.sqlstate_of(pg_temp.check_in_sql(pg_temp.flip(:'t1', p, 32), :carer, '2024-04-03 10:00+08')) = '28000'),
          43::bigint, 'a change of any one of the 43 characters is refused with 28000');
-- the last character carries 4 bits of MAC and 2 unused bits: any other
-- character there is a different token text and must not be accepted
SELECT is((SELECT count(*) FROM unnest(string_to_array('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', NULL)) c
            WHERE c <> right(:'t1', 1)
              AND pg_temp.sqlstate_of(pg_temp.check_in_sql(left(:'t1', 42) || c, :carer, '2024-04-03 10:00+08')) <> '28000'),
          0::bigint, 'every other last character is refused (no second spelling of a token)');
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('a truncated token is 28000', pg_temp.check_in_sql(left(:'t1', 42), :carer, '2024-04-03 10:00+08'), '28000'),
    ('a token with a character appended is 28000', pg_temp.check_in_sql(:'t1' || 'A', :carer, '2024-04-03 10:00+08'), '28000'),
    ('a padded token is 28000', pg_temp.check_in_sql(:'t1' || '=', :carer, '2024-04-03 10:00+08'), '28000'),
    ('garbage is 28000', pg_temp.check_in_sql('not a token at all', :carer, '2024-04-03 10:00+08'), '28000'),
    ('43 characters of the right alphabet but no valid MAC: 28000', pg_temp.check_in_sql(repeat('A', 43), :carer, '2024-04-03 10:00+08'), '28000'),
    ('an empty token is 28000', pg_temp.check_in_sql('', :carer, '2024-04-03 10:00+08'), '28000'),
    ('a NULL token is 28000', format('SELECT sanse.check_in(NULL, %s, %L)', :carer, '2024-04-03 10:00+08'), '28000'),
    -- a correctly signed nonce that names no door (signed here by the owner)
    ('a validly signed but unknown token is 28000', pg_temp.check_in_sql(door_token_sign(gen_random_bytes(15)), :carer, '2024-04-03 10:00+08'), '28000')
  ) t(description, stmt, expected);
-- a resident deleted: its token names nothing any more
INSERT INTO resident (area_id, name, factors, registered_at) SELECT id, 'Gone', '{accident_risk}', '2024-04-01' FROM area WHERE path = 'd.t.v.tg.g.m1';
SELECT door_token(id) AS gone FROM resident WHERE name = 'Gone' \gset
DELETE FROM resident WHERE name = 'Gone';
SELECT throws_ok(pg_temp.check_in_sql(:'gone', :carer, '2024-04-03 10:00+08'), '28000', NULL, 'the token of a deleted resident is 28000');
-- the error shown to the client never echoes the token or its MAC
SELECT ok(position(:'t2' IN e) = 0 AND position(right(:'t2', 22) IN e) = 0 AND e LIKE '%door token%',
          'the refusal names the door token without echoing it')
  FROM pg_temp.error_of(pg_temp.check_in_sql(:'t2', :carer, '2024-04-03 10:00+08')) x, concat_ws(' | ', x.message, x.detail, x.hint) e;

-----------------------------------------------------------------------------
-- only the owner prints codes or reads tokens and the secret
-----------------------------------------------------------------------------
CREATE ROLE sanse_t06_app NOLOGIN;
GRANT USAGE ON SCHEMA sanse TO sanse_t06_app;
SELECT is(pg_temp.sqlstate_as('sanse_t06_app', pg_temp.check_in_sql(:'t1', :carer, '2024-04-03 12:00+08')), 'ok',
          'an application role with USAGE on the schema can check in');
SELECT is(pg_temp.sqlstate_as('sanse_t06_app', 'SELECT sanse.door_token(912345678)'), '42501', 'but cannot call door_token (42501)');
SELECT is(pg_temp.sqlstate_as('sanse_t06_app', 'SELECT sanse.revoke_door_token(912345678)'), '42501', 'nor revoke_door_token');
SELECT is(pg_temp.sqlstate_as('sanse_t06_app', 'SELECT * FROM sanse.door_token'), '42501', 'nor read sanse.door_token');
SELECT is(pg_temp.sqlstate_as('sanse_t06_app', 'SELECT * FROM sanse.installation_secret'), '42501', 'nor read sanse.installation_secret');
SELECT is(pg_temp.sqlstate_as('sanse_t06_app', 'SELECT sanse.door_token_sign(''\x000102030405060708090a0b0c0d0e''::bytea)'), '42501',
          'nor sign a nonce of its own');
SELECT is(door_token(912345678), :'t1'::text, 'the attempted revocation changed nothing');

SELECT * FROM finish();
ROLLBACK;
