-- pgTAP: spec 8 in part (issue 13) — the append-only audit of sensitive acts
-- (tier overrides, rule and policy changes, token revocations, ID-number
-- lookups, forgetting), find_resident_by_id_number, forget_resident and the
-- sweep forgetting residents inactive longer than sanse.retention.  Row-level
-- security and pgaudit are not built yet and are not tested here.  Every
-- expected value (who, act, residents, purpose, counts, views) is written by
-- hand from the README, never read back from the functions under test.
-- These found, and now guard: an override set on registration audited with
-- its reason; TRUNCATE of the rules and loop policies (now refused); an
-- upsert of a policy audited once; forgetting writing no override audit row
-- and no history row.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.timezone = 'Asia/Shanghai';	-- months and windows in the README's zone (the default)
SET LOCAL sanse.max_backdate = '10 years';	-- check-ins dated in 2024
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(112);

-----------------------------------------------------------------------------
-- helpers and roles
-----------------------------------------------------------------------------
-- residents by the name this file gave them (forgetting renames them)
CREATE TEMP TABLE rid (name text PRIMARY KEY, id bigint NOT NULL UNIQUE);
CREATE FUNCTION pg_temp.rid(n text) RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT id FROM rid WHERE name = n
$$;
CREATE FUNCTION pg_temp.remember() RETURNS void LANGUAGE sql AS $$
	INSERT INTO rid (name, id) SELECT r.name, r.id FROM sanse.resident r
	 WHERE r.name LIKE 'pv %' AND NOT EXISTS (SELECT 1 FROM rid WHERE rid.id = r.id)
$$;
-- the newest audit row id: rows written after it are the act's
CREATE FUNCTION pg_temp.mark() RETURNS bigint LANGUAGE sql AS $$
	SELECT coalesce(max(id), 0) FROM sanse.audit_log
$$;
-- the audit rows written after a mark, one text each:
--   login/role act {residents by name} purpose | detail
CREATE FUNCTION pg_temp.audit_after(m bigint) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT format('%s/%s %s {%s} %s | %s', a.session_user_name, a.current_user_name, a.act,
	              (SELECT coalesce(string_agg(coalesce(r.name, u.id::text), ',' ORDER BY u.o), '')
	                 FROM unnest(a.resident_ids) WITH ORDINALITY u(id, o) LEFT JOIN rid r ON r.id = u.id),
	              coalesce(a.purpose, '-'), coalesce(a.detail, '-'))
	  FROM sanse.audit_log a WHERE a.id > m ORDER BY a.id
$$;
CREATE FUNCTION pg_temp.audit_count(m bigint) RETURNS int LANGUAGE sql AS $$
	SELECT count(*)::int FROM sanse.audit_log WHERE id > m
$$;

-- logins and the roles they act as (SET ROLE); the owner is the superuser
CREATE ROLE sanse_t17_app NOLOGIN;
CREATE ROLE sanse_t17_supervisor NOLOGIN;
CREATE ROLE sanse_t17_rules NOLOGIN;
CREATE ROLE sanse_t17_sweeper NOLOGIN;
CREATE ROLE sanse_t17_auditor NOLOGIN;
CREATE ROLE sanse_t17_nobody NOLOGIN;
CREATE ROLE sanse_t17_clerk LOGIN IN ROLE sanse_t17_app;
CREATE ROLE sanse_t17_boss LOGIN IN ROLE sanse_t17_supervisor;
CREATE ROLE sanse_t17_ops LOGIN IN ROLE sanse_t17_sweeper;
CREATE ROLE sanse_t17_dba LOGIN SUPERUSER;
GRANT SELECT, INSERT, UPDATE ON sanse.resident TO sanse_t17_app;
GRANT EXECUTE ON FUNCTION sanse.find_resident_by_id_number(text, text), sanse.revoke_door_token(bigint),
                          sanse.door_token(bigint) TO sanse_t17_app;
