-- pgTAP: issue 18 on the closed loop (spec 7, "Who may act, and when").
--  1. every loop function acts only inside the calling role's care subtree,
--     and names a worker only as one the role may act for; outside, the
--     event "does not exist" with the message of an event that does not;
--  2. whoever arrived at or handled an event, or acted as the role (or
--     through the login) that did, may not evaluate it;
--  3. every at is bounded: not before the call or the previous stage, not
--     further back than sanse.max_backdate, not more than 5 minutes ahead;
--     a late-synced arrival is kept and shown as such;
--  4. evaluate's rating is an integer (a driver's int4 parameter binds);
--  5. a retried call returns the first event, after a reopen too;
--  6. no transition writes about a forgotten resident.
-- Expected values are written by hand from spec 7 and the README.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL sanse.timezone = 'Asia/Shanghai';
SET LOCAL TimeZone = 'Asia/Shanghai';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(108);

-----------------------------------------------------------------------------
-- fixture: two towns of the shared district — "own" is TG (d.t.v.tg), the
-- "other" TG2 (d.t.v.tg2).  Times are a day back (inside the default
-- sanse.max_backdate of 30 days).
-----------------------------------------------------------------------------
SELECT date_trunc('minute', now()) - interval '1 day' AS t0 \gset
CREATE FUNCTION pg_temp.t(m int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('minute', now()) - interval '1 day' + m * interval '1 minute'
$$;
CREATE ROLE t20_care NOLOGIN;		-- the own town's app
CREATE ROLE t20_care2 NOLOGIN;		-- the other town's app
CREATE ROLE t20_read NOLOGIN;
CREATE ROLE t20_agg NOLOGIN;
CREATE ROLE t20_sup NOLOGIN;		-- the own town's supervisor
CREATE ROLE t20_zhang NOLOGIN;		-- worker zhang's own login role
CREATE ROLE t20_pool LOGIN NOINHERIT IN ROLE t20_care, t20_sup;	-- a pooled login
INSERT INTO sanse.area_grant (role, path, access) VALUES
  ('t20_care', 'd.t.v.tg', 'care'), ('t20_care2', 'd.t.v.tg2', 'care'), ('t20_read', 'd.t.v.tg', 'read'),
  ('t20_agg', 'd.t.v.tg', 'aggregate'), ('t20_sup', 'd.t.v.tg', 'care'), ('t20_zhang', 'd.t.v.tg', 'care');
-- by name only, so this file runs against the smallint and the integer evaluate
GRANT EXECUTE ON FUNCTION sanse.raise_event, sanse.dispatch_task, sanse.arrive, sanse.handle_event, sanse.whistle,
                          sanse.feed_back, sanse.evaluate
   TO t20_care, t20_care2, t20_read, t20_agg, t20_sup, t20_zhang;
INSERT INTO sanse.department (code, name) VALUES ('civil', 'Civil affairs');
INSERT INTO sanse.worker (name, force, role, area_id, db_role)
VALUES ('w own', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg.g.m1'), NULL),
       ('zhang', 'service_professional', 'member', pg_temp.area_id('d.t.v.tg.g.m1'), 't20_zhang'),
       ('w other', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg2.g.m4'), NULL),
       ('w cross', 'community_cadre', 'member', pg_temp.area_id('d.t.v.tg2.g.m4'), NULL);	-- of the other town, a carer in own
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'r own', '{accident_risk}', now() - interval '1 year'),
       (pg_temp.area_id('d.t.v.tg2.g.m4'), 'r other', '{accident_risk}', now() - interval '1 year'),
       (pg_temp.area_id('d.t.v.tg.g.m1'), 'r forget', '{accident_risk}', now() - interval '1 year');
INSERT INTO sanse.carer (resident_id, worker_id)
SELECT pg_temp.resident_id(v.r), pg_temp.worker_id(v.w)
  FROM (VALUES ('r own', 'w own'), ('r own', 'zhang'), ('r own', 'w cross'), ('r other', 'w other'),
               ('r forget', 'w own')) v(r, w);
SELECT pg_temp.token('r own') AS tok_own, pg_temp.token('r other') AS tok_other, pg_temp.token('r forget') AS tok_forget,
       pg_temp.resident_id('r own') AS r_own, pg_temp.resident_id('r other') AS r_other,
       pg_temp.worker_id('w own') AS w_own, pg_temp.worker_id('w other') AS w_other,
       pg_temp.worker_id('w cross') AS w_cross, pg_temp.worker_id('zhang') AS zhang,
       pg_temp.area_id('d.t.v.tg.g.m1') AS m1, pg_temp.area_id('d.t.v.tg2.g.m4') AS m4,
       pg_temp.resident_id('r forget') AS r_forget \gset
-- a value, or the error reading it (so that a missing column fails one test, not the file)
CREATE FUNCTION pg_temp.val(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	v text;
BEGIN
	EXECUTE q INTO v;
	RETURN v;
EXCEPTION WHEN OTHERS THEN
	RETURN 'error: ' || SQLERRM;
END
$$;

-- events by a name, raised as the superuser
CREATE TEMP TABLE ev (name text PRIMARY KEY, id bigint NOT NULL);
GRANT SELECT ON ev TO PUBLIC;
CREATE FUNCTION pg_temp.ev(n text) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT id FROM ev WHERE name = n $$;
-- raise n about res at minute m and take it to a stage: called, arrived, handled, fed_back
CREATE FUNCTION pg_temp.make(n text, res text, w text, m int, stage text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	e bigint := sanse.raise_event('warning', pg_temp.resident_id(res), n, 'grid', pg_temp.t(m));
BEGIN
	INSERT INTO ev VALUES (n, e);
	IF stage IN ('arrived', 'handled', 'fed_back') THEN
		PERFORM sanse.arrive(e, pg_temp.worker_id(w), pg_temp.token(res), pg_temp.t(m + 1));
	END IF;
	IF stage IN ('handled', 'fed_back') THEN
		PERFORM sanse.handle_event(e, pg_temp.worker_id(w), 'done', pg_temp.t(m + 2));
	END IF;
	IF stage = 'fed_back' THEN
		PERFORM sanse.feed_back(e, pg_temp.worker_id(w), 'told them', pg_temp.t(m + 3));
	END IF;
	RETURN e;
END
$$;
SELECT pg_temp.make('o called', 'r other', 'w other', 0, 'called'), pg_temp.make('o arrived', 'r other', 'w other', 10, 'arrived'),
       pg_temp.make('o handled', 'r other', 'w other', 20, 'handled'), pg_temp.make('o fed', 'r other', 'w other', 30, 'fed_back'),
       pg_temp.make('called', 'r own', 'w own', 0, 'called'), pg_temp.make('called 2', 'r own', 'w own', 1, 'called'),
       pg_temp.make('arrived', 'r own', 'w own', 10, 'arrived'), pg_temp.make('handled', 'r own', 'w own', 20, 'handled'),
       pg_temp.make('fed', 'r own', 'w own', 30, 'fed_back') \g /dev/null
-- an overdue event in the other town
INSERT INTO sanse.event (resident_id, area_id, tier, due_at, level_since, next_step_at)
VALUES (:r_other, :m4, 'red', now() - interval '2 hours', now() - interval '2 hours', now() + interval '1 hour')
RETURNING id AS o_overdue \gset

-- the error of a statement run as a role (or through a login acting as a
-- role), its numbers replaced by N: what the caller learns
CREATE FUNCTION pg_temp.err(login name, r name, q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	e record;
BEGIN
	IF login IS NOT NULL THEN
		EXECUTE format('SET LOCAL SESSION AUTHORIZATION %I', login);
	END IF;
	IF r IS NOT NULL THEN
		EXECUTE format('SET LOCAL ROLE %I', r);
	END IF;
	e := pg_temp.error_of(q);
	RESET ROLE;
	RESET SESSION AUTHORIZATION;
	RETURN e.state || coalesce(': ' || regexp_replace(concat_ws(' | ', e.message, e.detail, e.hint), '-?[0-9]+', 'N', 'g'), '');
END
$$;
CREATE FUNCTION pg_temp.state_as(r name, q text) RETURNS text LANGUAGE sql AS $$
	SELECT split_part(pg_temp.err(NULL, r, q), ':', 1)
$$;
-- the loop's seven calls, by a template: {e} event, {w} worker, {tok} token, {at} time
CREATE FUNCTION pg_temp.call(f text, e bigint, w bigint, tok text, at timestamptz) RETURNS text LANGUAGE sql AS $$
	SELECT CASE f
	  WHEN 'arrive' THEN format('SELECT sanse.arrive(%s, %s, %L, %L)', e, w, tok, at)
	  WHEN 'handle_event' THEN format('SELECT sanse.handle_event(%s, %s, %L, %L)', e, w, 'x', at)
	  WHEN 'whistle' THEN format('SELECT sanse.whistle(%s, %L, %s, %L)', e, 'civil', w, at)
	  WHEN 'feed_back' THEN format('SELECT sanse.feed_back(%s, %s, %L, %L)', e, w, 'x', at)
	  WHEN 'evaluate' THEN format('SELECT sanse.evaluate(%s, 5::smallint, true, %L, NULL, %L)', e, 'supervisor', at)
	END
$$;
-- the stage each transition starts from, by the events' names above
CREATE TEMP TABLE fn (f text PRIMARY KEY, from_stage text NOT NULL);
INSERT INTO fn VALUES ('arrive', 'called'), ('handle_event', 'arrived'), ('whistle', 'called'),
                      ('feed_back', 'handled'), ('evaluate', 'fed');
CREATE FUNCTION pg_temp.stages() RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(format('%s:%s', v.name, e.status), ' ' ORDER BY v.name)
	  FROM ev v JOIN sanse.event e ON e.id = v.id WHERE v.name LIKE 'o %'
$$;

-----------------------------------------------------------------------------
-- 1. outside the care subtree the event does not exist
-----------------------------------------------------------------------------
SELECT is(split_part(pg_temp.err(NULL, 't20_care', pg_temp.call(f, pg_temp.ev('o ' || from_stage), :w_other, :'tok_other', pg_temp.t(50))), ':', 1),
          '22023', format('%s on another town''s event, naming that town''s unbound worker: 22023', f))
  FROM fn ORDER BY f;
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', %L)$$, :r_other, pg_temp.t(50))),
          '22023', 'raise_event about another town''s resident: 22023');
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.dispatch_task(%s, 'x', 'grid', %L)$$, :m4, pg_temp.t(50))),
          '22023', 'dispatch_task in another town: 22023');
SELECT is(pg_temp.stages(), 'o arrived:arrived o called:called o fed:fed_back o handled:handled',
          'no event of the other town moved');
SELECT is((SELECT count(*) FROM sanse.event WHERE area_id = :m4 AND kind <> 'overdue'), 4::bigint,
          'and none was raised there');

-- the same words whether the event exists elsewhere, is overdue there, or does not exist
SELECT is(pg_temp.err(NULL, 't20_care', pg_temp.call(f, pg_temp.ev('o ' || from_stage), :w_other, :'tok_other', pg_temp.t(50))),
          pg_temp.err(NULL, 't20_care', pg_temp.call(f, 987654321, :w_other, :'tok_other', pg_temp.t(50))),
          format('%s: another town''s event reads as one that does not exist', f))
  FROM fn ORDER BY f;
SELECT is(pg_temp.err(NULL, 't20_care', pg_temp.call(f, :o_overdue, :w_other, :'tok_other', pg_temp.t(50))),
          pg_temp.err(NULL, 't20_care', pg_temp.call(f, 987654321, :w_other, :'tok_other', pg_temp.t(50))),
          format('%s: another town''s overdue event does not say it is overdue', f))
  FROM fn ORDER BY f;
SELECT is(pg_temp.err(NULL, 't20_care', format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', %L)$$, :r_other, pg_temp.t(50))),
          pg_temp.err(NULL, 't20_care', format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', %L)$$, 987654321, pg_temp.t(50))),
          'raise_event: another town''s resident reads as one that does not exist');
SELECT is(pg_temp.err(NULL, 't20_care', format($$SELECT sanse.dispatch_task(%s, 'x', 'grid', %L)$$, :m4, pg_temp.t(50))),
          pg_temp.err(NULL, 't20_care', format($$SELECT sanse.dispatch_task(%s, 'x', 'grid', %L)$$, 987654321, pg_temp.t(50))),
          'dispatch_task: another town''s area reads as one that does not exist');

-- read and aggregate roles cannot act, even in their own town
SELECT is(pg_temp.state_as(r, pg_temp.call(f, pg_temp.ev(from_stage), :w_own, :'tok_own', pg_temp.t(50))), '22023',
          format('%s: a %s role cannot act (22023)', f, r))
  FROM fn, unnest(ARRAY['t20_read', 't20_agg']::name[]) r ORDER BY f, r;
SELECT is(pg_temp.state_as(r, format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', %L)$$, :r_own, pg_temp.t(50))), '22023',
          format('raise_event: a %s role cannot raise (22023)', r))
  FROM unnest(ARRAY['t20_read', 't20_agg']::name[]) r;
SELECT is(pg_temp.state_as(r, format($$SELECT sanse.dispatch_task(%s, 'x', 'grid', %L)$$, :m1, pg_temp.t(50))), '22023',
          format('dispatch_task: a %s role cannot dispatch (22023)', r))
  FROM unnest(ARRAY['t20_read', 't20_agg']::name[]) r;
SELECT is((SELECT string_agg(format('%s:%s', v.name, e.status), ' ' ORDER BY v.name)
             FROM ev v JOIN sanse.event e ON e.id = v.id WHERE v.name NOT LIKE 'o %'),
          'arrived:arrived called:called called 2:called fed:fed_back handled:handled',
          'no refused call moved an event of the own town');

-- the own town's app acts in its town; the other town's app acts in its own
SELECT is(pg_temp.state_as('t20_care', pg_temp.call(f, pg_temp.ev(from_stage), :w_own, :'tok_own', pg_temp.t(50))),
          'ok', format('%s: the care role of the town acts on its event', f))
  FROM fn WHERE f NOT IN ('evaluate', 'whistle') ORDER BY f;
SELECT is(pg_temp.state_as('t20_care', pg_temp.call('whistle', pg_temp.ev('called 2'), :w_own, :'tok_own', pg_temp.t(50))),
          'ok', 'whistle: the care role of the town whistles');
SELECT is(pg_temp.state_as('t20_sup', pg_temp.call('evaluate', pg_temp.ev('fed'), NULL, NULL, pg_temp.t(50))),
          'ok', 'evaluate: the town''s supervisor (care) evaluates');
SELECT is(pg_temp.state_as('t20_care2', pg_temp.call('arrive', pg_temp.ev('o called'), :w_other, :'tok_other', pg_temp.t(50))),
          'ok', 'the other town''s app arrives at its own town''s event');
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', %L)$$, :r_own, pg_temp.t(51))),
          'ok', 'raise_event: the care role raises about its resident');
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.dispatch_task(%s, 'x', 'grid', %L)$$, :m1, pg_temp.t(51))),
          'ok', 'dispatch_task: the care role dispatches in its town');

