-- pgTAP: the daily history kept by the sweep (issue 14): sanse.area_day and
-- the screen view sanse.coverage_history.
--
-- One script of check-ins (two synced hours late within their day), tier
-- changes and loop events over the first week of March 2024 (Asia/Shanghai,
-- the default sanse.timezone) is played twice from the same start, each run
-- in a subtransaction:
--   daily  a sweep at 00:00:30 and 12:00 every day, actions reaching the
--          server in sync order between them;
--   gap    one sweep on 03-01, then every action, then one sweep on 03-08:
--          seven days without a sweep.
-- The gap run must record exactly the rows the daily run recorded, and both
-- the numbers worked out by hand below from the script and the rules of the
-- README (cadences, escalate_after, a day ends at the next local midnight
-- and what happens at that instant belongs to the next day).
-- Then: the small-cell rule and the area filter for an aggregate role, no
-- client writes, and a day of 23 hours in Europe/Berlin.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'Asia/Shanghai';	-- every literal below says its offset
SET LOCAL sanse.max_backdate = '100 years';	-- check-ins dated in 2024
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(43);

SELECT is((SELECT count(*) FROM area_day_recorded), 0::bigint, 'no history before the first sweep');

-----------------------------------------------------------------------------
-- Residents (all registered 03-01 00:00 but v, registered Tue 02-20):
--   M1  a red, b red                 carer c1
--   M2  c red, y yellow              carer c2
--   M3  t blue (red from 03-04 10:00), v yellow   carer c3
--   M4  u yellow (red 11:00-15:00 on 03-05)       carer c4
-- Cadences: red rolling 2 days, yellow calendar week, blue calendar month;
-- escalate_after: red 4 hours, yellow 1 day.
-----------------------------------------------------------------------------
INSERT INTO worker (name, force, role, area_id)
SELECT 'c' || i, 'volunteer', 'member', pg_temp.area_id(p)
  FROM (VALUES (1, 'd.t.v.tg.g.m1'), (2, 'd.t.v.tg.g.m2'), (3, 'd.t.v.tg.g2.m3'), (4, 'd.t.v.tg2.g.m4')) v(i, p);
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT pg_temp.area_id(v.p), v.n, v.f::text[], v.reg::timestamptz
  FROM (VALUES ('d.t.v.tg.g.m1', 'a', '{accident_risk}', '2024-03-01 00:00+08'),
               ('d.t.v.tg.g.m1', 'b', '{accident_risk}', '2024-03-01 00:00+08'),
               ('d.t.v.tg.g.m2', 'c', '{accident_risk}', '2024-03-01 00:00+08'),
               ('d.t.v.tg.g.m2', 'y', '{partial_care,mobility_impaired}', '2024-03-01 00:00+08'),
               ('d.t.v.tg.g2.m3', 't', '{mobility_impaired}', '2024-03-01 00:00+08'),
               ('d.t.v.tg.g2.m3', 'v', '{partial_care,mobility_impaired}', '2024-02-20 00:00+08'),
               ('d.t.v.tg2.g.m4', 'u', '{partial_care,mobility_impaired}', '2024-03-01 00:00+08')) v(p, n, f, reg);
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, pg_temp.worker_id(CASE WHEN r.name IN ('a', 'b') THEN 'c1' WHEN r.name IN ('c', 'y') THEN 'c2'
                                    WHEN r.name IN ('t', 'v') THEN 'c3' ELSE 'c4' END)
  FROM resident r;
-- the registration rows of the tier history are dated when they were
-- written: here, at registration
UPDATE tier_history h SET changed_at = r.registered_at FROM resident r WHERE r.id = h.resident_id;
SELECT results_eq($$SELECT name, tier::text FROM resident ORDER BY name$$,
                  $$VALUES ('a', 'red'), ('b', 'red'), ('c', 'red'), ('t', 'blue'), ('u', 'yellow'), ('v', 'yellow'), ('y', 'yellow')$$,
                  'fixture: the tiers at registration');

