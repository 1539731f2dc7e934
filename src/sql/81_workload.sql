-----------------------------------------------------------------------------
-- The supervisor's board and who carries how much: open events of every
-- kind, and each worker's load (views of the areas the role may read).
-----------------------------------------------------------------------------

-- The supervisor's board: every open event of every kind.
CREATE OR REPLACE VIEW open_events AS
SELECT e.id AS event_id, e.area_id, a.path::text AS path, a.name AS area_name, e.kind, e.scale,
       e.status AS stage, e.level, e.assignee_id, w.name AS assignee_name,
       now() - e.due_at AS age,
       e.next_step_at - now() AS time_left,
       e.parent_id
  FROM sanse.event e
  JOIN sanse.area a ON a.id = e.area_id
  LEFT JOIN sanse.worker w ON w.id = e.assignee_id
 WHERE e.status <> 'closed'
   AND e.area_id IN (SELECT sanse.granted_areas('read', current_user));
COMMENT ON VIEW open_events IS 'every open event of every kind: area, kind, scale, stage, level, assignee, age (since due or raised), time left on its clock (negative: a step is due)';

-- Visits a week a cadence asks for (a month counted as 30.44 days).
CREATE OR REPLACE FUNCTION visits_per_week(cadence text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
	WHEN lower(btrim(cadence)) LIKE 'rolling %'
	  THEN round(604800 / extract(epoch FROM justify_days(substr(btrim(cadence), 9)::interval)), 3)
	WHEN lower(btrim(cadence)) = 'calendar day' THEN 7
	WHEN lower(btrim(cadence)) = 'calendar week' THEN 1
	WHEN lower(btrim(cadence)) = 'calendar month' THEN round(7 / 30.44, 3)
	END;
COMMENT ON FUNCTION visits_per_week(text) IS 'visits a week a cadence asks for';

-- Who carries how much (paper 5.3.2: workers buried under visits): residents
-- in their care by tier, the visits a week their cadences ask for, open
-- events assigned to them, loop events they handled this month.
CREATE OR REPLACE VIEW worker_load AS
SELECT w.id AS worker_id, w.name AS worker_name, w.force, w.role, w.area_id,
       coalesce(c.red, 0) AS red, coalesce(c.yellow, 0) AS yellow, coalesce(c.blue, 0) AS blue,
       coalesce(c.visits_per_week, 0) AS visits_per_week,
       coalesce(o.open_overdue, 0) AS open_overdue,
       coalesce(o.open_loop, 0) AS open_loop,
       o.highest_level,
       coalesce(h.handled_this_month, 0) AS handled_this_month
  FROM sanse.worker w
  LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE r.tier = 'red') AS red,
	       count(*) FILTER (WHERE r.tier = 'yellow') AS yellow,
	       count(*) FILTER (WHERE r.tier = 'blue') AS blue,
	       sum(sanse.visits_per_week(p.cadence)) AS visits_per_week
	  FROM sanse.carer ca
	  JOIN sanse.resident r ON r.id = ca.resident_id AND r.active
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 WHERE ca.worker_id = w.id) c ON true
  LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE e.kind = 'overdue') AS open_overdue,
	       count(*) FILTER (WHERE e.kind <> 'overdue') AS open_loop,
	       max(e.level) AS highest_level
	  FROM sanse.event e
	 WHERE e.assignee_id = w.id AND e.status <> 'closed') o ON true
  LEFT JOIN LATERAL (
	SELECT count(*) AS handled_this_month
	  FROM sanse.event_transition t
	 WHERE t.worker_id = w.id AND t.stage = 'handled'
	   AND t.at >= (date_trunc('month', now() AT TIME ZONE sanse.current_zone()) AT TIME ZONE sanse.current_zone())) h ON true
 WHERE w.active
   AND w.area_id IN (SELECT sanse.granted_areas('read', current_user));
COMMENT ON VIEW worker_load IS 'per active worker: residents in their care by tier, visits a week their cadences ask for, open events assigned (overdue, loop, highest level), loop events handled this month';