-- raised_by and worker_id: only workers the role may act for
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', %L, %s)$$, :r_own, pg_temp.t(52), :w_other)),
          '42501', 'raise_event naming another town''s worker as raised_by: 42501');
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.dispatch_task(%s, 'x', 'grid', %L, %s)$$, :m1, pg_temp.t(52), :w_other)),
          '42501', 'dispatch_task naming another town''s worker as raised_by: 42501');
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', %L, %s)$$, :r_own, pg_temp.t(52), :zhang)),
          '42501', 'raise_event naming a bound worker from another role: 42501');
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', %L, %s)$$, :r_own, pg_temp.t(52), :w_own)),
          'ok', 'raise_event naming its own town''s unbound worker');
SELECT pg_temp.make('b1', 'r own', NULL, 60, 'called'), pg_temp.make('b2', 'r own', NULL, 61, 'called'),
       pg_temp.make('b3', 'r own', NULL, 62, 'called') \g /dev/null
SELECT is(pg_temp.state_as('t20_zhang', pg_temp.call('arrive', pg_temp.ev('b1'), :w_cross, :'tok_own', pg_temp.t(65))), '42501',
          'a bound worker''s role cannot act as an unbound colleague of another town (42501)');
SELECT is(pg_temp.state_as('t20_care', pg_temp.call('arrive', pg_temp.ev('b1'), :zhang, :'tok_own', pg_temp.t(65))), '42501',
          'the town''s app cannot act as a worker bound to another role (42501)');
