-- Synthetic district shaped like the paper's Q district (one 'q' district,
-- 7 towns, 2,091 micro grids, 5,300+ workers of the five forces, 2,370
-- residents: 28 red, 506 yellow, 1,836 blue) times a scale factor, from a
-- seed.  Used by `make demo` and `make bench`; not part of the extension.
CREATE SCHEMA IF NOT EXISTS sanse_demo;

-- The district in steps: build_grid (areas, workers, departments),
-- place_residents (residents typed in, as before feeds; make demo brings
-- them from the departments' feeds instead, test/demo/feeds.sql), settle
-- (five-for-one carers, last visits before the start) and district_counts.
-- generate() runs them all, as make bench and the tests use it.
--
-- scale multiplies the residents; grid_scale (default: scale) the hierarchy and workers.
CREATE OR REPLACE FUNCTION sanse_demo.generate(seed float8, scale float8, start timestamptz,
                                               grid_scale float8 DEFAULT NULL)
RETURNS TABLE (what text, n bigint)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM setseed(seed);
	PERFORM sanse_demo.build_grid(coalesce(grid_scale, scale));
	PERFORM sanse_demo.place_residents(scale, start);
	PERFORM sanse_demo.settle(coalesce(grid_scale, scale), start);
	RETURN QUERY SELECT * FROM sanse_demo.district_counts();
END
$$;

-- The hierarchy, leaders at every level, the five forces, the departments
-- (each level spread evenly over its parents).  gs scales it.
CREATE OR REPLACE FUNCTION sanse_demo.build_grid(gs float8) RETURNS void
LANGUAGE plpgsql SET search_path = sanse, public AS $$
DECLARE
	n_towns int := 7;
	n_villages int := greatest(1, round(84 * gs));
	n_total int := greatest(1, round(120 * gs));
	n_general int := greatest(1, round(358 * gs));
	n_micro int := greatest(1, round(2091 * gs));
BEGIN
	-- the hierarchy: each level spread evenly over its parents
	INSERT INTO area (path, kind, name) VALUES ('q', 'district', 'Q district');
	INSERT INTO area (path, kind, name)
	SELECT ('q.t' || i)::ltree, 'town', 'town ' || i FROM generate_series(1, n_towns) i;
	INSERT INTO area (path, kind, name)
	SELECT ('q.t' || (1 + (i - 1) % n_towns) || '.v' || i)::ltree, 'village', 'village ' || i
	  FROM generate_series(1, n_villages) i;
	INSERT INTO area (path, kind, name)
	SELECT (v.path::text || '.tg' || i)::ltree, 'total_grid', 'total grid ' || i
	  FROM generate_series(1, n_total) i
	  JOIN (SELECT path, row_number() OVER (ORDER BY id) - 1 AS k FROM area WHERE kind = 'village') v
	    ON v.k = (i - 1) % n_villages;
	INSERT INTO area (path, kind, name)
	SELECT (t.path::text || '.g' || i)::ltree, 'general_grid', 'general grid ' || i
	  FROM generate_series(1, n_general) i
	  JOIN (SELECT path, row_number() OVER (ORDER BY id) - 1 AS k FROM area WHERE kind = 'total_grid') t
	    ON t.k = (i - 1) % n_total;
	INSERT INTO area (path, kind, name)
	SELECT (g.path::text || '.m' || i)::ltree, 'micro_grid', 'micro grid ' || i
	  FROM generate_series(1, n_micro) i
	  JOIN (SELECT path, row_number() OVER (ORDER BY id) - 1 AS k FROM area WHERE kind = 'general_grid') g
	    ON g.k = (i - 1) % n_general;

	-- leaders at every level; the five forces
	INSERT INTO worker (name, force, role, area_id)
	SELECT 'task force ' || i, 'department_staff', 'task_force', a.id
	  FROM area a, generate_series(1, 7) i WHERE a.kind = 'district';
	INSERT INTO worker (name, force, role, area_id)
	SELECT 'leader of ' || a.name,
	       CASE a.kind WHEN 'micro_grid' THEN 'grid_officer' ELSE 'community_cadre' END,
	       CASE a.kind WHEN 'micro_grid' THEN 'micro_grid_leader' WHEN 'general_grid' THEN 'general_grid_leader'
	                   ELSE 'total_grid_leader' END, a.id
	  FROM area a WHERE a.kind IN ('micro_grid', 'general_grid', 'total_grid') ORDER BY a.id;
	INSERT INTO worker (name, force, role, area_id)
	SELECT 'volunteer of ' || a.name, 'volunteer', 'member', a.id FROM area a WHERE a.kind = 'micro_grid' ORDER BY a.id;
	INSERT INTO worker (name, force, role, area_id)
	SELECT 'cadre of ' || a.name, 'community_cadre', 'member', a.id FROM area a WHERE a.kind = 'general_grid' ORDER BY a.id;
	INSERT INTO worker (name, force, role, area_id)
	SELECT 'service professional ' || i || ' of ' || a.name, 'service_professional', 'member', a.id
	  FROM area a, generate_series(1, 3) i WHERE a.kind = 'village' ORDER BY a.id, i;
	INSERT INTO worker (name, force, role, area_id)
	SELECT 'department staff ' || i || ' in ' || a.name, 'department_staff', 'member', a.id
	  FROM area a, generate_series(1, greatest(1, round(14 * gs)::int)) i WHERE a.kind = 'town' ORDER BY a.id, i;

	-- departments the grid whistles for (网格吹哨); the towns' department
	-- staff belong to them in turn (sanse 1.2 and later)
	IF to_regclass('sanse.department') IS NOT NULL THEN
		EXECUTE $d$INSERT INTO sanse.department (code, name) VALUES
			('civil_affairs', '民政 civil affairs'), ('health', '卫健 health'),
			('housing', '住建 housing'), ('utilities', '水电气 water, power and gas'),
			('emergency', '应急 emergency management')$d$;
		EXECUTE $d$UPDATE sanse.worker w SET department = (ARRAY['civil_affairs', 'health', 'housing', 'utilities', 'emergency'])[1 + s.k % 5]
		  FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM sanse.worker
		         WHERE force = 'department_staff' AND role = 'member') s
		 WHERE w.id = s.id$d$;
	END IF;