-- The script: what happened (at) and when it reached the server (sync).
CREATE TEMP TABLE script (seq int PRIMARY KEY, at timestamptz, sync timestamptz, action text, who text, arg text);
INSERT INTO script VALUES
  ( 1, '2024-03-02 08:00+08', '2024-03-02 08:00+08', 'raise',  'a', 'w1'),
  ( 2, '2024-03-02 08:10+08', '2024-03-02 08:10+08', 'arrive', 'c1', 'w1'),	-- 10 min: in time
  ( 3, '2024-03-02 10:00+08', '2024-03-02 10:00+08', 'visit',  'a', 'c1'),	-- meets [03-01, 03-03)
  ( 4, '2024-03-02 20:00+08', '2024-03-02 20:00+08', 'raise',  'b', 'w2'),
  ( 5, '2024-03-02 20:30+08', '2024-03-02 20:30+08', 'arrive', 'c1', 'w2'),	-- 30 min: late
  ( 6, '2024-03-03 09:00+08', '2024-03-03 15:00+08', 'visit',  'c', 'c2'),	-- late for 03-03 00:00, synced 6 h later
  ( 7, '2024-03-03 23:55+08', '2024-03-03 23:55+08', 'raise',  'a', 'w3'),
  ( 8, '2024-03-04 00:05+08', '2024-03-04 00:05+08', 'arrive', 'c1', 'w3'),	-- in time, but the next day
  ( 9, '2024-03-04 09:00+08', '2024-03-04 09:00+08', 'visit',  't', 'c3'),	-- blue: early, meets nothing
  (10, '2024-03-04 10:00+08', '2024-03-04 10:00+08', 'tier',   't', '{accident_risk}'),	-- red: [03-04 09:00, 03-06 09:00)
  (11, '2024-03-04 20:00+08', '2024-03-04 20:00+08', 'visit',  'c', 'c2'),	-- meets [03-03 09:00, 03-05 09:00)
  (12, '2024-03-05 09:00+08', '2024-03-05 09:00+08', 'visit',  'a', 'c1'),	-- late for 03-04 10:00
  (13, '2024-03-05 10:00+08', '2024-03-05 10:00+08', 'visit',  'u', 'c4'),	-- meets [03-04, 03-11)
  (14, '2024-03-05 11:00+08', '2024-03-05 11:00+08', 'tier',   'u', '{accident_risk}'),
  (15, '2024-03-05 15:00+08', '2024-03-05 15:00+08', 'tier',   'u', '{partial_care,mobility_impaired}'),
  (16, '2024-03-05 18:00+08', '2024-03-05 18:00+08', 'visit',  't', 'c3'),	-- meets [03-04 09:00, 03-06 09:00)
  (17, '2024-03-06 10:00+08', '2024-03-06 18:00+08', 'visit',  'y', 'c2'),	-- meets [03-04, 03-11), synced 8 h later
  (18, '2024-03-06 19:00+08', '2024-03-06 19:00+08', 'visit',  'c', 'c2'),	-- meets [03-04 20:00, 03-06 20:00)
  (19, '2024-03-06 20:00+08', '2024-03-06 20:00+08', 'visit',  'a', 'c1');	-- meets [03-05 09:00, 03-07 09:00)
CREATE TEMP TABLE played (seq int PRIMARY KEY);
CREATE TEMP TABLE loop_event (label text PRIMARY KEY, id bigint);