SELECT is(pg_temp.state_as(NULL, pg_temp.call('arrive', pg_temp.ev('b2'), :w_cross, :'tok_own', pg_temp.t(65))), 'ok',
          'the colleague of the other town is a carer who may arrive (as the owner)');
SELECT is(pg_temp.state_as('t20_zhang', pg_temp.call('arrive', pg_temp.ev('b3'), :zhang, :'tok_own', pg_temp.t(65))), 'ok',
          'the bound worker arrives as its own role');

-----------------------------------------------------------------------------
-- 2. whoever arrived or handled, or acted as the role that did, may not evaluate
-----------------------------------------------------------------------------
-- the issue's story: zhang, bound, handles under an unbound colleague's id, then evaluates
SELECT pg_temp.make('h1', 'r own', NULL, 100, 'called'), pg_temp.make('h2', 'r own', NULL, 110, 'called'),
       pg_temp.make('h3', 'r own', NULL, 120, 'called') \g /dev/null
SELECT is(pg_temp.state_as('t20_zhang', pg_temp.call('arrive', pg_temp.ev('h1'), :w_own, :'tok_own', pg_temp.t(101))), 'ok',
          'zhang''s role arrives as the unbound colleague');
SELECT is(pg_temp.state_as('t20_zhang', pg_temp.call('handle_event', pg_temp.ev('h1'), :w_own, NULL, pg_temp.t(102))), 'ok',
          'and handles as the colleague');
