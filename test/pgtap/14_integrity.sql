-- pgTAP: issue 9's integrity items — carers checking in at the same instant,
-- withdrawing a wrongly recorded visit, one short LOG line per refusal.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.max_backdate = '10 years';	-- check-ins dated in 2024
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(16);

-- three carers in the shared district's M1 (its leaders above them)
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, v.force, v.role, a.id
  FROM (VALUES ('ig vol', 'volunteer', 'member', 'd.t.v.tg.g.m1'),
               ('ig officer', 'grid_officer', 'member', 'd.t.v.tg.g.m1'),
               ('ig pro', 'service_professional', 'member', 'd.t.v.tg.g.m1')) v(name, force, role, path)
  JOIN area a ON a.path = v.path::ltree;
-- red: rolling 2 days; registered 2024-03-01 09:00+08, so due 03-03 09:00+08
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT id, 'ig Wang', '{accident_risk}', '2024-03-01 09:00+08' FROM area WHERE path = 'd.t.v.tg.g.m1';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r, worker w WHERE r.name = 'ig Wang' AND w.name IN ('ig vol', 'ig officer', 'ig pro');
CREATE TEMP TABLE ids AS
SELECT (SELECT id FROM resident WHERE name = 'ig Wang') AS r,
       (SELECT id FROM worker WHERE name = 'ig vol') AS vol,
       (SELECT id FROM worker WHERE name = 'ig officer') AS officer,
       (SELECT id FROM worker WHERE name = 'ig pro') AS pro,
       door_token((SELECT id FROM resident WHERE name = 'ig Wang')) AS token;

-- three carers at the same instant: three visits, one meets the window
SELECT lives_ok($$SELECT check_in(token, vol, '2024-03-02 10:00+08') FROM ids$$, 'first carer at 10:00');
SELECT lives_ok($$SELECT check_in(token, officer, '2024-03-02 10:00+08') FROM ids$$, 'second carer at the same instant (was 23505 on visit_window_met)');
SELECT lives_ok($$SELECT check_in(token, pro, '2024-03-02 10:00+08') FROM ids$$, 'third carer at the same instant');
SELECT results_eq($$SELECT count(*), count(window_due), min(window_due) FROM visit v, ids WHERE v.resident_id = ids.r$$,
                  $$VALUES (3::bigint, 1::bigint, '2024-03-03 09:00+08'::timestamptz)$$,
                  'three visits recorded, exactly one met the window due 03-03 09:00');
SELECT is((SELECT next_visit FROM resident, ids WHERE id = ids.r),
          '[2024-03-02 10:00+08,2024-03-04 10:00+08)'::visit_window, 'the window moved once, two days from 10:00');

-- a later, wrongly recorded visit (nobody was there on 03-05): the window
-- from 03-02 10:00 was missed on 03-04 10:00, but the wrong visit hid it
SELECT lives_ok($$SELECT check_in(token, vol, '2024-03-05 08:00+08') FROM ids$$, 'a visit recorded by mistake');
SELECT lives_ok($$SELECT sweep('2024-03-08 00:00+08')$$, 'sweep');
SELECT results_eq($$SELECT e.due_at, e.status FROM event e, ids WHERE e.resident_id = ids.r ORDER BY 1$$,
                  $$VALUES ('2024-03-04 10:00+08'::timestamptz, 'closed'), ('2024-03-07 08:00+08', 'open')$$,
                  'before: the missed window closed by the wrong visit, the next one open');
SELECT throws_ok($$SELECT withdraw_visit(v.id, '  ') FROM visit v, ids WHERE v.resident_id = ids.r AND v.at = '2024-03-05 08:00+08'$$,
                 '22023', NULL, 'withdrawing needs a reason');
SELECT lives_ok($$SELECT withdraw_visit(v.id, 'entered by mistake: the worker was on leave')
                    FROM visit v, ids WHERE v.resident_id = ids.r AND v.at = '2024-03-05 08:00+08'$$,
                'withdraw the wrong visit');
SELECT is((SELECT last_visit_at FROM resident, ids WHERE id = ids.r), '2024-03-02 10:00+08'::timestamptz,
          'the anchor goes back to the last real visit');
SELECT results_eq($$SELECT e.due_at, e.status, e.level FROM event e, ids WHERE e.resident_id = ids.r ORDER BY 1$$,
                  $$VALUES ('2024-03-04 10:00+08'::timestamptz, 'open', 4::smallint)$$,
                  'after: the missed window is open again and has climbed to the task force (4 h steps), the event of the withdrawn visit''s window is gone');
SELECT results_eq($$SELECT w.reason, w.withdrawn_by = session_user FROM visit_withdrawn w, ids WHERE w.resident_id = ids.r$$,
                  $$VALUES ('entered by mistake: the worker was on leave', true)$$,
                  'the withdrawal is kept with its reason and who did it');
SELECT is((SELECT sum(visits) FROM worker_tally t, ids WHERE t.worker_id = ids.vol), 1::numeric,
          'the volunteer''s tally counts the one real visit');

-- a refusal leaves one short LOG line naming the worker and the SQLSTATE
SELECT is(pg_temp.sqlstate_of($$SELECT check_in(token, vol, now(), '{ask_health,ask_health}') FROM ids$$), '22023',
          'a duplicated checklist item is refused');
SELECT throws_ok($$SELECT check_in(token, vol, now(), '{}', NULL) FROM ids WHERE false UNION ALL SELECT check_in(token, 999999, now()) FROM ids$$,
                 '42501', NULL, 'a worker who is not allowed is refused (42501)');

SELECT * FROM finish();
ROLLBACK;
