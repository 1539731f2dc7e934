-- sanse.window_after: cadences across month ends, leap day, year end, week
-- starts, midnight, DST, and a client TimeZone different from the zone.
SET search_path = sanse, public;
SET DateStyle = 'ISO, YMD';
-- The client's zone is deliberately none of the zones computed in.
SET TimeZone = 'America/Los_Angeles';

-- Expected windows are written out by hand from the calendar, with offsets.
CREATE TEMP TABLE window_cases (label text, tz text, anchor timestamptz, cadence text,
                                opens timestamptz, due timestamptz);
INSERT INTO window_cases VALUES
 ('month end -> next month',        'Asia/Shanghai', '2024-01-31 10:00+08', 'calendar month', '2024-02-01 00:00+08', '2024-03-01 00:00+08'),
 ('February of a leap year',        'Asia/Shanghai', '2024-01-15 00:00+08', 'calendar month', '2024-02-01 00:00+08', '2024-03-01 00:00+08'),
 ('day before leap day',            'Asia/Shanghai', '2024-02-28 12:00+08', 'calendar day',   '2024-02-29 00:00+08', '2024-03-01 00:00+08'),
 ('leap day last second',           'Asia/Shanghai', '2024-02-29 23:59:59+08', 'calendar day', '2024-03-01 00:00+08', '2024-03-02 00:00+08'),
 ('year end, month',                'Asia/Shanghai', '2024-12-31 23:00+08', 'calendar month', '2025-01-01 00:00+08', '2025-02-01 00:00+08'),
 ('year end, week (Tue 31 Dec)',    'Asia/Shanghai', '2024-12-31 23:00+08', 'calendar week',  '2025-01-06 00:00+08', '2025-01-13 00:00+08'),
 ('year end, day',                  'Asia/Shanghai', '2024-12-31 23:59:59.999999+08', 'calendar day', '2025-01-01 00:00+08', '2025-01-02 00:00+08'),
 ('Monday 00:00 exactly',           'Asia/Shanghai', '2024-01-01 00:00+08', 'calendar week',  '2024-01-08 00:00+08', '2024-01-15 00:00+08'),
 ('Sunday last second',             'Asia/Shanghai', '2024-01-07 23:59:59+08', 'calendar week', '2024-01-08 00:00+08', '2024-01-15 00:00+08'),
 ('midnight exactly, day',          'Asia/Shanghai', '2024-03-10 00:00+08', 'calendar day',   '2024-03-11 00:00+08', '2024-03-12 00:00+08'),
 ('midnight exactly, month',        'Asia/Shanghai', '2024-03-01 00:00+08', 'calendar month', '2024-04-01 00:00+08', '2024-05-01 00:00+08'),
 ('UTC Sunday is Shanghai Monday',  'Asia/Shanghai', '2024-01-07 20:00+00', 'calendar week',  '2024-01-15 00:00+08', '2024-01-22 00:00+08'),
 ('UTC Jan 31 is Shanghai Feb 1',   'Asia/Shanghai', '2024-01-31 17:00+00', 'calendar month', '2024-03-01 00:00+08', '2024-04-01 00:00+08'),
 ('rolling 2 days over year end',   'Asia/Shanghai', '2024-12-31 20:00+08', 'rolling 2 days', '2024-12-31 20:00+08', '2025-01-02 20:00+08'),
 ('rolling 1 month from Jan 31',    'Asia/Shanghai', '2024-01-31 10:00+08', 'rolling 1 month', '2024-01-31 10:00+08', '2024-02-29 10:00+08'),
 ('rolling 36 hours',               'Asia/Shanghai', '2024-02-28 18:00+08', 'rolling 36 hours', '2024-02-28 18:00+08', '2024-03-01 06:00+08'),
 ('NY: 2 days over spring forward', 'America/New_York', '2024-03-09 12:00-05', 'rolling 2 days', '2024-03-09 12:00-05', '2024-03-11 12:00-04'),
 ('NY: 36 h over spring forward',   'America/New_York', '2024-03-09 12:00-05', 'rolling 36 hours', '2024-03-09 12:00-05', '2024-03-11 00:00-05'),
 ('NY: 23-hour day',                'America/New_York', '2024-03-09 15:00-05', 'calendar day', '2024-03-10 00:00-05', '2024-03-11 00:00-04'),
 ('NY: 25-hour day',                'America/New_York', '2024-11-02 10:00-04', 'calendar day', '2024-11-03 00:00-04', '2024-11-04 00:00-05'),
 ('NY: 2 days over fall back',      'America/New_York', '2024-11-02 10:00-04', 'rolling 2 days', '2024-11-02 10:00-04', '2024-11-04 10:00-05'),
 ('NY: week over fall back',        'America/New_York', '2024-10-30 10:00-04', 'calendar week', '2024-11-04 00:00-05', '2024-11-11 00:00-05'),
 ('Berlin: week into summer time',  'Europe/Berlin', '2024-03-27 12:00+01', 'calendar week',  '2024-04-01 00:00+02', '2024-04-08 00:00+02'),
 ('Berlin: month into summer time', 'Europe/Berlin', '2024-03-15 12:00+01', 'calendar month', '2024-04-01 00:00+02', '2024-05-01 00:00+02'),
 ('Berlin: month into winter time', 'Europe/Berlin', '2024-10-15 12:00+02', 'calendar month', '2024-11-01 00:00+01', '2024-12-01 00:00+01'),
 ('Berlin: 1 day into the gap',     'Europe/Berlin', '2024-03-30 02:30+01', 'rolling 1 day',  '2024-03-30 02:30+01', '2024-03-31 03:30+02'),
 ('Berlin: UTC midnight is 01:00',  'Europe/Berlin', '2024-01-31 23:30+00', 'calendar day',   '2024-02-02 00:00+01', '2024-02-03 00:00+01'),
 ('keywords in any case',           'Asia/Shanghai', '2024-05-05 05:00+08', '  Calendar   WEEK ', '2024-05-06 00:00+08', '2024-05-13 00:00+08'),
 ('ISO interval',                   'Asia/Shanghai', '2024-05-05 05:00+08', 'ROLLING P1DT12H', '2024-05-05 05:00+08', '2024-05-06 17:00+08');