SELECT sanse.feed_back(pg_temp.ev('h1'), :w_own, 'told them', pg_temp.t(103)) \g /dev/null
SELECT is(pg_temp.state_as('t20_zhang', format($$SELECT sanse.evaluate(%s, 5::smallint, true, %L, NULL, %L)$$, pg_temp.ev('h1'), by, pg_temp.t(104))),
          '42501', format('the role that handled may not evaluate it, by %s (42501)', by))
  FROM unnest(ARRAY['supervisor', 'resident']) by;
SELECT is((SELECT format('%s %s %s', status, coalesce(evaluated_by, '-'), coalesce(rating::text, '-')) FROM sanse.event WHERE id = pg_temp.ev('h1')),
          'fed_back - -', 'the refused evaluations wrote nothing');
SELECT is(pg_temp.val(format($$SELECT string_agg(format('%%s as %%s', stage, acted_as), ', ' ORDER BY id) FROM sanse.event_transition
            WHERE event_id = %s AND stage IN ('arrived', 'handled')$$, pg_temp.ev('h1'))),
          'arrived as t20_zhang, handled as t20_zhang', 'each transition records the role that acted');
SELECT is(pg_temp.val(format('SELECT string_agg(DISTINCT login, '','') FROM sanse.event_transition WHERE event_id = %s', pg_temp.ev('h1'))),
          session_user::text, 'and the login');