GRANT EXECUTE ON FUNCTION sanse.forget_resident(bigint, text) TO sanse_t17_supervisor;
GRANT SELECT, INSERT, UPDATE, DELETE ON sanse.classification_rule, sanse.tier_policy, sanse.loop_policy TO sanse_t17_rules;
GRANT SELECT, UPDATE ON sanse.resident TO sanse_t17_rules;	-- a rule edit re-classifies residents
GRANT SELECT, UPDATE ON sanse.event TO sanse_t17_rules;	-- a loop policy edit re-derives clocks
GRANT EXECUTE ON FUNCTION sanse.sweep(timestamptz) TO sanse_t17_sweeper;
GRANT SELECT ON sanse.audit_log TO sanse_t17_auditor;
-- spec 8: the app (and the clerk, its member) writes residents through a
-- grant by area; the supervisor forgets the residents of the district it
-- cares for (forget_resident needs care on the resident's area)
INSERT INTO sanse.area_grant (role, path, access) VALUES ('sanse_t17_app', 'd', 'care'), ('sanse_t17_supervisor', 'd', 'care');

-- the district's people: a carer in M1
INSERT INTO worker (name, force, role, area_id)
VALUES ('pv vol', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg.g.m1'));
SELECT pg_temp.area_id('d.t.v.tg.g.m1') AS m1, pg_temp.area_id('d.t.v.tg.g.m2') AS m2,
       pg_temp.area_id('d.t.v.tg.g2.m3') AS m3, pg_temp.area_id('d.t.v.tg2.g.m4') AS m4,
       pg_temp.worker_id('pv vol') AS vol, pg_temp.worker_id('lead g') AS lead_g \gset

-----------------------------------------------------------------------------
-- the objects
-----------------------------------------------------------------------------
SELECT columns_are('sanse', 'audit_log',
                   ARRAY['id', 'at', 'session_user_name', 'current_user_name', 'act', 'resident_ids', 'purpose', 'detail',
                         'text_key', 'text_seal', 'prev_id', 'hash'],
                   'audit_log has the README''s columns');
SELECT has_function('sanse', 'find_resident_by_id_number', ARRAY['text', 'text'], 'find_resident_by_id_number(text, text) exists');
SELECT has_function('sanse', 'forget_resident', ARRAY['bigint', 'text'], 'forget_resident(bigint, text) exists');
SELECT ok(NOT has_function_privilege('public', f::regprocedure, 'EXECUTE'), f || ' is not executable by PUBLIC')
  FROM unnest(ARRAY['sanse.find_resident_by_id_number(text, text)', 'sanse.forget_resident(bigint, text)']) f;
SELECT has_column('sanse', 'resident', c, 'resident has ' || c)
  FROM unnest(ARRAY['deactivated_at', 'forgotten_at']) c;

-----------------------------------------------------------------------------
-- tier overrides: set on registration, changed, cleared — by the role that
-- wrote the resident, the override reason as the purpose
-----------------------------------------------------------------------------
SELECT pg_temp.mark() AS a \gset
SET LOCAL SESSION AUTHORIZATION sanse_t17_clerk;
SET LOCAL ROLE sanse_t17_app;
INSERT INTO sanse.resident (area_id, name, factors, tier_override, override_reason)
VALUES (:m1, 'pv Ou', '{mobility_impaired}', 'red', 'lives alone since March');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.remember();
SELECT results_eq($$SELECT * FROM pg_temp.audit_after($$ || :a || $$)$$,
                  $$VALUES ('sanse_t17_clerk/sanse_t17_app tier_override {pv Ou} lives alone since March | set on registration')$$,
                  'an override set on registration: one row, login clerk, role app (SET ROLE), the reason as the purpose');

SELECT pg_temp.mark() AS a \gset
SET LOCAL SESSION AUTHORIZATION sanse_t17_clerk;
SET LOCAL ROLE sanse_t17_app;
INSERT INTO sanse.resident (area_id, name, factors, tier_override, override_reason)
VALUES (:m3, 'pv Xu', '{}', 'yellow', 'diabetic, insulin at home'),
       (:m3, 'pv Hu', '{unstable_chronic}', NULL, NULL),
       (:m3, 'pv Zhu', '{}', 'red', 'dementia, wanders at night');
INSERT INTO sanse.resident (area_id, name, factors) VALUES (:m2, 'pv Ma', '{partial_care,unstable_chronic}');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT pg_temp.remember();
SELECT results_eq($$SELECT DISTINCT format('%s/%s %s', a.session_user_name, a.current_user_name, a.act) COLLATE "default" FROM sanse.audit_log a WHERE a.id > $$ || :a,
                  $$VALUES ('sanse_t17_clerk/sanse_t17_app tier_override')$$,
                  'a three-row registration with two overrides: tier_override rows only, clerk acting as app');
SELECT results_eq($$SELECT r.name FROM sanse.audit_log a, unnest(a.resident_ids) u(id) JOIN rid r ON r.id = u.id
                     WHERE a.id > $$ || :a || $$ ORDER BY 1$$,
                  $$VALUES ('pv Xu'), ('pv Zhu')$$,
                  'the residents registered with an override are audited (Xu, Zhu), the one without (Hu) and a plain registration (Ma) are not');

SELECT pg_temp.mark() AS a \gset
SET LOCAL SESSION AUTHORIZATION sanse_t17_clerk;
SET LOCAL ROLE sanse_t17_app;
UPDATE sanse.resident SET tier_override = 'yellow', override_reason = 'moved in with her daughter' WHERE name = 'pv Ou';
UPDATE sanse.resident SET lat = 39.9, lon = 116.4 WHERE name = 'pv Ou';
RESET ROLE;
-- the clerk without SET ROLE: the login is the role acting
UPDATE sanse.resident SET tier_override = NULL WHERE name = 'pv Ou';
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT * FROM pg_temp.audit_after($$ || :a || $$)$$,
                  $$VALUES ('sanse_t17_clerk/sanse_t17_app tier_override {pv Ou} moved in with her daughter | red -> yellow'),
                           ('sanse_t17_clerk/sanse_t17_clerk tier_override {pv Ou} - | yellow -> none')$$,
                  'an override changed (the new reason as the purpose) and cleared (no reason left) — an update that leaves the override alone writes no row');
SELECT is((SELECT tier::text FROM resident WHERE name = 'pv Ou'), 'blue', 'Ou is blue again from her factors');

-----------------------------------------------------------------------------
-- rule and policy changes: one row per statement
-----------------------------------------------------------------------------
SELECT pg_temp.mark() AS a \gset
SET LOCAL SESSION AUTHORIZATION sanse_t17_dba;
SET LOCAL ROLE sanse_t17_rules;
INSERT INTO sanse.classification_rule (tier, all_of, note)
VALUES ('yellow', '{self_care_difficulty,no_caregiver}', 'pv: alone and unable'),
       ('yellow', '{sudden_illness,self_care_difficulty}', 'pv: ill and unable');
UPDATE sanse.classification_rule SET note = note || ' (checked)' WHERE note LIKE 'pv:%';
DELETE FROM sanse.classification_rule WHERE note LIKE 'pv:%';
UPDATE sanse.tier_policy SET escalate_after = '2 days' WHERE tier = 'blue';
UPDATE sanse.loop_policy SET arrive_within = '20 minutes' WHERE kind = 'warning' AND tier = 'red';
RESET ROLE;
-- the superuser without SET ROLE puts the policies back
UPDATE sanse.tier_policy SET escalate_after = '3 days' WHERE tier = 'blue';
UPDATE sanse.loop_policy SET arrive_within = '15 minutes' WHERE kind = 'warning' AND tier = 'red';
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT * FROM pg_temp.audit_after($$ || :a || $$)$$,
                  $$VALUES ('sanse_t17_dba/sanse_t17_rules rule_change {} - | INSERT on classification_rule'),
                           ('sanse_t17_dba/sanse_t17_rules rule_change {} - | UPDATE on classification_rule'),
                           ('sanse_t17_dba/sanse_t17_rules rule_change {} - | DELETE on classification_rule'),
                           ('sanse_t17_dba/sanse_t17_rules policy_change {} - | UPDATE on tier_policy'),
                           ('sanse_t17_dba/sanse_t17_rules policy_change {} - | UPDATE on loop_policy'),
                           ('sanse_t17_dba/sanse_t17_dba policy_change {} - | UPDATE on tier_policy'),
                           ('sanse_t17_dba/sanse_t17_dba policy_change {} - | UPDATE on loop_policy')$$,
                  'rule and policy changes: one row per statement (two rules inserted, updated, deleted: three rows), login and acting role');
