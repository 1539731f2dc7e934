-- A refused door token leaves a LOG line naming the worker, never the token.
SET search_path = sanse, public;
INSERT INTO area (path, kind, name) VALUES
  ('l', 'district', 'L'), ('l.t', 'town', 'T'), ('l.t.v', 'village', 'V'),
  ('l.t.v.tg', 'total_grid', 'TG'), ('l.t.v.tg.g', 'general_grid', 'G'), ('l.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id) SELECT 'carer', 'volunteer', 'member', id FROM area WHERE kind = 'micro_grid';
INSERT INTO resident (area_id, name, factors) SELECT id, 'Wang', '{accident_risk}' FROM area WHERE kind = 'micro_grid';
SELECT door_token(1) AS old_token \gset
SELECT revoke_door_token(1) AS new_token \gset
-- the forged token: the new one with a character of its random part changed
SELECT overlay(:'new_token' PLACING CASE WHEN substr(:'new_token', 20, 1) = 'A' THEN 'B' ELSE 'A' END FROM 20 FOR 1) AS forged \gset
SET client_min_messages = log;
SET log_min_messages = panic;	-- the LOG goes to this client only, not twice
SELECT check_in(:'forged', 1);
SELECT check_in(:'old_token', 1);
SELECT check_in('not-a-token', 1);
SELECT check_in(NULL, 1);
RESET client_min_messages;
RESET log_min_messages;
SET client_min_messages = warning;
TRUNCATE visit, door_token, carer, tier_history, resident, worker, area RESTART IDENTITY CASCADE;
RESET client_min_messages;
