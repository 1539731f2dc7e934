-- pgTAP: issue 19, one style per vocabulary — every vocabulary is a lookup
-- table sanse.<vocabulary> (value, position, meaning) listed by the view
-- sanse.vocabulary, with the values the spec lists; the columns that hold
-- them reference the table (an unknown value: 23503); no client writes the
-- tables; the vocabularies checked in C agree with their tables; and the
-- free-text limit is the same at every column and parameter that takes
-- free text.  Expected values are typed here from the spec (sections 1, 2,
-- 4, 5, 6, 8) and the README (2,000 characters, 22001), not read from sanse.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(96);

-----------------------------------------------------------------------------
-- 1. every vocabulary is in sanse.vocabulary, with the spec's values in order
-----------------------------------------------------------------------------
CREATE TEMP TABLE spec_vocabulary (vocabulary text, vals text[], source text);
INSERT INTO spec_vocabulary VALUES
	('area_kind', '{district,town,village,total_grid,general_grid,micro_grid}', 'spec 1 and 6: the grid, top down'),
	('force', '{department_staff,community_cadre,grid_officer,service_professional,volunteer}', 'spec 6: the five forces'),
	('worker_role', '{member,micro_grid_leader,general_grid_leader,total_grid_leader,task_force}', 'spec 6: member, then levels 1 to 4'),
	('grant_access', '{aggregate,read,care}', 'spec 8: aggregate < read < care'),
	('tier', '{blue,yellow,red}', 'spec 2: blue < yellow < red'),
	('risk_factor', '{sudden_illness,no_caregiver,accident_risk,partial_care,unstable_chronic,mobility_impaired,self_care_difficulty,lives_alone,disabled,mental_disorder,recently_discharged}', 'spec 4: the eleven factors'),
	('checklist_item', '{ask_health,ask_diet,ask_family,check_water,check_power,check_gas,clear_clutter,clear_garbage,clear_passage}', 'spec 5: knock three things'),
	-- spec 8 names the acts (tier override, rule or policy change, grant
	-- change, token revocation, ID-number lookup, forgetting a resident);
	-- the README adds a sweep's lock timeout
	-- spec 7: kinds, scales (grid starts at level 1, department at 3, the
	-- task force at 4), the statuses of a non-overdue event (open is an
	-- overdue event's) and the stages a transition records
	('event_kind', '{overdue,warning,finding,request,task}', 'spec 7: the kinds of event'),
	('event_scale', '{grid,department,task_force}', 'spec 7: the scales'),
	('event_status', '{open,called,arrived,handled,fed_back,closed}', 'spec 5 and 7: open, then the loop''s stages'),
	('loop_stage', '{called,arrived,whistled,handled,fed_back,reopened,closed,still_here,cancelled}', 'spec 7: the stages a transition records, and doc/feeds.md''s answer to a departure, and a quiet warning a late reading disproved (spec 10)'),
	-- the README's flags table (paper 5.3.3), in its order
	('visit_flag', '{quick_succession,impossible_travel,repeat_visit,late}', 'the README: the flags of a check-in'),
	-- spec 10: the device kinds and the rules
	('device_kind', '{smoke,gas,fall,sos,water_meter,door,power_meter}', 'spec 10: the kinds of device'),
	('device_rule_kind', '{alarm,above,below,quiet,silent}', 'spec 10: the rules of device_rule'),
	('audit_act', '{tier_override,rule_change,policy_change,grant_change,token_revocation,id_lookup,forget_resident,lock_timeout,feed_apply}', 'spec 8, the README and spec 9 (applying a feed): the audited acts');

SELECT is(ARRAY(SELECT v.value FROM sanse.vocabulary v WHERE v.vocabulary = s.vocabulary ORDER BY v.position),
          s.vals, format('sanse.vocabulary lists %s: %s', s.vocabulary, s.source))
  FROM spec_vocabulary s ORDER BY s.vocabulary;
SELECT is((SELECT count(*) FROM sanse.vocabulary v WHERE v.meaning IS NULL OR btrim(v.meaning) = ''), 0::bigint,
          'every value says what it means');

-- every lookup table of that shape is in the view (a new vocabulary cannot be left out)
CREATE TEMP VIEW vocabulary_tables AS
SELECT c.relname::text AS vocabulary
  FROM pg_class c
 WHERE c.relnamespace = 'sanse'::regnamespace AND c.relkind = 'r'
   AND (SELECT array_agg(a.attname::text || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum between 1 and 3 AND NOT a.attisdropped)
       = '{"value text not null","position smallint not null","meaning text not null"}';
SELECT set_eq($$SELECT vocabulary FROM vocabulary_tables$$, $$SELECT DISTINCT vocabulary FROM sanse.vocabulary$$,
              'sanse.vocabulary covers every lookup table (value, position, meaning) of sanse, and names each after its table');
SELECT ok(NOT EXISTS (SELECT 1 FROM spec_vocabulary s WHERE s.vocabulary NOT IN (SELECT vocabulary FROM vocabulary_tables)),
          'each vocabulary of the spec is a table of that shape');
-- value is the primary key, position unique
SELECT is((SELECT count(*) FROM vocabulary_tables t
            WHERE EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = ('sanse.' || t.vocabulary)::regclass AND k.contype = 'p'
                           AND k.conkey = ARRAY[1::smallint])
              AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = ('sanse.' || t.vocabulary)::regclass AND k.contype = 'u'
                           AND k.conkey = ARRAY[2::smallint])),
          (SELECT count(*) FROM vocabulary_tables), 'in every vocabulary table value is the primary key and position is unique');

