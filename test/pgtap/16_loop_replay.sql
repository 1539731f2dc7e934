-- pgTAP: the closed loop's clocks replayed (spec 7 "Escalation", issue 12
-- "Tests that must exist": the replay test and the DST test).
--
-- Part 1: one script of warnings, a request, a task and a whistle with their
-- arrivals, handlings, feedbacks and evaluations (one of them a reopen) over
-- three simulated days of May 2024, replayed four times, each inside a
-- subtransaction that is rolled back once its events and steps are captured:
--   minute       sweep(at) every simulated minute, late syncs late;
--   hour         sweep(at) every simulated hour, late syncs late;
--   end          one sweep at the end (every action in sync order first);
--   on time      sweep(at) every simulated minute, every action synced at
--                its own time.
-- Three actions reach the server late (an arrival, an arrival after a
-- reopen, a handling), after sweeps dated later than them had already
-- stepped the clock: the steps dated after them must go.  Every run must
-- give the events (kind, status, level, level_since, next_step_at,
-- assignee, stage times) and steps (level, at, assignee) that the clock
-- model below derives from the script alone: plain timestamptz + interval
-- in the session zone set to sanse.timezone, the policy defaults of the
-- README written out here, the leaders of the fixture by name; none of the
-- functions under test.  A step at s is reached when s <= the end of its
-- stage (arrival or handling) or, while the stage is open, s <= the sweep's
-- time (spec 7), so an action dated exactly at a step time has that step.
--
-- Part 2: daylight saving time in America/New_York: 15-minute and 2-hour
-- clocks are elapsed time across both 2024 changes; clocks in days step at
-- the same local wall-clock time (23 or 25 hours elapsed).  Expected
-- instants are literals worked out by hand.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';	-- every literal below is UTC unless it says otherwise
SET LOCAL sanse.max_backdate = '10 years';	-- loop times dated in 2024
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(34);

-- r1 (red) in M1 with carer c1; r2 (yellow) in M2 with carer c2; department
-- water with its staff.  Level 1 of M1 is 'lead m1', of M2 'lead m2'; both
-- sit under G ('lead g'), TG ('lead tg') and D ('task force').
INSERT INTO department (code, name) VALUES ('water', 'Water bureau');
INSERT INTO worker (name, force, role, area_id, department)
VALUES ('c1', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg.g.m1'), NULL),
       ('c2', 'volunteer', 'member', pg_temp.area_id('d.t.v.tg.g.m2'), NULL),
       ('water staff', 'department_staff', 'member', pg_temp.area_id('d'), 'water');
INSERT INTO resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'r1', '{accident_risk}', '2024-01-01 00:00+08'),
       (pg_temp.area_id('d.t.v.tg.g.m2'), 'r2', '{partial_care,mobility_impaired}', '2024-01-01 00:00+08');
INSERT INTO carer (resident_id, worker_id)
VALUES (pg_temp.resident_id('r1'), pg_temp.worker_id('c1')), (pg_temp.resident_id('r2'), pg_temp.worker_id('c2'));
SELECT results_eq($$SELECT name, tier::text FROM sanse.resident WHERE name IN ('r1', 'r2') ORDER BY name$$,
                  $$VALUES ('r1'::text, 'red'::text), ('r2', 'yellow')$$, 'fixture: r1 is red, r2 yellow');

-----------------------------------------------------------------------------
-- The script.  d0 = 2024-05-06 UTC; the run ends at T_end = 2024-05-09 00:00.
-- sanse.timezone is its default (Asia/Shanghai, no DST): days are 24 hours.
--   w1 warning r1: arrives in time, handled, fed back, closed (5, solved)
--   w2 warning r1: arrives after 40 min (levels 2, 3), climbs to 4 while handled late
--   w3 warning r2: closed then reopened (rating 1, not solved) one level up; the
--      arrival after the reopen is synced 1 h 40 min late
--   w4 warning r2: never arrived: level 4 after 45 minutes
--   w5 warning r1: arrival at 22:20 synced at 03:00 the next day
--   q1 request r1 (red: 30 min / 4 h): handling at 12:00 synced at 16:00
--   t1 task about M1 (1 day / 3 days): arrives after a day
--   w6 warning r2 whistled for water: its child w6/water (task, department
--      scale, level 3, tier yellow: 1 day / 3 days) arrives late, then both handled
--   w7 warning r1: arrival exactly at a step time, handling exactly at one
--   w8 warning r1: still called at T_end, with a step exactly at T_end
-----------------------------------------------------------------------------
CREATE TEMP TABLE script (seq int PRIMARY KEY, label text NOT NULL, op text NOT NULL, at timestamptz NOT NULL,
                          sync_at timestamptz NOT NULL, worker text, kind text, resident text, area text,
                          parent text, dept text, rating int, solved boolean, by_whom text);
