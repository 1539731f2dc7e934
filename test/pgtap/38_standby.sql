-- pgTAP: a district's database on a hot standby (spec 11, issue 23) — what
-- can be checked inside one database.  sanse asks sanse.on_standby() (that
-- is, pg_is_in_recovery()) whether it runs on a standby; here a primary is
-- made to answer true by replacing that function inside this file's
-- transaction, so the standby branches run: sweep() writes nothing and
-- returns skipped, sweep_status says why, door_token() reprints a token
-- already issued and issues none.  test/standby.sh checks the same on a real
-- streaming standby, with every screen view.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL client_min_messages = warning;	-- the standby sweep's NOTICE
\ir include/helpers.psql
SELECT plan(17);

SELECT has_function('sanse', 'on_standby', 'on_standby()');
SELECT is(sanse.on_standby(), pg_is_in_recovery(), 'on_standby() is pg_is_in_recovery()');
SELECT is(sanse.on_standby(), false, 'this server is a primary');
SELECT columns_are('sanse', 'sweep_status',
	ARRAY['sweeps_skipped', 'running_pid', 'lock_timeouts', 'last_lock_timeout_at', 'last_lock_phase', 'last_lock_holder',
	      'last_lock_holder_pid', 'last_lock_relation', 'last_lock_mode', 'standby', 'paused_because',
	      'last_sweep_at', 'last_sweep_took', 'last_overdue_opened', 'last_escalations', 'work_left', 'overdue_left',
	      'escalations_left'],
	'sweep_status: the columns it had, then standby and paused_because, then how the last sweep ended (42_catch_up)');
SELECT results_eq($$SELECT standby, paused_because FROM sanse.sweep_status$$,
	$$VALUES (false, NULL::text)$$, 'on a primary: standby false, no reason');

-- a red resident registered three days ago and never visited: overdue, and
-- its event climbs (red: every 4 hours)
INSERT INTO area (path, kind, name) VALUES
  ('sb', 'district', 'SB'), ('sb.t', 'town', 'T'), ('sb.t.v', 'village', 'V'),
  ('sb.t.v.tg', 'total_grid', 'TG'), ('sb.t.v.tg.g', 'general_grid', 'G'), ('sb.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id)
SELECT 'SB lead', 'grid_officer', 'micro_grid_leader', id FROM area WHERE path = 'sb.t.v.tg.g.m';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT id, 'SB one', '{accident_risk}', now() - interval '3 days' FROM area WHERE path = 'sb.t.v.tg.g.m';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT id, 'SB two', '{accident_risk}', now() - interval '3 days' FROM area WHERE path = 'sb.t.v.tg.g.m';
CREATE TEMP TABLE sb AS SELECT min(r.id) AS one, max(r.id) AS two FROM resident r JOIN area a ON a.id = r.area_id WHERE a.path <@ 'sb';
SELECT isnt(door_token((SELECT one FROM sb)), NULL, 'a door token issued to the first resident on the primary');
CREATE TEMP TABLE sb_token AS SELECT door_token((SELECT one FROM sb)) AS token;
CREATE TEMP TABLE sb_before AS
SELECT (SELECT count(*) FROM event) AS events, (SELECT count(*) FROM event_step) AS steps,
       (SELECT count(*) FROM door_token) AS tokens, (SELECT sweeps_skipped FROM sweep_status) AS skipped;

-- this primary now answers as a standby would
CREATE OR REPLACE FUNCTION sanse.on_standby() RETURNS boolean LANGUAGE sql VOLATILE RETURN true;

SELECT results_eq($$SELECT * FROM sanse.sweep()$$, $$VALUES (0, 0, true)$$,
	'on a standby sweep() opens nothing, takes no step and returns skipped');
SELECT is(pg_temp.sqlstate_of('SELECT sanse.sweep()'), 'ok', 'sweep() on a standby raises no error');
SELECT is((SELECT count(*) FROM event), (SELECT events FROM sb_before), 'no event opened for the overdue residents');
SELECT is((SELECT count(*) FROM event_step), (SELECT steps FROM sb_before), 'no step taken');
SELECT is((SELECT sweeps_skipped FROM sweep_status), (SELECT skipped FROM sb_before),
	'not counted as a skip of an overlapping sweep');
SELECT results_eq($$SELECT standby, paused_because FROM sanse.sweep_status$$,
	$$VALUES (true, 'this server is a hot standby (recovery in progress): sanse.sweep() writes nothing here; sweeps run on the primary, and here once it is promoted')$$,
	'sweep_status on a standby: standby true, and why');
SELECT is(door_token((SELECT one FROM sb)), (SELECT token FROM sb_token), 'a standby reprints a door token already issued');
SELECT is((pg_temp.error_of(format('SELECT sanse.door_token(%s)', (SELECT two FROM sb)))).state, '25006',
	'a standby issues no door token: 25006');
SELECT is((pg_temp.error_of(format('SELECT sanse.door_token(%s)', (SELECT two FROM sb)))).hint,
	'Issue it on the primary; a standby reprints tokens already issued.', '... with a hint that says where');
SELECT is((SELECT count(*) FROM door_token), (SELECT tokens FROM sb_before), 'no door token written');

-- a primary again: the same sweep opens the events
CREATE OR REPLACE FUNCTION sanse.on_standby() RETURNS boolean LANGUAGE sql VOLATILE RETURN pg_catalog.pg_is_in_recovery();
SELECT ok((SELECT overdue_opened FROM sanse.sweep()) >= 2, 'back on a primary, the sweep opens the overdue events');

SELECT * FROM finish();
ROLLBACK;
