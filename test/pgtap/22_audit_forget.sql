-- pgTAP: issue 18, items 5 and 6 — what forgetting leaves behind, an
-- override reason changed alone, and the audit log's hash chain.
--  * 6a: rewriting only an override's reason is audited, like setting or
--    changing the override (the tier history records tier changes only);
--  * 5: after forget_resident (and the sweep's retention), no text column of
--    any sanse table holds a word written about the person before: every
--    text, name and array column of every table is scanned for a marker;
--    the audit rows about them keep the act, who and when;
--  * erasing an audit row's text is no hole: only the text of rows naming a
--    forgotten resident can go, and only to NULL;
--  * 6b: every audit row carries a hash chained to the previous row, and
--    sanse.audit_verify() names the first row a superuser deleted or changed
--    with the triggers off (NULL for an untouched log); PUBLIC cannot run it.
-- Expected values are written by hand from the README.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(42);

SELECT pg_temp.area_id('d.t.v.tg.g.m1') AS m1, pg_temp.area_id('d.t.v.tg.g.m2') AS m2,
       pg_temp.worker_id('lead m1') AS lead \gset
INSERT INTO worker (name, force, role, area_id) VALUES ('af vol', 'volunteer', 'member', :m1);
SELECT pg_temp.worker_id('af vol') AS vol \gset
CREATE ROLE sanse_t22_app NOLOGIN;
CREATE ROLE sanse_t22_nobody NOLOGIN;
CREATE ROLE sanse_t22_auditor NOLOGIN;
INSERT INTO sanse.area_grant (role, path, access) VALUES ('sanse_t22_app', 'd', 'care');

-- every text-like column (text, varchar, name, their arrays, json) of every
-- sanse table that holds a value containing the marker, as 'table.column'
CREATE FUNCTION pg_temp.holding(marker text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	c record;
	n bigint;
BEGIN
	FOR c IN
		SELECT cl.relname, a.attname
		  FROM pg_class cl JOIN pg_attribute a ON a.attrelid = cl.oid
		 WHERE cl.relnamespace = 'sanse'::regnamespace AND cl.relkind IN ('r', 'p')
		   AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.atttypid IN ('text'::regtype, 'text[]'::regtype, 'varchar'::regtype, 'varchar[]'::regtype,
		                      'name'::regtype, 'name[]'::regtype, 'json'::regtype, 'jsonb'::regtype)
		 ORDER BY 1, 2
	LOOP
		EXECUTE format('SELECT count(*) FROM ONLY sanse.%I WHERE strpos(lower(%I::text), lower($1)) > 0',
		               c.relname, c.attname)
		   INTO n USING marker;
		IF n > 0 THEN
			RETURN NEXT c.relname || '.' || c.attname;
		END IF;
	END LOOP;
END
$$;

-----------------------------------------------------------------------------
-- 6a: an override's reason rewritten alone is audited
-----------------------------------------------------------------------------
INSERT INTO resident (area_id, name, factors, tier_override, override_reason, registered_at)
VALUES (:m2, 'af Control', '{}', 'yellow', 'af-control first reason', now() - interval '10 days');
SELECT pg_temp.resident_id('af Control') AS control \gset
SELECT coalesce(max(id), 0) AS a FROM audit_log \gset
SELECT count(*) AS h FROM tier_history WHERE resident_id = :control \gset
SET LOCAL ROLE sanse_t22_app;
UPDATE sanse.resident SET override_reason = 'af-control second reason' WHERE name = 'af Control';
RESET ROLE;
SELECT results_eq($$SELECT act, resident_ids, purpose, current_user_name::text COLLATE "default" FROM audit_log WHERE id > $$ || :a,
                  format($$VALUES ('tier_override', ARRAY[%s]::bigint[], 'af-control second reason', 'sanse_t22_app')$$, :control),
                  'a change of override_reason alone writes one tier_override audit row: the resident, the new reason, the role');
SELECT is((SELECT count(*) FROM tier_history WHERE resident_id = :control), :h::bigint,
          'the history, which records tier changes, gets no row (the tiers did not move)');
SELECT is((SELECT override_by::text FROM resident WHERE id = :control), 'sanse_t22_app', 'override_by names the role that changed the reason');
SELECT coalesce(max(id), 0) AS a FROM audit_log \gset
SET LOCAL ROLE sanse_t22_app;
UPDATE sanse.resident SET override_reason = 'af-control second reason', name = 'af Control' WHERE name = 'af Control';
RESET ROLE;
SELECT is((SELECT count(*) FROM audit_log WHERE id > :a), 0::bigint, 'writing the same reason again is no act: no audit row');

-----------------------------------------------------------------------------
-- 5: a person written about everywhere, then forgotten
-----------------------------------------------------------------------------
INSERT INTO resident (area_id, name, factors, tier_override, override_reason, registered_at, id_number)
VALUES (:m1, 'af zq7-marker Zhao', '{mobility_impaired}', 'red', 'zq7-marker fell last week, dementia suspected',
        now() - interval '10 days', '11010519491231002X');
SELECT pg_temp.resident_id('af zq7-marker Zhao') AS zhao \gset
INSERT INTO carer (resident_id, worker_id) VALUES (:zhao, :vol);
UPDATE resident SET override_reason = 'zq7-marker second reason: wanders at night' WHERE id = :zhao;
SELECT results_eq($$SELECT * FROM find_resident_by_id_number('11010519491231002X', 'zq7-marker lookup: daughter called about Zhao')$$,
                  ARRAY[:zhao::bigint], 'the lookup finds Zhao');
SELECT door_token(:zhao) AS tok \gset
SELECT check_in(:'tok', :vol, now() - interval '3 hours', '{ask_health}', 'zq7-marker note: bruise on the arm') AS v1 \gset
SELECT check_in(:'tok', :vol, now() - interval '2 hours', '{}', 'zq7-marker note 2') AS v2 \gset
SELECT withdraw_visit(:v2, 'zq7-marker withdrawn: wrong door');
SELECT raise_event('finding', :zhao, 'zq7-marker detail: stove left on', 'grid', now() - interval '90 minutes') AS ev \gset
SELECT arrive(:ev, :lead, :'tok', now() - interval '80 minutes');
SELECT handle_event(:ev, :lead, 'zq7-marker action: gas shut off', now() - interval '70 minutes');
SELECT feed_back(:ev, :lead, 'zq7-marker feedback: son informed', now() - interval '60 minutes');
SELECT ok(EXISTS (SELECT FROM pg_temp.holding('zq7-marker') h WHERE h = 'audit_log.purpose')
          AND EXISTS (SELECT FROM pg_temp.holding('zq7-marker') h WHERE h = 'visit.note')
          AND EXISTS (SELECT FROM pg_temp.holding('zq7-marker') h WHERE h = 'event.detail')
          AND EXISTS (SELECT FROM pg_temp.holding('zq7-marker') h WHERE h = 'event_transition.note')
          AND EXISTS (SELECT FROM pg_temp.holding('zq7-marker') h WHERE h = 'visit_withdrawn.reason')
          AND EXISTS (SELECT FROM pg_temp.holding('zq7-marker') h WHERE h = 'tier_history.override_reason'),
          'before forgetting, the scan finds the texts about Zhao (the scan works)');
SELECT count(*) AS zhao_rows FROM audit_log WHERE resident_ids @> ARRAY[:zhao::bigint] \gset
SELECT ok(:zhao_rows >= 3, 'Zhao is named in audit rows (overrides, the lookup)');

SELECT lives_ok(format($$SELECT forget_resident(%s, 'left the programme')$$, :zhao), 'Zhao is forgotten');
SELECT is(array_agg(h), NULL, 'after forget_resident no column of any sanse table holds a text written about Zhao')
  FROM pg_temp.holding('zq7-marker') h;
SELECT results_eq($$SELECT count(*) FILTER (WHERE act <> 'forget_resident'), count(*) FILTER (WHERE at IS NOT NULL AND session_user_name IS NOT NULL
                                                                    AND current_user_name IS NOT NULL)
                      FROM audit_log WHERE resident_ids @> ARRAY[$$ || :zhao || $$::bigint]$$,
                  format('VALUES (%s::bigint, %s::bigint)', :zhao_rows, :zhao_rows + 1),
                  'the audit rows about Zhao are all still there, with act, who and when (and the forgetting''s own row)');
SELECT results_eq($$SELECT act, purpose, detail FROM audit_log WHERE resident_ids @> ARRAY[$$ || :zhao || $$::bigint] ORDER BY id$$,
                  $$VALUES ('tier_override', NULL::text, NULL::text), ('tier_override', NULL, NULL), ('id_lookup', NULL, NULL),
                           ('forget_resident', 'left the programme', NULL)$$,
                  'their free text is gone; the forgetting keeps its ground');
SELECT results_eq($$SELECT purpose FROM audit_log WHERE resident_ids = ARRAY[$$ || :control || $$::bigint] ORDER BY id$$,
                  $$VALUES ('af-control first reason'), ('af-control second reason')$$,
                  'another resident''s audit rows keep their text');

-----------------------------------------------------------------------------
-- erasing is no hole: only rows naming a forgotten resident, only to NULL
-----------------------------------------------------------------------------
SELECT id AS control_row FROM audit_log WHERE resident_ids = ARRAY[:control::bigint] ORDER BY id LIMIT 1 \gset
SELECT id AS zhao_row FROM audit_log WHERE resident_ids @> ARRAY[:zhao::bigint] AND act = 'tier_override' ORDER BY id LIMIT 1 \gset
SELECT id AS forget_row FROM audit_log WHERE resident_ids @> ARRAY[:zhao::bigint] AND act = 'forget_resident' \gset
SELECT is(pg_temp.sqlstate_of(q), '42501', d)
  FROM (VALUES (format('UPDATE sanse.audit_log SET purpose = NULL, detail = NULL, text_key = NULL WHERE id = %s', :control_row),
                'the owner cannot erase the text of a row about a resident not forgotten (42501)'),
               (format($$UPDATE sanse.audit_log SET purpose = 'rewritten' WHERE id = %s$$, :zhao_row),
                'nor write a text into a forgotten resident''s row (42501)'),
               (format('UPDATE sanse.audit_log SET purpose = NULL, detail = NULL, text_key = NULL WHERE id = %s', :forget_row),
                'nor erase the ground of a forgetting (42501)'),
               (format('UPDATE sanse.audit_log SET purpose = NULL, detail = NULL, text_key = NULL, current_user_name = %L WHERE id = %s', 'x', :zhao_row),
                'nor change who acted while erasing (42501)'),
               (format('DELETE FROM sanse.audit_log WHERE id = %s', :zhao_row), 'nor delete the row (42501)')) t(q, d);

-----------------------------------------------------------------------------
-- 5, the sweep: retention erases the same
-----------------------------------------------------------------------------
INSERT INTO resident (area_id, name, factors, tier_override, override_reason)
VALUES (:m2, 'af zq8-marker Qian', '{}', 'blue', 'zq8-marker lonely since the flood');
SELECT pg_temp.resident_id('af zq8-marker Qian') AS qian \gset
SELECT count(*) FROM find_resident_by_id_number('110105194912310021', 'zq9-nobody lookup');
UPDATE resident SET active = false WHERE id = :qian;
UPDATE resident SET deactivated_at = now() - interval '3 days' WHERE id = :qian;
SET LOCAL sanse.retention = '1 day';
SELECT ok((SELECT forgotten_at IS NULL FROM resident WHERE id = :qian), 'Qian is not forgotten yet');
\o /dev/null
SELECT sweep(now());
\o
SELECT ok((SELECT forgotten_at IS NOT NULL FROM resident WHERE id = :qian), 'the sweep forgets Qian');
SELECT is(array_agg(h), NULL, 'no column holds the name or override reason written about Qian after the sweep forgot her')
  FROM pg_temp.holding('zq8-marker') h;
SELECT is(array_agg(h), ARRAY['audit_log.purpose'], 'a lookup that found nobody is no text about a resident: it stays')
  FROM pg_temp.holding('zq9-nobody') h;
RESET sanse.retention;

-----------------------------------------------------------------------------
-- 6b: the hash chain
-----------------------------------------------------------------------------
SELECT has_function('sanse', 'audit_verify', '{}'::name[], 'sanse.audit_verify() exists');
SELECT is((SELECT count(*) FROM audit_log WHERE hash IS NULL), 0::bigint, 'every audit row carries a hash');
SELECT is((SELECT count(*) FROM (SELECT prev_id, lag(id) OVER (ORDER BY id) AS before FROM audit_log) s
            WHERE prev_id IS DISTINCT FROM before), 0::bigint,
          'each row''s chain predecessor is the row before it by id (rows are appended in id order)');
SELECT is(audit_verify(), NULL, 'the log of this whole file''s workload, erasures included, verifies whole');

-- the hash is the extension's: an owner's INSERT naming one gets the right one
INSERT INTO audit_log (session_user_name, current_user_name, act, purpose, hash, prev_id)
VALUES ('someone', 'someone', 'rule_change', 'by hand', '\xdeadbeef', 1);
SELECT ok((SELECT hash <> '\xdeadbeef' AND prev_id IS DISTINCT FROM 1 FROM audit_log WHERE purpose = 'by hand'),
          'a hash or predecessor written into an INSERT is replaced');
SELECT is(audit_verify(), NULL, 'and the chain is whole');
SELECT id AS last_row FROM audit_log ORDER BY id DESC LIMIT 1 \gset
-- the chain head is written at commit; this file never commits: write it now
SET CONSTRAINTS sanse.audit_log_chain_head IMMEDIATE;
SELECT is((SELECT last_id FROM audit_chain), :last_row::bigint, 'the chain head names the last row (as after a commit)');

-- tampering as a superuser, with the triggers off (each undone after)
SAVEPOINT triggers_on;
SELECT is(pg_temp.sqlstate_of('ALTER TABLE sanse.audit_log DISABLE TRIGGER USER'), 'ok', 'a superuser can switch the triggers off');
SAVEPOINT tamper;
DELETE FROM audit_log WHERE id = :control_row;
SELECT is(audit_verify(), :control_row::bigint, 'a deleted row: verify names it');
ROLLBACK TO SAVEPOINT tamper;
UPDATE audit_log SET purpose = 'nothing to see' WHERE id = :control_row;
SELECT is(audit_verify(), :control_row::bigint, 'a row whose text was rewritten: verify names it');
ROLLBACK TO SAVEPOINT tamper;
UPDATE audit_log SET purpose = 'nothing to see', text_key = NULL WHERE id = :control_row;
SELECT is(audit_verify(), :control_row::bigint, 'a rewritten text with its key gone: verify names it');
ROLLBACK TO SAVEPOINT tamper;
UPDATE audit_log SET purpose = NULL, detail = NULL, text_key = NULL WHERE id = :control_row;
SELECT is(audit_verify(), :control_row::bigint, 'the text of a resident not forgotten erased by hand: verify names it');
ROLLBACK TO SAVEPOINT tamper;
UPDATE audit_log SET current_user_name = 'someone_else' WHERE id = :control_row;
SELECT is(audit_verify(), :control_row::bigint, 'a row whose acting role was changed: verify names it');
ROLLBACK TO SAVEPOINT tamper;
UPDATE audit_log SET resident_ids = '{}' WHERE id = :zhao_row;
SELECT is(audit_verify(), :zhao_row::bigint, 'a row whose residents were changed: verify names it');
ROLLBACK TO SAVEPOINT tamper;
DELETE FROM audit_log WHERE id = :last_row;
SELECT is(audit_verify(), :last_row::bigint, 'the last row deleted: verify names it');
ROLLBACK TO SAVEPOINT tamper;
DELETE FROM audit_log WHERE id >= :control_row;
SELECT is(audit_verify(), :last_row::bigint, 'the tail deleted: verify names the last row the chain head records');
ROLLBACK TO SAVEPOINT triggers_on;
SELECT is(audit_verify(), NULL, 'undone, the chain is whole again');

-- who may verify: not PUBLIC (it reads the whole log as the owner)
SELECT ok(NOT has_function_privilege('public', 'sanse.audit_verify()', 'EXECUTE'), 'PUBLIC cannot execute audit_verify');
SELECT is(pg_temp.sqlstate_as('sanse_t22_nobody', 'SELECT sanse.audit_verify()'), '42501', 'a role without a grant gets 42501');
GRANT EXECUTE ON FUNCTION sanse.audit_verify() TO sanse_t22_auditor;
SELECT is(pg_temp.sqlstate_as('sanse_t22_auditor', 'SELECT sanse.audit_verify()'), 'ok', 'an auditor granted EXECUTE runs it');
SELECT is(pg_temp.sqlstate_as('sanse_t22_app', 'SELECT count(*) FROM sanse.audit_chain'), '42501', 'the chain head is not readable by apps');

SELECT * FROM finish();
ROLLBACK;
