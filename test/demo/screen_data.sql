-- The screen page's data (巡屏大屏): one JSON object, read only from the
-- PII-free screen views (coverage, coverage_history, worker_checkin_rate,
-- loop_metrics, device_status), so a role whose grant is `aggregate` builds it and every
-- small cell stays hidden (NULL -> null) exactly as the views show it.
-- Paths are text: nothing here needs ltree or sanse on the search path.
--
-- psql variables: root (the area path the page is about; empty: the
-- shallowest area the role sees, its first by path).  The result is the
-- one column `screen`.  test/demo/screen_page.sh runs it.
WITH
cov AS MATERIALIZED (
	SELECT c.area_id, c.path, c.kind, c.name, c.residents, c.red, c.yellow, c.blue,
	       c.overdue_now, c.window_met, c.coverage_rate,
	       cardinality(string_to_array(c.path, '.')) AS depth,
	       regexp_replace(c.path, '\.[^.]+$', '') AS parent
	  FROM sanse.coverage c),
root AS (
	SELECT * FROM cov
	 WHERE CASE WHEN :'root' = '' THEN true ELSE path = :'root' END
	 ORDER BY depth, path LIMIT 1),
sub AS MATERIALIZED (
	SELECT c.* FROM cov c, root r
	 WHERE c.path = r.path OR c.path LIKE r.path || '.%'),
-- How much of each level below the root the role may see: areas, those
-- visibly empty (0 residents), those with a coverage rate shown, and those
-- hidden (no rate, residents not a visible 0: a small cell).  A level is
-- mostly visible when at most one in ten of its non-empty areas is hidden.
kinds(ord, kind) AS (VALUES (1, 'district'), (2, 'town'), (3, 'village'), (4, 'total_grid'),
                            (5, 'general_grid'), (6, 'micro_grid')),
levels AS MATERIALIZED (
	SELECT k.ord, k.kind, count(*) AS areas,
	       count(*) FILTER (WHERE s.residents = 0) AS empty,
	       count(*) FILTER (WHERE s.coverage_rate IS NOT NULL) AS shown,
	       count(*) FILTER (WHERE s.coverage_rate IS NULL AND s.residents IS DISTINCT FROM 0) AS hidden
	  FROM sub s JOIN kinds k ON k.kind = s.kind, root r
	 WHERE s.path <> r.path
	 GROUP BY k.ord, k.kind),
-- the finest level down to which every level is mostly visible (the first
-- level below the root when even that one is not): the treemap stops there
-- and the ranking of the worst areas is made at it
depth AS (
	SELECT coalesce((SELECT max(l.ord) FROM levels l
	                  WHERE NOT EXISTS (SELECT 1 FROM levels x
	                                     WHERE x.ord <= l.ord AND x.hidden * 10 > x.shown + x.hidden)),
	                (SELECT min(ord) FROM levels)) AS ord),
drawn AS MATERIALIZED (
	SELECT s.* FROM sub s JOIN kinds k ON k.kind = s.kind, depth d WHERE k.ord <= d.ord),
-- a node's size is its micro grids (at least one, so an empty area still
-- shows): the structure, not a count of people
sizes AS (
	SELECT array_to_string((string_to_array(m.path, '.'))[1:i], '.') AS path, count(*) AS micro_grids
	  FROM sub m CROSS JOIN LATERAL generate_series(1, m.depth) i
	 WHERE m.kind = 'micro_grid'
	 GROUP BY 1),
-- the hierarchy has six kinds (spec 1), so a tree is at most six deep: nest
-- the drawn levels bottom-up, one kind at a time
n6 AS (SELECT s.path, s.parent,
              json_build_object('name', s.name, 'path', s.path, 'kind', s.kind, 'value', 1,
                                'residents', s.residents, 'overdue', s.overdue_now, 'rate', s.coverage_rate) AS node
         FROM drawn s WHERE s.kind = 'micro_grid'),