SELECT label, window_after(anchor, cadence, tz) = visit_window(opens, due) AS ok,
       window_after(anchor, cadence, tz) AS got
  FROM window_cases ORDER BY label;

-- The result is the same whatever the client's TimeZone.
CREATE TEMP TABLE results_by_client_zone (client text, label text, w visit_window);
DO $$
DECLARE z text;
BEGIN
	FOREACH z IN ARRAY ARRAY['UTC', 'Pacific/Kiritimati', 'America/Sao_Paulo', 'Asia/Shanghai'] LOOP
		PERFORM set_config('TimeZone', z, true);
		INSERT INTO results_by_client_zone
			SELECT z, label, sanse.window_after(anchor, cadence, tz) FROM window_cases;
	END LOOP;
END $$;
SELECT count(*) AS rows, count(DISTINCT (label, w)) AS distinct_results
  FROM results_by_client_zone;

-- Cross-check against core arithmetic done with TimeZone set to the zone:
-- rolling is timestamptz + interval, calendar is date_trunc of local time.
CREATE TEMP TABLE random_anchors AS
  SELECT timestamptz '2023-01-01 00:00+00' + (random() * 3 * 365 * 86400) * interval '1 second' AS anchor
    FROM generate_series(1, 400);
INSERT INTO random_anchors VALUES ('2024-03-10 07:00+00'), ('2024-03-31 01:00+00'), ('2024-10-27 00:30+00'), ('2024-11-03 05:30+00');
CREATE TEMP TABLE reference (tz text, anchor timestamptz, cadence text, opens timestamptz, due timestamptz);
DO $$
DECLARE z text;
BEGIN
	FOREACH z IN ARRAY ARRAY['Asia/Shanghai', 'America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe'] LOOP
		PERFORM set_config('TimeZone', z, true);
		INSERT INTO reference
		SELECT z, a.anchor, c.cadence,
		       CASE WHEN c.unit IS NULL THEN a.anchor
		            ELSE date_trunc(c.unit, a.anchor) + ('1 ' || c.unit)::interval END,
		       CASE WHEN c.unit IS NULL THEN a.anchor + c.step
		            ELSE date_trunc(c.unit, a.anchor) + ('2 ' || c.unit)::interval END
		  FROM random_anchors a,
		       (VALUES ('rolling 2 days', NULL, interval '2 days'),
		               ('rolling 36 hours', NULL, interval '36 hours'),
		               ('rolling 1 month 1 day 3 hours', NULL, interval '1 month 1 day 3 hours'),
		               ('calendar day', 'day', NULL),
		               ('calendar week', 'week', NULL),
		               ('calendar month', 'month', NULL)) c(cadence, unit, step);
	END LOOP;
