-- pgTAP: the pinned names of spec sections 2 and 3 exist and behave.
BEGIN;
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
SELECT plan(47);

SELECT has_type('sanse', 'risk_tier', 'type sanse.risk_tier exists');
SELECT has_type('sanse', 'visit_window', 'type sanse.visit_window exists');

SELECT has_function('sanse', 'visit_window', ARRAY['timestamp with time zone', 'timestamp with time zone'], 'visit_window(opens, due)');
SELECT has_function('sanse', 'opens_at', ARRAY['visit_window'], 'opens_at(visit_window)');
SELECT has_function('sanse', 'due_at', ARRAY['visit_window'], 'due_at(visit_window)');
SELECT has_function('sanse', 'is_overdue', ARRAY['visit_window', 'timestamp with time zone'], 'is_overdue(visit_window, timestamptz)');
SELECT has_function('sanse', 'lateness', ARRAY['visit_window', 'timestamp with time zone'], 'lateness(visit_window, timestamptz)');
SELECT has_function('sanse', 'window_after', ARRAY['timestamp with time zone', 'text', 'text'], 'window_after(anchor, cadence, tz)');
SELECT has_function('sanse', 'window_after', ARRAY['risk_tier', 'timestamp with time zone'], 'window_after(tier, anchor)');
SELECT has_table('sanse', 'tier_policy', 'table sanse.tier_policy exists');
SELECT columns_are('sanse', 'tier_policy', ARRAY['tier', 'cadence', 'escalate_after'], 'tier_policy has the pinned columns');
SELECT col_is_pk('sanse', 'tier_policy', 'tier', 'tier_policy is keyed by tier');

SELECT volatility_is('sanse', 'window_after', ARRAY['timestamp with time zone', 'text', 'text'], 'immutable', 'window_after(anchor, cadence, tz) is IMMUTABLE');
SELECT is_strict('sanse', 'window_after', ARRAY['timestamp with time zone', 'text', 'text'], 'window_after(anchor, cadence, tz) is STRICT');
SELECT volatility_is('sanse', 'window_after', ARRAY['risk_tier', 'timestamp with time zone'], 'stable', 'window_after(tier, anchor) is STABLE');

SELECT is((SELECT typlen::int FROM pg_type WHERE oid = 'risk_tier'::regtype), 1, 'risk_tier is 1 byte');
SELECT ok((SELECT typbyval FROM pg_type WHERE oid = 'risk_tier'::regtype), 'risk_tier is passed by value');
SELECT is((SELECT typlen::int FROM pg_type WHERE oid = 'visit_window'::regtype), 16, 'visit_window is 16 bytes');

-- every spelling of every tier (spec 2)
SELECT is(s::sanse.risk_tier::text, t, format('%L reads as %s', s, t))
  FROM (VALUES ('Red', 'red'), ('红', 'red'), ('红色', 'red'), ('YELLOW', 'yellow'), ('黄', 'yellow'),
               ('黄色', 'yellow'), (' blue ', 'blue'), ('蓝', 'blue'), ('蓝色', 'blue')) v(s, t);
SELECT ok('blue'::sanse.risk_tier < 'yellow' AND 'yellow'::sanse.risk_tier < 'red', 'severity order blue < yellow < red');

-- bad input, one assertion per row
SELECT is(pg_temp.sqlstate_of(stmt), expected, description)
  FROM (VALUES
    ('unknown tier text is 22P02', $$SELECT 'purple'::sanse.risk_tier$$, '22P02'),
    ('unclosed window is 22P02', $$SELECT '[2024-01-01,2024-01-02'::sanse.visit_window$$, '22P02'),
    ('bad timestamp side is 22P02', $$SELECT '[2024-01-01,whenever)'::sanse.visit_window$$, '22P02'),
    ('reversed window is 22000', $$SELECT '[2024-01-02,2024-01-01)'::sanse.visit_window$$, '22000'),
    ('infinite due is 22000', $$SELECT sanse.visit_window('2024-01-01', 'infinity')$$, '22000'),
    ('bad cadence is 22P02', $$SELECT sanse.window_after(now(), 'every other day', 'UTC')$$, '22P02'),
    ('unknown zone is 22023', $$SELECT sanse.window_after(now(), 'calendar week', 'Atlantis/Capital')$$, '22023'),
    ('sanse.timezone rejects unknown zones', $$SET LOCAL sanse.timezone = 'Atlantis/Capital'$$, '22023')
  ) t(description, stmt, expected);

SELECT is(sanse.opens_at('[2024-01-01 00:00+00,2024-01-03 00:00+00)'), '2024-01-01 00:00+00'::timestamptz, 'opens_at');
SELECT is(sanse.due_at('[2024-01-01 00:00+00,2024-01-03 00:00+00)'), '2024-01-03 00:00+00'::timestamptz, 'due_at');
SELECT ok(sanse.is_overdue('[2024-01-01 00:00+00,2024-01-03 00:00+00)', '2024-01-03 00:00+00'), 'overdue exactly at due');
SELECT ok(NOT sanse.is_overdue('[2024-01-01 00:00+00,2024-01-03 00:00+00)', '2024-01-02 23:59:59+00'), 'not overdue before due');
SELECT is(sanse.lateness('[2024-01-01 00:00+00,2024-01-03 00:00+00)', '2024-01-03 05:00+00'), interval '5 hours', 'lateness after due');
SELECT is(sanse.lateness('[2024-01-01 00:00+00,2024-01-03 00:00+00)', '2024-01-02 05:00+00'), interval '0', 'lateness is zero before due');

SELECT is(sanse.window_after('red', '2024-03-01 09:00+08'), '[2024-03-01 09:00+08,2024-03-03 09:00+08)'::sanse.visit_window, 'red: rolling 2 days');
SELECT is(sanse.window_after('yellow', '2024-03-01 09:00+08'), '[2024-03-04 00:00+08,2024-03-11 00:00+08)'::sanse.visit_window, 'yellow: the calendar week after (Fri 1 Mar -> Mon 4 Mar)');
SELECT is(sanse.window_after('blue', '2024-03-01 09:00+08'), '[2024-04-01 00:00+08,2024-05-01 00:00+08)'::sanse.visit_window, 'blue: the calendar month after');
SELECT results_eq($$SELECT p.tier::text, p.cadence, p.escalate_after FROM sanse.tier_policy p ORDER BY p.tier DESC$$,
                  $$VALUES ('red', 'rolling 2 days', interval '4 hours'), ('yellow', 'calendar week', interval '1 day'),
                           ('blue', 'calendar month', interval '3 days')$$, 'default tier policies');
SELECT is(current_setting('sanse.timezone'), 'Asia/Shanghai', 'sanse.timezone defaults to Asia/Shanghai');

SELECT * FROM finish();
ROLLBACK;