-----------------------------------------------------------------------------
-- 2. the columns that hold a vocabulary reference its table; an unknown value is 23503
-----------------------------------------------------------------------------
SELECT is((SELECT string_agg(format('%s.%s -> %s', c.relname, a.attname, f.relname), ', ' ORDER BY c.relname, a.attname)
             FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class f ON f.oid = k.confrelid
            WHERE k.contype = 'f' AND k.connamespace = 'sanse'::regnamespace AND cardinality(k.conkey) = 1
              AND f.relname IN (SELECT vocabulary FROM vocabulary_tables)),
          'area.kind -> area_kind, area_grant.access -> grant_access, audit_log.act -> audit_act, device.kind -> device_kind, device_rule.kind -> device_kind, device_rule.rule -> device_rule_kind, device_span.rule -> device_rule_kind, event.device_kind -> device_kind, event.kind -> event_kind, event.rule -> device_rule_kind, event.scale -> event_scale, event.status -> event_status, event_transition.stage -> loop_stage, loop_move.from_status -> event_status, loop_move.not_before -> event_status, loop_move.stage -> loop_stage, loop_move.to_status -> event_status, loop_policy.kind -> event_kind, worker.force -> force, worker.role -> worker_role',
          'area.kind, area_grant.access, audit_log.act, device.kind, device_rule.kind/rule, event.kind/scale/status/device_kind/rule, event_transition.stage, loop_move, loop_policy.kind, worker.force and worker.role reference their vocabularies');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_constraint k
                       WHERE k.contype = 'c' AND k.conrelid IN ('sanse.area'::regclass, 'sanse.worker'::regclass, 'sanse.area_grant'::regclass, 'sanse.audit_log'::regclass)
                         AND pg_get_constraintdef(k.oid) ~* '(ANY \(ARRAY\[| IN \()|forces\(\)|worker_roles\(\)|area_kind_level'),
          'no inline list of values is left in their CHECK constraints');