SELECT is(pg_temp.state_as('t20_sup', format($$SELECT sanse.evaluate(%s, 5::smallint, true, 'resident', NULL, %L)$$, pg_temp.ev('h1'), pg_temp.t(104))),
          'ok', 'the supervisor, who did not act, records the resident''s evaluation');

-- a pooled login that acted as the town's app cannot evaluate by switching to the supervisor's role
SELECT is(split_part(pg_temp.err('t20_pool', 't20_care', pg_temp.call('arrive', pg_temp.ev('h2'), :w_own, :'tok_own', pg_temp.t(111))), ':', 1),
          'ok', 'the pooled login, as the town''s app, arrives');
SELECT is(split_part(pg_temp.err('t20_pool', 't20_care', pg_temp.call('handle_event', pg_temp.ev('h2'), :w_own, NULL, pg_temp.t(112))), ':', 1),
          'ok', 'and handles');
SELECT sanse.feed_back(pg_temp.ev('h2'), :w_own, 'told them', pg_temp.t(113)) \g /dev/null
SELECT is(split_part(pg_temp.err('t20_pool', 't20_sup', format($$SELECT sanse.evaluate(%s, 5::smallint, true, 'resident', NULL, %L)$$, pg_temp.ev('h2'), pg_temp.t(114))), ':', 1),
          '42501', 'the same login as the supervisor''s role may not evaluate: it could act as the role that handled (42501)');
SELECT is(pg_temp.state_as('t20_sup', format($$SELECT sanse.evaluate(%s, 5::smallint, true, 'resident', NULL, %L)$$, pg_temp.ev('h2'), pg_temp.t(114))),
          'ok', 'the supervisor''s role from another login evaluates');