END
$$;

-- The factor sets of the paper's tiers (28 red, 506 yellow, 1,836 blue
-- times scale), one a resident, drawn at random: resident i's.
CREATE OR REPLACE FUNCTION sanse_demo.factors_of(i int, scale float8) RETURNS text[]
LANGUAGE sql VOLATILE AS $$
	SELECT CASE WHEN i <= round(28 * scale) THEN
	                 CASE WHEN random() < 0.5 THEN '{accident_risk,lives_alone}'::text[]
	                      ELSE '{sudden_illness,no_caregiver,lives_alone}' END
	            WHEN i <= round(28 * scale) + round(506 * scale) THEN
	                 CASE WHEN random() < 0.5 THEN '{partial_care,unstable_chronic}'::text[]
	                      ELSE '{partial_care,mobility_impaired,disabled}' END
	            ELSE (ARRAY['{self_care_difficulty}', '{unstable_chronic,lives_alone}', '{mobility_impaired}'])[1 + floor(random() * 3)::int]::text[]
	       END
$$;

-- Residents typed in (generate(), make bench): tiers from factors, spread
-- over the micro grids at random.
CREATE OR REPLACE FUNCTION sanse_demo.place_residents(scale float8, start timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = sanse, public AS $$
DECLARE
	n_micro int := (SELECT count(*) FROM area WHERE kind = 'micro_grid');
	n_red int := round(28 * scale);
	n_yellow int := round(506 * scale);
	n_blue int := round(1836 * scale);
BEGIN
	INSERT INTO resident (area_id, name, factors, registered_at, lat, lon)
	SELECT m.id, 'resident ' || g.i, sanse_demo.factors_of(g.i, scale),
	       start - interval '120 days',
	       30.55 + random() * 0.2, 103.95 + random() * 0.2
	  FROM (SELECT i, floor(random() * n_micro)::int AS k
	          FROM generate_series(1, n_red + n_yellow + n_blue) i) g(i, k)
	  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM area WHERE kind = 'micro_grid') m
	    ON m.k = g.k;
END
$$;

