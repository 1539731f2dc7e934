-- Synthetic district shaped like the paper's Q district (one 'q' district,
-- 7 towns, 2,091 micro grids, 5,300+ workers of the five forces, 2,370
-- residents: 28 red, 506 yellow, 1,836 blue) times a scale factor, from a
-- seed.  Used by `make demo` and `make bench`; not part of the extension.
CREATE SCHEMA IF NOT EXISTS sanse_demo;

-- scale multiplies the residents; grid_scale (default: scale) the hierarchy and workers.
CREATE OR REPLACE FUNCTION sanse_demo.generate(seed float8, scale float8, start timestamptz,
                                               grid_scale float8 DEFAULT NULL)
RETURNS TABLE (what text, n bigint)
LANGUAGE plpgsql AS $$
DECLARE
	n_towns int := 7;
	gs float8 := coalesce(grid_scale, scale);
	n_villages int := greatest(1, round(84 * gs));
	n_total int := greatest(1, round(120 * gs));
	n_general int := greatest(1, round(358 * gs));
	n_micro int := greatest(1, round(2091 * gs));
	n_red int := round(28 * scale);
	n_yellow int := round(506 * scale);
	n_blue int := round(1836 * scale);
BEGIN
	PERFORM setseed(seed);
	SET LOCAL search_path = sanse, public;

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

	-- residents: tiers from factors, spread over the micro grids at random
	INSERT INTO resident (area_id, name, factors, registered_at, lat, lon)
	SELECT m.id, 'resident ' || g.i,
	       CASE WHEN g.i <= n_red THEN
	                 CASE WHEN random() < 0.5 THEN '{accident_risk,lives_alone}'::text[]
	                      ELSE '{sudden_illness,no_caregiver,lives_alone}' END
	            WHEN g.i <= n_red + n_yellow THEN
	                 CASE WHEN random() < 0.5 THEN '{partial_care,unstable_chronic}'::text[]
	                      ELSE '{partial_care,mobility_impaired,disabled}' END
	            ELSE (ARRAY['{self_care_difficulty}', '{unstable_chronic,lives_alone}', '{mobility_impaired}'])[1 + floor(random() * 3)::int]::text[]
	       END,
	       start - interval '120 days',
	       30.55 + random() * 0.2, 103.95 + random() * 0.2
	  FROM (SELECT i, floor(random() * n_micro)::int AS k
	          FROM generate_series(1, n_red + n_yellow + n_blue) i) g(i, k)
	  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM area WHERE kind = 'micro_grid') m
	    ON m.k = g.k;

	-- five-for-one: the micro grid's leader and volunteer, the general
	-- grid's cadre, a service professional of the village, department staff of the town
	INSERT INTO carer (resident_id, worker_id)
	SELECT r.id, w.id FROM resident r JOIN worker w ON w.area_id = r.area_id AND w.role IN ('micro_grid_leader', 'member');
	INSERT INTO carer (resident_id, worker_id)
	SELECT r.id, (SELECT w.id FROM worker w JOIN area g ON g.id = w.area_id
	               WHERE g.path = subpath(m.path, 0, 5) AND w.role = 'member' LIMIT 1)
	  FROM resident r JOIN area m ON m.id = r.area_id;
	INSERT INTO carer (resident_id, worker_id)
	SELECT r.id, (SELECT w.id FROM worker w JOIN area v ON v.id = w.area_id
	               WHERE v.path = subpath(m.path, 0, 3) AND w.force = 'service_professional'
	               ORDER BY w.id OFFSET r.id % 3 LIMIT 1)
	  FROM resident r JOIN area m ON m.id = r.area_id;
	INSERT INTO carer (resident_id, worker_id)
	SELECT r.id, (SELECT w.id FROM worker w JOIN area t ON t.id = w.area_id
	               WHERE t.path = subpath(m.path, 0, 2) AND w.force = 'department_staff' AND w.role = 'member'
	               ORDER BY w.id OFFSET r.id % greatest(1, round(14 * gs)::int) LIMIT 1)
	  FROM resident r JOIN area m ON m.id = r.area_id;

	-- in good standing at the start: a last visit somewhere in the cadence before it
	UPDATE resident r SET last_visit_at = start - (CASE r.tier WHEN 'red' THEN interval '40 hours'
	                                                          WHEN 'yellow' THEN interval '6 days'
	                                                          ELSE interval '25 days' END) * random();

	RETURN QUERY SELECT 'areas'::text, count(*) FROM area
	  UNION ALL SELECT 'micro grids', count(*) FROM area WHERE kind = 'micro_grid'
	  UNION ALL SELECT 'general grids', count(*) FROM area WHERE kind = 'general_grid'
	  UNION ALL SELECT 'workers', count(*) FROM worker
	  UNION ALL SELECT 'residents', count(*) FROM resident
	  UNION ALL SELECT 'red', count(*) FROM resident WHERE tier = 'red'
	  UNION ALL SELECT 'yellow', count(*) FROM resident WHERE tier = 'yellow'
	  UNION ALL SELECT 'blue', count(*) FROM resident WHERE tier = 'blue'
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

-- Replay: check-ins through sanse.check_in in time order, a sweep every
-- simulated hour, a progress line every simulated day.
CREATE OR REPLACE PROCEDURE sanse_demo.replay(start timestamptz, days int)
LANGUAGE plpgsql AS $$
DECLARE
	h timestamptz;
	stop timestamptz := start + days * interval '1 day';
	v record;
	n_visits bigint := 0;
	n_day bigint := 0;
BEGIN
	-- the replay checks in visits dated up to `days` back (superuser-only setting)
	PERFORM set_config('sanse.max_backdate', '100 years', false);
	CREATE TEMP TABLE IF NOT EXISTS plan (resident_id bigint PRIMARY KEY, at timestamptz NOT NULL);
	TRUNCATE plan;
	CREATE INDEX IF NOT EXISTS plan_at ON plan (at);
	INSERT INTO plan SELECT r.id, sanse_demo.plan_visit(r.next_visit, start) FROM sanse.resident r WHERE r.active;
	ANALYZE plan;
	h := start;
	WHILE h < stop LOOP
		FOR v IN SELECT p.resident_id, p.at,
		                (SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = p.resident_id
		                  ORDER BY random() LIMIT 1) AS worker_id
		           FROM plan p WHERE p.at < h + interval '1 hour' ORDER BY p.at
		LOOP
			PERFORM sanse.check_in(sanse.door_token(v.resident_id), v.worker_id, v.at,
			                       (SELECT array_agg(i) FROM unnest(sanse.checklist_items()) i WHERE random() < 0.93));
			UPDATE plan SET at = sanse_demo.plan_visit(r.next_visit, v.at + interval '1 hour')
			  FROM sanse.resident r WHERE r.id = v.resident_id AND plan.resident_id = r.id;
			n_visits := n_visits + 1;
			n_day := n_day + 1;
		END LOOP;
		h := h + interval '1 hour';
		PERFORM sanse.sweep(h);
		IF extract(epoch FROM h - start)::bigint % 86400 = 0 THEN
			RAISE NOTICE 'replay day %/%: % check-ins today, % in all, % overdue events open',
				(extract(epoch FROM h - start) / 86400)::int, days, n_day, n_visits,
				(SELECT count(*) FROM sanse.event WHERE status <> 'closed');
			n_day := 0;
			COMMIT;
		END IF;
	END LOOP;
END
$$;