-- the app that did the work cannot confirm it solved on the resident's behalf
SELECT is(pg_temp.state_as('t20_care', pg_temp.call('arrive', pg_temp.ev('h3'), :w_own, :'tok_own', pg_temp.t(121))), 'ok', 'the app arrives');
SELECT is(pg_temp.state_as('t20_care', pg_temp.call('handle_event', pg_temp.ev('h3'), :w_own, NULL, pg_temp.t(122))), 'ok', 'handles');
SELECT is(pg_temp.state_as('t20_sup', pg_temp.call('feed_back', pg_temp.ev('h3'), :w_own, NULL, pg_temp.t(123))), 'ok', 'the supervisor feeds back');
SELECT is(pg_temp.state_as('t20_care', format($$SELECT sanse.evaluate(%s, 5::smallint, true, 'resident', NULL, %L)$$, pg_temp.ev('h3'), pg_temp.t(124))),
          '42501', 'the app''s role may not record the resident''s evaluation (42501)');
SELECT is(pg_temp.state_as('t20_sup', format($$SELECT sanse.evaluate(%s, 5::smallint, true, 'resident', NULL, %L)$$, pg_temp.ev('h3'), pg_temp.t(124))),
          '42501', 'nor the role that fed back, who relays the resident''s word (42501)');
SELECT is(pg_temp.state_as('t20_sup', format($$SELECT sanse.evaluate(%s, 4::smallint, true, 'supervisor', NULL, %L)$$, pg_temp.ev('h3'), pg_temp.t(124))),
          'ok', 'but the supervisor who fed back may evaluate as supervisor');
SELECT is((SELECT format('%s %s', status, evaluated_by) FROM sanse.event WHERE id = pg_temp.ev('h3')), 'closed supervisor',
          'closed on the supervisor''s word, not counted as confirmed by the resident');

-----------------------------------------------------------------------------
-- 3. times: not before the previous stage, not beyond sanse.max_backdate, not ahead
-----------------------------------------------------------------------------
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.dispatch_task(%s, 'x', 'grid', '4713-01-01 BC')$$, :m1)), '22008',
          'dispatch_task dated 4713 BC: 22008');
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', now() - interval '31 days')$$, :r_own)), '22008',
          'raise_event 31 days back (sanse.max_backdate is 30 days): 22008');
SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.raise_event('warning', %s, 'x', 'grid', clock_timestamp() + interval '6 minutes')$$, :r_own)), '22008',
          'raise_event 6 minutes ahead: 22008');
-- events called 40 days ago (a superuser replaying history raised the bound), then the bound back at 30 days
SET LOCAL sanse.max_backdate = '1 year';
CREATE FUNCTION pg_temp.old(m int) RETURNS timestamptz LANGUAGE sql AS $$
	SELECT date_trunc('minute', now()) - interval '40 days' + m * interval '1 minute'
$$;
INSERT INTO ev SELECT 'old ' || s, sanse.raise_event('warning', :r_own, 'old ' || s, 'grid', pg_temp.old(i::int))
  FROM unnest(ARRAY['called', 'arrived', 'handled', 'fed']) WITH ORDINALITY u(s, i);
SELECT sanse.arrive(pg_temp.ev('old ' || s), :w_own, :'tok_own', pg_temp.old(10)) FROM unnest(ARRAY['arrived', 'handled', 'fed']) s \g /dev/null
SELECT sanse.handle_event(pg_temp.ev('old ' || s), :w_own, 'done', pg_temp.old(11)) FROM unnest(ARRAY['handled', 'fed']) s \g /dev/null
SELECT sanse.feed_back(pg_temp.ev('old fed'), :w_own, 'told', pg_temp.old(12)) \g /dev/null
SET LOCAL sanse.max_backdate = '30 days';
SELECT is(pg_temp.sqlstate_of(pg_temp.call(f, pg_temp.ev('old ' || from_stage), :w_own, :'tok_own', pg_temp.old(20))), '22008',
          format('%s dated 40 days back, after its previous stage: 22008', f))
  FROM fn ORDER BY f;