SELECT results_eq($$SELECT tier::text, escalate_after FROM sanse.tier_policy WHERE tier = 'blue'$$,
                  $$VALUES ('blue', interval '3 days')$$, 'the blue policy is back');

-- a TRUNCATE is a rule or policy change too: refused, or audited once.  Run
-- and undone: the SQLSTATE of a refusal, else how many audit rows it wrote.
CREATE FUNCTION pg_temp.audit_rows_undone(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	m bigint := pg_temp.mark();
	n int;
BEGIN
	BEGIN
		EXECUTE q;
		n := pg_temp.audit_count(m);
		RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = format('audited %s', n);
	EXCEPTION WHEN OTHERS THEN
		RETURN CASE WHEN SQLSTATE = 'P0001' THEN SQLERRM ELSE 'refused ' || SQLSTATE END;
	END;
END
$$;
SELECT is(r, 'refused 23001', format('%s is refused (23001): it would bypass the row triggers and the audit', q))
  FROM (VALUES ('TRUNCATE sanse.classification_rule'), ('TRUNCATE sanse.loop_policy'), ('TRUNCATE sanse.tier_policy')) t(q),
       LATERAL pg_temp.audit_rows_undone(q) r;
SELECT is((SELECT count(*) FROM classification_rule WHERE builtin), 7::bigint, 'the built-in rules are all still there');

-- an INSERT of an existing policy replaces it: still one statement
SELECT pg_temp.mark() AS a \gset
INSERT INTO loop_policy (kind, tier, arrive_within, handle_within) VALUES ('finding', NULL, '1 day', '3 days');
SELECT is(pg_temp.audit_count(:a), 1, 'an INSERT that replaces a loop policy is one statement: one audit row');
SELECT pg_temp.mark() AS a \gset
INSERT INTO tier_policy (tier, cadence, escalate_after) VALUES ('blue', 'calendar month', '3 days');
SELECT is(pg_temp.audit_count(:a), 1, 'an INSERT that replaces a tier policy is one statement: one audit row');

-----------------------------------------------------------------------------
-- ID card numbers: find_resident_by_id_number(clear, purpose), audited
-----------------------------------------------------------------------------
-- Wang: blue from her factors, red by an override (a reason in the history);
-- registered twice with one number (again in M2 as Li, the number typed
-- with blanks and a small x)
INSERT INTO resident (area_id, name, factors, tier_override, override_reason, registered_at, id_number)
VALUES (:m1, 'pv Wang', '{mobility_impaired}', 'red', 'fell twice this winter', '2024-03-01 09:00+08', '11010119400101123X');
INSERT INTO resident (area_id, name, factors, id_number)
VALUES (:m2, 'pv Li', '{accident_risk}', ' 11010119400101123x ');
SELECT pg_temp.remember();
INSERT INTO carer (resident_id, worker_id) VALUES (pg_temp.rid('pv Wang'), :vol);
SELECT pg_temp.rid('pv Wang') AS wang, pg_temp.rid('pv Li') AS li \gset

SELECT pg_temp.mark() AS a \gset
SET LOCAL SESSION AUTHORIZATION sanse_t17_clerk;
SET LOCAL ROLE sanse_t17_app;
CREATE TEMP TABLE found1 AS SELECT * FROM sanse.find_resident_by_id_number('11010119400101123x', 'civil affairs subsidy claim 2024-17') f;
CREATE TEMP TABLE found0 AS SELECT * FROM sanse.find_resident_by_id_number('110101195001019999', 'a claim that matches nobody') f;
RESET ROLE;
CREATE TEMP TABLE found2 AS SELECT * FROM sanse.find_resident_by_id_number('11010119400101123X', 'the clerk on her own login') f;
RESET SESSION AUTHORIZATION;
SELECT results_eq('SELECT f FROM found1 ORDER BY 1', ARRAY[:wang, :li]::bigint[],
                  'the lookup finds both registrations of the number (blanks and case ignored)');
SELECT is((SELECT count(*) FROM found0), 0::bigint, 'an unknown number finds nobody');
SELECT results_eq('SELECT f FROM found2 ORDER BY 1', ARRAY[:wang, :li]::bigint[], 'the same lookup on the login');
SELECT results_eq($$SELECT * FROM pg_temp.audit_after($$ || :a || $$)$$,
                  $$VALUES ('sanse_t17_clerk/sanse_t17_app id_lookup {pv Wang,pv Li} civil affairs subsidy claim 2024-17 | -'),
                           ('sanse_t17_clerk/sanse_t17_app id_lookup {} a claim that matches nobody | -'),
                           ('sanse_t17_clerk/sanse_t17_clerk id_lookup {pv Wang,pv Li} the clerk on her own login | -')$$,
                  'each lookup is audited with the residents found and its purpose; login and acting role');

SELECT pg_temp.mark() AS a \gset
SELECT is(pg_temp.sqlstate_as('sanse_t17_app', q), e, d)
  FROM (VALUES ($$SELECT sanse.find_resident_by_id_number('11010119400101123X', '  ')$$, '22023', 'a blank purpose is refused (22023)'),
               ($$SELECT sanse.find_resident_by_id_number('11010119400101123X', '')$$, '22023', 'an empty purpose is refused (22023)'),
               ($$SELECT sanse.find_resident_by_id_number('11010119400101123X', NULL)$$, '22023', 'a NULL purpose is refused (22023)'),
               ($$SELECT sanse.find_resident_by_id_number(NULL, 'a purpose')$$, '22004', 'a NULL number is refused (22004)')
       ) t(q, e, d);
SELECT is(pg_temp.audit_count(:a), 0, 'refused lookups write no audit row');
SELECT is(pg_temp.sqlstate_as('sanse_t17_nobody', $$SELECT sanse.find_resident_by_id_number('11010119400101123X', 'curious')$$),
          '42501', 'a role without the grant cannot look up a number (42501)');

-----------------------------------------------------------------------------
-- door token revocation
-----------------------------------------------------------------------------
SELECT door_token(:wang) AS old_tok \gset
SELECT pg_temp.mark() AS a \gset
SET LOCAL SESSION AUTHORIZATION sanse_t17_clerk;
SET LOCAL ROLE sanse_t17_app;
SELECT sanse.revoke_door_token(:wang) AS tok \gset
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT * FROM pg_temp.audit_after($$ || :a || $$)$$,
                  $$VALUES ('sanse_t17_clerk/sanse_t17_app token_revocation {pv Wang} - | -')$$,
                  'a token revocation is audited with the resident');