CREATE ROLE sanse_t26_role NOLOGIN;
SELECT is(pg_temp.sqlstate_of(t.stmt), t.expected, t.description)
  FROM (VALUES
    ('an unknown area kind is refused (23503)', $$INSERT INTO sanse.area (path, kind, name) VALUES ('d.t9', 'street', 'x')$$, '23503'),
    ('a known one is accepted', $$INSERT INTO sanse.area (path, kind, name) VALUES ('d.t9', 'town', 'x')$$, 'ok'),
    ('an unknown force is refused (23503)', format($$INSERT INTO sanse.worker (name, force, area_id) VALUES ('x', 'police', %s)$$, pg_temp.area_id('d.t.v.tg.g.m1')), '23503'),
    ('an unknown role is refused (23503)', format($$INSERT INTO sanse.worker (name, force, role, area_id) VALUES ('x', 'volunteer', 'mayor', %s)$$, pg_temp.area_id('d.t.v.tg.g.m1')), '23503'),
    ('a worker changed to an unknown force is refused (23503)', $$UPDATE sanse.worker SET force = 'police' WHERE name = 'lead m1'$$, '23503'),
    ('an unknown access is refused (23503)', $$INSERT INTO sanse.area_grant (role, path, access) VALUES ('sanse_t26_role', 'd', 'write')$$, '23503'),
    ('a grant with a known access is accepted', $$INSERT INTO sanse.area_grant (role, path, access) VALUES ('sanse_t26_role', 'e', 'read')$$, 'ok'),
    ('a grant''s access cannot become unknown (23503)', $$UPDATE sanse.area_grant SET access = 'admin' WHERE role = 'sanse_t26_role'$$, '23503'),
    ('an unknown audit act is refused (23503)', $$SELECT sanse.audit('snooping', '{}', 'test')$$, '23503'),
    ('a vocabulary cannot lose a value in use, even by its owner (23503)', $$DELETE FROM sanse.worker_role WHERE value = 'micro_grid_leader'$$, '23503')
  ) t(description, stmt, expected);

-----------------------------------------------------------------------------
-- 3. the tables and the view are everyone's to read and nobody's to write
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_as('sanse_t26_role', format('SELECT count(*) FROM sanse.%I', t.vocabulary)), 'ok',
          format('any role reads sanse.%s', t.vocabulary))
  FROM vocabulary_tables t ORDER BY 1;
SELECT is(pg_temp.sqlstate_as('sanse_t26_role', 'SELECT count(*) FROM sanse.vocabulary'), 'ok', 'any role reads sanse.vocabulary');
INSERT INTO sanse.area_grant (role, path, access) VALUES ('sanse_t26_role', 'd', 'care');
SELECT is(ARRAY[pg_temp.sqlstate_as('sanse_t26_role', format($$INSERT INTO sanse.%I (value, position, meaning) VALUES ('x', 99, 'x')$$, t.vocabulary)),
                pg_temp.sqlstate_as('sanse_t26_role', format($$UPDATE sanse.%I SET meaning = 'x'$$, t.vocabulary)),
                pg_temp.sqlstate_as('sanse_t26_role', format($$DELETE FROM sanse.%I$$, t.vocabulary)),
                pg_temp.sqlstate_as('sanse_t26_role', format($$TRUNCATE sanse.%I$$, t.vocabulary))],
          '{42501,42501,42501,42501}', format('a client (even with a care grant) cannot insert, update, delete or truncate sanse.%s', t.vocabulary))
  FROM vocabulary_tables t ORDER BY 1;
SELECT ok(pg_temp.sqlstate_as('sanse_t26_role', $$INSERT INTO sanse.vocabulary VALUES ('force', 'police', 9, 'x')$$) IN ('42501', '55000'),
          'nor write through the view (it is not updatable)');

-----------------------------------------------------------------------------
-- 4. the vocabularies checked in C agree with their tables
-----------------------------------------------------------------------------
SELECT set_eq($$SELECT vocabulary, value, position, meaning FROM sanse.compiled_vocabulary()$$,
              $$SELECT vocabulary, value, position, meaning FROM sanse.vocabulary WHERE vocabulary IN ('tier', 'risk_factor', 'checklist_item', 'grant_access')$$,
              'the library''s tiers, factors, checklist items and accesses are exactly the rows of their tables');
SELECT is(factor_names(), ARRAY(SELECT value FROM sanse.risk_factor ORDER BY position),
          'factor_names() (what classify checks) is sanse.risk_factor in bit order');
SELECT is(checklist_items(), ARRAY(SELECT value FROM sanse.checklist_item ORDER BY position),
          'checklist_items() (what check_in checks) is sanse.checklist_item in order');