SELECT is(pg_temp.sqlstate_of(pg_temp.call(f, pg_temp.ev(s), :w_own, :'tok_own', pg_temp.t(t))), '22008',
          format('%s dated before the event''s previous stage: 22008', f))
  FROM (VALUES ('handle_event', 'b3', 64), ('whistle', 'b1', 59)) v(f, s, t);
SELECT pg_temp.make('prev', 'r own', 'w own', 70, 'fed_back') \g /dev/null
SELECT is(pg_temp.sqlstate_of(pg_temp.call('evaluate', pg_temp.ev('prev'), NULL, NULL, pg_temp.t(72))), '22008',
          'evaluate dated before the feedback: 22008');
SELECT is(pg_temp.sqlstate_of(pg_temp.call(f, e, :w_own, :'tok_own', NULL)), '22008', format('%s with a NULL time: 22008', f))
  FROM (VALUES ('arrive', pg_temp.ev('b1')), ('evaluate', pg_temp.ev('prev'))) v(f, e);

-- the issue's attack: three hours after a call, an arrival dated a minute after it
SELECT sanse.raise_event('warning', :r_own, 'attack', 'grid', date_trunc('minute', now()) - interval '3 hours') AS atk \gset
SELECT sanse.sweep(now()) \g /dev/null
SELECT is((SELECT string_agg('L' || level, ' ' ORDER BY at) FROM sanse.event_step WHERE event_id = :atk), 'L1 L2 L3 L4',
          'three hours on, the sweep took the warning to level 4');
SET LOCAL sanse.max_backdate = '1 hour';
SELECT is(pg_temp.sqlstate_of(pg_temp.call('arrive', :atk, :w_own, :'tok_own', (SELECT called_at + interval '1 minute' FROM sanse.event WHERE id = :atk))),
          '22008', 'with sanse.max_backdate at 1 hour, the made-up arrival is refused (22008)');
SELECT is((SELECT format('%s L%s', status, level) FROM sanse.event WHERE id = :atk), 'called L4', 'and changed nothing');
SET LOCAL sanse.max_backdate = '30 days';
SELECT is(pg_temp.sqlstate_of(pg_temp.call('arrive', :atk, :w_own, :'tok_own', (SELECT called_at + interval '1 minute' FROM sanse.event WHERE id = :atk))),
          'ok', 'within sanse.max_backdate it is taken as a late-synced arrival');
SELECT is((SELECT string_agg('L' || level, ' ' ORDER BY at) FROM sanse.event_step WHERE event_id = :atk), 'L1',
          'its steps after the arrival are removed (spec 7)');
SELECT matches(pg_temp.val(format($$SELECT note FROM sanse.event_transition WHERE event_id = %s AND stage = 'arrived'$$, :atk)),
               '^synced 0?2:5[89]:[0-9.]+ after its time; removed escalation steps a sweep had taken: L2 [^,]+, L3 [^,]+, L4 [^,]+$',
               'but shown honestly: its transition says how late it was synced and which steps it removed');
SELECT ok((SELECT recorded_at - at >= interval '2 hours 59 minutes' FROM sanse.event_transition WHERE event_id = :atk AND stage = 'arrived'),
          'and keeps when it was recorded');

-----------------------------------------------------------------------------
-- 4. evaluate's rating is an integer
-----------------------------------------------------------------------------
SELECT has_function('sanse', 'evaluate', ARRAY['bigint', 'integer', 'boolean', 'text', 'text', 'timestamp with time zone'],
                    'evaluate(bigint, integer, boolean, text, text, timestamptz) exists');
SELECT hasnt_function('sanse', 'evaluate', ARRAY['bigint', 'smallint', 'boolean', 'text', 'text', 'timestamp with time zone'],
                      'the smallint evaluate is gone');