-- Apply every action synced before upto, in sync order.
CREATE FUNCTION pg_temp.play(upto timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	s script;
	rid bigint;
BEGIN
	FOR s IN SELECT * FROM script WHERE sync < upto AND seq NOT IN (SELECT seq FROM played) ORDER BY sync, seq LOOP
		CASE s.action
		WHEN 'visit' THEN
			PERFORM sanse.check_in(pg_temp.token(s.who), pg_temp.worker_id(s.arg), s.at);
		WHEN 'tier' THEN
			rid := pg_temp.resident_id(s.who);
			UPDATE sanse.resident SET factors = s.arg::text[] WHERE id = rid;
			UPDATE sanse.tier_history SET changed_at = s.at
			 WHERE id = (SELECT max(id) FROM sanse.tier_history WHERE resident_id = rid);
		WHEN 'raise' THEN
			INSERT INTO loop_event
			VALUES (s.arg, sanse.raise_event('warning', pg_temp.resident_id(s.who), 'fell', 'grid', s.at));
		WHEN 'arrive' THEN
			PERFORM sanse.arrive(l.id, pg_temp.worker_id(s.who), sanse.door_token(e.resident_id), s.at)
			   FROM loop_event l JOIN sanse.event e ON e.id = l.id WHERE l.label = s.arg;
		END CASE;
		INSERT INTO played VALUES (s.seq);
	END LOOP;
END
$$;
-- Play up to a time, sweep there; the days the sweep recorded.
CREATE FUNCTION pg_temp.sweep_at(t timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	before date;
BEGIN
	PERFORM pg_temp.play(t);
	SELECT coalesce(max(day), '-infinity') INTO before FROM sanse.area_day_recorded;
	PERFORM sanse.sweep(t);
	RETURN coalesce((SELECT string_agg(to_char(day, 'MM-DD'), ' ' ORDER BY day) FROM sanse.area_day_recorded
	                  WHERE day > before AND areas IS NOT NULL), '');
END
$$;
-- The recorded rows as text, one line per (day, area path).
CREATE FUNCTION pg_temp.history_text() RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(format('%s %s %s', h.day, a.path, row(h.residents, h.red, h.yellow, h.blue, h.overdue, h.windows_met,
	                         h.events_opened, h.events_closed, h.open_level_1, h.open_level_2, h.open_level_3,
	                         h.open_level_4, h.loop_raised, h.loop_answered_in_time)), E'\n' ORDER BY h.day, a.path)
	  FROM sanse.area_day h JOIN sanse.area a ON a.id = h.area_id
$$;

-----------------------------------------------------------------------------
-- The daily run
-----------------------------------------------------------------------------
SAVEPOINT start;
SELECT is(pg_temp.sweep_at('2024-03-01 00:00:30+08'), '', 'the first sweep ever records nothing');
SELECT results_eq($$SELECT day, areas FROM area_day_recorded$$, $$VALUES ('2024-02-29'::date, NULL::int)$$,
                  'it marks the day before its own as the start of the history (not recorded)');
SELECT is(pg_temp.sweep_at('2024-03-01 12:00+08') || '|' || pg_temp.sweep_at('2024-03-01 23:59:59.999999+08'), '|',
          'sweeps during 03-01 record nothing');
SELECT is(pg_temp.sweep_at('2024-03-02 00:00+08'), '03-01', 'the first sweep at or after local midnight records 03-01');
SELECT is(pg_temp.sweep_at('2024-03-02 00:00:30+08') || '|' || pg_temp.sweep_at('2024-03-02 12:00+08'), '|',
          'later sweeps of 03-02 add no day');
SELECT is((SELECT count(*) FROM area_day WHERE day = '2024-03-01'), 12::bigint,
          '03-01 has a row for each area with residents: M1-M4 and their 8 ancestors');
SELECT is(string_agg(pg_temp.sweep_at(t), ','), '03-02,,03-03,,03-04,,03-05,,03-06,,03-07',
          'each following day is recorded by the first sweep after its midnight')
  FROM (SELECT d + time '00:00:30' AS t FROM generate_series(timestamp '2024-03-03', '2024-03-08', '1 day') d
        UNION ALL
        SELECT d + time '12:00' FROM generate_series(timestamp '2024-03-03', '2024-03-07', '1 day') d
        ORDER BY 1) s;
SELECT is((SELECT count(*) FROM played), 19::bigint, 'the daily run played the whole script');
SELECT pg_temp.history_text() AS daily_rows, (SELECT count(*) FROM area_day) AS daily_count \gset
SELECT is(pg_temp.sweep_at('2024-03-08 12:00+08') || pg_temp.sweep_at('2024-03-08 23:00+08'), '',
          'a second and a third sweep on 03-08 add no day');
SELECT is(pg_temp.history_text(), :'daily_rows', '... and change no row');
ROLLBACK TO SAVEPOINT start;

-----------------------------------------------------------------------------
-- The gap run: no sweep from 03-01 00:00:30 to 03-08 00:00:30
-----------------------------------------------------------------------------
SELECT is(pg_temp.sweep_at('2024-03-01 00:00:30+08'), '', 'gap run: the first sweep records nothing');
SELECT pg_temp.play('infinity');
SELECT is(pg_temp.sweep_at('2024-03-08 00:00:30+08'), '03-01 03-02 03-03 03-04 03-05 03-06 03-07',
          'the first sweep after seven days without one records the seven days');
SELECT is((SELECT count(*) FROM area_day), :'daily_count'::bigint, 'as many rows as the daily run recorded');
SELECT is(pg_temp.history_text(), :'daily_rows', 'the very rows the daily run recorded');

-- By hand, per micro grid and day: residents, red, yellow, blue, overdue,
-- windows met, overdue events opened, closed, open at the end at levels
-- 1-4, loop events raised, answered in time.
--  M1  a: meets 03-02 10:00; misses 03-04 10:00 (steps 14:00, 18:00, 22:00),
--      closed late 03-05 09:00; meets 03-06 20:00.  b: misses 03-03 00:00,
--      level 4 at 12:00, open since.  w1 in time, w2 late (03-02); w3 raised
--      03-03 23:55, arrived 00:05 the next day: not answered by 03-03's end.
--  M2  c: misses 03-03 00:00, visit 09:00 (synced 15:00) closes it the same
--      day; meets 03-04 20:00 and 03-06 19:00.  y: meets 03-06 10:00.
--  M3  t: blue until 03-04 10:00, then red [03-04 09:00, 03-06 09:00) met
--      03-05 18:00, [03-05 18:00, 03-07 18:00) missed (level 2 at 22:00).
--      v (registered Tue 02-20): [02-26, 03-04) missed: level 1 on 03-04,
--      2 at 03-05 00:00 (the next day's), 3 at 03-06 00:00, 4 at 03-07 00:00.
SELECT results_eq(
  $$SELECT a.name, h.day, h.residents, h.red, h.yellow, h.blue, h.overdue, h.windows_met, h.events_opened, h.events_closed,
           h.open_level_1, h.open_level_2, h.open_level_3, h.open_level_4, h.loop_raised, h.loop_answered_in_time
      FROM area_day h JOIN area a ON a.id = h.area_id WHERE a.name IN ('M1', 'M2', 'M3') ORDER BY a.name, h.day$$,
  $$VALUES ('M1', '2024-03-01'::date, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M1', '2024-03-02', 2, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 1),
           ('M1', '2024-03-03', 2, 2, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0),
           ('M1', '2024-03-04', 2, 2, 0, 0, 2, 0, 1, 0, 0, 0, 0, 2, 0, 0),
           ('M1', '2024-03-05', 2, 2, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0),
           ('M1', '2024-03-06', 2, 2, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0),
           ('M1', '2024-03-07', 2, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0),
           ('M2', '2024-03-01', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M2', '2024-03-02', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M2', '2024-03-03', 2, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0),
           ('M2', '2024-03-04', 2, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M2', '2024-03-05', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M2', '2024-03-06', 2, 1, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M2', '2024-03-07', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M3', '2024-03-01', 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M3', '2024-03-02', 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M3', '2024-03-03', 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
           ('M3', '2024-03-04', 2, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0),
           ('M3', '2024-03-05', 2, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0),
           ('M3', '2024-03-06', 2, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0),
           ('M3', '2024-03-07', 2, 1, 1, 0, 2, 0, 1, 0, 0, 1, 0, 1, 0, 0)$$,
  'M1, M2, M3 day by day as worked out by hand: tiers at each day''s end, overdue, windows met, events by level, the loop');
-- u's tier went red and back within 03-05: yellow at every day's end
SELECT results_eq($$SELECT h.day, h.residents, h.red, h.yellow, h.blue FROM area_day h
                     WHERE h.area_id = pg_temp.area_id('d.t.v.tg2.g.m4') ORDER BY h.day$$,
                  $$SELECT d::date, 1, 0, 1, 0 FROM generate_series(timestamp '2024-03-01', '2024-03-07', '1 day') d$$,
                  'M4: a tier changed and changed back within a day leaves the day''s end as it was');
-- rolled up: TG holds M1, M2, M3; the district D holds M4 too
SELECT results_eq($$SELECT a.name, h.residents, h.red, h.yellow, h.blue, h.overdue, h.windows_met, h.events_opened,
                           h.events_closed, h.open_level_1, h.open_level_2, h.open_level_3, h.open_level_4
                      FROM area_day h JOIN area a ON a.id = h.area_id
                     WHERE h.day = '2024-03-04' AND a.name IN ('TG', 'G', 'G2') ORDER BY a.name$$,
                  $$VALUES ('G', 4, 3, 1, 0, 2, 1, 1, 0, 0, 0, 0, 2), ('G2', 2, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0),
                           ('TG', 6, 4, 2, 0, 3, 1, 2, 0, 1, 0, 0, 2)$$,
                  '03-04 rolled up: G = M1 + M2, G2 = M3, TG = all three');
SELECT results_eq($$SELECT h.residents, h.red, h.yellow, h.blue FROM area_day h
                     WHERE h.day = '2024-03-03' AND h.area_id = pg_temp.area_id('d')$$,
                  $$VALUES (7, 3, 3, 1)$$, 'the district on 03-03: seven residents, t still blue');
SELECT is((SELECT count(*) FROM area_day h WHERE h.area_id IN (pg_temp.area_id('e'), pg_temp.area_id('e.t'))), 0::bigint,
          'the district without residents has no rows');

-- the view, for the owner: every area and recorded day, zeros where no row
SELECT results_eq($$SELECT residents, overdue, windows_met, open_level_4, loop_raised, loop_answered_in_time,
                           coverage_rate, response_rate
                      FROM coverage_history WHERE path = 'd.t.v.tg.g.m1' AND day = '2024-03-02'$$,
                  $$VALUES (2::bigint, 0::bigint, 1::bigint, 0::bigint, 2::bigint, 1::bigint, 1.0000::numeric, 0.5000::numeric)$$,
                  'coverage_history: M1 on 03-02, coverage rate 1, response rate 1/2');
SELECT results_eq($$SELECT coverage_rate FROM coverage_history WHERE path = 'd.t.v.tg' AND day = '2024-03-04'$$,
                  $$VALUES (0.5000::numeric)$$, 'coverage rate = 1 - overdue / residents (TG on 03-04: 1 - 3/6)');
SELECT results_eq($$SELECT count(*), count(DISTINCT day), sum(residents), bool_and(coverage_rate IS NULL)
                      FROM coverage_history WHERE path LIKE 'e%'$$,
                  $$VALUES (14::bigint, 7::bigint, 0::numeric, true)$$,
                  'areas without a row show zeros on every recorded day (and no rate)');
SELECT is((SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
             FROM information_schema.columns WHERE table_schema = 'sanse' AND table_name = 'coverage_history'),
          'area_id bigint, path text, kind text, name text, day date, residents bigint, red bigint, yellow bigint, '
          'blue bigint, overdue bigint, windows_met bigint, events_opened bigint, events_closed bigint, '
          'open_level_1 bigint, open_level_2 bigint, open_level_3 bigint, open_level_4 bigint, loop_raised bigint, '
          'loop_answered_in_time bigint, coverage_rate numeric, response_rate numeric',
          'coverage_history has the columns the screen page reads, in order');

-----------------------------------------------------------------------------
-- An aggregate role of G: its subtree only, small cells hidden
-----------------------------------------------------------------------------
CREATE ROLE t19_agg NOLOGIN;
INSERT INTO area_grant (role, path, access) VALUES ('t19_agg', 'd.t.v.tg.g', 'aggregate');
SET LOCAL sanse.min_cell = 3;
-- the days as published with min_cell 3 (the sweeps above published them with 5)
DELETE FROM sanse.published_history_day;
SELECT sanse.publish_screen() \gset
SET LOCAL ROLE t19_agg;
-- 03-04: M1 2 residents, M2 2, G 4, G2 (M3) 2, TG 6.  Counts of 1 and 2
-- hidden; G's 4 too, since TG - G would give G2's 2, and G's 3 red, since
-- TG's 4 - G's 3 would give G2's 1; zeros outside a tier partition shown.
SELECT results_eq($$SELECT path, residents, red, overdue, windows_met, open_level_4, coverage_rate
                      FROM sanse.coverage_history WHERE day = '2024-03-04' ORDER BY path$$,
                  $$VALUES ('d.t.v.tg.g', NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::numeric),
                           ('d.t.v.tg.g.m1', NULL, NULL, NULL, 0, NULL, NULL),
                           ('d.t.v.tg.g.m2', NULL, NULL, 0, NULL, 0, NULL)$$,
                  'aggregate role of G: G, M1 and M2 only; counts of 1 and 2 hidden (min_cell 3) and G''s complements, zeros shown, rates on hidden counts hidden');
SELECT is(count(DISTINCT day), 7::bigint, 'it sees the seven recorded days') FROM sanse.coverage_history;
RESET ROLE;
SELECT is(pg_temp.sqlstate_as('t19_agg', q), '42501', 'an aggregate role cannot: ' || q)
  FROM unnest(ARRAY['SELECT * FROM sanse.area_day', 'SELECT * FROM sanse.area_day_recorded',
                    $$INSERT INTO sanse.area_day VALUES ('2024-03-08', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)$$,
                    'UPDATE sanse.area_day SET residents = 0', 'DELETE FROM sanse.area_day',
                    'TRUNCATE sanse.area_day', $$INSERT INTO sanse.area_day_recorded (day, zone, swept_at) VALUES ('2024-03-08', 'UTC', now())$$,
                    'SELECT sanse.record_history()']) q;
SELECT is(pg_temp.sqlstate_of(q), '42501', 'not even the owner: ' || q)
  FROM unnest(ARRAY['UPDATE sanse.area_day SET residents = 0', 'TRUNCATE sanse.area_day',
                    'UPDATE sanse.area_day_recorded SET areas = 0', 'TRUNCATE sanse.area_day_recorded']) q;
SELECT is((SELECT count(*) FROM pg_extension x, unnest(x.extconfig) c
            WHERE x.extname = 'sanse' AND c IN ('sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass)), 2::bigint,
          'both history tables are kept by pg_dump');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgname = 'a_restore_guard'
              AND tgrelid IN ('sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass)), 2::bigint,
          'both carry the restore guard (a COPY outside replica mode is refused)');

-----------------------------------------------------------------------------
-- Europe/Berlin, where 2024-03-31 has 23 hours (02:00 CET -> 03:00 CEST):
-- the day runs from 03-31 00:00+01 to 04-01 00:00+02.  r (red, M1)
-- registered 03-29 00:00+01: visits 03-30 12:00+01 and 23:30+01, 03-31
-- 00:30+01 and 23:30+02 each meet a window (two days apart at most).
-- M1 holds a and b too (never visited here): three residents.
-----------------------------------------------------------------------------
ROLLBACK TO SAVEPOINT start;
SET LOCAL sanse.timezone = 'Europe/Berlin';
INSERT INTO resident (area_id, name, factors, registered_at)
VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'r', '{accident_risk}', '2024-03-29 00:00+01');
INSERT INTO carer (resident_id, worker_id) VALUES (pg_temp.resident_id('r'), pg_temp.worker_id('c1'));
UPDATE tier_history h SET changed_at = r.registered_at FROM resident r WHERE r.id = h.resident_id AND r.name = 'r';
DELETE FROM script;
INSERT INTO script VALUES
  (1, '2024-03-30 12:00+01', '2024-03-30 12:00+01', 'visit', 'r', 'c1'),
  (2, '2024-03-30 23:30+01', '2024-03-30 23:30+01', 'visit', 'r', 'c1'),
  (3, '2024-03-31 00:30+01', '2024-03-31 00:30+01', 'visit', 'r', 'c1'),
  (4, '2024-03-31 23:30+02', '2024-03-31 23:30+02', 'visit', 'r', 'c1');
SELECT is(pg_temp.sweep_at('2024-03-30 00:00:30+01') || '|' || pg_temp.sweep_at('2024-03-31 00:00:30+01') || '|'
          || pg_temp.sweep_at('2024-03-31 23:59:59+02') || '|' || pg_temp.sweep_at('2024-04-01 00:00+02'), '|03-30||03-31',
          'Berlin: 03-31 is recorded at its midnight, 23 hours after it began, not before');
SELECT results_eq($$SELECT day, windows_met, residents, zone FROM area_day h JOIN area_day_recorded d USING (day)
                     WHERE h.area_id = pg_temp.area_id('d.t.v.tg.g.m1') ORDER BY day$$,
                  $$VALUES ('2024-03-30'::date, 2, 3, 'Europe/Berlin'), ('2024-03-31', 2, 3, 'Europe/Berlin')$$,
                  'Berlin: two windows met on 03-30 and two on the 23-hour 03-31 (none lost at the change, none counted twice)');

SELECT * FROM finish();
ROLLBACK;