SELECT isnt(:'tok'::text, :'old_tok'::text, 'a new token was made');

-----------------------------------------------------------------------------
-- Wang's history before she leaves: a visit with a note, a missed window
-- (overdue event climbing to the task force), a warning through the whole
-- loop with its texts
-----------------------------------------------------------------------------
-- red by override, registered 03-01 09:00+08: due 03-03 09:00; the visit on
-- 03-02 10:00 meets it, the next window is due 03-04 10:00 and is missed
SELECT lives_ok(format($$SELECT check_in(%L, %s, '2024-03-02 10:00+08', '{}', 'pv: knee bandaged after a fall')$$, :'tok', :vol),
                'Wang visited on 03-02 with a note');
SELECT lives_ok($$SELECT sweep('2024-03-05 00:00+08')$$, 'sweep on 03-05 00:00');
SELECT results_eq($$SELECT e.due_at, e.status, e.level FROM event e WHERE e.resident_id = $$ || :wang || $$ AND e.kind = 'overdue'$$,
                  $$VALUES ('2024-03-04 10:00+08'::timestamptz, 'open', 4::smallint)$$,
                  'the missed window of 03-04 10:00 is open, at the task force (4 h steps: 14:00, 18:00, 22:00)');
SELECT raise_event('warning', :wang, 'pv: smoke alarm beeping', 'grid', '2024-03-05 11:00+08', :lead_g) AS warn \gset
SELECT lives_ok(format($$SELECT arrive(%s, %s, %L, '2024-03-05 11:10+08')$$, :warn, :vol, :'tok'), 'the carer arrives');
SELECT lives_ok(format($$SELECT handle_event(%s, %s, 'pv: replaced the battery', '2024-03-05 11:20+08')$$, :warn, :vol), 'handles');
SELECT lives_ok(format($$SELECT feed_back(%s, %s, 'pv: told her daughter', '2024-03-05 11:30+08')$$, :warn, :vol), 'feeds back');
SELECT lives_ok(format($$SELECT evaluate(%s, 5::smallint, true, 'resident', 'pv: very kind', '2024-03-05 12:00+08')$$, :warn),
                'and Wang rates it');
SELECT results_eq($$SELECT detail, action, feedback, status FROM event WHERE id = $$ || :warn,
                  $$VALUES ('pv: smoke alarm beeping', 'pv: replaced the battery', 'pv: told her daughter', 'closed')$$,
                  'the warning holds its texts before');
SELECT is((SELECT count(*) FROM event_transition WHERE event_id = :warn AND note IS NOT NULL), 4::bigint,
          'four transitions carry a note (called, handled, fed back, closed)');