n5 AS (SELECT s.path, s.parent,
              json_build_object('name', s.name, 'path', s.path, 'kind', s.kind, 'value', greatest(z.micro_grids, 1),
                                'residents', s.residents, 'overdue', s.overdue_now, 'rate', s.coverage_rate,
                                'children', c.children) AS node
         FROM drawn s
         LEFT JOIN sizes z ON z.path = s.path
         LEFT JOIN (SELECT parent, json_agg(node ORDER BY path) AS children FROM n6 GROUP BY parent) c ON c.parent = s.path
        WHERE s.kind = 'general_grid'),
n4 AS (SELECT s.path, s.parent,
              json_build_object('name', s.name, 'path', s.path, 'kind', s.kind, 'value', greatest(z.micro_grids, 1),
                                'residents', s.residents, 'overdue', s.overdue_now, 'rate', s.coverage_rate,
                                'children', c.children) AS node
         FROM drawn s
         LEFT JOIN sizes z ON z.path = s.path
         LEFT JOIN (SELECT parent, json_agg(node ORDER BY path) AS children FROM n5 GROUP BY parent) c ON c.parent = s.path
        WHERE s.kind = 'total_grid'),
n3 AS (SELECT s.path, s.parent,
              json_build_object('name', s.name, 'path', s.path, 'kind', s.kind, 'value', greatest(z.micro_grids, 1),
                                'residents', s.residents, 'overdue', s.overdue_now, 'rate', s.coverage_rate,
                                'children', c.children) AS node
         FROM drawn s
         LEFT JOIN sizes z ON z.path = s.path
         LEFT JOIN (SELECT parent, json_agg(node ORDER BY path) AS children FROM n4 GROUP BY parent) c ON c.parent = s.path
        WHERE s.kind = 'village'),
n2 AS (SELECT s.path, s.parent,
              json_build_object('name', s.name, 'path', s.path, 'kind', s.kind, 'value', greatest(z.micro_grids, 1),
                                'residents', s.residents, 'overdue', s.overdue_now, 'rate', s.coverage_rate,
                                'children', c.children) AS node
         FROM drawn s
         LEFT JOIN sizes z ON z.path = s.path
         LEFT JOIN (SELECT parent, json_agg(node ORDER BY path) AS children FROM n3 GROUP BY parent) c ON c.parent = s.path
        WHERE s.kind = 'town'),
-- the root's children, whatever kind the root is
tree AS (SELECT coalesce(json_agg(k.node ORDER BY k.path), '[]'::json) AS children
           FROM (SELECT * FROM n2 UNION ALL SELECT * FROM n3 UNION ALL SELECT * FROM n4
                 UNION ALL SELECT * FROM n5 UNION ALL SELECT * FROM n6) k, root r
          WHERE k.parent = r.path),
-- open overdue events by level, one point per day of the root's history
hist AS (
	SELECT coalesce(json_agg(json_build_object(
	           'day', h.day, 'l1', h.open_level_1, 'l2', h.open_level_2, 'l3', h.open_level_3,
	           'l4', h.open_level_4, 'overdue', h.overdue, 'rate', h.coverage_rate,
	           'response', h.response_rate) ORDER BY h.day), '[]'::json) AS days
	  FROM sanse.coverage_history h, root r
	 WHERE h.path = r.path),
-- carers' check-in rates (打卡率) of the last full month that has any, in
-- sanse.timezone; a worker whose counts are small cells has no rate
cr AS (
	SELECT w.month, w.checkin_rate
	  FROM sanse.worker_checkin_rate w
	 WHERE w.windows_due IS DISTINCT FROM 0
	   AND w.area_id IN (SELECT area_id FROM sub)),
this_month AS (SELECT date_trunc('month', now() AT TIME ZONE sanse.current_zone())::date AS m),
shown_month AS (
	SELECT coalesce((SELECT max(month) FROM cr, this_month t WHERE cr.month < t.m AND cr.checkin_rate IS NOT NULL),
	                (SELECT m FROM this_month)) AS month),
bins(i, lo, hi, label) AS (VALUES
	(1, 0.00, 0.50, '< 50%'), (2, 0.50, 0.60, '50–59%'), (3, 0.60, 0.70, '60–69%'),
	(4, 0.70, 0.80, '70–79%'), (5, 0.80, 0.90, '80–89%'), (6, 0.90, 0.95, '90–94%'),
	(7, 0.95, 1.00, '95–99%'), (8, 1.00, 1.01, '100%')),