END $$;
SET TimeZone = 'America/Los_Angeles';
SELECT count(*) AS cases,
       count(*) FILTER (WHERE window_after(anchor, cadence, tz) = visit_window(opens, due)) AS agree
  FROM reference;

-- Calendar windows open at local midnight; weeks on a Monday.
SELECT cadence, bool_and(to_char(opens_at(w) AT TIME ZONE 'Asia/Shanghai', 'HH24:MI:SS.US') = '00:00:00.000000') AS midnight,
       bool_and(CASE cadence WHEN 'calendar week' THEN extract(isodow FROM opens_at(w) AT TIME ZONE 'Asia/Shanghai') = 1
                             WHEN 'calendar month' THEN extract(day FROM opens_at(w) AT TIME ZONE 'Asia/Shanghai') = 1
                             ELSE true END) AS starts_right,
       bool_and(anchor < opens_at(w)) AS after_anchor
  FROM random_anchors, unnest(ARRAY['calendar day','calendar week','calendar month']) cadence,
       LATERAL window_after(anchor, cadence, 'Asia/Shanghai') w
 GROUP BY cadence ORDER BY cadence;

-- Bad cadences: 22P02.  Unknown zone: 22023.
SELECT window_after('2024-01-01', 'rolling', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'rolling banana', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'rolling -1 day', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'rolling 0 days', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'rolling 1 day -1 hour', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'calendar year', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'calendar', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'weekly', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'rollings 2 days', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', '', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after('2024-01-01', 'calendar week', 'Mars/Olympus_Mons');
\echo SQLSTATE :SQLSTATE
SELECT window_after('infinity', 'calendar week', 'UTC');
\echo SQLSTATE :SQLSTATE
SELECT window_after(NULL, 'calendar week', 'UTC') IS NULL AS strict;
SELECT provolatile, proisstrict FROM pg_proc
 WHERE oid = 'window_after(timestamptz, text, text)'::regprocedure;

-- window_after(tier, anchor): the policy's cadence in zone sanse.timezone
SHOW sanse.timezone;
SELECT tier, cadence, escalate_after FROM tier_policy ORDER BY tier DESC;
SELECT t AS tier, window_after(t, '2024-01-31 17:00+00') = w AS ok
  FROM (VALUES ('red'::risk_tier, '[2024-02-01 01:00+08,2024-02-03 01:00+08)'::visit_window),
               ('yellow', '[2024-02-05 00:00+08,2024-02-12 00:00+08)'),
               ('blue', '[2024-03-01 00:00+08,2024-04-01 00:00+08)')) v(t, w);
SET sanse.timezone = 'Europe/Berlin';
SELECT window_after('blue'::risk_tier, '2024-01-31 17:00+00') = '[2024-02-01 00:00+01,2024-03-01 00:00+01)' AS follows_setting;
SET sanse.timezone = 'Nowhere/Atlantis';
\echo SQLSTATE :SQLSTATE
RESET sanse.timezone;
-- a client's own TimeZone changes nothing
SET TimeZone = 'Pacific/Honolulu';
SELECT window_after('yellow'::risk_tier, '2024-01-07 20:00+00') = '[2024-01-15 00:00+08,2024-01-22 00:00+08)' AS client_zone_ignored;
SET TimeZone = 'America/Los_Angeles';
SELECT window_after(NULL::risk_tier, now()) IS NULL AS strict;

-- policies: cadence checked, positive delays, every tier keeps one
UPDATE tier_policy SET cadence = 'fortnightly' WHERE tier = 'red';
\echo SQLSTATE :SQLSTATE
UPDATE tier_policy SET escalate_after = '0' WHERE tier = 'red';
\echo SQLSTATE :SQLSTATE
DELETE FROM tier_policy WHERE tier = 'blue';
\echo SQLSTATE :SQLSTATE
BEGIN;
UPDATE tier_policy SET cadence = 'rolling 1 day' WHERE tier = 'red';
SELECT window_after('red'::risk_tier, '2024-01-01 00:00+08') = '[2024-01-01 00:00+08,2024-01-02 00:00+08)' AS follows_policy;
-- re-inserting a tier replaces its policy (this is how pg_dump restores edits)
INSERT INTO tier_policy VALUES ('red', 'rolling 3 days', '2 hours');
SELECT tier, cadence, escalate_after FROM tier_policy WHERE tier = 'red';
ROLLBACK;
SELECT count(*) FROM tier_policy;