SELECT is(forces(), ARRAY(SELECT value FROM sanse.force ORDER BY position), 'forces() reads sanse.force');
SELECT is(worker_roles(), ARRAY(SELECT value FROM sanse.worker_role ORDER BY position), 'worker_roles() reads sanse.worker_role');
-- forces() and worker_roles() keep a per-backend copy: it follows a change of
-- the table (only the extension's scripts make one; the owner here, rolled back)
INSERT INTO sanse.force (value, position, meaning) VALUES ('t26_force', 99, 'a force of this test');
SELECT is((forces())[6], 't26_force', 'forces() follows a row added to sanse.force at once');
DELETE FROM sanse.force WHERE value = 't26_force';
SELECT is(cardinality(forces()), 5, '... and its removal');
UPDATE sanse.worker_role SET meaning = meaning || ' ' WHERE value = 'member';
SELECT is(worker_roles(), '{member,micro_grid_leader,general_grid_leader,total_grid_leader,task_force}', 'worker_roles() after its table is written');
SELECT is(ARRAY(SELECT area_kind_level(value) FROM sanse.area_kind ORDER BY position), '{1,2,3,4,5,6}'::int[],
          'area_kind_level() is the kind''s position: district 1 ... micro_grid 6');
-- tiers: the type takes every value of the table, and orders them by position
SELECT is(ARRAY(SELECT value::risk_tier FROM sanse.tier ORDER BY position), '{blue,yellow,red}'::risk_tier[],
          'each sanse.tier value is a risk_tier, in the type''s severity order');
SELECT is(ARRAY(SELECT t.chinese::risk_tier FROM sanse.tier t ORDER BY position), '{blue,yellow,red}'::risk_tier[],
          'sanse.tier.chinese is the colour the type accepts: 蓝, 黄, 红');
SELECT is(ARRAY(SELECT (t.chinese || '色')::risk_tier FROM sanse.tier t ORDER BY position), '{blue,yellow,red}'::risk_tier[],
          '... and with 色: 蓝色, 黄色, 红色');
SELECT is((pg_temp.error_of($$SELECT 'green'::sanse.risk_tier$$)).hint,
          'Valid values are red, yellow and blue (any case), 红, 黄, 蓝, 红色, 黄色 and 蓝色.',
          'a bad tier''s hint lists the tiers (as before, from the one list)');
-- factors: one list in rules.c, the refusal's hint is built from it
SELECT is((pg_temp.error_of($$SELECT sanse.classify('{sudden_illness,flu}')$$)).hint,
          'Valid factors are sudden_illness, no_caregiver, accident_risk, partial_care, unstable_chronic, mobility_impaired, '
          'self_care_difficulty, lives_alone, disabled, mental_disorder and recently_discharged.',
          'an unknown factor''s hint lists the eleven factors of spec 4, in order');
SELECT is((pg_temp.error_of($$SELECT sanse.classify('{sudden_illness,flu}')$$)).state, '22023', 'an unknown factor is 22023 (spec 4)');
SELECT is(pg_temp.sqlstate_of($$SELECT sanse.classify(array_agg(value)) FROM sanse.risk_factor$$), 'ok',
          'classify() accepts every factor of sanse.risk_factor');
-- accesses: what row-level security probes with
SELECT is(ARRAY(SELECT sees_area(pg_temp.area_id('d'), value) FROM sanse.grant_access ORDER BY position), '{t,t,t}'::boolean[],
          'sees_area() takes every access of sanse.grant_access');
SELECT is((pg_temp.error_of($$SELECT sanse.sees_area(1, 'write')$$)).hint, 'The accesses are aggregate, read and care.',
          'an unknown access (22023) is refused with a hint listing the accesses, in order');
-- the role holds care on d and read on e: asked for an access, granted_areas
-- counts the grants of that access or one above it (sanse.grant_access's order)
SELECT is(ARRAY(SELECT (SELECT count(*) FROM granted_areas(a, 'sanse_t26_role'))
                  FROM unnest(ARRAY['aggregate', 'read', 'care', 'write']) WITH ORDINALITY x(a, i) ORDER BY i),
          ARRAY[(SELECT count(*) FROM area WHERE path <@ 'd' OR path <@ 'e'), (SELECT count(*) FROM area WHERE path <@ 'd' OR path <@ 'e'),
                (SELECT count(*) FROM area WHERE path <@ 'd'), 0],
          'granted_areas(): aggregate and read reach the care and read grants, care only the care grant, an unknown access nothing');

-----------------------------------------------------------------------------
-- 5. the free-text limit: 2,000 characters everywhere (README: 22001 for a
--    note or reason over 2,000 characters)
-----------------------------------------------------------------------------
SELECT is(free_text_max(), 2000, 'free_text_max() is 2,000 characters');
SELECT is((SELECT array_agg(DISTINCT m[1]::int)
             FROM pg_constraint k, regexp_matches(pg_get_constraintdef(k.oid), 'length\([a-z_]+\) <= ([0-9]+)', 'g') m
            WHERE k.connamespace = 'sanse'::regnamespace),
          ARRAY[free_text_max()], 'every length limit in a CHECK of sanse is free_text_max()');

INSERT INTO resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Wen t26', '{accident_risk}', now() - interval '1 day');
SELECT pg_temp.resident_id('Wen t26') AS wen, pg_temp.worker_id('lead m1') AS lead, pg_temp.token('Wen t26') AS tok \gset
SELECT check_in(:'tok', :lead, now() - interval '2 hours') AS v1 \gset
SELECT check_in(:'tok', :lead, now() - interval '1 hour') AS v2 \gset

SELECT is(ARRAY[pg_temp.sqlstate_of(format(t.stmt, repeat('x', 2001))), pg_temp.sqlstate_of(format(t.stmt, repeat('x', 2000)))],
          ARRAY[t.expected, 'ok'], t.description || ': 2,001 characters refused (' || t.expected || '), 2,000 accepted')
  FROM (VALUES
    ('check_in''s note', format($$SELECT sanse.check_in(%L, %s, now() - interval '30 minutes', '{}', %%L)$$, :'tok', :lead), '22001'),
    ('a tier override''s reason', format($$UPDATE sanse.resident SET tier_override = 'red', override_reason = %%L WHERE id = %s$$, :wen), '22001'),
    ('withdraw_visit''s reason', format($$SELECT sanse.withdraw_visit(%s, %%L)$$, :v2), '22001'),
    ('find_resident_by_id_number''s purpose (audit_log.purpose)', $$SELECT sanse.find_resident_by_id_number('51010119400101123X', %L)$$, '23514'),
    ('a classification rule''s note', $$INSERT INTO sanse.classification_rule (tier, all_of, note) VALUES ('blue', '{lives_alone}', %L)$$, '23514')
  ) t(description, stmt, expected);
SELECT is((pg_temp.error_of(format($$SELECT sanse.withdraw_visit(%s, %L)$$, :v1, repeat('é', 2001)))).message,
          'the reason is longer than 2000 characters',
          'withdraw_visit keeps its message (characters, not bytes: 2,001 é)');
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.withdraw_visit(%s, %L)$$, :v1, repeat('é', 2000))), 'ok',
          '2,000 é (4,000 bytes) are within the limit');