checkin AS (
	SELECT json_build_object(
	         'month', to_char(sm.month, 'YYYY-MM'),
	         'workers', (SELECT count(*) FROM cr WHERE cr.month = sm.month),
	         'shown', (SELECT count(*) FROM cr WHERE cr.month = sm.month AND cr.checkin_rate IS NOT NULL),
	         'hidden', (SELECT count(*) FROM cr WHERE cr.month = sm.month AND cr.checkin_rate IS NULL),
	         'below80', (SELECT count(*) FROM cr WHERE cr.month = sm.month AND cr.checkin_rate < 0.8),
	         'bins', (SELECT json_agg(json_build_object('label', b.label, 'workers',
	                          (SELECT count(*) FROM cr WHERE cr.month = sm.month
	                              AND cr.checkin_rate >= b.lo AND cr.checkin_rate < b.hi)) ORDER BY b.i)
	                    FROM bins b)) AS j
	  FROM shown_month sm),
-- the closed loop at the root, by month raised and kind
loop AS (
	SELECT coalesce(json_agg(json_build_object(
	           'month', to_char(l.month, 'YYYY-MM'), 'kind', l.kind, 'raised', l.raised,
	           'in_time', l.answered_in_time, 'rate', l.response_rate,
	           'median_s', extract(epoch FROM l.median_time_to_arrive)) ORDER BY l.month, l.kind), '[]'::json) AS rows
	  FROM sanse.loop_metrics l, root r
	 WHERE l.path = r.path),
-- devices at the root and the areas one level below it (device_status:
-- counts only, small cells hidden as the view hides them)
dev AS (
	SELECT coalesce(json_agg(json_build_object('name', d.name, 'path', d.path, 'devices', d.devices,
	                                           'silent', d.silent, 'open_warnings', d.open_warnings)
	                         ORDER BY d.path <> r.path, d.path), '[]'::json) AS rows
	  FROM sanse.device_status d, root r
	 WHERE d.path = r.path OR regexp_replace(d.path, '\.[^.]+$', '') = r.path),
-- the ten areas with the lowest coverage rate at the finest mostly visible
-- level, among those whose rate the role may see (a small cell has none)
worst AS (
	SELECT coalesce(json_agg(json_build_object('name', w.name, 'path', w.path, 'residents', w.residents,
	                                           'overdue', w.overdue_now, 'rate', w.coverage_rate)
	                         ORDER BY w.coverage_rate, w.overdue_now DESC NULLS LAST, w.path), '[]'::json) AS rows
	  FROM (SELECT s.* FROM drawn s JOIN kinds k ON k.kind = s.kind, depth d
	         WHERE k.ord = d.ord AND s.coverage_rate IS NOT NULL
	         ORDER BY s.coverage_rate, s.overdue_now DESC NULLS LAST, s.path LIMIT 10) w)
SELECT json_build_object(
         'generated_at', to_char(now() AT TIME ZONE sanse.current_zone(), 'YYYY-MM-DD HH24:MI'),
         'timezone', sanse.current_zone(),
         'role', current_user,
         'min_cell', current_setting('sanse.min_cell'),
         'root', json_build_object('name', r.name, 'path', r.path, 'kind', r.kind,
                                   'residents', r.residents, 'red', r.red, 'yellow', r.yellow, 'blue', r.blue,
                                   'overdue', r.overdue_now, 'window_met', r.window_met, 'rate', r.coverage_rate),
         'tree', tree.children,
         'history', hist.days,
         'checkin', checkin.j,
         'loop', loop.rows,
         'worst', worst.rows,
         'devices', dev.rows,
         'depth', (SELECT k.kind FROM kinds k, depth d WHERE k.ord = d.ord),
         'levels', (SELECT coalesce(json_agg(json_build_object('kind', l.kind, 'areas', l.areas, 'empty', l.empty,
                                                               'shown', l.shown, 'hidden', l.hidden,
                                                               'drawn', l.ord <= d.ord) ORDER BY l.ord), '[]'::json)
                      FROM levels l, depth d)) AS screen
  FROM root r, tree, hist, checkin, loop, worst, dev;