-- Residents without carers get their five-for-one: the micro grid's leader
-- and volunteer, the general grid's cadre, a service professional of the
-- village, department staff of the town.  At the start (start given), every
-- resident is in good standing: a last visit somewhere in the cadence before it.
CREATE OR REPLACE FUNCTION sanse_demo.settle(gs float8, start timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = sanse, public AS $$
BEGIN
	IF to_regclass('pg_temp.settling') IS NULL THEN
		CREATE TEMP TABLE settling (id bigint PRIMARY KEY);
	END IF;
	TRUNCATE settling;
	INSERT INTO settling SELECT r.id FROM resident r WHERE NOT EXISTS (SELECT 1 FROM carer c WHERE c.resident_id = r.id);
	-- five-for-one: the micro grid's leader and volunteer, the general
	-- grid's cadre, a service professional of the village, department staff of the town
	-- (set-based, with the workers of each area numbered in id order and
	-- paths joined as text, which hashes; the
	-- rows are valid by construction, so written in replica mode, without
	-- the per-row check of carer_check, which would cost minutes at a
	-- province's millions: the force is the worker's, as it sets it)
	PERFORM set_config('session_replication_role', 'replica', true);
	INSERT INTO carer (resident_id, worker_id, force)
	WITH ranked AS MATERIALIZED (
		SELECT w.id, w.force, w.role, a.path::text AS path,
		       row_number() OVER (PARTITION BY w.area_id, w.role ORDER BY w.id) - 1 AS k_role,
		       row_number() OVER (PARTITION BY w.area_id, w.force ORDER BY w.id) - 1 AS k_force,
		       row_number() OVER (PARTITION BY w.area_id, w.force, w.role ORDER BY w.id) - 1 AS k_force_role
		  FROM worker w JOIN area a ON a.id = w.area_id),
	rm AS MATERIALIZED (
		SELECT r.id, r.area_id, subpath(m.path, 0, 5)::text AS p5, subpath(m.path, 0, 3)::text AS p3,
		       subpath(m.path, 0, 2)::text AS p2
		  FROM resident r JOIN settling USING (id) JOIN area m ON m.id = r.area_id)
	SELECT r.id, w.id, w.force FROM rm r JOIN worker w ON w.area_id = r.area_id AND w.role IN ('micro_grid_leader', 'member')
	UNION ALL
	SELECT r.id, w.id, w.force FROM rm r JOIN ranked w ON w.path = r.p5 AND w.role = 'member' AND w.k_role = 0
	UNION ALL
	SELECT r.id, w.id, w.force FROM rm r
	  JOIN ranked w ON w.path = r.p3 AND w.force = 'service_professional' AND w.k_force = r.id % 3
	UNION ALL
	SELECT r.id, w.id, w.force FROM rm r
	  JOIN ranked w ON w.path = r.p2 AND w.force = 'department_staff' AND w.role = 'member'
	                AND w.k_force_role = r.id % greatest(1, round(14 * gs)::int);
	PERFORM set_config('session_replication_role', 'origin', true);
	IF to_regproc('sanse.carer_gap_rebuild') IS NOT NULL THEN
		PERFORM sanse.carer_gap_rebuild();
	END IF;


	IF start IS NOT NULL THEN
		UPDATE resident r SET last_visit_at = start - (CASE r.tier WHEN 'red' THEN interval '40 hours'
		                                                          WHEN 'yellow' THEN interval '6 days'
		                                                          ELSE interval '25 days' END) * random();
	END IF;
END
$$;

-- What the district holds.
CREATE OR REPLACE FUNCTION sanse_demo.district_counts() RETURNS TABLE (what text, n bigint)
LANGUAGE plpgsql SET search_path = sanse, public AS $$
BEGIN
	RETURN QUERY SELECT 'areas'::text, count(*) FROM area
	  UNION ALL SELECT 'micro grids', count(*) FROM area WHERE kind = 'micro_grid'
	  UNION ALL SELECT 'general grids', count(*) FROM area WHERE kind = 'general_grid'
	  UNION ALL SELECT 'workers', count(*) FROM worker
	  UNION ALL SELECT 'residents', count(*) FROM resident
	  UNION ALL SELECT 'red', count(*) FROM resident WHERE tier = 'red'
	  UNION ALL SELECT 'yellow', count(*) FROM resident WHERE tier = 'yellow'
	  UNION ALL SELECT 'blue', count(*) FROM resident WHERE tier = 'blue'
	  UNION ALL SELECT 'department staff', (xpath('/table/row/c/text()', query_to_xml(
	                      CASE WHEN to_regclass('sanse.department') IS NULL THEN 'SELECT 0 AS c'
	                           ELSE 'SELECT count(*) AS c FROM sanse.worker WHERE department IS NOT NULL' END,
	                      false, false, '')))[1]::text::bigint
	  UNION ALL SELECT 'carers', count(*) FROM carer
	  UNION ALL SELECT 'incomplete five-for-one', count(*) FROM carer_gaps;
END
$$;

-- When a carer will next scan this door: usually inside the window, sometimes
-- late, now and then not for days (those escalate).
CREATE OR REPLACE FUNCTION sanse_demo.plan_visit(w sanse.visit_window, after timestamptz)
RETURNS timestamptz LANGUAGE sql VOLATILE AS $$
	SELECT CASE
		WHEN x < 0.86 THEN greatest(sanse.opens_at(w), after)
		                   + (sanse.due_at(w) - greatest(sanse.opens_at(w), after)) * random() * 0.98
		WHEN x < 0.97 THEN sanse.due_at(w) + interval '1 hour' * (1 + random() * 30)
		ELSE sanse.due_at(w) + interval '1 day' * (2 + random() * 6)
	END
	FROM (SELECT random() AS x) r
$$;

-- The closed loop (闭环处置).  Delays: most calls are answered inside their
-- policy's clock, some late (the hourly sweeps climb those a level or more).
CREATE OR REPLACE FUNCTION sanse_demo.loop_delay(kind text, tier sanse.risk_tier, stage text)
RETURNS interval LANGUAGE sql VOLATILE AS $$
	SELECT CASE stage
		WHEN 'arrive' THEN CASE
			WHEN kind = 'warning' AND x < CASE WHEN tier::text = 'red' THEN 0.97 ELSE 0.93 END
			     THEN interval '2 minutes' + interval '12 minutes' * y
			WHEN kind = 'warning' THEN interval '16 minutes' + interval '170 minutes' * y
			WHEN kind = 'request' AND x < 0.92
			     THEN CASE WHEN tier::text = 'red' THEN interval '30 minutes' ELSE interval '2 hours' END * (0.1 + 0.8 * y)
			WHEN kind = 'request'
			     THEN CASE WHEN tier::text = 'red' THEN interval '30 minutes' ELSE interval '2 hours' END + interval '6 hours' * y
			WHEN x < 0.9 THEN interval '1 hour' + interval '20 hours' * y
			ELSE interval '1 day' + interval '2 days' * y END
		WHEN 'handle' THEN CASE
			WHEN kind = 'warning' AND x < 0.9 THEN interval '10 minutes' + interval '100 minutes' * y
			WHEN kind = 'warning' THEN interval '2 hours' + interval '4 hours' * y
			WHEN kind = 'request'
			     THEN CASE WHEN tier::text = 'red' THEN interval '4 hours' ELSE interval '1 day' END
			          * CASE WHEN x < 0.9 THEN 0.1 + 0.8 * y ELSE 1 + y END
			WHEN x < 0.9 THEN interval '2 hours' + interval '60 hours' * y
			ELSE interval '3 days' + interval '2 days' * y END
		WHEN 'feed_back' THEN interval '10 minutes' + interval '4 hours' * y
		WHEN 'evaluate' THEN interval '1 hour' + interval '40 hours' * y
		WHEN 'whistle' THEN interval '10 minutes' + interval '50 minutes' * y
	END
	FROM (SELECT random() AS x, random() AS y) r
$$;

-- The loop's helpers name columns and functions of sanse 1.2: created
-- unchecked, so this file also loads into a database at 1.0 or 1.1 (where
-- the replay runs without the loop).
SET check_function_bodies = off;

-- Who comes (报到): department staff for a whistled task (of the event's town
-- if there is one), the task force for a task about an area, otherwise the
-- leader the event is assigned to at its level, or a carer.
CREATE OR REPLACE FUNCTION sanse_demo.loop_responder(e sanse.event)
RETURNS bigint LANGUAGE sql VOLATILE AS $$
	SELECT CASE
		WHEN e.department IS NOT NULL THEN
			(SELECT w.id FROM sanse.worker w JOIN sanse.area a ON a.id = w.area_id, sanse.area ea
			  WHERE ea.id = e.area_id AND w.department = e.department AND w.active
			  ORDER BY a.path @> ea.path DESC, random() LIMIT 1)
		WHEN e.resident_id IS NULL THEN
			coalesce(e.assignee_id, (SELECT w.id FROM sanse.worker w WHERE w.role = 'task_force' ORDER BY random() LIMIT 1))
		ELSE coalesce(e.assignee_id, (SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = e.resident_id
		                               ORDER BY random() LIMIT 1))
	END
$$;

-- Run the loop's planned actions dated before `bound`, in time order, each
-- through its sanse function at its own time; each plans the next.
CREATE OR REPLACE FUNCTION sanse_demo.loop_until(bound timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
	t record;
	e sanse.event;
	w bigint;
	child bigint;
	rating smallint;
	x float8;
	n int := 0;
BEGIN
	LOOP
		SELECT * INTO t FROM loop_todo WHERE at < bound ORDER BY at, id LIMIT 1;
		EXIT WHEN NOT FOUND;
		DELETE FROM loop_todo WHERE id = t.id;
		n := n + 1;
		IF t.action = 'raise' THEN
			t.event_id := sanse.raise_event(t.kind, t.resident_id,
				CASE t.kind WHEN 'warning' THEN (ARRAY['fall detector', 'blood pressure monitor', 'smoke sensor', 'hotline call'])[1 + floor(random() * 4)::int]
				            ELSE (ARRAY['help with medicine', 'a ride to hospital', 'a broken water heater', 'paperwork for a subsidy'])[1 + floor(random() * 4)::int] END,
				'grid', t.at, NULL);
			INSERT INTO loop_todo (at, action, event_id)
			SELECT t.at + sanse_demo.loop_delay(x.kind, x.tier, 'arrive'), 'arrive', x.id FROM sanse.event x WHERE x.id = t.event_id;
			CONTINUE;
		ELSIF t.action = 'dispatch' THEN
			t.event_id := sanse.dispatch_task(t.area_id, 'dispatched: ' || (ARRAY['flood-season check', 'fire-safety sweep', 'heat-wave visits', 'census update'])[1 + floor(random() * 4)::int],
			                                  'task_force', t.at, NULL);
			INSERT INTO loop_todo (at, action, event_id) VALUES (t.at + sanse_demo.loop_delay('task', NULL, 'arrive'), 'arrive', t.event_id);
			CONTINUE;
		END IF;
		SELECT * INTO e FROM sanse.event WHERE id = t.event_id;
		IF t.action = 'arrive' THEN
			w := sanse_demo.loop_responder(e);
			PERFORM sanse.arrive(e.id, w, CASE WHEN e.resident_id IS NOT NULL THEN sanse.door_token(e.resident_id) END, t.at);
			-- some findings, requests and most tasks need a department (网格吹哨)
			IF e.parent_id IS NULL AND e.reopened = 0
			   AND random() < (CASE e.kind WHEN 'task' THEN 0.7 WHEN 'finding' THEN 0.12 WHEN 'request' THEN 0.1 ELSE 0.02 END) THEN
				INSERT INTO loop_todo (at, action, event_id) VALUES (t.at + sanse_demo.loop_delay(e.kind, e.tier, 'whistle'), 'whistle', e.id);
			ELSE
				INSERT INTO loop_todo (at, action, event_id) VALUES (t.at + sanse_demo.loop_delay(e.kind, e.tier, 'handle'), 'handle', e.id);
			END IF;
		ELSIF t.action = 'whistle' THEN
			child := sanse.whistle(e.id, (ARRAY['civil_affairs', 'health', 'housing', 'utilities', 'emergency'])[1 + floor(random() * 5)::int],
			                       e.arrived_by, t.at);
			INSERT INTO loop_todo (at, action, event_id) VALUES (t.at + sanse_demo.loop_delay('task', NULL, 'arrive'), 'arrive', child);
		ELSIF t.action = 'handle' THEN
			PERFORM sanse.handle_event(e.id, e.arrived_by, 'handled: ' || coalesce(e.detail, e.kind), t.at);
			INSERT INTO loop_todo (at, action, event_id) VALUES (t.at + sanse_demo.loop_delay(e.kind, e.tier, 'feed_back'), 'feed_back', e.id);
			IF e.parent_id IS NOT NULL
			   AND NOT EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.parent_id AND c.status IN ('called', 'arrived')) THEN
				-- the department is done: the grid handles the parent
				INSERT INTO loop_todo (at, action, event_id)
				SELECT t.at + sanse_demo.loop_delay(p.kind, p.tier, 'handle') * 0.3, 'handle', p.id
				  FROM sanse.event p WHERE p.id = e.parent_id AND p.status = 'arrived';
			END IF;
		ELSIF t.action = 'feed_back' THEN
			PERFORM sanse.feed_back(e.id, e.handled_by, 'told the family what was done', t.at);
			INSERT INTO loop_todo (at, action, event_id) VALUES (t.at + sanse_demo.loop_delay(e.kind, e.tier, 'evaluate'), 'evaluate', e.id);
		ELSIF t.action = 'evaluate' THEN
			-- mostly good; now and then a low rating or "not solved" reopens the
			-- event one level up (a reopened event is then rated well)
			x := random();
			rating := CASE WHEN e.reopened > 0 OR e.parent_id IS NOT NULL THEN 4 + (random() < 0.6)::int
			               WHEN x < 0.58 THEN 5 WHEN x < 0.86 THEN 4 WHEN x < 0.93 THEN 3 WHEN x < 0.97 THEN 2 ELSE 1 END;
			PERFORM sanse.evaluate(e.id, rating, rating > 2 AND (e.reopened > 0 OR e.parent_id IS NOT NULL OR random() < 0.98),
			                       CASE WHEN e.resident_id IS NOT NULL AND e.parent_id IS NULL THEN 'resident' ELSE 'supervisor' END,
			                       CASE WHEN rating <= 2 THEN 'not good enough' END, t.at);
			IF (SELECT status FROM sanse.event WHERE id = e.id) = 'called' THEN
				INSERT INTO loop_todo (at, action, event_id) VALUES (t.at + sanse_demo.loop_delay(e.kind, e.tier, 'arrive'), 'arrive', e.id);
			END IF;
		END IF;
	END LOOP;
	RETURN n;
END
$$;

-- Replay: check-ins through sanse.check_in in time order, a sweep every
-- simulated hour, a progress line (a NOTICE) every ten simulated days and at
-- the end, with the seconds spent so far.  The closed loop runs
-- in between, in the same time order: warnings for red and yellow residents
-- (a red resident about one every 17 days: the paper's 586 a year for the
-- district), requests, a finding from about 2 % of check-ins, a task
-- dispatched to a town or village every few days; loop_rate multiplies them.
CREATE OR REPLACE PROCEDURE sanse_demo.replay(start timestamptz, days int, loop_rate float8 DEFAULT 1)
LANGUAGE plpgsql AS $$
DECLARE
	h timestamptz;
	stop timestamptz := start + days * interval '1 day';
	v record;
	n_visits bigint := 0;
	n_day bigint := 0;
	n_loop bigint := 0;
	found bigint;
	began timestamptz := clock_timestamp();
BEGIN
	-- before 1.2 there is no closed loop to replay
	IF to_regprocedure('sanse.raise_event(text,bigint,text,text,timestamptz,bigint)') IS NULL THEN
		loop_rate := 0;
	END IF;
	-- the replay checks in visits dated up to `days` back (superuser-only setting)
	PERFORM set_config('sanse.max_backdate', '100 years', false);
	CREATE TEMP TABLE IF NOT EXISTS plan (resident_id bigint PRIMARY KEY, at timestamptz NOT NULL);
	TRUNCATE plan;
	CREATE INDEX IF NOT EXISTS plan_at ON plan (at);
	INSERT INTO plan SELECT r.id, sanse_demo.plan_visit(r.next_visit, start) FROM sanse.resident r WHERE r.active;
	ANALYZE plan;
	CREATE TEMP TABLE IF NOT EXISTS loop_todo (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL,
	                                           action text NOT NULL, event_id bigint, resident_id bigint, area_id bigint, kind text);
	TRUNCATE loop_todo;
	CREATE INDEX IF NOT EXISTS loop_todo_at ON loop_todo (at, id);
	INSERT INTO loop_todo (at, action, resident_id, kind)
	SELECT start + (s.d + random()) * interval '1 day', 'raise', s.id, s.kind
	  FROM (SELECT r.id, r.tier::text AS tier, d, k.kind, random() AS x	-- one draw per resident, day and kind
	          FROM sanse.resident r
	         CROSS JOIN generate_series(0, days - 1) d
	         CROSS JOIN (VALUES ('warning'), ('request')) k(kind)
	         WHERE r.active OFFSET 0) s
	 WHERE s.x < loop_rate * CASE WHEN s.kind = 'warning' THEN CASE s.tier WHEN 'red' THEN 0.06 WHEN 'yellow' THEN 0.006 ELSE 0 END
	                              WHEN s.tier = 'red' THEN 0.01 ELSE 0.0008 END
	 ORDER BY 1;
	INSERT INTO loop_todo (at, action, area_id)
	SELECT start + (s.d + random()) * interval '1 day', 'dispatch',
	       (SELECT a.id FROM sanse.area a WHERE a.kind = CASE WHEN s.d % 2 = 0 THEN 'town' ELSE 'village' END
	         ORDER BY random() + s.d * 0 LIMIT 1)
	  FROM (SELECT d, random() AS x FROM generate_series(0, days - 1) d OFFSET 0) s
	 WHERE s.x < least(1, loop_rate * 0.2)
	 ORDER BY 1;
	ANALYZE loop_todo;
	h := start;
	WHILE h < stop LOOP
		FOR v IN SELECT p.resident_id, p.at,
		                (SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = p.resident_id
		                  ORDER BY random() LIMIT 1) AS worker_id
		           FROM plan p WHERE p.at < h + interval '1 hour' ORDER BY p.at
		LOOP
			n_loop := n_loop + sanse_demo.loop_until(v.at);
			PERFORM sanse.check_in(sanse.door_token(v.resident_id), v.worker_id, v.at,
			                       (SELECT array_agg(i) FROM unnest(sanse.checklist_items()) i WHERE random() < 0.93));
			UPDATE plan SET at = sanse_demo.plan_visit(r.next_visit, v.at + interval '1 hour')
			  FROM sanse.resident r WHERE r.id = v.resident_id AND plan.resident_id = r.id;
			-- a share of visits find a problem at the door
			IF random() < least(1, loop_rate * 0.02) THEN
				found := sanse.raise_event('finding', v.resident_id,
				                           (ARRAY['loose wiring', 'no food in the house', 'a blocked passage', 'gas smell', 'a leaking roof'])[1 + floor(random() * 5)::int],
				                           'grid', v.at, v.worker_id);
				INSERT INTO loop_todo (at, action, event_id)
				SELECT v.at + sanse_demo.loop_delay('finding', e.tier, 'arrive'), 'arrive', e.id FROM sanse.event e WHERE e.id = found;
			END IF;
			n_visits := n_visits + 1;
			n_day := n_day + 1;
		END LOOP;
		h := h + interval '1 hour';
		n_loop := n_loop + sanse_demo.loop_until(h);
		PERFORM sanse.sweep(h);
		IF extract(epoch FROM h - start)::bigint % 86400 = 0 THEN
			-- a progress line every 10 simulated days and at the end, not 90
			IF (extract(epoch FROM h - start) / 86400)::int % 10 = 0 OR h >= stop THEN
				RAISE NOTICE 'replay day %/%: % check-ins since the last line, % in all, % overdue events open; % loop events raised, % open, % loop transitions (% s)',
					(extract(epoch FROM h - start) / 86400)::int, days, n_day, n_visits,
					(SELECT count(*) FROM sanse.event WHERE kind = 'overdue' AND status <> 'closed'),
					(SELECT count(*) FROM sanse.event WHERE kind <> 'overdue'),
					(SELECT count(*) FROM sanse.event WHERE kind <> 'overdue' AND status <> 'closed'), n_loop,
					round(extract(epoch FROM clock_timestamp() - began));
				n_day := 0;
			END IF;
			COMMIT;
		END IF;
	END LOOP;
END
$$;