SELECT is((SELECT override_reason FROM tier_history WHERE resident_id = :wang), 'fell twice this winter',
          'the history holds the override reason');

-- the counts statistics read, before
CREATE TEMP TABLE before AS
SELECT (SELECT count(*) FROM visit WHERE resident_id = :wang) AS visits,
       (SELECT count(*) FROM event WHERE resident_id = :wang) AS events,
       (SELECT count(*) FROM event_step s JOIN event e ON e.id = s.event_id WHERE e.resident_id = :wang) AS steps,
       (SELECT count(*) FROM event_transition t JOIN event e ON e.id = t.event_id WHERE e.resident_id = :wang) AS transitions,
       (SELECT count(*) FROM tier_history WHERE resident_id = :wang) AS history,
       (SELECT array_agg(id ORDER BY id) FROM tier_history WHERE resident_id = :wang) AS history_ids;
SELECT results_eq('SELECT visits, events, steps, transitions, history FROM before',
                  $$VALUES (1::bigint, 2::bigint, 5::bigint, 5::bigint, 1::bigint)$$,
                  'before: 1 visit, 2 events (overdue, warning), 5 steps (overdue L1-L4, warning L1), 5 transitions, 1 history row');

-- the views, before: active residents with a tier — M1 Ou (blue), Wang (red,
-- overdue); M2 Li (red), Ma (yellow); M3 Xu (yellow), Hu (blue), Zhu (red)
CREATE FUNCTION pg_temp.coverage() RETURNS TABLE (path text, residents bigint, red bigint, yellow bigint, blue bigint,
                                                   overdue_now bigint, window_met bigint, coverage_rate numeric)
LANGUAGE sql AS $$
	SELECT c.path, c.residents, c.red, c.yellow, c.blue, c.overdue_now, c.window_met, c.coverage_rate
	  FROM sanse.coverage c WHERE c.path IN ('d', 'd.t.v.tg.g', 'd.t.v.tg.g.m1', 'd.t.v.tg.g.m2', 'd.t.v.tg.g2.m3')
	 ORDER BY c.path
$$;
SELECT results_eq('SELECT * FROM pg_temp.coverage()',
                  $$VALUES ('d', 7::bigint, 3::bigint, 2::bigint, 2::bigint, 1::bigint, 0::bigint, 0.8571),
                           ('d.t.v.tg.g', 4, 2, 1, 1, 1, 0, 0.7500),
                           ('d.t.v.tg.g.m1', 2, 1, 0, 1, 1, 0, 0.5000),
                           ('d.t.v.tg.g.m2', 2, 1, 1, 0, 0, 0, 1.0000),
                           ('d.t.v.tg.g2.m3', 3, 1, 1, 1, 0, 0, 1.0000)$$,
                  'coverage before: seven residents in the district, Wang red and overdue in M1');
SELECT results_eq($$SELECT month, windows_due, windows_met, visits FROM worker_checkin_rate WHERE worker_id = $$ || :vol,
                  $$VALUES ('2024-03-01'::date, 2::bigint, 1::bigint, 1::bigint)$$,
                  'the carer''s check-in rate before: March, 2 windows due (03-03 met, 03-04 missed), 1 visit');
SELECT results_eq($$SELECT path, month, opened, closed, still_open, reached_level_4 FROM overdue_events
                     WHERE path IN ('d', 'd.t.v.tg.g.m1') ORDER BY path$$,
                  $$VALUES ('d', '2024-03-01'::date, 1::bigint, 0::bigint, 1::bigint, 1::bigint),
                           ('d.t.v.tg.g.m1', '2024-03-01', 1, 0, 1, 1)$$,
                  'overdue_events before: one opened in March, still open, at level 4');

-----------------------------------------------------------------------------
-- forget_resident: refusals
-----------------------------------------------------------------------------
SELECT pg_temp.mark() AS a \gset
SELECT is(pg_temp.sqlstate_of(q), e, d)
  FROM (VALUES (format($$SELECT sanse.forget_resident(%s, '   ')$$, :wang), '22023', 'a blank reason is refused (22023)'),
               (format($$SELECT sanse.forget_resident(%s, NULL)$$, :wang), '22023', 'a NULL reason is refused (22023)'),
               (format($$SELECT sanse.forget_resident(%s, repeat('x', 2001))$$, :wang), '22001', 'a reason over 2000 characters is refused (22001)'),
               ($$SELECT sanse.forget_resident(-1, 'left the district')$$, '22023', 'an unknown resident is refused (22023)'),
               ($$SELECT sanse.forget_resident(NULL, 'left the district')$$, '22023', 'a NULL resident is refused (22023)'),
               ($$SELECT sanse.forget_resident(-1, repeat('x', 2000))$$, '22023', 'a reason of exactly 2000 characters passes the length check (then: unknown, 22023)')
       ) t(q, e, d);
SELECT is(pg_temp.audit_count(:a), 0, 'refused forgetting writes no audit row');
SELECT is((SELECT name FROM resident WHERE id = :wang), 'pv Wang', 'and Wang is still there');
SELECT is(pg_temp.sqlstate_as('sanse_t17_app', format($$SELECT sanse.forget_resident(%s, 'the app may not')$$, :wang)), '42501',
          'a role without the grant cannot forget (42501)');