SELECT is((pg_temp.error_of($$SELECT sanse.check_free_text(repeat('x', 2001), 'comment')$$)).message,
          'the comment is longer than 2000 characters', 'check_free_text(value, what) names what is too long');
SELECT is(ARRAY[pg_temp.sqlstate_of($$SELECT sanse.check_free_text(repeat('x', 2001), 'comment')$$),
                pg_temp.sqlstate_of($$SELECT sanse.check_free_text(repeat('x', 2000), 'comment')$$),
                pg_temp.sqlstate_of($$SELECT sanse.check_free_text(NULL, 'comment')$$)],
          '{22001,ok,ok}', 'check_free_text: 22001 over the limit; at the limit and NULL pass');
SELECT is((pg_temp.error_of(format($$SELECT sanse.forget_resident(%s, %L)$$, :wen, repeat('x', 2001)))).message,
          'the reason is longer than 2000 characters', 'forget_resident keeps its message');
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.forget_resident(%s, %L)$$, :wen, repeat('x', 2000))), 'ok',
          'forget_resident: 2,000 characters accepted');
SELECT ok(pg_get_functiondef('sanse.withdraw_visit(bigint, text)'::regprocedure) ~ 'check_free_text'
          AND pg_get_functiondef('sanse.forget_resident(bigint, text)'::regprocedure) ~ 'check_free_text'
          AND pg_get_functiondef('sanse.withdraw_visit(bigint, text)'::regprocedure) !~ '2000'
          AND pg_get_functiondef('sanse.forget_resident(bigint, text)'::regprocedure) !~ '2000',
          'withdraw_visit and forget_resident check their reason with check_free_text(), no number of their own');

SELECT * FROM finish();
ROLLBACK;