INSERT INTO script (seq, label, op, at, sync_at, worker, kind, resident, area, parent, dept, rating, solved, by_whom)
SELECT row_number() OVER (ORDER BY v.ord), v.label, v.op, v.at::timestamptz, coalesce(v.sync_at, v.at)::timestamptz,
       v.worker, v.kind, v.resident, v.area, v.parent, v.dept, v.rating, v.solved, v.by_whom
  FROM (VALUES
   (1, 'w1', 'raise',    '2024-05-06 01:00+00', NULL, NULL, 'warning', 'r1', NULL, NULL, NULL, NULL, NULL, NULL),
   (2, 'w1', 'arrive',   '2024-05-06 01:10+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (3, 'w1', 'handle',   '2024-05-06 02:00+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (4, 'w1', 'feed_back','2024-05-06 02:30+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (5, 'w1', 'evaluate', '2024-05-06 03:00+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 5, true, 'resident'),
   (6, 'w2', 'raise',    '2024-05-06 04:00+00', NULL, NULL, 'warning', 'r1', NULL, NULL, NULL, NULL, NULL, NULL),
   (7, 'w2', 'arrive',   '2024-05-06 04:40+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (8, 'w2', 'handle',   '2024-05-06 07:00+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (9, 'w2', 'feed_back','2024-05-06 07:30+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (10, 'w2', 'evaluate','2024-05-06 08:00+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 4, true, 'supervisor'),
   (11, 't1', 'dispatch','2024-05-06 09:00+00', NULL, 'lead tg', 'task', NULL, 'd.t.v.tg.g.m1', NULL, NULL, NULL, NULL, NULL),
   (12, 'w3', 'raise',   '2024-05-06 10:00+00', NULL, NULL, 'warning', 'r2', NULL, NULL, NULL, NULL, NULL, NULL),
   (13, 'w3', 'arrive',  '2024-05-06 10:05+00', NULL, 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (14, 'w3', 'handle',  '2024-05-06 11:00+00', NULL, 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (15, 'w3', 'feed_back','2024-05-06 11:30+00', NULL, 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (16, 'w3', 'evaluate','2024-05-06 12:00+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, false, 'resident'),
   (17, 'w3', 'arrive',  '2024-05-06 12:20+00', '2024-05-06 14:00+00', 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (18, 'w3', 'handle',  '2024-05-06 15:00+00', NULL, 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (19, 'w3', 'feed_back','2024-05-06 15:10+00', NULL, 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (20, 'w3', 'evaluate','2024-05-06 15:30+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 4, true, 'resident'),
   (21, 'w4', 'raise',   '2024-05-06 20:00+00', NULL, NULL, 'warning', 'r2', NULL, NULL, NULL, NULL, NULL, NULL),
   (22, 'w5', 'raise',   '2024-05-06 22:00+00', NULL, NULL, 'warning', 'r1', NULL, NULL, NULL, NULL, NULL, NULL),
   (23, 'w5', 'arrive',  '2024-05-06 22:20+00', '2024-05-07 03:00+00', 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (24, 'w6', 'raise',   '2024-05-07 01:00+00', NULL, NULL, 'warning', 'r2', NULL, NULL, NULL, NULL, NULL, NULL),
   (25, 'w6', 'arrive',  '2024-05-07 01:05+00', NULL, 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (26, 'w6/water', 'whistle', '2024-05-07 01:30+00', NULL, 'lead m2', NULL, NULL, NULL, 'w6', 'water', NULL, NULL, NULL),
   (27, 'q1', 'raise',   '2024-05-07 06:00+00', NULL, NULL, 'request', 'r1', NULL, NULL, NULL, NULL, NULL, NULL),
   (28, 'q1', 'arrive',  '2024-05-07 06:50+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (29, 't1', 'arrive',  '2024-05-07 10:00+00', NULL, 'lead m1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (30, 'q1', 'handle',  '2024-05-07 12:00+00', '2024-05-07 16:00+00', 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (31, 'q1', 'feed_back','2024-05-07 16:30+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (32, 'q1', 'evaluate','2024-05-07 17:00+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 3, true, 'resident'),
   (33, 'w6/water', 'arrive', '2024-05-08 03:00+00', NULL, 'water staff', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (34, 'w6/water', 'handle', '2024-05-08 04:00+00', NULL, 'water staff', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (35, 'w6', 'handle',  '2024-05-08 05:00+00', NULL, 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (36, 'w6', 'feed_back','2024-05-08 05:30+00', NULL, 'c2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (37, 'w6', 'evaluate','2024-05-08 06:00+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 5, true, 'resident'),
   (38, 'w7', 'raise',   '2024-05-08 06:00+00', NULL, NULL, 'warning', 'r1', NULL, NULL, NULL, NULL, NULL, NULL),
   (39, 'w7', 'arrive',  '2024-05-08 06:30+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (40, 't1', 'handle',  '2024-05-08 08:00+00', NULL, 'lead m1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (41, 'w7', 'handle',  '2024-05-08 08:30+00', NULL, 'c1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (42, 't1', 'feed_back','2024-05-08 09:00+00', NULL, 'lead m1', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (43, 't1', 'evaluate','2024-05-08 10:00+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 5, true, 'supervisor'),
   (44, 'w8', 'raise',   '2024-05-08 23:30+00', NULL, NULL, 'warning', 'r1', NULL, NULL, NULL, NULL, NULL, NULL)
  ) v(ord, label, op, at, sync_at, worker, kind, resident, area, parent, dept, rating, solved, by_whom);

-----------------------------------------------------------------------------
-- The expected clocks, derived from the script alone.
-----------------------------------------------------------------------------
-- the README's default policies, written out (not read from sanse.loop_policy)
CREATE TEMP TABLE pol (kind text, tier text, aw interval, hw interval);
INSERT INTO pol VALUES ('warning', NULL, '15 minutes', '2 hours'),
                       ('request', 'red', '30 minutes', '4 hours'), ('request', NULL, '2 hours', '1 day'),
                       ('finding', NULL, '1 day', '3 days'), ('task', NULL, '1 day', '3 days');
-- residents' tiers and micro grids, written out
CREATE TEMP TABLE res (name text, tier text, micro text);
INSERT INTO res VALUES ('r1', 'red', 'm1'), ('r2', 'yellow', 'm2');
-- the leader at a level for a micro grid m1 or m2 of the fixture
CREATE FUNCTION pg_temp.leader(micro text, level int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE level WHEN 1 THEN 'lead ' || micro WHEN 2 THEN 'lead g' WHEN 3 THEN 'lead tg' ELSE 'task force' END
$$;

CREATE TEMP TABLE exp_event (label text, kind text, status text, level smallint, level_since timestamptz,
                             next_step_at timestamptz, assignee text, called_at timestamptz, arrived_at timestamptz,
                             handled_at timestamptz, fed_back_at timestamptz, resolved_at timestamptz, reopened int);
CREATE TEMP TABLE exp_step (label text, level smallint, at timestamptz, assignee text);

-- The model: a clock (its last step or start, and its interval) climbs one
-- level per interval while it runs, up to each transition's time and at last
-- to t_end; arrival restarts it with handle_within, handling and closing stop
-- it, a reopen steps one level up (4 at most) and restarts it with
-- arrive_within.  Additions are core timestamptz + interval in the session
-- zone, set to sanse.timezone for the function's run only.
CREATE FUNCTION pg_temp.model(t_end timestamptz) RETURNS void LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
	s record;
	tr record;
	k text;
	v_tier text;
	v_micro text;
	aw interval;
	hw interval;
	lvl int;
	since timestamptz;
	clock timestamptz;
	iv interval;
	st text;
	called timestamptz;
	arrived timestamptz;
	handled timestamptz;
	fed timestamptz;
	resolved timestamptz;
	reopens int;
	upto timestamptz;
BEGIN
	PERFORM set_config('TimeZone', current_setting('sanse.timezone'), true);
	FOR s IN SELECT * FROM script WHERE op IN ('raise', 'dispatch', 'whistle') ORDER BY seq LOOP
		IF s.op = 'whistle' THEN
			k := 'task';
			SELECT r.tier, r.micro INTO v_tier, v_micro FROM script p JOIN res r ON r.name = p.resident
			 WHERE p.label = s.parent AND p.op = 'raise';
			lvl := 3;	-- scale department
		ELSE
			k := s.kind;
			SELECT r.tier, r.micro INTO v_tier, v_micro FROM res r WHERE r.name = s.resident;
			IF s.op = 'dispatch' THEN
				v_micro := subpath(s.area::ltree, -1)::text;
			END IF;
			lvl := 1;	-- scale grid
		END IF;
		SELECT p.aw, p.hw INTO aw, hw FROM pol p WHERE p.kind = k AND (p.tier = v_tier OR p.tier IS NULL)
		 ORDER BY p.tier IS NULL LIMIT 1;
		st := 'called'; called := s.at; arrived := NULL; handled := NULL; fed := NULL; resolved := NULL; reopens := 0;
		since := s.at; clock := s.at; iv := aw;
		INSERT INTO exp_step VALUES (s.label, lvl, s.at, pg_temp.leader(v_micro, lvl));
		FOR tr IN SELECT x.op, x.at, x.rating, x.solved FROM script x WHERE x.label = s.label AND x.seq <> s.seq
		          UNION ALL SELECT 'end', t_end, NULL, NULL
		          ORDER BY 2, 1 LOOP
			upto := tr.at;
			WHILE clock IS NOT NULL AND lvl < 4 AND clock + iv <= upto LOOP
				clock := clock + iv;
				lvl := lvl + 1;
				since := clock;
				INSERT INTO exp_step VALUES (s.label, lvl, clock, pg_temp.leader(v_micro, lvl));
			END LOOP;
			CASE tr.op
			WHEN 'arrive' THEN
				st := 'arrived'; arrived := tr.at; clock := tr.at; iv := hw;
			WHEN 'handle' THEN
				st := 'handled'; handled := tr.at; clock := NULL;
			WHEN 'feed_back' THEN
				st := 'fed_back'; fed := tr.at;
			WHEN 'evaluate' THEN
				IF tr.rating <= 2 OR NOT tr.solved THEN
					IF lvl < 4 THEN
						lvl := lvl + 1;
					END IF;
					since := tr.at;
					INSERT INTO exp_step VALUES (s.label, lvl, tr.at, pg_temp.leader(v_micro, lvl));
					st := 'called'; called := tr.at; arrived := NULL; handled := NULL; fed := NULL;
					reopens := reopens + 1; clock := tr.at; iv := aw;
				ELSE
					st := 'closed'; resolved := tr.at; clock := NULL;
				END IF;
			ELSE
				NULL;	-- 'end'
			END CASE;
		END LOOP;
		INSERT INTO exp_event VALUES (s.label, k, st, lvl, since,
		                              CASE WHEN clock IS NOT NULL AND lvl < 4 THEN clock + iv END,
		                              pg_temp.leader(v_micro, lvl), called, arrived, handled, fed, resolved, reopens);
	END LOOP;
END
$$;
SELECT pg_temp.model('2024-05-09 00:00+00');

-- the model checked by hand on a few events (UTC; +15 min per arrival step, +2 h per handling step)
SELECT results_eq($$SELECT label, level, at, assignee FROM exp_step WHERE label IN ('w2', 'w3', 'w5', 'w7', 'w8') ORDER BY label, at, level$$,
                  $$VALUES ('w2'::text, 1::smallint, '2024-05-06 04:00+00'::timestamptz, 'lead m1'::text),
                           ('w2', 2::smallint, '2024-05-06 04:15+00', 'lead g'),		-- raised + 15 min
                           ('w2', 3::smallint, '2024-05-06 04:30+00', 'lead tg'),		-- + 30 min; arrived 04:40
                           ('w2', 4::smallint, '2024-05-06 06:40+00', 'task force'),	-- arrival + 2 h; handled 07:00
                           ('w3', 1::smallint, '2024-05-06 10:00+00', 'lead m2'),		-- arrived 10:05
                           ('w3', 2::smallint, '2024-05-06 12:00+00', 'lead g'),		-- the reopen, one level up
                           ('w3', 3::smallint, '2024-05-06 12:15+00', 'lead tg'),		-- reopen + 15 min; arrived 12:20
                           ('w3', 4::smallint, '2024-05-06 14:20+00', 'task force'),	-- arrival + 2 h; handled 15:00
                           ('w5', 1::smallint, '2024-05-06 22:00+00', 'lead m1'),
                           ('w5', 2::smallint, '2024-05-06 22:15+00', 'lead g'),		-- arrived 22:20 (synced 03:00)
                           ('w5', 3::smallint, '2024-05-07 00:20+00', 'lead tg'),		-- arrival + 2 h
                           ('w5', 4::smallint, '2024-05-07 02:20+00', 'task force'),	-- arrival + 4 h
                           ('w7', 1::smallint, '2024-05-08 06:00+00', 'lead m1'),
                           ('w7', 2::smallint, '2024-05-08 06:15+00', 'lead g'),
                           ('w7', 3::smallint, '2024-05-08 06:30+00', 'lead tg'),		-- the arrival's own time
                           ('w7', 4::smallint, '2024-05-08 08:30+00', 'task force'),	-- the handling's own time
                           ('w8', 1::smallint, '2024-05-08 23:30+00', 'lead m1'),
                           ('w8', 2::smallint, '2024-05-08 23:45+00', 'lead g'),
                           ('w8', 3::smallint, '2024-05-09 00:00+00', 'lead tg')$$,		-- the end's own time
                  'the clock model, checked by hand: 15-minute arrival steps, 2-hour handling steps from the arrival, a reopen one level up');
SELECT results_eq($$SELECT label, status, level, next_step_at FROM exp_event WHERE label IN ('w4', 'w8', 't1', 'w6/water', 'q1') ORDER BY label$$,
                  $$VALUES ('q1'::text, 'closed'::text, 3::smallint, NULL::timestamptz),	-- 06:30, arrived 06:50, 10:50; handled 12:00
                           ('t1', 'closed', 2::smallint, NULL),							-- a day after 09:00; arrived 10:00 the next day
                           ('w4', 'called', 4::smallint, NULL),
                           ('w6/water', 'handled', 4::smallint, NULL),					-- level 3 at 01:30, 4 a day later
                           ('w8', 'called', 3::smallint, '2024-05-09 00:15+00')$$,
                  'the clock model, checked by hand: the request, the task, the whistled child, the open events');

-----------------------------------------------------------------------------
-- The replays
-----------------------------------------------------------------------------
CREATE TEMP TABLE ev_cap (run text, label text, kind text, status text, level smallint, level_since timestamptz,
                          next_step_at timestamptz, assignee text, called_at timestamptz, arrived_at timestamptz,
                          handled_at timestamptz, fed_back_at timestamptz, resolved_at timestamptz, reopened int);
CREATE TEMP TABLE st_cap (run text, label text, level smallint, at timestamptz, assignee text);
-- a late action: the steps its event had when it reached the server
CREATE TEMP TABLE late_cap (run text, label text, op text, at timestamptz, last_step_before timestamptz);
CREATE TEMP TABLE lbl (label text PRIMARY KEY, id bigint);

CREATE FUNCTION pg_temp.act(s script) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	eid bigint := (SELECT id FROM lbl WHERE label = s.label);
	w bigint := pg_temp.worker_id(s.worker);
BEGIN
	CASE s.op
	WHEN 'raise' THEN
		INSERT INTO lbl VALUES (s.label, sanse.raise_event(s.kind, pg_temp.resident_id(s.resident), 'about ' || s.label, 'grid', s.at, w));
	WHEN 'dispatch' THEN
		INSERT INTO lbl VALUES (s.label, sanse.dispatch_task(pg_temp.area_id(s.area), 'about ' || s.label, 'grid', s.at, w));
	WHEN 'whistle' THEN
		INSERT INTO lbl VALUES (s.label, sanse.whistle((SELECT id FROM lbl WHERE label = s.parent), s.dept, w, s.at));
	WHEN 'arrive' THEN
		PERFORM sanse.arrive(eid, w, (SELECT sanse.door_token(e.resident_id) FROM sanse.event e WHERE e.id = eid AND e.resident_id IS NOT NULL), s.at);
	WHEN 'handle' THEN
		PERFORM sanse.handle_event(eid, w, 'done: ' || s.label, s.at);
	WHEN 'feed_back' THEN
		PERFORM sanse.feed_back(eid, w, 'told: ' || s.label, s.at);
	WHEN 'evaluate' THEN
		PERFORM sanse.evaluate(eid, s.rating::smallint, s.solved, s.by_whom, NULL, s.at);
	END CASE;
END
$$;

-- Replay the script with a sweep every `every` (NULL: once at the end); with
-- on_time, every action reaches the server at its own time.  Actions that
-- reach the server at a sweep's time go in before that sweep, or after it
-- with sweep_first (every action is at a whole minute, so with sweeps every
-- minute that puts each sweep before the actions of its minute and after
-- those of the minute before).  Capture the loop events and steps by label,
-- then undo everything.
CREATE FUNCTION pg_temp.replay(run text, every interval, on_time boolean, sweep_first boolean DEFAULT false) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 constant timestamptz := '2024-05-06 00:00+00';
	t_end constant timestamptz := '2024-05-09 00:00+00';
	evs ev_cap[];
	sts st_cap[];
	lts late_cap[] := '{}';
	t timestamptz;
	prev timestamptz := '-infinity';
	s script;
BEGIN
	BEGIN
		LOOP
			t := CASE WHEN every IS NULL THEN t_end ELSE coalesce(prev + every, t0) END;
			t := CASE WHEN prev = '-infinity' AND every IS NOT NULL THEN t0 ELSE t END;
			IF sweep_first THEN
				PERFORM sanse.sweep(t);
			END IF;
			FOR s IN SELECT * FROM script x
			          WHERE CASE WHEN on_time THEN x.at ELSE x.sync_at END > prev
			            AND CASE WHEN on_time THEN x.at ELSE x.sync_at END <= t
			          ORDER BY CASE WHEN on_time THEN x.at ELSE x.sync_at END, x.seq LOOP
				IF NOT on_time AND s.sync_at > s.at THEN
					lts := lts || ROW(run, s.label, s.op, s.at,
					                  (SELECT max(st.at) FROM sanse.event_step st JOIN lbl l ON l.id = st.event_id
					                    WHERE l.label = s.label))::late_cap;
				END IF;
				PERFORM pg_temp.act(s);
			END LOOP;
			IF NOT sweep_first THEN
				PERFORM sanse.sweep(t);
			END IF;
			prev := t;
			EXIT WHEN t >= t_end;
		END LOOP;
		SELECT array_agg(ROW(run, l.label, e.kind, e.status, e.level, e.level_since, e.next_step_at, w.name,
		                     e.called_at, e.arrived_at, e.handled_at, e.fed_back_at, e.resolved_at, e.reopened)::ev_cap)
		  INTO evs
		  FROM sanse.event e JOIN lbl l ON l.id = e.id LEFT JOIN sanse.worker w ON w.id = e.assignee_id;
		SELECT array_agg(ROW(run, l.label, st.level, st.at, w.name)::st_cap)
		  INTO sts
		  FROM sanse.event_step st JOIN lbl l ON l.id = st.event_id LEFT JOIN sanse.worker w ON w.id = st.assignee_id;
		RAISE EXCEPTION USING ERRCODE = 'P0099';	-- undo this replay
	EXCEPTION WHEN SQLSTATE 'P0099' THEN
		NULL;
	END;
	INSERT INTO ev_cap SELECT * FROM unnest(evs);
	INSERT INTO st_cap SELECT * FROM unnest(sts);
	INSERT INTO late_cap SELECT * FROM unnest(lts);
END
$$;
SELECT pg_temp.replay('minute', '1 minute', false);
SELECT pg_temp.replay('hour', '1 hour', false);
SELECT pg_temp.replay('end', NULL, false);
SELECT pg_temp.replay('on time', '1 minute', true);
SELECT pg_temp.replay('sweep first', '1 minute', false, true);

SELECT is((SELECT count(*) FROM sanse.event WHERE kind <> 'overdue'), 0::bigint, 'each replay was undone');
SELECT results_eq($$SELECT run, count(*) FROM ev_cap GROUP BY run ORDER BY run$$,
                  $$VALUES ('end'::text, 11::bigint), ('hour', 11), ('minute', 11), ('on time', 11), ('sweep first', 11)$$,
                  'every run captured the eleven events of the script');
-- the late syncs were late: sweeps had stepped past the action's own time before it reached the server
SELECT results_eq($$SELECT label, op, at, last_step_before > at FROM late_cap WHERE run = 'minute' ORDER BY at$$,
                  $$VALUES ('w3'::text, 'arrive'::text, '2024-05-06 12:20+00'::timestamptz, true),
                           ('w5', 'arrive', '2024-05-06 22:20+00', true),
                           ('q1', 'handle', '2024-05-07 12:00+00', true)$$,
                  'minute run: each late action reached the server after sweeps had taken steps dated after it');
SELECT results_eq($$SELECT label, op, last_step_before > at FROM late_cap WHERE run = 'hour' ORDER BY at$$,
                  $$VALUES ('w3'::text, 'arrive'::text, true), ('w5', 'arrive', true), ('q1', 'handle', true)$$,
                  'hour run: the same');

-- every run against the model
CREATE FUNCTION pg_temp.events_of(p_run text) RETURNS SETOF exp_event LANGUAGE sql AS $$
	SELECT label, kind, status, level, level_since, next_step_at, assignee, called_at, arrived_at, handled_at,
	       fed_back_at, resolved_at, reopened FROM ev_cap WHERE run = p_run ORDER BY label
$$;
CREATE FUNCTION pg_temp.steps_of(p_run text) RETURNS SETOF exp_step LANGUAGE sql AS $$
	SELECT label, level, at, assignee FROM st_cap WHERE run = p_run ORDER BY label, at, level
$$;
SELECT results_eq(format('SELECT * FROM pg_temp.events_of(%L)', r),
                  'SELECT * FROM exp_event ORDER BY label',
                  format('%s: events (kind, status, level, level_since, next_step_at, assignee, stage times) as the clock model gives', d))
  FROM (VALUES (1, 'minute', 'sweeps every minute'), (2, 'hour', 'sweeps every hour'),
               (3, 'end', 'one sweep at the end'), (4, 'on time', 'every minute, nothing synced late'),
               (5, 'sweep first', 'every minute, each sweep before its minute''s actions')) v(o, r, d) ORDER BY o;
SELECT results_eq(format('SELECT * FROM pg_temp.steps_of(%L)', r),
                  'SELECT * FROM exp_step ORDER BY label, at, level',
                  format('%s: steps (level, at, assignee) as the clock model gives', d))
  FROM (VALUES (1, 'minute', 'sweeps every minute'), (2, 'hour', 'sweeps every hour'),
               (3, 'end', 'one sweep at the end'), (4, 'on time', 'every minute, nothing synced late'),
               (5, 'sweep first', 'every minute, each sweep before its minute''s actions')) v(o, r, d) ORDER BY o;
-- and the runs against each other (the invariant itself, whatever the model says)
SELECT results_eq(format('SELECT * FROM pg_temp.events_of(%L)', r), $$SELECT * FROM pg_temp.events_of('minute')$$,
                  format('%s gives the same events as sweeps every minute', d))
  FROM (VALUES (1, 'hour', 'sweeps every hour'), (2, 'end', 'one sweep at the end'),
               (3, 'on time', 'syncing every action on time'),
               (4, 'sweep first', 'sweeping before each minute''s actions')) v(o, r, d) ORDER BY o;
SELECT results_eq(format('SELECT * FROM pg_temp.steps_of(%L)', r), $$SELECT * FROM pg_temp.steps_of('minute')$$,
                  format('%s gives the same steps as sweeps every minute', d))
  FROM (VALUES (1, 'hour', 'sweeps every hour'), (2, 'end', 'one sweep at the end'),
               (3, 'on time', 'syncing every action on time'),
               (4, 'sweep first', 'sweeping before each minute''s actions')) v(o, r, d) ORDER BY o;
-- late-synced against on time, for the three late actions' events
SELECT results_eq($$SELECT * FROM pg_temp.steps_of('minute') WHERE label IN ('w3', 'w5', 'q1')$$,
                  $$SELECT * FROM pg_temp.steps_of('on time') WHERE label IN ('w3', 'w5', 'q1')$$,
                  'arrivals and a handling synced late: the steps dated after them are gone, as if synced on time');

-----------------------------------------------------------------------------
-- Part 2: daylight saving time in America/New_York.
--   2024-03-10 02:00 EST (07:00Z) -> 03:00 EDT; 2024-11-03 02:00 EDT (06:00Z) -> 01:00 EST.
-- Hours and minutes are elapsed time (core timestamptz + interval); days are
-- local calendar days, so a 1-day step lasts 23 hours in March, 25 in November.
-- A sweep runs at each arrival's time before it (as a per-minute cron would).
-----------------------------------------------------------------------------
SET LOCAL sanse.timezone = 'America/New_York';
UPDATE loop_policy SET handle_within = '1 day' WHERE kind = 'task' AND tier IS NULL;
CREATE TEMP TABLE dst (label text, id bigint);
-- spring forward
INSERT INTO dst SELECT 'd2', raise_event('warning', pg_temp.resident_id('r1'), 'd2', 'grid', '2024-03-10 06:30+00');	-- 01:30 EST
INSERT INTO dst SELECT 'd1', raise_event('warning', pg_temp.resident_id('r1'), 'd1', 'grid', '2024-03-10 06:50+00');	-- 01:50 EST
INSERT INTO dst SELECT 'd5', dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'd5', 'grid', '2024-03-09 13:00+00');	-- 08:00 EST
INSERT INTO dst SELECT 'd7', dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'd7', 'grid', '2024-03-09 17:00+00');	-- 12:00 EST
SELECT FROM sweep('2024-03-09 14:00+00');
SELECT FROM arrive((SELECT id FROM dst WHERE label = 'd5'), pg_temp.worker_id('lead m1'), NULL, '2024-03-09 14:00+00');	-- 09:00 EST
SELECT FROM sweep('2024-03-10 06:50+00');
SELECT FROM arrive((SELECT id FROM dst WHERE label = 'd2'), pg_temp.worker_id('c1'), pg_temp.token('r1'), '2024-03-10 06:50+00');	-- 01:50 EST
SELECT results_eq($$SELECT level, level_since, next_step_at FROM sanse.event WHERE id = (SELECT id FROM dst WHERE label = 'd2')$$,
                  $$VALUES (2::smallint, '2024-03-10 06:45+00'::timestamptz, '2024-03-10 08:50+00'::timestamptz)$$,
                  'spring forward: arrived at 01:50 EST at level 2 (01:45 EST), next step 2 hours later: 04:50 EDT (08:50Z), not 03:50 EDT');
SELECT FROM sweep('2024-03-20 00:00+00');
-- fall back
INSERT INTO dst SELECT 'd4', raise_event('warning', pg_temp.resident_id('r1'), 'd4', 'grid', '2024-11-03 04:20+00');	-- 00:20 EDT
INSERT INTO dst SELECT 'd3', raise_event('warning', pg_temp.resident_id('r1'), 'd3', 'grid', '2024-11-03 05:50+00');	-- 01:50 EDT
INSERT INTO dst SELECT 'd6', dispatch_task(pg_temp.area_id('d.t.v.tg.g.m1'), 'd6', 'grid', '2024-11-02 12:00+00');	-- 08:00 EDT
SELECT FROM sweep('2024-11-02 13:00+00');
SELECT FROM arrive((SELECT id FROM dst WHERE label = 'd6'), pg_temp.worker_id('lead m1'), NULL, '2024-11-02 13:00+00');	-- 09:00 EDT
SELECT FROM sweep('2024-11-03 04:30+00');
SELECT FROM arrive((SELECT id FROM dst WHERE label = 'd4'), pg_temp.worker_id('c1'), pg_temp.token('r1'), '2024-11-03 04:30+00');	-- 00:30 EDT
SELECT FROM sweep('2024-11-20 00:00+00');

CREATE FUNCTION pg_temp.dst_steps(l text) RETURNS TABLE (level smallint, at timestamptz) LANGUAGE sql AS $$
	SELECT s.level, s.at FROM sanse.event_step s WHERE s.event_id = (SELECT id FROM dst WHERE label = l) ORDER BY s.at, s.level
$$;
SELECT results_eq($$SELECT * FROM pg_temp.dst_steps('d1')$$,
                  $$VALUES (1::smallint, '2024-03-10 06:50+00'::timestamptz),	-- 01:50 EST
                           (2::smallint, '2024-03-10 07:05+00'),				-- 03:05 EDT: 15 minutes later, not a nonexistent 02:05
                           (3::smallint, '2024-03-10 07:20+00'),				-- 03:20 EDT
                           (4::smallint, '2024-03-10 07:35+00')$$,				-- 03:35 EDT
                  'spring forward, never arrived: 15-minute steps are elapsed time across 02:00 -> 03:00');
SELECT results_eq($$SELECT * FROM pg_temp.dst_steps('d2')$$,
                  $$VALUES (1::smallint, '2024-03-10 06:30+00'::timestamptz),	-- 01:30 EST
                           (2::smallint, '2024-03-10 06:45+00'),				-- 01:45 EST; arrived 01:50 EST
                           (3::smallint, '2024-03-10 08:50+00'),				-- 04:50 EDT: 2 hours elapsed
                           (4::smallint, '2024-03-10 10:50+00')$$,				-- 06:50 EDT
                  'spring forward, arrived, never handled: 2-hour steps are elapsed time');
SELECT results_eq($$SELECT * FROM pg_temp.dst_steps('d3')$$,
                  $$VALUES (1::smallint, '2024-11-03 05:50+00'::timestamptz),	-- 01:50 EDT
                           (2::smallint, '2024-11-03 06:05+00'),				-- 01:05 EST (the second 01:05)
                           (3::smallint, '2024-11-03 06:20+00'),				-- 01:20 EST
                           (4::smallint, '2024-11-03 06:35+00')$$,				-- 01:35 EST
                  'fall back, never arrived: 15-minute steps are elapsed time across 02:00 -> 01:00');
SELECT results_eq($$SELECT * FROM pg_temp.dst_steps('d4')$$,
                  $$VALUES (1::smallint, '2024-11-03 04:20+00'::timestamptz),	-- 00:20 EDT; arrived 00:30 EDT
                           (2::smallint, '2024-11-03 06:30+00'),				-- 01:30 EST: 2 hours elapsed (wall clock shows 1 hour)
                           (3::smallint, '2024-11-03 08:30+00'),				-- 03:30 EST
                           (4::smallint, '2024-11-03 10:30+00')$$,				-- 05:30 EST
                  'fall back, arrived, never handled: 2-hour steps are elapsed time');
SELECT results_eq($$SELECT * FROM pg_temp.dst_steps('d5')$$,
                  $$VALUES (1::smallint, '2024-03-09 13:00+00'::timestamptz),	-- dispatched 08:00 EST; arrived 09:00 EST
                           (2::smallint, '2024-03-10 13:00+00'),				-- 09:00 EDT: 23 hours after the arrival
                           (3::smallint, '2024-03-11 13:00+00'),				-- 09:00 EDT
                           (4::smallint, '2024-03-12 13:00+00')$$,				-- 09:00 EDT
                  'spring forward, handle_within 1 day: steps at 09:00 local, the first 23 hours after the arrival');
SELECT results_eq($$SELECT * FROM pg_temp.dst_steps('d6')$$,
                  $$VALUES (1::smallint, '2024-11-02 12:00+00'::timestamptz),	-- dispatched 08:00 EDT; arrived 09:00 EDT
                           (2::smallint, '2024-11-03 14:00+00'),				-- 09:00 EST: 25 hours after the arrival
                           (3::smallint, '2024-11-04 14:00+00'),				-- 09:00 EST
                           (4::smallint, '2024-11-05 14:00+00')$$,				-- 09:00 EST
                  'fall back, handle_within 1 day: steps at 09:00 local, the first 25 hours after the arrival');
SELECT results_eq($$SELECT * FROM pg_temp.dst_steps('d7')$$,
                  $$VALUES (1::smallint, '2024-03-09 17:00+00'::timestamptz),	-- dispatched 12:00 EST, never arrived
                           (2::smallint, '2024-03-10 16:00+00'),				-- 12:00 EDT: arrive_within 1 day = 23 hours
                           (3::smallint, '2024-03-11 16:00+00'),				-- 12:00 EDT
                           (4::smallint, '2024-03-12 16:00+00')$$,				-- 12:00 EDT
                  'spring forward, arrive_within 1 day: steps at 12:00 local');

SELECT * FROM finish();
ROLLBACK;