-----------------------------------------------------------------------------
-- forget_resident: Wang moves away; her supervisor forgets her
-----------------------------------------------------------------------------
SELECT pg_temp.mark() AS a \gset
SET LOCAL SESSION AUTHORIZATION sanse_t17_boss;
SET LOCAL ROLE sanse_t17_supervisor;
\o /dev/null
SELECT sanse.forget_resident(:wang, 'moved to a care home in another city');
\o
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT * FROM pg_temp.audit_after($$ || :a || $$) t WHERE t LIKE '% forget_resident %'$$,
                  $$VALUES ('sanse_t17_boss/sanse_t17_supervisor forget_resident {pv Wang} moved to a care home in another city | -')$$,
                  'forgetting is audited: login boss, role supervisor, Wang, the reason as the purpose');
SELECT results_eq($$SELECT * FROM pg_temp.audit_after($$ || :a || $$)$$,
                  $$VALUES ('sanse_t17_boss/sanse_t17_supervisor forget_resident {pv Wang} moved to a care home in another city | -')$$,
                  'forgetting is one act: one audit row (the override it erases is not a second act by another role)');

SELECT results_eq($$SELECT name, factors, tier, computed_tier, tier_override, override_reason, id_number_hash, lat, lon, active, forgotten_at
                      FROM resident WHERE id = $$ || :wang,
                  $$VALUES ('forgotten', '{}'::text[], NULL::risk_tier, NULL::risk_tier, NULL::risk_tier, NULL::text, NULL::bytea,
                            NULL::float8, NULL::float8, false, now())$$,
                  'Wang: name forgotten, no factors, tier, computed tier, override, reason, ID hash or coordinates; inactive, forgotten now');
SELECT is((SELECT deactivated_at FROM resident WHERE id = :wang), now(), 'she left the programme now (deactivated_at)');
SELECT is((SELECT count(*) FROM door_token WHERE resident_id = :wang), 0::bigint, 'her door tokens are gone');
SELECT is(pg_temp.sqlstate_of(pg_temp.check_in_sql(:'tok', :vol, '2024-03-06 10:00+08')), '28000',
          'her last token is refused at check-in (28000)');
SELECT is(pg_temp.sqlstate_of(pg_temp.check_in_sql(:'old_tok', :vol, '2024-03-06 10:00+08')), '28000',
          'and so is the revoked one (28000)');
SELECT pg_temp.mark() AS a \gset
CREATE TEMP TABLE found3 AS SELECT * FROM sanse.find_resident_by_id_number('11010119400101123X', 'after Wang left') f;
SELECT results_eq('SELECT f FROM found3', ARRAY[:li]::bigint[], 'the number finds only Li now');
SELECT alike((SELECT t FROM pg_temp.audit_after(:a) t), '% id_lookup {pv Li} after Wang left | -', 'and the lookup is audited with Li alone');

SELECT is((SELECT count(*) FROM visit WHERE resident_id = :wang AND note IS NOT NULL), 0::bigint, 'her visit notes are erased');
SELECT results_eq($$SELECT detail, action, feedback, status, rating, solved FROM event WHERE id = $$ || :warn,
                  $$VALUES (NULL::text, NULL::text, NULL::text, 'closed', 5::smallint, true)$$,
                  'the warning keeps its stage and rating, its detail, action and feedback erased');
SELECT is((SELECT count(*) FROM event_transition t JOIN event e ON e.id = t.event_id
            WHERE e.resident_id = :wang AND t.note IS NOT NULL), 0::bigint, 'her events'' transition notes are erased');
SELECT is((SELECT count(*) FROM tier_history WHERE resident_id = :wang AND override_reason IS NOT NULL), 0::bigint,
          'her history''s override reasons are erased');
SELECT results_eq($$SELECT (SELECT count(*) FROM visit WHERE resident_id = $$ || :wang || $$),
                           (SELECT count(*) FROM event WHERE resident_id = $$ || :wang || $$),
                           (SELECT count(*) FROM event_step s JOIN event e ON e.id = s.event_id WHERE e.resident_id = $$ || :wang || $$),
                           (SELECT count(*) FROM event_transition t JOIN event e ON e.id = t.event_id WHERE e.resident_id = $$ || :wang || $$)$$,
                  'SELECT visits, events, steps, transitions FROM before',
                  'her visits, events, steps and transitions remain (counts unchanged)');
SELECT ok((SELECT history_ids FROM before) <@ (SELECT array_agg(id) FROM tier_history WHERE resident_id = :wang),
          'every tier_history row she had remains');
SELECT is((SELECT count(*) FROM tier_history WHERE resident_id = :wang), (SELECT history FROM before),
          'and the tier_history count is unchanged');
SELECT results_eq('SELECT * FROM pg_temp.coverage()',
                  $$VALUES ('d', 6::bigint, 2::bigint, 2::bigint, 2::bigint, 0::bigint, 0::bigint, 1.0000),
                           ('d.t.v.tg.g', 3, 1, 1, 1, 0, 0, 1.0000),
                           ('d.t.v.tg.g.m1', 1, 0, 0, 1, 0, 0, 1.0000),
                           ('d.t.v.tg.g.m2', 2, 1, 1, 0, 0, 0, 1.0000),
                           ('d.t.v.tg.g2.m3', 3, 1, 1, 1, 0, 0, 1.0000)$$,
                  'coverage after: Wang is out of the programme, every level still sums its grids');