SELECT pg_temp.make('int4', 'r own', 'w own', 200, 'fed_back') \g /dev/null
-- as a driver binds it: a parameter typed int4 (pgjdbc's setInt)
CREATE FUNCTION pg_temp.evaluate_int4(e bigint, rating int4, at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'SELECT sanse.evaluate($1, $2, $3, $4, NULL, $5)' USING e, rating, true, 'supervisor', at;
END
$$;
SELECT lives_ok(format('SELECT pg_temp.evaluate_int4(%s, 4, %L)', pg_temp.ev('int4'), pg_temp.t(210)), 'an int4 rating binds');
SELECT is((SELECT format('%s %s', status, rating) FROM sanse.event WHERE id = pg_temp.ev('int4')), 'closed 4', 'and closes the event');
SELECT pg_temp.make('int4 b', 'r own', 'w own', 220, 'fed_back') \g /dev/null
SELECT is(pg_temp.sqlstate_of(format('SELECT pg_temp.evaluate_int4(%s, 40000, %L)', pg_temp.ev('int4 b'), pg_temp.t(230))), '22023',
          'a rating beyond smallint is refused as out of 1-5 (22023), not by overflow');
SELECT is(pg_temp.val($$SELECT has_function_privilege('public', 'sanse.evaluate(bigint, integer, boolean, text, text, timestamptz)', 'EXECUTE')$$),
          'false', 'not executable by PUBLIC');
SELECT is(pg_temp.val($$SELECT obj_description('sanse.evaluate(bigint, integer, boolean, text, text, timestamptz)'::regprocedure, 'pg_proc') LIKE 'evaluate (评价)%'$$),
          'true', 'and commented');

-----------------------------------------------------------------------------
-- 5. a retried call returns the first event, after a reopen too
-----------------------------------------------------------------------------
SELECT sanse.raise_event('warning', :r_own, 'retry me', 'grid', pg_temp.t(300), :w_own) AS r1,
       sanse.dispatch_task(:m1, 'retry task', 'grid', pg_temp.t(300)) AS d1 \gset
SELECT sanse.arrive(:r1, :w_own, :'tok_own', pg_temp.t(301)), sanse.handle_event(:r1, :w_own, 'done', pg_temp.t(302)),
       sanse.feed_back(:r1, :w_own, 'told', pg_temp.t(303)), sanse.evaluate(:r1, 1::smallint, false, 'supervisor', NULL, pg_temp.t(304)) \g /dev/null
SELECT sanse.arrive(:d1, pg_temp.worker_id('lead m1'), NULL, pg_temp.t(301)),
       sanse.handle_event(:d1, pg_temp.worker_id('lead m1'), 'done', pg_temp.t(302)),
       sanse.feed_back(:d1, pg_temp.worker_id('lead m1'), 'told', pg_temp.t(303)),
       sanse.evaluate(:d1, 2::smallint, true, 'supervisor', NULL, pg_temp.t(304)) \g /dev/null
SELECT is((SELECT string_agg(format('%s L%s', status, level), ', ' ORDER BY id) FROM sanse.event WHERE id IN (:r1, :d1)),
          'called L2, called L2', 'both reopened one level up (their called_at moved)');
SELECT is(sanse.raise_event('warning', :r_own, 'retry me', 'grid', pg_temp.t(300), :w_own), :r1::bigint,
          'raise_event retried after the reopen returns the first event');
SELECT is(sanse.dispatch_task(:m1, 'retry task', 'grid', pg_temp.t(300)), :d1::bigint,
          'dispatch_task retried after the reopen returns the first task');
SELECT is((SELECT count(*) FROM sanse.event WHERE detail IN ('retry me', 'retry task')), 2::bigint, 'no second event');

-----------------------------------------------------------------------------
-- 6. nothing is written about a forgotten resident
-----------------------------------------------------------------------------
SELECT pg_temp.make('f ' || s, 'r forget', 'w own', 400 + i::int * 10, s)
  FROM unnest(ARRAY['called', 'arrived', 'handled', 'fed_back']) WITH ORDINALITY u(s, i) \g /dev/null
SELECT sanse.forget_resident(pg_temp.resident_id('r forget'), 'moved away') \g /dev/null
SELECT is(pg_temp.sqlstate_of(pg_temp.call(f, pg_temp.ev('f ' || CASE s WHEN 'fed' THEN 'fed_back' ELSE s END), :w_own, :'tok_own', pg_temp.t(500))),
          '55000', format('%s on an event of a forgotten resident: 55000', f))
  FROM (SELECT f, from_stage s FROM fn) x ORDER BY f;
SELECT is((SELECT count(*) FROM sanse.event e WHERE e.resident_id = :r_forget
             AND (e.detail IS NOT NULL OR e.action IS NOT NULL OR e.feedback IS NOT NULL)), 0::bigint,
          'no text about the forgotten resident came back');

SELECT * FROM finish();
ROLLBACK;