SELECT results_eq($$SELECT month, windows_due, windows_met, visits FROM worker_checkin_rate WHERE worker_id = $$ || :vol,
                  $$VALUES ('2024-03-01'::date, 2::bigint, 1::bigint, 1::bigint)$$,
                  'the carer''s check-in rate is unchanged');
SELECT results_eq($$SELECT path, month, opened, closed, still_open, reached_level_4 FROM overdue_events
                     WHERE path IN ('d', 'd.t.v.tg.g.m1') ORDER BY path$$,
                  $$VALUES ('d', '2024-03-01'::date, 1::bigint, 0::bigint, 1::bigint, 1::bigint),
                           ('d.t.v.tg.g.m1', '2024-03-01', 1, 0, 1, 1)$$,
                  'overdue_events unchanged: one opened in March');
SELECT is((SELECT name FROM resident WHERE id = :li), 'pv Li', 'Li, with the same number, is not touched');

-----------------------------------------------------------------------------
-- deactivated_at and forgotten_at: written only by sanse
-----------------------------------------------------------------------------
SELECT pg_temp.rid('pv Ou') AS ou \gset
SELECT is(pg_temp.sqlstate_as('sanse_t17_app', q), '42501', d)
  FROM (VALUES (format('UPDATE sanse.resident SET deactivated_at = now() WHERE id = %s', :ou), 'the app cannot write deactivated_at (42501)'),
               (format('UPDATE sanse.resident SET forgotten_at = now() WHERE id = %s', :ou), 'the app cannot write forgotten_at (42501)'),
               (format($$INSERT INTO sanse.resident (area_id, name, deactivated_at) VALUES (%s, 'pv Sneak', now())$$, :m1),
                'nor insert a resident with deactivated_at (42501)'),
               (format($$INSERT INTO sanse.resident (area_id, name, forgotten_at) VALUES (%s, 'pv Sneak', now())$$, :m1),
                'nor with forgotten_at (42501)'),
               (format('UPDATE sanse.resident SET forgotten_at = NULL WHERE id = %s', :wang), 'nor un-forget a resident (42501)')
       ) t(q, d);
SET LOCAL ROLE sanse_t17_app;
UPDATE sanse.resident SET active = false WHERE name = 'pv Ou';
RESET ROLE;
SELECT results_eq($$SELECT active, deactivated_at FROM resident WHERE name = 'pv Ou'$$,
                  $$VALUES (false, now())$$, 'deactivating a resident sets deactivated_at');
SET LOCAL ROLE sanse_t17_app;
UPDATE sanse.resident SET name = 'pv Ou' WHERE name = 'pv Ou';
RESET ROLE;
SELECT is((SELECT deactivated_at FROM resident WHERE name = 'pv Ou'), now(), 'an update leaving active alone keeps it');
SET LOCAL ROLE sanse_t17_app;
UPDATE sanse.resident SET active = true WHERE name = 'pv Ou';
INSERT INTO sanse.resident (area_id, name, factors, active) VALUES (:m4, 'pv Gone', '{}', false);
RESET ROLE;
SELECT results_eq($$SELECT active, deactivated_at FROM resident WHERE name = 'pv Ou'$$,
                  $$VALUES (true, NULL::timestamptz)$$, 'reactivating clears it');
SELECT results_eq($$SELECT active, deactivated_at FROM resident WHERE name = 'pv Gone'$$,
                  $$VALUES (false, now())$$, 'registering an inactive resident sets it');
DELETE FROM resident WHERE name = 'pv Gone';

-----------------------------------------------------------------------------
-- the audit log is append-only, for the owner and in replica mode too; only
-- granted roles read it
-----------------------------------------------------------------------------
-- the audit chain's head is written at commit (a deferred trigger): written
-- now, so that TRUNCATE meets sanse's refusal, not PostgreSQL's 55006
SET CONSTRAINTS sanse.audit_log_chain_head IMMEDIATE;
SELECT count(*) AS n_audit, max(id) AS max_audit, sum(hashtext(a::text)) AS sum_audit FROM sanse.audit_log a \gset
SELECT ok(:n_audit > 0, 'the audit log has rows');
SELECT is(pg_temp.sqlstate_of(q), '42501', d)
  FROM (VALUES ($$UPDATE sanse.audit_log SET purpose = 'nothing to see'$$, 'the owner (superuser) cannot UPDATE the audit (42501)'),
               ($$DELETE FROM sanse.audit_log$$, 'nor DELETE from it (42501)'),
               ($$TRUNCATE sanse.audit_log$$, 'nor TRUNCATE it (42501)')) t(q, d);
SET LOCAL session_replication_role = replica;
SELECT is(pg_temp.sqlstate_of(q), '42501', d)
  FROM (VALUES ($$UPDATE sanse.audit_log SET purpose = 'nothing to see'$$, 'in replica mode: UPDATE refused (42501)'),
               ($$DELETE FROM sanse.audit_log$$, 'in replica mode: DELETE refused (42501)'),
               ($$TRUNCATE sanse.audit_log$$, 'in replica mode: TRUNCATE refused (42501)')) t(q, d);
SET LOCAL session_replication_role = origin;
SELECT is(pg_temp.sqlstate_session('sanse_t17_dba', q), '42501', d)
  FROM (VALUES ($$UPDATE sanse.audit_log SET purpose = 'nothing to see'$$, 'another superuser login cannot UPDATE it (42501)'),
               ($$DELETE FROM sanse.audit_log$$, 'nor DELETE (42501)'),
               ($$TRUNCATE sanse.audit_log$$, 'nor TRUNCATE (42501)')) t(q, d);
SELECT is(pg_temp.sqlstate_as(r, q), e, d)
  FROM (VALUES ('sanse_t17_nobody', 'SELECT count(*) FROM sanse.audit_log', '42501', 'a role without grants cannot read the audit (42501)'),
               ('sanse_t17_app', 'SELECT count(*) FROM sanse.audit_log', '42501', 'nor can the app (42501)'),
               ('sanse_t17_auditor', 'SELECT count(*) FROM sanse.audit_log', 'ok', 'an auditor granted SELECT reads it'),
               ('sanse_t17_auditor', $$UPDATE sanse.audit_log SET purpose = 'x'$$, '42501', 'but cannot change it (42501)'),
               ('sanse_t17_nobody', $$INSERT INTO sanse.audit_log (session_user_name, current_user_name, act) VALUES ('x', 'x', 'id_lookup')$$,
                '42501', 'a role without grants cannot forge an audit row (42501)'),
               ('sanse_t17_nobody', $$SELECT sanse.audit('id_lookup', '{}', 'forged')$$, '42501',
                'nor call sanse.audit (42501)')) t(r, q, e, d);
SELECT results_eq('SELECT count(*), max(id), sum(hashtext(a::text)) FROM sanse.audit_log a',
                  format('VALUES (%s::bigint, %s::bigint, %s::bigint)', :n_audit, :max_audit, :sum_audit),
                  'after all that, every audit row is there, unchanged');

-----------------------------------------------------------------------------
-- retention: the sweep forgets residents inactive for longer than
-- sanse.retention
-----------------------------------------------------------------------------
INSERT INTO resident (area_id, name, factors) VALUES (:m4, 'pv Old', '{accident_risk}'), (:m4, 'pv Recent', '{accident_risk}'),
                                                     (:m4, 'pv Active', '{accident_risk}');
SELECT pg_temp.remember();
UPDATE resident SET active = false WHERE name IN ('pv Old', 'pv Recent');
-- the owner (a superuser) dates their leaving
UPDATE resident SET deactivated_at = now() - interval '3 days' WHERE name = 'pv Old';
UPDATE resident SET deactivated_at = now() - interval '1 hour' WHERE name = 'pv Recent';
SELECT is(pg_temp.sqlstate_as('sanse_t17_app', $$SET LOCAL sanse.retention = '1 second'$$), '42501',
          'sanse.retention is superuser-only (42501)');
SELECT is(pg_temp.sqlstate_of($$SET LOCAL sanse.retention = '-1 day'$$), '22023', 'a negative retention is refused (22023)');

-- with the default two years nobody is due (the setting exists once the
-- library is loaded: the resident triggers above loaded it)
SELECT is(current_setting('sanse.retention'), '2 years', 'sanse.retention defaults to 2 years');
SELECT pg_temp.mark() AS a \gset
SELECT lives_ok($$SELECT sweep(now())$$, 'a sweep with the default retention');
SELECT is(pg_temp.audit_count(:a), 0, 'forgets nobody (no audit row)');
SELECT is((SELECT count(*) FROM resident WHERE forgotten_at IS NOT NULL), 1::bigint, 'only Wang is forgotten');

SET LOCAL sanse.retention = '1 day';
SELECT pg_temp.mark() AS a \gset
SET LOCAL SESSION AUTHORIZATION sanse_t17_ops;
SET LOCAL ROLE sanse_t17_sweeper;
\o /dev/null
SELECT sanse.sweep(now());
\o
RESET ROLE;
RESET SESSION AUTHORIZATION;
SELECT results_eq($$SELECT format('%s/%s %s', session_user_name, current_user_name, act) COLLATE "default", resident_ids, purpose LIKE 'retention%'
                      FROM sanse.audit_log WHERE id > $$ || :a,
                  format($$VALUES ('sanse_t17_ops/sanse_t17_sweeper forget_resident', ARRAY[%s]::bigint[], true)$$, pg_temp.rid('pv Old')),
                  'the sweep forgets Old: one forget_resident row, its purpose starting ''retention''');
SELECT results_eq($$SELECT n, r.name, r.active, r.forgotten_at IS NOT NULL, r.factors FROM rid JOIN resident r USING (id), LATERAL (SELECT rid.name) x(n)
                     WHERE rid.name IN ('pv Old', 'pv Recent', 'pv Active') ORDER BY n$$,
                  $$VALUES ('pv Active', 'pv Active', true, false, '{accident_risk}'::text[]),
                           ('pv Old', 'forgotten', false, true, '{}'),
                           ('pv Recent', 'pv Recent', false, false, '{accident_risk}')$$,
                  'Old (left 3 days ago) is forgotten; Recent (an hour ago) and Active are not');
SELECT results_eq($$SELECT tier, computed_tier, lat, lon, id_number_hash FROM resident WHERE id = $$ || pg_temp.rid('pv Old'),
                  $$VALUES (NULL::risk_tier, NULL::risk_tier, NULL::float8, NULL::float8, NULL::bytea)$$,
                  'Old is erased like a forgotten resident');
SELECT pg_temp.mark() AS a \gset
SELECT lives_ok($$SELECT sweep(now())$$, 'the next sweep');
SELECT is(pg_temp.audit_count(:a), 0, 'forgets nobody again (no audit row)');

SELECT * FROM finish();
ROLLBACK;
