/* sanse 1.1 -> 1.2: closing the holes of issue 9. */
\echo Use "ALTER EXTENSION sanse UPDATE TO '1.2'" to load this file. \quit

-- A check-in's first statement locks door_token, then resident; it then
-- writes visit, worker_month_pending and event.  This update takes the same
-- tables in the same order before it touches any, so it waits for check-ins
-- in flight instead of deadlocking with them, and check-ins that arrive
-- meanwhile wait for it.
LOCK TABLE door_token, resident, visit, worker_month_pending, event, event_step, worker_month
	IN ACCESS EXCLUSIVE MODE;

-----------------------------------------------------------------------------
-- Trigger functions: nobody but the owner may attach them to a table (a
-- SECURITY DEFINER one fired on a table of an attacker's would run the
-- attacker's casts as the owner), and each refuses to run on any table but
-- its own (39P01).  Triggers fire without EXECUTE privilege.
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION tier_policy_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.tier_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function tier_policy_upsert() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.tier_policy.';
	END IF;
	UPDATE sanse.tier_policy
	   SET cadence = NEW.cadence, escalate_after = NEW.escalate_after
	 WHERE tier = NEW.tier;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION tier_policy_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.tier_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function tier_policy_keep() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.tier_policy.';
	END IF;
	IF TG_OP = 'TRUNCATE' OR TG_OP = 'DELETE' OR OLD.tier <> NEW.tier THEN
		RAISE EXCEPTION 'every risk tier must keep its policy'
			USING ERRCODE = '23001',
				  DETAIL = CASE WHEN TG_OP = 'TRUNCATE' THEN 'The policies cannot be truncated; update their cadences instead.'
				                ELSE format('The policy of tier %s cannot be removed; update its cadence instead.', OLD.tier) END;
	END IF;
	RETURN NEW;
END
$$;

-- As the owner: its checks for child areas, residents and workers must see
-- every row, not what the caller's row-level security shows.
CREATE OR REPLACE FUNCTION area_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	parent sanse.area;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.area'::regclass THEN
		RAISE EXCEPTION 'trigger function area_check() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.area.';
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') AND (TG_OP = 'DELETE' OR OLD.path <> NEW.path) THEN
		IF EXISTS (SELECT 1 FROM sanse.area a WHERE a.path <@ OLD.path AND a.id <> OLD.id) THEN
			RAISE EXCEPTION 'area % still has child areas', OLD.path
				USING ERRCODE = '2BP01', HINT = 'Move or delete the child areas first.';
		END IF;
		IF EXISTS (SELECT 1 FROM sanse.resident r WHERE r.area_id = OLD.id) THEN
			RAISE EXCEPTION 'area % still has residents', OLD.path
				USING ERRCODE = '2BP01', HINT = 'Move the residents to another micro grid first.';
		END IF;
		IF EXISTS (SELECT 1 FROM sanse.worker w WHERE w.area_id = OLD.id) THEN
			RAISE EXCEPTION 'area % still has workers', OLD.path
				USING ERRCODE = '2BP01', HINT = 'Move the workers to another area first.';
		END IF;
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;

	IF nlevel(NEW.path) = 1 THEN
		IF NEW.kind <> 'district' THEN
			RAISE EXCEPTION 'a top-level area must be a district, not a %', NEW.kind
				USING ERRCODE = '23514';
		END IF;
		RETURN NEW;
	END IF;
	SELECT * INTO parent FROM sanse.area a WHERE a.path = subpath(NEW.path, 0, -1) FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'parent area % does not exist', subpath(NEW.path, 0, -1)
			USING ERRCODE = '23503';
	END IF;
	IF sanse.area_kind_level(NEW.kind) <> sanse.area_kind_level(parent.kind) + 1 THEN
		RAISE EXCEPTION 'a % cannot be a child of a %', NEW.kind, parent.kind
			USING ERRCODE = '23514',
				  HINT = 'The levels are district, town, village, total_grid, general_grid, micro_grid; a child is one level below its parent.';
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION classification_rule_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.classification_rule'::regclass THEN
		RAISE EXCEPTION 'trigger function classification_rule_guard() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.classification_rule.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		IF NEW.builtin THEN
			UPDATE sanse.classification_rule r SET enabled = NEW.enabled, note = NEW.note
			 WHERE r.builtin AND r.tier = NEW.tier
			   AND r.all_of @> NEW.all_of AND r.all_of <@ NEW.all_of;
			IF NOT FOUND THEN
				RAISE EXCEPTION 'only the extension creates built-in rules'
					USING ERRCODE = '42501', HINT = 'Insert the rule with builtin = false.';
			END IF;
			RETURN NULL;
		END IF;
		RETURN NEW;
	END IF;
	IF OLD.builtin THEN
		IF TG_OP = 'DELETE' THEN
			RAISE EXCEPTION 'built-in rule % cannot be deleted', OLD.id
				USING ERRCODE = '23001', HINT = 'Set enabled = false to switch it off.';
		END IF;
		IF NEW.tier <> OLD.tier OR NOT (NEW.all_of @> OLD.all_of AND NEW.all_of <@ OLD.all_of)
		   OR NOT NEW.builtin THEN
			RAISE EXCEPTION 'built-in rule % cannot be edited', OLD.id
				USING ERRCODE = '23001', HINT = 'Switch it off (enabled = false) and add a rule of your own.';
		END IF;
	ELSIF TG_OP = 'UPDATE' AND NEW.builtin THEN
		RAISE EXCEPTION 'a rule cannot become built-in' USING ERRCODE = '42501';
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION installation_secret_replace() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.installation_secret'::regclass THEN
		RAISE EXCEPTION 'trigger function installation_secret_replace() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.installation_secret.';
	END IF;
	UPDATE sanse.installation_secret SET secret = NEW.secret WHERE id = NEW.id;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION resident_hash_id_number() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_hash_id_number() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF NEW.id_number IS NOT NULL THEN
		IF btrim(NEW.id_number) = '' THEN
			NEW.id_number_hash := NULL;
		ELSE
			NEW.id_number_hash := sanse.id_number_hash(NEW.id_number);
		END IF;
		NEW.id_number := NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION resident_history_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_history_insert() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	INSERT INTO sanse.tier_history (resident_id, changed_by, new_computed_tier, new_override, new_tier, override_reason)
	SELECT n.id, n.written_by, n.computed_tier, n.tier_override, n.tier, n.override_reason
	  FROM new_rows n
	 WHERE n.computed_tier IS NOT NULL OR n.tier_override IS NOT NULL;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION resident_history_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_history_update() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	INSERT INTO sanse.tier_history (resident_id, changed_by, old_computed_tier, new_computed_tier,
	                                old_override, new_override, old_tier, new_tier, override_reason)
	VALUES (NEW.id, NEW.written_by, OLD.computed_tier, NEW.computed_tier, OLD.tier_override, NEW.tier_override,
	        OLD.tier, NEW.tier, NEW.override_reason);
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION classification_rule_reclassify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.classification_rule'::regclass THEN
		RAISE EXCEPTION 'trigger function classification_rule_reclassify() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.classification_rule.';
	END IF;
	LOCK TABLE sanse.resident IN SHARE ROW EXCLUSIVE MODE;
	-- each branch names only the transition tables its event has
	IF TG_OP = 'INSERT' THEN
		PERFORM sanse.reclassify_residents_having(f) FROM (SELECT DISTINCT n.all_of FROM new_rows n) s(f);
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM sanse.reclassify_residents_having(f) FROM (SELECT DISTINCT o.all_of FROM old_rows o) s(f);
	ELSE
		PERFORM sanse.reclassify_residents_having(f)
		   FROM (SELECT n.all_of FROM new_rows n UNION SELECT o.all_of FROM old_rows o) s(f);
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tier_policy_rederive() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.tier_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function tier_policy_rederive() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.tier_policy.';
	END IF;
	LOCK TABLE sanse.resident IN SHARE ROW EXCLUSIVE MODE;
	UPDATE sanse.resident r SET active = r.active	-- any update re-derives next_visit
	  FROM new_rows n JOIN old_rows o USING (tier)
	 WHERE r.tier = n.tier AND r.active AND n.cadence IS DISTINCT FROM o.cadence;
	RETURN NULL;
END
$$;

-- (runs as the owner: it locks the worker row, which a care role may read but not update)
CREATE OR REPLACE FUNCTION carer_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	w sanse.worker;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.carer'::regclass THEN
		RAISE EXCEPTION 'trigger function carer_check() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.carer.';
	END IF;
	SELECT * INTO w FROM sanse.worker WHERE id = NEW.worker_id FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'worker % does not exist', NEW.worker_id USING ERRCODE = '23503';
	END IF;
	IF NOT w.active THEN
		RAISE EXCEPTION 'worker % is not active', NEW.worker_id
			USING ERRCODE = '55000', HINT = 'Only active workers can be carers.';
	END IF;
	NEW.force := w.force;
	RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION resident_keep_missed_window() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_keep_missed_window() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF sanse.due_at(OLD.next_visit) <= now() THEN
		PERFORM sanse.open_overdue_event(OLD.id, sanse.due_at(OLD.next_visit), OLD.tier);
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION event_tally() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.event'::regclass THEN
		RAISE EXCEPTION 'trigger function event_tally() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.event.';
	END IF;
	-- only missed windows count (the closed loop's events are not tallied)
	IF TG_OP = 'INSERT' THEN
		IF EXISTS (SELECT 1 FROM new_events n WHERE n.kind = 'overdue') THEN
			PERFORM sanse.tally_missed(ARRAY(SELECT ROW(n.*)::sanse.event FROM new_events n WHERE n.kind = 'overdue'), 1);
		END IF;
	ELSIF EXISTS (SELECT 1 FROM old_events o WHERE o.kind = 'overdue') THEN
		PERFORM sanse.tally_missed(ARRAY(SELECT ROW(o.*)::sanse.event FROM old_events o WHERE o.kind = 'overdue'), -1);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER tier_policy_keep_truncate BEFORE TRUNCATE ON tier_policy
	FOR EACH STATEMENT EXECUTE FUNCTION tier_policy_keep();

-- area_check finds ltree's functions through its search_path (see 1.0)
DO $$
BEGIN
	EXECUTE format('ALTER FUNCTION sanse.area_check() SET search_path = pg_catalog, %I, sanse',
	               (SELECT n.nspname FROM pg_catalog.pg_extension e
	                  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
	                 WHERE e.extname = 'ltree'));
END
$$;

-- Columns only sanse writes (last_visit_at, id_number_hash and everything the
-- resident trigger derives): a client that is not a superuser gets 42501.
-- Fired first (triggers fire in name order), on what the client wrote.
CREATE FUNCTION resident_guard() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE TRIGGER resident_05_guard BEFORE INSERT OR UPDATE ON resident
	FOR EACH ROW EXECUTE FUNCTION resident_guard();

REVOKE ALL ON FUNCTION tier_policy_upsert(), tier_policy_keep(), cache_invalidate(), area_check(),
	classification_rule_guard(), installation_secret_replace(), resident_hash_id_number(),
	resident_maintain(), resident_guard(), resident_history_insert(), resident_history_update(),
	classification_rule_reclassify(), tier_policy_rederive(), carer_check(),
	resident_keep_missed_window(), event_tally() FROM PUBLIC;


-----------------------------------------------------------------------------
-- One source per vocabulary (forces, roles, checklist items) and one writer
-- per piece of SQL: events are opened by open_overdue_events only, a
-- resident's carers come from carers_of only, escalation is one statement.
-----------------------------------------------------------------------------
-----------------------------------------------------------------------------
-- Workers of the five forces (五类力量) and leaders
-----------------------------------------------------------------------------

-- The five forces (五类力量), and the worker roles: member, then the leader
-- of escalation level 1 to 4 (worker_roles()[level + 1]).
CREATE OR REPLACE FUNCTION forces() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['department_staff', 'community_cadre', 'grid_officer', 'service_professional', 'volunteer'];
COMMENT ON FUNCTION forces() IS 'the five forces of the five-for-one, in order';
CREATE OR REPLACE FUNCTION worker_roles() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['member', 'micro_grid_leader', 'general_grid_leader', 'total_grid_leader', 'task_force'];
COMMENT ON FUNCTION worker_roles() IS 'member, then the leader of escalation level 1 to 4';
ALTER TABLE worker
	DROP CONSTRAINT worker_force_check,
	DROP CONSTRAINT worker_role_check,
	ADD CONSTRAINT worker_force_check CHECK (force = ANY (forces())),
	ADD CONSTRAINT worker_role_check CHECK (role = ANY (worker_roles()));
-- The resident's carers, in worker order: whom a missed window is charged to
-- and a met one credited to.
CREATE OR REPLACE FUNCTION carers_of(resident_id bigint) RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
	SELECT ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = carers_of.resident_id ORDER BY c.worker_id);
END;
COMMENT ON FUNCTION carers_of(bigint) IS 'the resident''s carers (five-for-one), in worker id order';
-- The leader responsible at an escalation level for a resident in micro grid area_id.
CREATE OR REPLACE FUNCTION leader_for(area_id bigint, level int) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT w.id
	  FROM sanse.area m, sanse.area a, sanse.worker w
	 WHERE m.id = leader_for.area_id
	   AND a.path = CASE leader_for.level WHEN 4 THEN subpath(m.path, 0, 1)
	                ELSE subpath(m.path, 0, nlevel(m.path) - leader_for.level + 1) END
	   AND w.area_id = a.id AND w.active
	   AND w.role = (sanse.worker_roles())[leader_for.level + 1]
	 ORDER BY w.id
	 LIMIT 1;
END;
-- Open the overdue event of each (resident, due, tier whose window was
-- missed) at level 1 unless it exists; the one place events are created.
-- Events are charged to the carers of the moment they are opened.
CREATE OR REPLACE FUNCTION open_overdue_events(p_residents bigint[], p_dues timestamptz[], p_tiers risk_tier[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	WITH created AS (
		INSERT INTO sanse.event (resident_id, area_id, tier, level, assignee_id, due_at, level_since, next_step_at, charged_to)
		SELECT r.id, r.area_id, m.tier, 1, sanse.leader_for(r.area_id, 1), m.due, m.due,
		       sanse.zone_add(m.due, p.escalate_after), sanse.carers_of(r.id)
		  FROM unnest(p_residents, p_dues, p_tiers) m(resident_id, due, tier)
		  JOIN sanse.resident r ON r.id = m.resident_id
		  JOIN sanse.tier_policy p ON p.tier = m.tier
		ON CONFLICT (resident_id, due_at) WHERE kind = 'overdue' DO NOTHING
		RETURNING id, assignee_id, level_since)
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT id, 1, assignee_id, level_since FROM created;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
CREATE OR REPLACE FUNCTION open_overdue_event(p_resident bigint, p_due timestamptz, p_tier risk_tier) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, sanse
RETURN sanse.open_overdue_events(ARRAY[p_resident], ARRAY[p_due], ARRAY[p_tier]);
-----------------------------------------------------------------------------
-- Visits (入户走访) and check-in
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION checklist_items() RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
-- Recompute the whole tally from visits and events, e.g. after rows were
-- loaded with triggers off or sanse.timezone changed.  Met windows are
-- credited to the current carers (history of carers is not kept).
CREATE OR REPLACE FUNCTION rebuild_worker_month() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n bigint;
BEGIN
	-- no check-in, event or fold while we count
	LOCK TABLE sanse.visit, sanse.event IN SHARE MODE;
	LOCK TABLE sanse.worker_month, sanse.worker_month_pending IN EXCLUSIVE MODE;
	DELETE FROM sanse.worker_month_pending;
	DELETE FROM sanse.worker_month;
	INSERT INTO sanse.worker_month (worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items)
	SELECT x.worker_id, x.month, sum(x.met), sum(x.missed), sum(x.visits), sum(x.flagged), sum(x.items)
	  FROM (SELECT v.worker_id, sanse.month_of(v.at) AS month, 0 AS met, 0 AS missed, 1 AS visits,
	               (v.flags <> '{}')::int AS flagged, cardinality(v.checklist) AS items
	          FROM sanse.visit v
	        UNION ALL
	        SELECT c.worker_id, sanse.month_of(v.window_due), 1, 0, 0, 0, 0
	          FROM sanse.visit v CROSS JOIN LATERAL unnest(sanse.carers_of(v.resident_id)) c(worker_id)
	         WHERE v.window_due IS NOT NULL
	        UNION ALL
	        SELECT w.worker_id, sanse.month_of(e.due_at), 0, 1, 0, 0, 0
	          FROM sanse.event e
	         CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) AS w(worker_id)
	         WHERE e.kind = 'overdue') x
	 GROUP BY x.worker_id, x.month;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-----------------------------------------------------------------------------
-- Bounded texts: a note or a reason is for people to read (22001 beyond).
-----------------------------------------------------------------------------
UPDATE resident SET override_reason = left(override_reason, 2000) WHERE length(override_reason) > 2000;
ALTER TABLE classification_rule ADD CONSTRAINT classification_rule_note_length CHECK (length(note) <= 2000);

-----------------------------------------------------------------------------
-- Sweeps: a lock only sanse can take, visible skips, no future times
-----------------------------------------------------------------------------

-- Nobody holds a privilege on this table, so only the owner (sweep runs as
-- the owner) can lock it: an advisory lock could be taken by any login and
-- would switch every sweep off.
CREATE TABLE sweep_lock ();
REVOKE ALL ON sweep_lock FROM PUBLIC;
COMMENT ON TABLE sweep_lock IS 'locked by sanse.sweep for its run; no rows, no grants';

-- Skipped sweeps, counted even when the skipping transaction rolls back.
CREATE SEQUENCE sweep_skipped;
REVOKE ALL ON sweep_skipped FROM PUBLIC;

CREATE VIEW sweep_status AS
SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END AS sweeps_skipped,
       (SELECT l.pid FROM pg_catalog.pg_locks l
         WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass
           AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
           AND l.granted
         LIMIT 1) AS running_pid
  FROM sanse.sweep_skipped s;
COMMENT ON VIEW sweep_status IS 'sweeps skipped since install because another was running, and the pid of the sweep running now';

-- Sweep times: at most 5 minutes ahead, as check_in (a sweep dated ahead
-- would open events for windows still open and charge their carers).
CREATE FUNCTION check_sweep_time(at timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF at IS NULL OR at > pg_catalog.clock_timestamp() + interval '5 minutes' OR at = '-infinity' THEN
		RAISE EXCEPTION 'a sweep cannot be dated %', CASE WHEN at IS NULL THEN 'NULL' WHEN at = '-infinity' THEN '-infinity' ELSE 'ahead of the server clock' END
			USING ERRCODE = '22008', DETAIL = 'A sweep may be dated at most 5 minutes ahead of the server clock.';
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION sweep_overdue(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	ids bigint[];
	dues timestamptz[];
	tiers sanse.risk_tier[];
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- Lock the due residents (a check-in holding one makes us wait and
	-- re-check its new window) and open the event of each missed window once.
	SELECT array_agg(d.id), array_agg(d.due), array_agg(d.tier) INTO ids, dues, tiers
	  FROM (SELECT r.id, r.tier, sanse.due_at(r.next_visit) AS due
	          FROM sanse.resident r
	         WHERE r.active AND r.next_visit IS NOT NULL
	           AND sanse.due_at(r.next_visit) <= sweep_overdue.at
	           FOR NO KEY UPDATE OF r) d
	 WHERE NOT EXISTS (SELECT 1 FROM sanse.event e
	                    WHERE e.resident_id = d.id AND e.due_at = d.due AND e.kind = 'overdue');
	IF ids IS NULL THEN
		RETURN 0;
	END IF;
	RETURN sanse.open_overdue_events(ids, dues, tiers);
END
$$;

CREATE OR REPLACE FUNCTION sweep_escalations(at timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.check_sweep_time(at);
	RETURN sanse.escalate_events(at);
END
$$;
-- escalate_events gains an argument (one event); 1.1's form goes once
-- sweep_escalations (above) no longer depends on it.
DROP FUNCTION escalate_events(timestamptz, bigint);
-- Apply every escalation step due by p_at (optionally for one resident, or
-- one event), each at its logical time; returns the number of steps.  Planned for each
-- call's values (force_custom_plan), so the one statement serves the sweep
-- (every open event) and a check-in (one resident's) alike: a generic plan
-- cannot drop the "p_resident IS NULL OR" branch.
CREATE FUNCTION escalate_events(p_at timestamptz, p_resident bigint DEFAULT NULL, p_event bigint DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	n int;
	total int := 0;
BEGIN
	LOOP
		WITH stepped AS (
			UPDATE sanse.event e
			   SET level = e.level + 1,
			       level_since = e.next_step_at,
			       assignee_id = sanse.leader_for(e.area_id, e.level + 1),
			       next_step_at = CASE WHEN e.level + 1 < 4
			                           THEN sanse.zone_add(e.next_step_at, sanse.step_interval(e.kind, e.tier, e.status)) END
			 WHERE e.status <> 'closed' AND e.next_step_at <= p_at	-- handled events have no clock
			   AND (p_resident IS NULL OR e.resident_id = p_resident)
			   AND (p_event IS NULL OR e.id = p_event)
			RETURNING e.id, e.level, e.assignee_id, e.level_since)
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		SELECT id, level, assignee_id, level_since FROM stepped;
		GET DIAGNOSTICS n = ROW_COUNT;
		EXIT WHEN n = 0;
		total := total + n;
	END LOOP;
	RETURN total;
END
$$;

-- Runs as the owner (only the owner can lock sweep_lock); revoked from
-- PUBLIC: grant EXECUTE to the role that schedules sweeps.
-- Under REPEATABLE READ or SERIALIZABLE (a DBA's session default) a phase
-- whose rows changed after the transaction's snapshot fails with 40001; it
-- is rolled back alone and left to the next sweep, which reaches the same
-- state because every step time is derived from the data.
CREATE OR REPLACE FUNCTION sweep(at timestamptz DEFAULT now(),
                                 OUT overdue_opened integer, OUT escalations integer, OUT skipped boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	holder int;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	overdue_opened := 0;
	escalations := 0;
	BEGIN
		LOCK TABLE sanse.sweep_lock IN EXCLUSIVE MODE NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		SELECT l.pid INTO holder FROM pg_catalog.pg_locks l
		 WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass AND l.granted
		   AND l.pid <> pg_catalog.pg_backend_pid()
		 LIMIT 1;
		PERFORM pg_catalog.nextval('sanse.sweep_skipped');
		RAISE WARNING 'sanse.sweep skipped: another sweep is running (pid %)', coalesce(holder::text, 'unknown')
			USING HINT = 'Skips are counted in sanse.sweep_status.';
		skipped := true;
		RETURN;
	END;
	BEGIN
		overdue_opened := sanse.sweep_overdue(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: overdue residents changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	END;
	BEGIN
		escalations := sanse.sweep_escalations(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: open events changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	END;
	BEGIN
		PERFORM sanse.forget_expired(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: residents to forget changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	END;
	BEGIN
		PERFORM sanse.fold_worker_month();
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the check-in tally changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	END;
	BEGIN
		PERFORM sanse.record_history(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the daily history changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	END;
	skipped := false;
END
$$;
REVOKE ALL ON FUNCTION sweep(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION sweep(timestamptz) IS 'sweep_overdue, sweep_escalations (overdue events and the loop''s clocks), forget_expired, fold_worker_month, then record_history (the daily history), one sweep at a time (an overlapping one skips, with a WARNING, and is counted in sweep_status)';

-----------------------------------------------------------------------------
-- The tally's pending rows, one per worker (1.1 kept one per statement with
-- an array of workers, which no index could serve: reading one worker's tally
-- grew with every pending row, 50 ms at 122,000).  Folded first, so the
-- reshaped table starts empty.
-----------------------------------------------------------------------------
SELECT fold_worker_month();
ALTER TABLE worker_month_pending ADD COLUMN worker_id bigint;

CREATE OR REPLACE VIEW worker_tally AS
SELECT t.worker_id, t.month,
       sum(t.windows_met)::bigint AS windows_met, sum(t.windows_missed)::bigint AS windows_missed,
       sum(t.visits)::bigint AS visits, sum(t.flagged_visits)::bigint AS flagged_visits,
       sum(t.checklist_items)::bigint AS checklist_items
  FROM (SELECT m.worker_id, m.month, m.windows_met, m.windows_missed, m.visits, m.flagged_visits, m.checklist_items
          FROM sanse.worker_month m
        UNION ALL
        SELECT p.worker_id, p.month, p.windows_met, p.windows_missed, p.visits, p.flagged_visits, p.checklist_items
          FROM sanse.worker_month_pending p) t
 GROUP BY t.worker_id, t.month;

-- tally_missed takes event rows and writes pending rows: it goes while
-- worker_month_pending and the event row type change (created again below)
DROP FUNCTION tally_missed(event[], int);

CREATE OR REPLACE FUNCTION fold_worker_month() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n bigint;
BEGIN
	WITH moved AS (
		DELETE FROM sanse.worker_month_pending RETURNING *)
	INSERT INTO sanse.worker_month AS m (worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items)
	SELECT p.worker_id, p.month, sum(p.windows_met), sum(p.windows_missed), sum(p.visits),
	       sum(p.flagged_visits), sum(p.checklist_items)
	  FROM moved p
	 GROUP BY 1, 2
	 ORDER BY 1, 2
	ON CONFLICT (worker_id, month) DO UPDATE
	   SET windows_met = m.windows_met + excluded.windows_met,
	       windows_missed = m.windows_missed + excluded.windows_missed,
	       visits = m.visits + excluded.visits,
	       flagged_visits = m.flagged_visits + excluded.flagged_visits,
	       checklist_items = m.checklist_items + excluded.checklist_items;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

ALTER TABLE worker_month_pending DROP COLUMN workers, ALTER COLUMN worker_id SET NOT NULL;
CREATE INDEX worker_month_pending_worker ON worker_month_pending (worker_id, month);
COMMENT ON TABLE worker_month_pending IS 'tally rows appended by check_in and the event triggers since the last sweep, one per worker; each sweep folds them into worker_month';

-----------------------------------------------------------------------------
-- Sync order (spec 5): the record follows the visits' own times.
--
-- The window in force at any time is window_after(tier, anchor), the anchor
-- being the latest visit (or registered_at) and the tier the one the history
-- gives.  So the visits of a resident cut its timeline into spans between
-- consecutive visit times, and what happens in a span — which windows were
-- missed (events), when each missed window's event closed and at which level,
-- which visit met which window — depends only on the span's two ends and the
-- tier changes inside it.  A visit that arrives older than the latest one
-- splits a span in two; a withdrawn visit joins two; either way only that
-- span is re-derived, as if the visits had arrived in time order.
-----------------------------------------------------------------------------

-- The tier a resident had at a time, from its history (the registration
-- tier before the first change, the current tier without history).
CREATE FUNCTION tier_at(p_resident bigint, p_at timestamptz) RETURNS risk_tier
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT coalesce(
	         (SELECT h.new_tier FROM sanse.tier_history h
	           WHERE h.resident_id = tier_at.p_resident AND h.changed_at <= tier_at.p_at
	           ORDER BY h.changed_at DESC, h.id DESC LIMIT 1),
	         (SELECT h.new_tier FROM sanse.tier_history h
	           WHERE h.resident_id = tier_at.p_resident
	           ORDER BY h.changed_at, h.id LIMIT 1),
	         (SELECT r.tier FROM sanse.resident r WHERE r.id = tier_at.p_resident));
END;

-- Replay one overdue event's escalation from its due time up to p_until and,
-- with a visit, close it there (the level its schedule had reached then).
CREATE FUNCTION replay_event(p_event bigint, p_until timestamptz, p_visit bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	e sanse.event;
	esc interval;
	visitor bigint;
BEGIN
	SELECT * INTO e FROM sanse.event WHERE id = p_event FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', p_event USING ERRCODE = '22023';
	END IF;
	SELECT p.escalate_after INTO esc FROM sanse.tier_policy p WHERE p.tier = e.tier;
	DELETE FROM sanse.event_step s WHERE s.event_id = p_event AND s.level > 1;
	e.level := 1;
	e.level_since := e.due_at;
	e.assignee_id := (SELECT s.assignee_id FROM sanse.event_step s WHERE s.event_id = p_event AND s.level = 1);
	e.next_step_at := sanse.zone_add(e.due_at, esc);
	WHILE e.level < 4 AND e.next_step_at <= p_until LOOP
		e.level := e.level + 1;
		e.level_since := e.next_step_at;
		e.assignee_id := sanse.leader_for(e.area_id, e.level);
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		VALUES (p_event, e.level, e.assignee_id, e.level_since);
		e.next_step_at := CASE WHEN e.level < 4 THEN sanse.zone_add(e.level_since, esc) END;
	END LOOP;
	IF p_visit IS NULL THEN
		UPDATE sanse.event
		   SET level = e.level, level_since = e.level_since, assignee_id = e.assignee_id,
		       next_step_at = CASE WHEN e.level < 4 THEN e.next_step_at END,
		       status = 'open', resolved_at = NULL, visit_id = NULL, closed_by = NULL
		 WHERE id = p_event;
	ELSE
		SELECT v.worker_id INTO visitor FROM sanse.visit v WHERE v.id = p_visit;
		UPDATE sanse.event
		   SET level = e.level, level_since = e.level_since, assignee_id = e.assignee_id,
		       next_step_at = NULL, status = 'closed', resolved_at = p_until, visit_id = p_visit,
		       closed_by = visitor
		 WHERE id = p_event;
	END IF;
END
$$;

-- Re-derive the span of a resident's timeline that starts at anchor p_from
-- (a visit time, or registered_at) and ends at the visit time p_to (NULL:
-- the span is still open, up to now): the visits strictly inside are its
-- anchors.  Events due inside the span are made to be exactly the windows
-- missed in it, each closed by the first visit at or after its due time; the
-- visits' window_due and late flag follow; the tally takes the differences.
CREATE OR REPLACE FUNCTION rederive_span(p_resident bigint, p_from timestamptz, p_to timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	until timestamptz := coalesce(p_to, now());
	anchor timestamptz := p_from;
	cur_tier sanse.risk_tier := sanse.tier_at(p_resident, p_from);
	w sanse.visit_window;
	m record;
	ev record;
	closer record;
	carers bigint[] := sanse.carers_of(p_resident);
BEGIN
	IF pg_catalog.to_regclass('pg_temp.sanse_span_missed') IS NULL THEN
		CREATE TEMP TABLE sanse_span_missed (due timestamptz PRIMARY KEY, tier sanse.risk_tier) ON COMMIT DROP;
		CREATE TEMP TABLE sanse_span_visit (id bigint PRIMARY KEY, window_due timestamptz, late boolean) ON COMMIT DROP;
	END IF;
	TRUNCATE sanse_span_missed, sanse_span_visit;

	-- walk the moments of the span: its visits (the first of each instant
	-- is the anchor), its tier changes, and its end
	FOR m IN
		SELECT x.at, x.visit_id, x.new_tier, x.is_visit
		  FROM (SELECT DISTINCT ON (v.at) v.at, v.id AS visit_id, NULL::sanse.risk_tier AS new_tier, true AS is_visit
		          FROM sanse.visit v
		         WHERE v.resident_id = p_resident AND v.at > p_from AND (p_to IS NULL OR v.at <= p_to)
		         ORDER BY v.at, v.id) x
		UNION ALL
		SELECT h.changed_at, NULL, h.new_tier, false
		  FROM sanse.tier_history h
		 WHERE h.resident_id = p_resident AND h.changed_at > p_from AND h.changed_at < until
		UNION ALL
		SELECT until, NULL, NULL, false WHERE p_to IS NULL
		ORDER BY 1, 4
	LOOP
		IF cur_tier IS NOT NULL THEN
			w := sanse.window_after(cur_tier, anchor);
			IF sanse.due_at(w) <= m.at THEN
				INSERT INTO sanse_span_missed VALUES (sanse.due_at(w), cur_tier) ON CONFLICT DO NOTHING;
			END IF;
		END IF;
		IF m.is_visit THEN
			INSERT INTO sanse_span_visit VALUES (m.visit_id,
				CASE WHEN cur_tier IS NOT NULL AND w @> m.at THEN sanse.due_at(w) END,
				cur_tier IS NOT NULL AND m.at >= sanse.due_at(w));
			anchor := m.at;
		ELSIF m.new_tier IS NOT NULL OR m.at < until THEN
			cur_tier := m.new_tier;
		END IF;
	END LOOP;

	-- events of the span that should not exist (a window met after all)
	DELETE FROM sanse.event e
	 WHERE e.resident_id = p_resident AND e.kind = 'overdue'
	   AND e.due_at > p_from AND (p_to IS NULL OR e.due_at <= p_to)
	   AND NOT EXISTS (SELECT 1 FROM sanse_span_missed s WHERE s.due = e.due_at);
	-- and those that should
	FOR ev IN SELECT s.due, s.tier FROM sanse_span_missed s ORDER BY s.due LOOP
		PERFORM sanse.open_overdue_event(p_resident, ev.due, ev.tier);
		SELECT v.id, v.at INTO closer FROM sanse.visit v
		 WHERE v.resident_id = p_resident AND v.at >= ev.due AND (p_to IS NULL OR v.at <= p_to)
		 ORDER BY v.at, v.id LIMIT 1;
		IF closer.id IS NOT NULL THEN
			IF NOT EXISTS (SELECT 1 FROM sanse.event e
			                WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due
			                  AND e.status = 'closed' AND e.visit_id = closer.id AND e.resolved_at = closer.at) THEN
				PERFORM sanse.replay_event(e.id, closer.at, closer.id)
				   FROM sanse.event e WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due;
			END IF;
		ELSE
			-- still open: reopened ones climb again up to now; the sweep goes on
			PERFORM sanse.replay_event(e.id, until, NULL)
			   FROM sanse.event e
			  WHERE e.resident_id = p_resident AND e.kind = 'overdue' AND e.due_at = ev.due AND e.status = 'closed';
		END IF;
	END LOOP;

	-- visits: which window each met, which came late; windows met are
	-- credited to (and taken back from) the current carers
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
	SELECT c.worker_id, sanse.month_of(d.due), d.sign
	  FROM unnest(carers) c(worker_id), (SELECT v.window_due AS due, -1 AS sign FROM sanse.visit v JOIN sanse_span_visit s ON s.id = v.id
	         WHERE v.window_due IS DISTINCT FROM s.window_due AND v.window_due IS NOT NULL
	        UNION ALL
	        SELECT s.window_due, 1 FROM sanse.visit v JOIN sanse_span_visit s ON s.id = v.id
	         WHERE v.window_due IS DISTINCT FROM s.window_due AND s.window_due IS NOT NULL
	        UNION ALL
	        SELECT v.window_due, -1 FROM sanse.visit v
	         WHERE v.resident_id = p_resident AND v.window_due IS NOT NULL AND v.at > p_from
	           AND (p_to IS NULL OR v.at <= p_to)
	           AND NOT EXISTS (SELECT 1 FROM sanse_span_visit s WHERE s.id = v.id)) d;
	UPDATE sanse.visit v SET window_due = NULL
	 WHERE v.resident_id = p_resident AND v.window_due IS NOT NULL AND v.at > p_from
	   AND (p_to IS NULL OR v.at <= p_to)
	   AND v.window_due IS DISTINCT FROM (SELECT s.window_due FROM sanse_span_visit s WHERE s.id = v.id);
	UPDATE sanse.visit v SET window_due = s.window_due
	  FROM sanse_span_visit s
	 WHERE s.id = v.id AND s.window_due IS NOT NULL AND v.window_due IS DISTINCT FROM s.window_due;

	-- the late flag, and the flagged count of the visitor
	WITH changed AS (
		UPDATE sanse.visit v
		   SET flags = CASE WHEN s.late THEN array_append(v.flags, 'late') ELSE array_remove(v.flags, 'late') END
		  FROM sanse_span_visit s
		 WHERE s.id = v.id AND s.late <> ('late' = ANY (v.flags))
		RETURNING v.worker_id, v.at, v.flags, s.late)
	INSERT INTO sanse.worker_month_pending (worker_id, month, flagged_visits)
	SELECT c.worker_id, sanse.month_of(c.at), CASE WHEN c.late THEN 1 ELSE -1 END
	  FROM changed c
	 WHERE cardinality(c.flags) = CASE WHEN c.late THEN 1 ELSE 0 END;
END
$$;

-- check_in, for a visit dated before the resident's latest one.
CREATE FUNCTION rederive_after_visit(p_resident bigint, p_visit bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	t timestamptz := (SELECT v.at FROM sanse.visit v WHERE v.id = p_visit);
BEGIN
	-- another visit at the same instant is the anchor already: nothing moves
	IF EXISTS (SELECT 1 FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at = t AND v.id <> p_visit) THEN
		RETURN;
	END IF;
	PERFORM sanse.rederive_span(p_resident,
		coalesce((SELECT max(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at < t),
		         (SELECT r.registered_at FROM sanse.resident r WHERE r.id = p_resident)),
		(SELECT min(v.at) FROM sanse.visit v WHERE v.resident_id = p_resident AND v.at > t));
END
$$;

-- Visits withdrawn by a supervisor: kept with who, when and why.
CREATE TABLE visit_withdrawn (
	visit_id bigint PRIMARY KEY,
	resident_id bigint NOT NULL,
	worker_id bigint NOT NULL,
	at timestamptz NOT NULL,
	checklist text[] NOT NULL,
	flags text[] NOT NULL,
	note text,
	recorded_at timestamptz NOT NULL,
	reason text NOT NULL CHECK (btrim(reason) <> '' AND length(reason) <= 2000),
	withdrawn_by name NOT NULL DEFAULT session_user,
	withdrawn_as name NOT NULL DEFAULT current_user,
	withdrawn_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON visit_withdrawn FROM PUBLIC;
COMMENT ON TABLE visit_withdrawn IS 'visits withdrawn with sanse.withdraw_visit: the visit as it was, who withdrew it, when and why';
SELECT pg_catalog.pg_extension_config_dump('visit_withdrawn', '');

CREATE OR REPLACE FUNCTION withdraw_visit(visit_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	v sanse.visit;
	twin bigint;
	prev timestamptz;
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'withdrawing a visit needs a reason' USING ERRCODE = '22023';
	ELSIF length(reason) > 2000 THEN
		RAISE EXCEPTION 'the reason is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	SELECT * INTO v FROM sanse.visit WHERE id = withdraw_visit.visit_id AND sanse.caller_sees(area_id, 'care');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'visit % does not exist', withdraw_visit.visit_id USING ERRCODE = '22023';
	END IF;
	-- the resident's check-ins wait while its timeline is re-derived
	PERFORM 1 FROM sanse.resident r WHERE r.id = v.resident_id FOR NO KEY UPDATE;
	INSERT INTO sanse.visit_withdrawn (visit_id, resident_id, worker_id, at, checklist, flags, note, recorded_at, reason)
	VALUES (v.id, v.resident_id, v.worker_id, v.at, v.checklist, v.flags, v.note, v.recorded_at, withdraw_visit.reason);
	-- the visitor's own counts
	INSERT INTO sanse.worker_month_pending (worker_id, month, visits, flagged_visits, checklist_items)
	VALUES (v.worker_id, sanse.month_of(v.at), -1, -(v.flags <> '{}')::int, -cardinality(v.checklist));

	SELECT t.id INTO twin FROM sanse.visit t
	 WHERE t.resident_id = v.resident_id AND t.at = v.at AND t.id <> v.id ORDER BY t.id LIMIT 1;
	IF twin IS NOT NULL THEN
		-- another visit at the same instant takes its place
		UPDATE sanse.event SET visit_id = twin, closed_by = (SELECT t.worker_id FROM sanse.visit t WHERE t.id = twin)
		 WHERE event.visit_id = v.id;
		UPDATE sanse.visit SET window_due = NULL WHERE id = v.id;
		UPDATE sanse.visit SET window_due = v.window_due, flags = v.flags WHERE id = twin AND v.window_due IS NOT NULL;
		DELETE FROM sanse.visit WHERE id = v.id;
		RETURN;
	END IF;

	IF v.window_due IS NOT NULL THEN
		INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met)
		SELECT c.worker_id, sanse.month_of(v.window_due), -1 FROM unnest(sanse.carers_of(v.resident_id)) c(worker_id);
	END IF;
	UPDATE sanse.event SET visit_id = NULL WHERE event.visit_id = v.id;
	DELETE FROM sanse.visit WHERE id = v.id;
	prev := (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = v.resident_id AND x.at < v.at);
	-- the anchor goes back when the latest visit is withdrawn (the owner may write it)
	UPDATE sanse.resident r SET last_visit_at = (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = r.id)
	 WHERE r.id = v.resident_id AND r.last_visit_at IS DISTINCT FROM (SELECT max(x.at) FROM sanse.visit x WHERE x.resident_id = r.id);
	PERFORM sanse.rederive_span(v.resident_id,
		coalesce(prev, (SELECT r.registered_at FROM sanse.resident r WHERE r.id = v.resident_id)),
		(SELECT min(x.at) FROM sanse.visit x WHERE x.resident_id = v.resident_id AND x.at > v.at));
END
$$;
REVOKE ALL ON FUNCTION withdraw_visit(bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION withdraw_visit(bigint, text) IS 'withdraw a wrongly recorded visit (kept in visit_withdrawn with the reason): the resident''s windows, events and tally are re-derived without it';

REVOKE ALL ON FUNCTION tier_at(bigint, timestamptz), replay_event(bigint, timestamptz, bigint),
	rederive_span(bigint, timestamptz, timestamptz), rederive_after_visit(bigint, bigint) FROM PUBLIC;

-- Restore: sanse's rows come back only through pg_restore in replica mode
-- (PGOPTIONS='-c session_replication_role=replica'), which loads them as
-- they were without re-running sanse's triggers; only the triggers that
-- merge restored rows over the defaults CREATE EXTENSION made and drop
-- cached copies fire there (ENABLE ALWAYS, next to each table).
-----------------------------------------------------------------------------
-- A plain pg_restore would re-run sanse's triggers over restored rows
-- (history dated at the restore, override times overwritten, every missed
-- window tallied twice).  It is refused up front instead: sanse's rows come
-- back only with its triggers held back (replica mode, where this trigger
-- does not fire).  A dump's rows are recognised by what clients never send:
-- a COPY of a table that only sanse writes, or a COPY naming the identity
-- column.  (A plain-SQL dump made with --inserts is not recognised.)
-----------------------------------------------------------------------------
CREATE FUNCTION restore_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	q text := left(current_query(), 4000);
	cols text;
BEGIN
	IF TG_RELID NOT IN ('sanse.area'::regclass, 'sanse.worker'::regclass, 'sanse.classification_rule'::regclass,
	                    'sanse.installation_secret'::regclass, 'sanse.tier_policy'::regclass,
	                    'sanse.resident'::regclass, 'sanse.tier_history'::regclass, 'sanse.carer'::regclass,
	                    'sanse.door_token'::regclass, 'sanse.visit'::regclass, 'sanse.event'::regclass,
	                    'sanse.event_step'::regclass, 'sanse.worker_month'::regclass,
	                    'sanse.worker_month_pending'::regclass, 'sanse.visit_withdrawn'::regclass,
	                    'sanse.department'::regclass, 'sanse.loop_policy'::regclass, 'sanse.event_transition'::regclass,
	                    'sanse.audit_log'::regclass, 'sanse.area_grant'::regclass,
	                    'sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass) THEN
		RAISE EXCEPTION 'trigger function restore_guard() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s tables.';
	END IF;
	IF q ~* '^\s*copy\s' THEN
		cols := substring(q FROM '^\s*[Cc][Oo][Pp][Yy]\s+[^(\s]+\s*\(([^)]*)\)');
		-- clients bulk-load areas, workers, residents (without ids) and carers
		IF TG_TABLE_NAME = 'carer'
		   OR (TG_TABLE_NAME IN ('area', 'worker', 'resident') AND cols IS NOT NULL
		       AND cols !~* '(^|,)\s*"?id"?\s*(,|$)') THEN
			RETURN NULL;
		END IF;
	ELSE
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'rows of sanse.% look like a restore; sanse''s data must be restored with its triggers held back', TG_TABLE_NAME
		USING ERRCODE = '55000',
		      DETAIL = 'A plain restore would re-run sanse''s triggers over restored rows: tier history dated at the restore, override times overwritten, missed windows counted twice.',
		      HINT = 'Restore into a fresh database as a superuser with: PGOPTIONS=''-c session_replication_role=replica'' pg_restore -d <database> <dump>';
END
$$;
REVOKE ALL ON FUNCTION restore_guard() FROM PUBLIC;
DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['area', 'worker', 'classification_rule', 'installation_secret', 'tier_policy',
	                         'resident', 'tier_history', 'carer', 'door_token', 'visit', 'event', 'event_step',
	                         'worker_month', 'worker_month_pending', 'visit_withdrawn'] LOOP
		EXECUTE format('CREATE TRIGGER a_restore_guard BEFORE INSERT ON sanse.%I FOR EACH STATEMENT '
		               'WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* ''^\s*copy\s'') '
		               'EXECUTE FUNCTION sanse.restore_guard()', t);
	END LOOP;
END
$$;

-----------------------------------------------------------------------------
-- Issue 10: one place per concept
-----------------------------------------------------------------------------

-- ltree's @> bound when the extension is created (ltree may live in any
-- schema), for C code that must not build SQL text around a schema name.
CREATE FUNCTION path_contains(ancestor ltree, descendant ltree) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ancestor @> descendant;
COMMENT ON FUNCTION path_contains(ltree, ltree) IS 'true when ancestor is descendant or one of its ancestors (ltree @>)';

-- check_in under its own C symbol (check_in_1_1 stays in the library for the 1.0 -> 1.1 script)
CREATE OR REPLACE FUNCTION check_in(token text, worker_id bigint, at timestamptz DEFAULT now(),
                                    checklist text[] DEFAULT '{}', note text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'check_in' LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, sanse;

-----------------------------------------------------------------------------
-- Issue 11: usable from every client.  Every role may use the schema (tables
-- keep their own grants); tiers bind from text and varchar; the BI views
-- show paths and tiers as text; one pg_cron job per database.
-----------------------------------------------------------------------------
GRANT USAGE ON SCHEMA sanse TO PUBLIC;
CREATE CAST (text AS risk_tier) WITH INOUT AS ASSIGNMENT;
CREATE CAST (varchar AS risk_tier) WITH INOUT AS ASSIGNMENT;
DROP VIEW coverage, overdue_events, grid_daily_report, carer_gaps;

CREATE VIEW coverage AS
WITH per_grid AS (
	SELECT r.area_id,
	       count(*) AS residents,
	       count(*) FILTER (WHERE r.tier = 'red') AS red,
	       count(*) FILTER (WHERE r.tier = 'yellow') AS yellow,
	       count(*) FILTER (WHERE r.tier = 'blue') AS blue,
	       count(*) FILTER (WHERE s.status = 'overdue') AS overdue_now,
	       count(*) FILTER (WHERE s.status = 'met') AS window_met
	  FROM sanse.resident r
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 CROSS JOIN LATERAL (SELECT sanse.visit_status(r.next_visit, r.last_visit_at, p.cadence) AS status) s
	 WHERE r.active
	 GROUP BY r.area_id),
rolled AS (
	SELECT up.id,
	       sum(g.residents) AS residents, sum(g.red) AS red, sum(g.yellow) AS yellow, sum(g.blue) AS blue,
	       sum(g.overdue_now) AS overdue_now, sum(g.window_met) AS window_met
	  FROM per_grid g
	  JOIN sanse.area m ON m.id = g.area_id
	  JOIN sanse.area up ON up.path @> m.path
	 GROUP BY up.id)
SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name,
       coalesce(r.residents, 0)::bigint AS residents,
       coalesce(r.red, 0)::bigint AS red,
       coalesce(r.yellow, 0)::bigint AS yellow,
       coalesce(r.blue, 0)::bigint AS blue,
       coalesce(r.overdue_now, 0)::bigint AS overdue_now,
       coalesce(r.window_met, 0)::bigint AS window_met,
       CASE WHEN r.residents > 0 THEN round(1 - r.overdue_now::numeric / r.residents, 4) END AS coverage_rate
  FROM sanse.area a
  LEFT JOIN rolled r ON r.id = a.id;
COMMENT ON VIEW coverage IS 'per area at every level (rolled up the hierarchy): residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue';
-- A month is computed per event (a filter on month cannot use an
-- index, but events are few).  The ancestor list is materialized so it is
-- joined by hash whatever the planner guesses about the month filter: a
-- gist probe per event cost 0.6 s for one month at 100x the paper.
CREATE VIEW overdue_events AS
WITH ev AS (
	SELECT e.area_id, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.level, e.resolved_at - e.due_at AS time_to_close
	  FROM sanse.event e
	 WHERE e.kind = 'overdue'),
up AS MATERIALIZED (
	SELECT m.id AS grid_id, a.id, a.path, a.kind, a.name
	  FROM sanse.area m
	  JOIN sanse.area a ON a.path @> m.path)
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name, ev.month,
       count(*) AS opened,
       count(*) FILTER (WHERE ev.status = 'closed') AS closed,
       count(*) FILTER (WHERE ev.status <> 'closed') AS still_open,
       count(*) FILTER (WHERE ev.level = 1) AS reached_level_1,
       count(*) FILTER (WHERE ev.level = 2) AS reached_level_2,
       count(*) FILTER (WHERE ev.level = 3) AS reached_level_3,
       count(*) FILTER (WHERE ev.level = 4) AS reached_level_4,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ev.time_to_close)
           FILTER (WHERE ev.status = 'closed') AS median_time_to_close
  FROM ev
  JOIN up ON up.grid_id = ev.area_id
 GROUP BY up.id, up.path, up.kind, up.name, ev.month;
COMMENT ON VIEW overdue_events IS 'per area (rolled up) and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close';
-- The days walked run from the earliest to the latest finite visit, due or
-- closing time (each an index end-point), stepped as local dates (not in the
-- session's TimeZone).  A row belongs to the day of its own local date;
-- the index range only narrows the search, and is three hours wider
-- than [local midnight, next local midnight) on both sides, because where
-- clocks go back over midnight the day starts at the first midnight while
-- AT TIME ZONE reads the second.  No zone has gone back more than three
-- hours since 1970 (Antarctica/Vostok in 1994 aside).
-- Summed per (grid, day) before the area's names are joined, so the sums
-- never sort or spill wide rows.
CREATE VIEW grid_daily_report AS
SELECT s.area_id, a.path::text AS path, a.name, s.day, s.visits, s.complete_checklists, s.flagged_visits,
       s.events_opened, s.events_closed
  FROM (
SELECT x.area_id, d.day,
       sum(x.visits)::bigint AS visits,
       sum(x.complete)::bigint AS complete_checklists,
       sum(x.flagged)::bigint AS flagged_visits,
       sum(x.opened)::bigint AS events_opened,
       sum(x.closed)::bigint AS events_closed
  FROM (SELECT g::date AS day,
               (g AT TIME ZONE sanse.current_zone()) - interval '3 hours' AS starts,
               ((g + interval '1 day') AT TIME ZONE sanse.current_zone()) + interval '3 hours' AS ends
          FROM generate_series(
                 (least((SELECT min(at) FROM sanse.visit WHERE at > '-infinity'),
                        (SELECT min(due_at) FROM sanse.event WHERE due_at > '-infinity'),
                        (SELECT min(resolved_at) FROM sanse.event WHERE status = 'closed' AND resolved_at > '-infinity'))
                  AT TIME ZONE sanse.current_zone())::date::timestamp,
                 (greatest((SELECT max(at) FROM sanse.visit WHERE at < 'infinity'),
                           (SELECT max(due_at) FROM sanse.event WHERE due_at < 'infinity'),
                           (SELECT max(resolved_at) FROM sanse.event WHERE status = 'closed' AND resolved_at < 'infinity'))
                  AT TIME ZONE sanse.current_zone())::date::timestamp,
                 interval '1 day') g) d
 CROSS JOIN LATERAL (
	SELECT v.area_id, 1 AS visits, (cardinality(v.checklist) = cardinality(checklist_items()))::int AS complete,
	       (v.flags <> '{}')::int AS flagged, 0 AS opened, 0 AS closed
	  FROM sanse.visit v
	 WHERE v.at >= d.starts AND v.at < d.ends AND (v.at AT TIME ZONE sanse.current_zone())::date = d.day
	UNION ALL
	SELECT e.area_id, 0, 0, 0, 1, 0
	  FROM sanse.event e
	 WHERE e.due_at >= d.starts AND e.due_at < d.ends AND (e.due_at AT TIME ZONE sanse.current_zone())::date = d.day
	UNION ALL
	SELECT e.area_id, 0, 0, 0, 0, 1
	  FROM sanse.event e
	 WHERE e.status = 'closed' AND e.resolved_at >= d.starts AND e.resolved_at < d.ends
	   AND (e.resolved_at AT TIME ZONE sanse.current_zone())::date = d.day) x
 GROUP BY x.area_id, d.day) s
  JOIN sanse.area a ON a.id = s.area_id;
COMMENT ON VIEW grid_daily_report IS 'daily grid work report (网格工作报告) per micro grid: visits, complete checklists, flagged visits, events opened (by due day) and closed';
-- One pg_cron job per database: pg_cron keys jobs by (name, user) whatever
-- their database, so one name for every database would make the second
-- database to schedule silently take over the first one's job.
CREATE FUNCTION sweep_job_name() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
RETURN 'sanse-sweep:' || current_database();
COMMENT ON FUNCTION sweep_job_name() IS 'name of this database''s pg_cron sweep job: sanse-sweep:<database>';
CREATE OR REPLACE FUNCTION schedule_sweeps(schedule text DEFAULT '* * * * *') RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('CREATE EXTENSION pg_cron here if this is the database named by cron.database_name; '
			                    'otherwise run in that database: SELECT cron.schedule_in_database(%L, %L, %L, %L);',
			                    sanse.sweep_job_name(), schedule, 'SELECT sanse.sweep()', current_database());
	END IF;
	-- pg_cron lives here, so cron.schedule runs the job in this database (and,
	-- unlike cron.schedule_in_database, needs no superuser)
	RETURN cron.schedule(sanse.sweep_job_name(), schedule, 'SELECT sanse.sweep()');
END
$$;
COMMENT ON FUNCTION schedule_sweeps(text) IS 'create or update this database''s pg_cron job sanse-sweep:<database> that runs sanse.sweep()';
CREATE OR REPLACE FUNCTION unschedule_sweeps() RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	job bigint;
	dropped boolean := false;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('In the database named by cron.database_name run: SELECT cron.unschedule(%L);',
			                    sanse.sweep_job_name());
	END IF;
	-- this database's job only (and one named sanse-sweep by an older sanse)
	FOR job IN EXECUTE 'SELECT j.jobid FROM cron.job j
	                     WHERE j.jobname IN ($1, ''sanse-sweep'') AND j.database = current_database()
	                       AND j.username = current_user'
	           USING sanse.sweep_job_name() LOOP
		EXECUTE 'SELECT cron.unschedule($1)' USING job;
		dropped := true;
	END LOOP;
	RETURN dropped;
END
$$;
COMMENT ON FUNCTION unschedule_sweeps() IS 'drop this database''s pg_cron sweep job; false if there was none';
-- The sweep job of this database and how its last run ended, for the DBA and
-- the screen (pg_cron shows a role its own jobs; a superuser sees all).
CREATE FUNCTION sweep_job(OUT jobid bigint, OUT jobname text, OUT schedule text, OUT username text,
                          OUT active boolean, OUT last_status text, OUT last_start timestamptz,
                          OUT last_end timestamptz, OUT last_message text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
			      HINT = format('In the database named by cron.database_name: SELECT * FROM cron.job_run_details '
			                    'WHERE jobid = (SELECT jobid FROM cron.job WHERE jobname = %L) ORDER BY runid DESC LIMIT 1;',
			                    sanse.sweep_job_name());
	END IF;
	RETURN QUERY EXECUTE
		'SELECT j.jobid, j.jobname::text, j.schedule::text, j.username::text, j.active,
		        d.status::text, d.start_time, d.end_time, d.return_message::text
		   FROM cron.job j
		   LEFT JOIN LATERAL (SELECT r.status, r.start_time, r.end_time, r.return_message
		                        FROM cron.job_run_details r WHERE r.jobid = j.jobid
		                       ORDER BY r.runid DESC LIMIT 1) d ON true
		  WHERE j.jobname IN ($1, ''sanse-sweep'') AND j.database = current_database()
		  ORDER BY j.jobid'
		USING sanse.sweep_job_name();
END
$$;
COMMENT ON FUNCTION sweep_job() IS 'this database''s pg_cron sweep job and its last run: status (succeeded, failed, running), times, message';


-----------------------------------------------------------------------------
-- Issue 12: the closed loop (spec 7).
-----------------------------------------------------------------------------
-- Departments that the grid whistles for (网格吹哨); department staff carry
-- worker.department.
CREATE TABLE department (
	code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
	name text NOT NULL
);
COMMENT ON TABLE department IS 'departments the grid can whistle for (网格吹哨): code and name';
SELECT pg_catalog.pg_extension_config_dump('department', '');
ALTER TABLE worker ADD COLUMN department text REFERENCES department (code);
-----------------------------------------------------------------------------
-- Overdue events and the three-level backup (三级补位)
-----------------------------------------------------------------------------

-- Every kind of event climbs the same ladder.  Overdue events (section 5) are
-- open or closed; the closed loop's kinds (section 7) go through stages
-- called > arrived > handled > fed_back > closed, each stored with its time
-- and worker.
CREATE FUNCTION event_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['overdue', 'warning', 'finding', 'request', 'task'];
COMMENT ON FUNCTION event_kinds() IS 'event kinds: overdue (a missed visit), then the closed loop''s warning, finding, request, task';
CREATE FUNCTION event_scales() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN ARRAY['grid', 'department', 'task_force'];
COMMENT ON FUNCTION event_scales() IS 'event scales, starting at level 1, 3 and 4';
ALTER TABLE event
	ALTER COLUMN resident_id DROP NOT NULL,
	ALTER COLUMN tier DROP NOT NULL,
	DROP CONSTRAINT event_kind_check,
	DROP CONSTRAINT event_status_check,
	DROP CONSTRAINT event_check1,
	ADD CONSTRAINT event_kind_check CHECK (kind = ANY (event_kinds())),
	ADD CONSTRAINT event_status_check CHECK (status IN ('open', 'closed', 'called', 'arrived', 'handled', 'fed_back')),
	ADD COLUMN scale text NOT NULL DEFAULT 'grid' CONSTRAINT event_scale_check CHECK (scale = ANY (event_scales())),
	ADD COLUMN parent_id bigint REFERENCES event (id),
	ADD COLUMN department text REFERENCES department (code),
	ADD COLUMN detail text CONSTRAINT event_detail_length CHECK (length(detail) <= 2000),
	ADD COLUMN raised_by bigint REFERENCES worker (id),
	ADD COLUMN called_at timestamptz,
	ADD COLUMN arrived_at timestamptz,
	ADD COLUMN arrived_by bigint REFERENCES worker (id),
	ADD COLUMN handled_at timestamptz,
	ADD COLUMN handled_by bigint REFERENCES worker (id),
	ADD COLUMN action text CONSTRAINT event_action_length CHECK (length(action) <= 2000),
	ADD COLUMN fed_back_at timestamptz,
	ADD COLUMN fed_back_by bigint REFERENCES worker (id),
	ADD COLUMN feedback text CONSTRAINT event_feedback_length CHECK (length(feedback) <= 2000),
	ADD COLUMN rating smallint,
	ADD COLUMN solved boolean,
	ADD COLUMN evaluated_by text,
	ADD COLUMN reopened int NOT NULL DEFAULT 0,
	ADD CONSTRAINT event_open_has_clock CHECK (status IN ('closed', 'handled', 'fed_back') OR level = 4 OR next_step_at IS NOT NULL),
	ADD CONSTRAINT event_overdue_is_a_missed_window CHECK (kind <> 'overdue'
		OR (resident_id IS NOT NULL AND tier IS NOT NULL AND status IN ('open', 'closed'))),
	ADD CONSTRAINT event_loop_stages CHECK (kind = 'overdue' OR (status <> 'open' AND called_at IS NOT NULL));
ALTER TABLE event_step DROP CONSTRAINT event_step_pkey, ADD PRIMARY KEY (event_id, level, at);
CREATE FUNCTION tally_missed(events event[], sign int) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.worker_month_pending (worker_id, month, windows_missed)
	SELECT w.worker_id, sanse.month_of(e.due_at), tally_missed.sign
	  FROM unnest(tally_missed.events) e
	 CROSS JOIN LATERAL unnest(coalesce(e.charged_to, sanse.carers_of(e.resident_id))) w(worker_id)
	 WHERE e.kind = 'overdue';
END;
REVOKE ALL ON FUNCTION tally_missed(event[], int) FROM PUBLIC;
CREATE INDEX event_parent ON event (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX event_assignee ON event (assignee_id);
CREATE INDEX event_called_at ON event (called_at) WHERE kind <> 'overdue';
COMMENT ON TABLE event IS 'events escalating micro grid > general grid > total grid > task force: overdue (one per missed window) and the closed loop''s warnings, findings, requests and tasks';
-- The closed loop's clocks (spec 7): how long an event of a kind may stay
-- called (arrive_within) and arrived (handle_within) before it climbs a
-- level.  The row with tier NULL serves events without a resident and tiers
-- without a row of their own.
CREATE TABLE loop_policy (
	kind text NOT NULL CHECK (kind = ANY (event_kinds()) AND kind <> 'overdue'),
	tier risk_tier,
	arrive_within interval NOT NULL CHECK (arrive_within > interval '0'),
	handle_within interval NOT NULL CHECK (handle_within > interval '0'),
	CONSTRAINT loop_policy_once UNIQUE NULLS NOT DISTINCT (kind, tier)
);
COMMENT ON TABLE loop_policy IS 'closed-loop clocks per kind and tier (NULL: events without a resident, and the default): arrive within, handle within';
GRANT SELECT ON loop_policy TO PUBLIC;
INSERT INTO loop_policy (kind, tier, arrive_within, handle_within) VALUES
	('warning', NULL, '15 minutes', '2 hours'),
	('warning', 'red', '15 minutes', '2 hours'),
	('warning', 'yellow', '15 minutes', '2 hours'),
	('warning', 'blue', '15 minutes', '2 hours'),
	('request', NULL, '2 hours', '1 day'),
	('request', 'red', '30 minutes', '4 hours'),
	('finding', NULL, '1 day', '3 days'),
	('task', NULL, '1 day', '3 days');
SELECT pg_catalog.pg_extension_config_dump('loop_policy', '');
-- The interval between an event's escalation steps on its current clock:
-- an overdue event's tier's escalate_after; a loop event's arrive_within
-- while called, handle_within once arrived; none after handling.
CREATE FUNCTION step_interval(kind text, tier risk_tier, status text) RETURNS interval
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF kind = 'overdue' THEN
		RETURN (SELECT p.escalate_after FROM sanse.tier_policy p WHERE p.tier = tier);
	ELSIF status = 'called' THEN
		RETURN (SELECT l.arrive_within FROM sanse.loop_policy l
		         WHERE l.kind = kind AND (l.tier = tier OR l.tier IS NULL)
		         ORDER BY l.tier IS NULL LIMIT 1);
	ELSIF status = 'arrived' THEN
		RETURN (SELECT l.handle_within FROM sanse.loop_policy l
		         WHERE l.kind = kind AND (l.tier = tier OR l.tier IS NULL)
		         ORDER BY l.tier IS NULL LIMIT 1);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION step_interval(text, risk_tier, text) IS 'interval between escalation steps on an event''s current clock (NULL: no clock)';
-- For the closed loop's arrive: verify a token (28000 and the LOG line, as
-- check_in, for a missing, malformed or forged one) and refuse an unknown
-- or revoked one.
CREATE FUNCTION door_token_verify(token text, worker_id bigint, act text) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
CREATE FUNCTION door_token_refuse(worker_id bigint, why text, act text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION door_token_verify(text, bigint, text), door_token_refuse(bigint, text, text) FROM PUBLIC;
-----------------------------------------------------------------------------
-- The closed loop (闭环处置, spec 7): warnings, findings, requests and tasks
-- go call > arrive > handle > feed back > evaluate.  Each transition is a
-- function that runs as the owner (granted to the app, not to PUBLIC),
-- refuses a wrong stage (55000), a worker who may not act (42501), a time
-- ahead of the clock (22008) and unknown values (22023), and takes a retry
-- of the same transition (same worker, same time) as done.  The clocks are
-- the events' escalation steps: sanse.sweep climbs them at logical times.
-----------------------------------------------------------------------------

-- Inserting a (kind, tier) that has a policy replaces it, so pg_dump restores
-- edited policies over the defaults CREATE EXTENSION puts back.
CREATE FUNCTION loop_policy_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.loop_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function loop_policy_upsert() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.loop_policy.';
	END IF;
	UPDATE sanse.loop_policy l
	   SET arrive_within = NEW.arrive_within, handle_within = NEW.handle_within
	 WHERE l.kind = NEW.kind AND l.tier IS NOT DISTINCT FROM NEW.tier;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER loop_policy_upsert BEFORE INSERT ON loop_policy
	FOR EACH ROW EXECUTE FUNCTION loop_policy_upsert();
ALTER TABLE loop_policy ENABLE ALWAYS TRIGGER loop_policy_upsert;

-- A policy edit (a row changed, added or removed) re-derives the open clocks
-- of its kind: the next step counts the new interval from the last step
-- reached on the current clock (or from the clock's start); steps already
-- reached stay.
CREATE FUNCTION loop_policy_rederive() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.loop_policy'::regclass THEN
		RAISE EXCEPTION 'trigger function loop_policy_rederive() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.loop_policy.';
	END IF;
	-- each branch names only the transition tables its event has
	IF TG_OP = 'DELETE' THEN
		UPDATE sanse.event e
		   SET next_step_at = sanse.zone_add(greatest(e.level_since,
		                                              CASE e.status WHEN 'called' THEN e.called_at ELSE e.arrived_at END),
		                                     sanse.step_interval(e.kind, e.tier, e.status))
		 WHERE e.kind IN (SELECT o.kind FROM old_rows o) AND e.status IN ('called', 'arrived') AND e.level < 4;
	ELSE
		UPDATE sanse.event e
		   SET next_step_at = sanse.zone_add(greatest(e.level_since,
		                                              CASE e.status WHEN 'called' THEN e.called_at ELSE e.arrived_at END),
		                                     sanse.step_interval(e.kind, e.tier, e.status))
		 WHERE e.kind IN (SELECT n.kind FROM new_rows n) AND e.status IN ('called', 'arrived') AND e.level < 4;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER loop_policy_rederive AFTER UPDATE ON loop_policy
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER loop_policy_rederive_insert AFTER INSERT ON loop_policy
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER loop_policy_rederive_delete AFTER DELETE ON loop_policy
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION loop_policy_rederive();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON loop_policy FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION loop_policy_upsert(), loop_policy_rederive() FROM PUBLIC;

-- Every transition, as it happened: stage entered, logical time, worker.
CREATE TABLE event_transition (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id bigint NOT NULL REFERENCES event (id) ON DELETE CASCADE,
	stage text NOT NULL CHECK (stage IN ('called', 'arrived', 'handled', 'fed_back', 'whistled', 'evaluated', 'reopened', 'closed')),
	at timestamptz NOT NULL,
	worker_id bigint REFERENCES worker (id),
	note text CHECK (length(note) <= 2000),
	recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_transition_event ON event_transition (event_id, at);
CREATE INDEX event_transition_handled ON event_transition (worker_id, at) WHERE stage = 'handled';
COMMENT ON TABLE event_transition IS 'every transition of a closed-loop event: the stage entered, its logical time, the worker and a note';
SELECT pg_catalog.pg_extension_config_dump('event_transition', '');
SELECT pg_catalog.pg_extension_config_dump('event_transition_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON event_transition FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- The level an event of a scale starts at.
CREATE FUNCTION scale_level(scale text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (ARRAY[1, 3, 4]::smallint[])[array_position(sanse.event_scales(), scale)];

-- A loop transition's time: given, and at most 5 minutes ahead (22008).
CREATE FUNCTION loop_time(at timestamptz, what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF at IS NULL OR at > pg_catalog.clock_timestamp() + interval '5 minutes' OR NOT isfinite(at) THEN
		RAISE EXCEPTION '% cannot be dated %', what, CASE WHEN at IS NULL THEN 'NULL' WHEN NOT isfinite(at) THEN at::text ELSE 'ahead of the server clock' END
			USING ERRCODE = '22008', DETAIL = 'A closed-loop transition may be dated at most 5 minutes ahead of the server clock.';
	END IF;
END
$$;

-- May this worker act on this event?  Whoever may check in at the door of
-- its resident (a carer, or a leader or task force whose area contains it),
-- a leader or task force whose area contains the event's area, and staff of
-- a department whistled for it; active, and the bound login when db_role is
-- set (as check_in).
-- (PL/pgSQL so its plan is kept for the session: a transition calls it once.)
CREATE FUNCTION may_act(p_event bigint, p_worker bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	RETURN (SELECT coalesce(bool_or(
	         w.active
	         AND (w.db_role IS NULL
	              OR (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = w.db_role)
	                  AND pg_catalog.pg_has_role(session_user, w.db_role, 'MEMBER')))
	         AND ((e.resident_id IS NOT NULL
	               AND EXISTS (SELECT 1 FROM sanse.carer c WHERE c.resident_id = e.resident_id AND c.worker_id = w.id))
	              OR (w.role <> 'member' AND sanse.path_contains(wa.path, ea.path))
	              OR (w.department IS NOT NULL
	                  AND (e.department = w.department
	                       OR EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.id AND c.department = w.department))))),
	         false)
	  FROM sanse.event e
	  JOIN sanse.area ea ON ea.id = e.area_id
	  JOIN sanse.worker w ON w.id = p_worker
	  JOIN sanse.area wa ON wa.id = w.area_id
	 WHERE e.id = p_event);
END
$$;

-- The event to move, locked; 22023 when there is none or it is a missed
-- visit (a visit closes those).
CREATE FUNCTION loop_event(p_event bigint) RETURNS event
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	e sanse.event;
BEGIN
	SELECT * INTO e FROM sanse.event WHERE id = p_event FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', coalesce(p_event::text, 'NULL') USING ERRCODE = '22023';
	ELSIF e.kind = 'overdue' THEN
		RAISE EXCEPTION 'event % is an overdue event', p_event
			USING ERRCODE = '22023', HINT = 'A visit to the resident (sanse.check_in) closes it.';
	END IF;
	RETURN e;
END
$$;

CREATE FUNCTION loop_refuse_stage(e event, wanted text, act text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'event % is %, so it cannot be %', e.id, e.status, act
		USING ERRCODE = '55000', DETAIL = format('Only an event that is %s can be %s.', wanted, act);
END
$$;

CREATE FUNCTION loop_refuse_worker(e event, p_worker bigint, act text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'worker % may not % event % (%)', coalesce(p_worker::text, 'NULL'), act, e.id, e.status
		USING ERRCODE = '42501',
		      DETAIL = 'Only an active carer of its resident, a leader or task force whose area contains it, or staff of a department whistled for it may act on an event.';
END
$$;

-- End the current clock at p_at: the steps due by then are reached, whether
-- or not a sweep took them; those dated after it never happened (an arrival
-- or handling synced late) and are removed.  The last step left is the
-- level reached at that time.
CREATE FUNCTION loop_end_clock(p_event bigint, p_since timestamptz, p_at timestamptz) RETURNS event_step
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	last sanse.event_step;
BEGIN
	PERFORM sanse.escalate_events(p_at, NULL, p_event);
	DELETE FROM sanse.event_step s WHERE s.event_id = p_event AND s.at > p_at AND s.at > p_since;
	SELECT * INTO last FROM sanse.event_step s WHERE s.event_id = p_event ORDER BY s.at DESC, s.level DESC LIMIT 1;
	RETURN last;
END
$$;

-- Create a loop event in stage called at its scale's level, with its first
-- step and its arrival clock.
CREATE FUNCTION call_event(p_kind text, p_resident bigint, p_area bigint, p_tier risk_tier, p_detail text,
                           p_scale text, p_at timestamptz, p_raised_by bigint, p_parent bigint, p_department text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	lvl smallint := sanse.scale_level(p_scale);
	new_id bigint;
BEGIN
	INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since,
	                         next_step_at, scale, parent_id, department, detail, raised_by, called_at)
	VALUES (p_resident, p_area, p_kind, 'called', p_tier, lvl, sanse.leader_for(p_area, lvl), p_at, p_at,
	        CASE WHEN lvl < 4 THEN sanse.zone_add(p_at, sanse.step_interval(p_kind, p_tier, 'called')) END,
	        p_scale, p_parent, p_department, p_detail, p_raised_by, p_at)
	RETURNING event.id INTO new_id;
	INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
	SELECT e.id, lvl, e.assignee_id, p_at FROM sanse.event e WHERE e.id = new_id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (new_id, 'called', p_at, p_raised_by, p_detail);
	RETURN new_id;
END
$$;

CREATE FUNCTION loop_check_call(kind text, scale text, detail text, raised_by bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF kind IS NULL OR kind = 'overdue' OR NOT kind = ANY (sanse.event_kinds()) THEN
		RAISE EXCEPTION 'unknown event kind "%"', coalesce(kind, 'NULL')
			USING ERRCODE = '22023', HINT = 'Kinds are warning, finding, request and task (overdue events come from missed visits).';
	END IF;
	IF scale IS NULL OR NOT scale = ANY (sanse.event_scales()) THEN
		RAISE EXCEPTION 'unknown event scale "%"', coalesce(scale, 'NULL')
			USING ERRCODE = '22023', HINT = 'Scales are grid (level 1), department (level 3) and task_force (level 4).';
	END IF;
	IF length(detail) > 2000 THEN
		RAISE EXCEPTION 'the detail is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF raised_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sanse.worker w WHERE w.id = raised_by) THEN
		RAISE EXCEPTION 'worker % does not exist', raised_by USING ERRCODE = '22023';
	END IF;
END
$$;

CREATE FUNCTION raise_event(kind text, resident_id bigint, detail text, scale text DEFAULT 'grid',
                            at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	r sanse.resident;
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'an event');
	PERFORM sanse.loop_check_call(kind, scale, detail, raised_by);
	SELECT * INTO r FROM sanse.resident x WHERE x.id = resident_id AND sanse.caller_sees(x.area_id, 'read');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', coalesce(resident_id::text, 'NULL') USING ERRCODE = '22023';
	ELSIF r.forgotten_at IS NOT NULL THEN
		RAISE EXCEPTION 'resident % has been forgotten', resident_id
			USING ERRCODE = '55000', DETAIL = 'No event is raised about a forgotten resident.';
	END IF;
	-- a retry of the same call returns the same event
	SELECT e.id INTO same FROM sanse.event e
	 WHERE e.resident_id = r.id AND e.kind = kind AND e.called_at = at AND e.parent_id IS NULL
	   AND e.raised_by IS NOT DISTINCT FROM raised_by AND e.detail IS NOT DISTINCT FROM detail
	 ORDER BY e.id LIMIT 1;
	IF FOUND THEN
		RETURN same;
	END IF;
	RETURN sanse.call_event(kind, r.id, r.area_id, r.tier, detail, scale, at, raised_by, NULL, NULL);
END
$$;
REVOKE ALL ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION raise_event(text, bigint, text, text, timestamptz, bigint) IS 'raise a warning, finding, request or task about a resident; returns the event id (called, at its scale''s level)';

CREATE FUNCTION dispatch_task(area_id bigint, detail text, scale text DEFAULT 'grid',
                              at timestamptz DEFAULT now(), raised_by bigint DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'a task');
	PERFORM sanse.loop_check_call('task', scale, detail, raised_by);
	IF NOT EXISTS (SELECT 1 FROM sanse.area a WHERE a.id = area_id AND sanse.caller_sees(a.id, 'read')) THEN
		RAISE EXCEPTION 'area % does not exist', coalesce(area_id::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	SELECT e.id INTO same FROM sanse.event e
	 WHERE e.area_id = area_id AND e.resident_id IS NULL AND e.kind = 'task' AND e.called_at = at
	   AND e.parent_id IS NULL AND e.raised_by IS NOT DISTINCT FROM raised_by AND e.detail IS NOT DISTINCT FROM detail
	 ORDER BY e.id LIMIT 1;
	IF FOUND THEN
		RETURN same;
	END IF;
	RETURN sanse.call_event('task', NULL, area_id, NULL, detail, scale, at, raised_by, NULL, NULL);
END
$$;
REVOKE ALL ON FUNCTION dispatch_task(bigint, text, text, timestamptz, bigint) FROM PUBLIC;
COMMENT ON FUNCTION dispatch_task(bigint, text, text, timestamptz, bigint) IS 'dispatch a task about an area; returns the event id';

-- 报到: presence, proved by the door token for an event about a resident.
CREATE FUNCTION arrive(event_id bigint, worker_id bigint, token text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	nonce bytea;
	t record;
	last sanse.event_step;
BEGIN
	PERFORM sanse.loop_time(at, 'an arrival');
	e := sanse.loop_event(event_id);
	IF e.resident_id IS NOT NULL THEN
		nonce := sanse.door_token_verify(token, worker_id, 'arrival');
		SELECT d.resident_id, d.revoked_at INTO t FROM sanse.door_token d WHERE d.nonce = nonce;
		IF NOT FOUND THEN
			PERFORM sanse.door_token_refuse(worker_id, 'unknown', 'arrival');
		ELSIF t.revoked_at IS NOT NULL THEN
			PERFORM sanse.door_token_refuse(worker_id, 'revoked', 'arrival');
		ELSIF t.resident_id <> e.resident_id THEN
			PERFORM sanse.door_token_refuse(worker_id, 'for another door', 'arrival');
		END IF;
	END IF;
	-- a retry (after the token: a retry proves presence as the first did)
	IF e.status <> 'called' AND e.arrived_by IS NOT DISTINCT FROM worker_id AND e.arrived_at = at THEN
		RETURN;
	END IF;
	IF e.status <> 'called' THEN
		PERFORM sanse.loop_refuse_stage(e, 'called', 'arrived at');
	END IF;
	IF at < e.called_at THEN
		RAISE EXCEPTION 'an arrival cannot be dated before event % was called', e.id USING ERRCODE = '22008';
	END IF;
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'arrive at');
	END IF;
	last := sanse.loop_end_clock(e.id, e.called_at, at);
	UPDATE sanse.event x
	   SET status = 'arrived', arrived_at = at, arrived_by = worker_id,
	       level = last.level, level_since = last.at, assignee_id = last.assignee_id,
	       next_step_at = CASE WHEN last.level < 4 THEN sanse.zone_add(at, sanse.step_interval(x.kind, x.tier, 'arrived')) END
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id) VALUES (e.id, 'arrived', at, worker_id);
END
$$;
REVOKE ALL ON FUNCTION arrive(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION arrive(bigint, bigint, text, timestamptz) IS 'report in (报到) at an event; the door token proves presence for an event about a resident';

-- 处置
CREATE FUNCTION handle_event(event_id bigint, worker_id bigint, action text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	last sanse.event_step;
BEGIN
	PERFORM sanse.loop_time(at, 'a handling');
	e := sanse.loop_event(event_id);
	IF e.handled_by IS NOT DISTINCT FROM worker_id AND e.handled_at = at THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'arrived' THEN
		PERFORM sanse.loop_refuse_stage(e, 'arrived', 'handled');
	END IF;
	IF length(action) > 2000 THEN
		RAISE EXCEPTION 'the action is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF at < e.arrived_at THEN
		RAISE EXCEPTION 'a handling cannot be dated before the arrival at event %', e.id USING ERRCODE = '22008';
	END IF;
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'handle');
	END IF;
	IF EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = e.id AND c.status IN ('called', 'arrived')) THEN
		RAISE EXCEPTION 'event % has whistled events not yet handled', e.id
			USING ERRCODE = '55000', HINT = 'Each department must handle its child event first.';
	END IF;
	last := sanse.loop_end_clock(e.id, e.arrived_at, at);
	UPDATE sanse.event x
	   SET status = 'handled', handled_at = at, handled_by = worker_id, action = handle_event.action, next_step_at = NULL,
	       level = last.level, level_since = last.at, assignee_id = last.assignee_id
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'handled', at, worker_id, action);
END
$$;
REVOKE ALL ON FUNCTION handle_event(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION handle_event(bigint, bigint, text, timestamptz) IS 'handle (处置) an arrived event; refused while whistled child events are unhandled';

-- 网格吹哨: a child task for a department, with its own clocks.
CREATE FUNCTION whistle(event_id bigint, department text, worker_id bigint, at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	same bigint;
BEGIN
	PERFORM sanse.loop_time(at, 'a whistle');
	e := sanse.loop_event(event_id);
	IF department IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.department d WHERE d.code = department) THEN
		RAISE EXCEPTION 'unknown department "%"', coalesce(department, 'NULL')
			USING ERRCODE = '22023', HINT = 'Departments are the rows of sanse.department.';
	END IF;
	SELECT c.id INTO same FROM sanse.event c
	 WHERE c.parent_id = e.id AND c.department = department AND c.called_at = at
	   AND c.raised_by IS NOT DISTINCT FROM worker_id
	 ORDER BY c.id LIMIT 1;
	IF FOUND THEN
		RETURN same;	-- a retry
	END IF;
	IF e.status NOT IN ('called', 'arrived') THEN
		PERFORM sanse.loop_refuse_stage(e, 'called or arrived', 'whistled for');
	END IF;
	IF at < e.called_at THEN
		RAISE EXCEPTION 'a whistle cannot be dated before event % was called', e.id USING ERRCODE = '22008';
	END IF;
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'whistle for');
	END IF;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'whistled', at, worker_id, department);
	RETURN sanse.call_event('task', e.resident_id, e.area_id, e.tier, 'whistled for ' || department, 'department',
	                        at, worker_id, e.id, department);
END
$$;
REVOKE ALL ON FUNCTION whistle(bigint, text, bigint, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION whistle(bigint, text, bigint, timestamptz) IS 'whistle (网格吹哨) for a department: a child task event at level 3 with its own clocks; returns its id';

-- 反馈
CREATE FUNCTION feed_back(event_id bigint, worker_id bigint, note text, at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
BEGIN
	PERFORM sanse.loop_time(at, 'a feedback');
	e := sanse.loop_event(event_id);
	IF e.fed_back_by IS NOT DISTINCT FROM worker_id AND e.fed_back_at = at THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'handled' THEN
		PERFORM sanse.loop_refuse_stage(e, 'handled', 'fed back');
	END IF;
	IF length(note) > 2000 THEN
		RAISE EXCEPTION 'the note is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF at < e.handled_at THEN
		RAISE EXCEPTION 'a feedback cannot be dated before event % was handled', e.id USING ERRCODE = '22008';
	END IF;
	IF NOT sanse.may_act(e.id, worker_id) THEN
		PERFORM sanse.loop_refuse_worker(e, worker_id, 'feed back on');
	END IF;
	UPDATE sanse.event x
	   SET status = 'fed_back', fed_back_at = at, fed_back_by = worker_id, feedback = feed_back.note
	 WHERE x.id = e.id;
	INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) VALUES (e.id, 'fed_back', at, worker_id, note);
END
$$;
REVOKE ALL ON FUNCTION feed_back(bigint, bigint, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION feed_back(bigint, bigint, text, timestamptz) IS 'feed back (反馈) on a handled event';

-- 评价: by the resident or a supervisor, never by whoever handled it.  A
-- rating of 2 or less, or not solved, reopens the event one level up.
CREATE FUNCTION evaluate(event_id bigint, rating smallint, solved boolean, by text, comment text DEFAULT NULL,
                         at timestamptz DEFAULT now())
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	e sanse.event;
	lvl smallint;
BEGIN
	PERFORM sanse.loop_time(at, 'an evaluation');
	e := sanse.loop_event(event_id);
	IF EXISTS (SELECT 1 FROM sanse.event_transition t
	            WHERE t.event_id = e.id AND t.stage IN ('closed', 'reopened') AND t.at = at
	              AND t.note IS NOT DISTINCT FROM format('%s by %s: %s', rating, by, coalesce(comment, ''))) THEN
		RETURN;		-- a retry
	END IF;
	IF e.status <> 'fed_back' THEN
		PERFORM sanse.loop_refuse_stage(e, 'fed_back', 'evaluated');
	END IF;
	IF rating IS NULL OR rating NOT BETWEEN 1 AND 5 THEN
		RAISE EXCEPTION 'rating % is not between 1 and 5', coalesce(rating::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	IF solved IS NULL THEN
		RAISE EXCEPTION 'say whether the problem was solved' USING ERRCODE = '22023';
	END IF;
	IF by IS NULL OR by NOT IN ('resident', 'supervisor') THEN
		RAISE EXCEPTION 'an evaluation is by resident or supervisor, not "%"', coalesce(by, 'NULL') USING ERRCODE = '22023';
	END IF;
	IF length(comment) > 2000 THEN
		RAISE EXCEPTION 'the comment is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	IF at < e.fed_back_at THEN
		RAISE EXCEPTION 'an evaluation cannot be dated before event % was fed back', e.id USING ERRCODE = '22008';
	END IF;
	-- whoever handled the event may not evaluate it
	IF EXISTS (SELECT 1 FROM sanse.worker w
	            WHERE w.id = e.handled_by AND w.db_role IS NOT NULL
	              AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = w.db_role)
	              AND pg_catalog.pg_has_role(session_user, w.db_role, 'MEMBER')) THEN
		RAISE EXCEPTION 'whoever handled event % may not evaluate it', e.id USING ERRCODE = '42501';
	END IF;
	UPDATE sanse.event x SET rating = evaluate.rating, solved = evaluate.solved, evaluated_by = by WHERE x.id = e.id;
	IF rating <= 2 OR NOT solved THEN
		lvl := least(e.level + 1, 4);
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at)
		VALUES (e.id, lvl, sanse.leader_for(e.area_id, lvl), at)
		ON CONFLICT DO NOTHING;
		UPDATE sanse.event x
		   SET status = 'called', called_at = at, level = lvl, level_since = at, assignee_id = sanse.leader_for(x.area_id, lvl),
		       arrived_at = NULL, arrived_by = NULL, handled_at = NULL, handled_by = NULL, action = NULL,
		       fed_back_at = NULL, fed_back_by = NULL, feedback = NULL, reopened = x.reopened + 1,
		       next_step_at = CASE WHEN lvl < 4 THEN sanse.zone_add(at, sanse.step_interval(x.kind, x.tier, 'called')) END
		 WHERE x.id = e.id;
		INSERT INTO sanse.event_transition (event_id, stage, at, note)
		VALUES (e.id, 'reopened', at, format('%s by %s: %s', rating, by, coalesce(comment, '')));
	ELSE
		UPDATE sanse.event x SET status = 'closed', resolved_at = at, next_step_at = NULL WHERE x.id = e.id;
		INSERT INTO sanse.event_transition (event_id, stage, at, note)
		VALUES (e.id, 'closed', at, format('%s by %s: %s', rating, by, coalesce(comment, '')));
	END IF;
END
$$;
REVOKE ALL ON FUNCTION evaluate(bigint, smallint, boolean, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION evaluate(bigint, smallint, boolean, text, text, timestamptz) IS 'evaluate (评价) a fed-back event: rating 1-5, solved; 2 or less or unsolved reopens it one level up, otherwise it closes';

REVOKE ALL ON FUNCTION may_act(bigint, bigint), loop_event(bigint), loop_refuse_stage(event, text, text),
	loop_refuse_worker(event, bigint, text), loop_end_clock(bigint, timestamptz, timestamptz),
	call_event(text, bigint, bigint, risk_tier, text, text, timestamptz, bigint, bigint, text),
	loop_check_call(text, text, text, bigint) FROM PUBLIC;
-- The closed loop per area (rolled up like coverage), month of raising (in
-- sanse.timezone) and kind.  An event is answered in time when its first
-- arrival came before its first arrival step (raised + arrive_within).
CREATE VIEW loop_metrics AS
WITH ev AS (
	SELECT e.area_id, e.kind, date_trunc('month', e.due_at AT TIME ZONE sanse.current_zone())::date AS month,
	       e.status, e.rating, e.solved, e.evaluated_by, e.reopened,
	       a.first_arrival - e.due_at AS time_to_arrive,
	       a.first_arrival < sanse.zone_add(e.due_at, sanse.step_interval(e.kind, e.tier, 'called')) AS in_time,
	       EXISTS (SELECT 1 FROM sanse.event_transition t WHERE t.event_id = e.id AND t.stage = 'handled') AS was_handled
	  FROM sanse.event e
	  LEFT JOIN LATERAL (SELECT min(t.at) AS first_arrival FROM sanse.event_transition t
	                      WHERE t.event_id = e.id AND t.stage = 'arrived') a ON true
	 WHERE e.kind <> 'overdue'),
up AS MATERIALIZED (
	SELECT m.id AS grid_id, a.id, a.path, a.name
	  FROM sanse.area m
	  JOIN sanse.area a ON a.path @> m.path)
SELECT up.id AS area_id, up.path::text AS path, up.name, ev.month, ev.kind,
       count(*) AS raised,
       count(*) FILTER (WHERE ev.in_time) AS answered_in_time,
       round(count(*) FILTER (WHERE ev.in_time)::numeric / count(*), 4) AS response_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ev.time_to_arrive) AS median_time_to_arrive,
       count(*) FILTER (WHERE ev.was_handled) AS handled,
       count(*) FILTER (WHERE ev.status = 'closed') AS closed,
       count(*) FILTER (WHERE ev.reopened > 0) AS reopened,
       round(avg(ev.rating), 2) AS mean_rating,
       count(*) FILTER (WHERE ev.status = 'closed' AND ev.evaluated_by = 'resident' AND ev.solved) AS confirmed_solved,
       count(*) FILTER (WHERE ev.status <> 'closed') AS still_open
  FROM ev
  JOIN up ON up.grid_id = ev.area_id
 GROUP BY up.id, up.path, up.name, ev.month, ev.kind;
COMMENT ON VIEW loop_metrics IS 'closed loop per area (rolled up), month of raising and kind: raised, answered in time (first arrival before the first arrival step), response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open';

-- Visits a week a cadence asks for (a month counted as 30.44 days).
CREATE FUNCTION visits_per_week(cadence text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
	WHEN lower(btrim(cadence)) LIKE 'rolling %'
	  THEN round(604800 / extract(epoch FROM justify_days(substr(btrim(cadence), 9)::interval)), 3)
	WHEN lower(btrim(cadence)) = 'calendar day' THEN 7
	WHEN lower(btrim(cadence)) = 'calendar week' THEN 1
	WHEN lower(btrim(cadence)) = 'calendar month' THEN round(7 / 30.44, 3)
	END;
COMMENT ON FUNCTION visits_per_week(text) IS 'visits a week a cadence asks for';

-----------------------------------------------------------------------------
-- Issue 13 (part): the audit of sensitive acts, ID-number lookups with a
-- purpose, forgetting residents when the purpose ends.
-----------------------------------------------------------------------------
-----------------------------------------------------------------------------
-- The audit of sensitive acts (spec 8): append-only, one row per act — a
-- tier override, a rule or policy change, a token revocation, an ID-number
-- lookup, forgetting a resident — with who (the login and the role acting:
-- SET ROLE's, else the login) and why.
-----------------------------------------------------------------------------
CREATE TABLE audit_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	session_user_name name NOT NULL,
	current_user_name name NOT NULL,
	act text NOT NULL CHECK (act IN ('tier_override', 'rule_change', 'policy_change', 'grant_change',
	                                 'token_revocation', 'id_lookup', 'forget_resident')),
	resident_ids bigint[] NOT NULL DEFAULT '{}',
	purpose text CHECK (length(purpose) <= 2000),
	detail text
);
CREATE INDEX audit_log_at ON audit_log (at);
REVOKE ALL ON audit_log FROM PUBLIC;
COMMENT ON TABLE audit_log IS 'append-only audit of sensitive acts: tier overrides, rule and policy changes, token revocations, ID-number lookups, forgotten residents';
SELECT pg_catalog.pg_extension_config_dump('audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('audit_log_id_seq', '');

-- Append-only even for the owner's sessions (and in replica mode).
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.audit_log'::regclass THEN
		RAISE EXCEPTION 'trigger function audit_log_append_only() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.audit_log.';
	END IF;
	RAISE EXCEPTION 'sanse.audit_log is append-only: % is refused', TG_OP
		USING ERRCODE = '42501', HINT = 'Audit rows are never changed or removed.';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate;
CREATE TRIGGER a_restore_guard BEFORE INSERT ON audit_log FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- Write an audit row.  Run as the owner (SECURITY DEFINER functions and
-- triggers call it), so current_user is the owner: the acting role is the
-- session's SET ROLE, else the login.
CREATE FUNCTION audit(act text, resident_ids bigint[], purpose text, detail text DEFAULT NULL,
                      acting name DEFAULT NULL) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	INSERT INTO sanse.audit_log (session_user_name, current_user_name, act, resident_ids, purpose, detail)
	VALUES (session_user,
	        coalesce(audit.acting, nullif(pg_catalog.current_setting('role'), 'none')::name, session_user),
	        audit.act, coalesce(audit.resident_ids, '{}'), audit.purpose, audit.detail);
END;
REVOKE ALL ON FUNCTION audit(text, bigint[], text, text, name) FROM PUBLIC;

-- Rule and policy changes, one row per statement.
CREATE FUNCTION audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID NOT IN ('sanse.classification_rule'::regclass, 'sanse.tier_policy'::regclass,
	                    'sanse.loop_policy'::regclass, 'sanse.area_grant'::regclass) THEN
		RAISE EXCEPTION 'trigger function audit_change() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s rule and policy tables.';
	END IF;
	-- an upsert's nested UPDATE is part of its INSERT: audited once, at the top
	IF pg_catalog.pg_trigger_depth() > 1 THEN
		RETURN NULL;
	END IF;
	PERFORM sanse.audit(CASE TG_TABLE_NAME WHEN 'classification_rule' THEN 'rule_change'
	                                       WHEN 'area_grant' THEN 'grant_change' ELSE 'policy_change' END,
	                    '{}', NULL, format('%s on %s', TG_OP, TG_TABLE_NAME));
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit_change(), audit_log_append_only() FROM PUBLIC;
CREATE TRIGGER tier_policy_audit AFTER INSERT OR UPDATE OR DELETE ON tier_policy
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER classification_rule_audit AFTER INSERT OR UPDATE OR DELETE ON classification_rule
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER loop_policy_audit AFTER INSERT OR UPDATE OR DELETE ON loop_policy
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE OR REPLACE FUNCTION revoke_door_token(resident_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM 1 FROM sanse.resident r WHERE r.id = revoke_door_token.resident_id
	   AND sanse.caller_sees(r.area_id, 'read') FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', revoke_door_token.resident_id USING ERRCODE = '22023';
	END IF;
	UPDATE sanse.door_token t SET revoked_at = now()
	 WHERE t.resident_id = revoke_door_token.resident_id AND t.revoked_at IS NULL;
	PERFORM sanse.audit('token_revocation', ARRAY[revoke_door_token.resident_id], NULL);
	RETURN sanse.door_token(revoke_door_token.resident_id);
END
$$;
DROP FUNCTION find_resident_by_id_number(text);
-- Matching records across departments is a sensitive act: it needs a
-- purpose, and it is audited with the residents it found.
CREATE FUNCTION find_resident_by_id_number(id_number text, purpose text) RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	found bigint[];
BEGIN
	IF purpose IS NULL OR btrim(purpose) = '' THEN
		RAISE EXCEPTION 'an ID-number lookup needs a purpose' USING ERRCODE = '22023',
			HINT = 'Say why the record is looked up; the lookup is audited with it.';
	END IF;
	IF id_number IS NULL THEN
		RAISE EXCEPTION 'the ID number must not be NULL' USING ERRCODE = '22004';
	END IF;
	-- only residents of the caller's subtrees (read access)
	found := ARRAY(SELECT r.id FROM sanse.resident r
	                WHERE r.id_number_hash = sanse.id_number_hash(id_number)
	                  AND sanse.caller_sees(r.area_id, 'read') ORDER BY r.id);
	PERFORM sanse.audit('id_lookup', found, purpose);
	RETURN QUERY SELECT unnest(found);
END
$$;
REVOKE ALL ON FUNCTION find_resident_by_id_number(text, text) FROM PUBLIC;
COMMENT ON FUNCTION find_resident_by_id_number(text, text) IS 'ids of residents registered with this clear ID card number; needs a purpose, audited';
ALTER TABLE resident ADD COLUMN deactivated_at timestamptz, ADD COLUMN forgotten_at timestamptz;
-- residents already inactive count their retention from this update
UPDATE resident SET deactivated_at = now() WHERE NOT active;
CREATE INDEX resident_forget_due ON resident (deactivated_at) WHERE NOT active AND forgotten_at IS NULL;
-- Tier overrides are audited (who and why is in the history too).
CREATE FUNCTION resident_audit_override() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_audit_override() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		PERFORM sanse.audit('tier_override', ARRAY[n.id], n.override_reason, 'set on registration', n.written_by)
		   FROM new_rows n WHERE n.tier_override IS NOT NULL;
	ELSE
		PERFORM sanse.audit('tier_override', ARRAY[NEW.id], NEW.override_reason,
		                    format('%s -> %s', coalesce(OLD.tier_override::text, 'none'), coalesce(NEW.tier_override::text, 'none')),
		                    NEW.written_by);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER resident_audit_override_insert AFTER INSERT ON resident
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION resident_audit_override();
-- (forgetting a resident is audited as such)
CREATE TRIGGER resident_audit_override_update AFTER UPDATE ON resident
	FOR EACH ROW WHEN (OLD.tier_override IS DISTINCT FROM NEW.tier_override AND NEW.forgotten_at IS NULL)
	EXECUTE FUNCTION resident_audit_override();
-- When a resident left the programme, for deletion once the purpose ends.
CREATE FUNCTION resident_deactivated() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_deactivated() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	NEW.deactivated_at := CASE WHEN NEW.active THEN NULL ELSE now() END;
	RETURN NEW;
END
$$;
CREATE TRIGGER resident_30_deactivated_insert BEFORE INSERT ON resident
	FOR EACH ROW WHEN (NOT NEW.active) EXECUTE FUNCTION resident_deactivated();
CREATE TRIGGER resident_30_deactivated_update BEFORE UPDATE OF active ON resident
	FOR EACH ROW WHEN (OLD.active IS DISTINCT FROM NEW.active) EXECUTE FUNCTION resident_deactivated();
REVOKE ALL ON FUNCTION resident_audit_override(), resident_deactivated() FROM PUBLIC;
-----------------------------------------------------------------------------
-- Deletion when the purpose ends (spec 8): forgetting a resident erases
-- what identifies them — name, factors, ID hash, coordinates, door tokens,
-- the free texts about them — and keeps the anonymous rows statistics need
-- (visits, events, steps, tier history without reasons).  The sweep forgets
-- residents inactive for longer than sanse.retention.
-----------------------------------------------------------------------------
CREATE FUNCTION forget(p_residents bigint[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	DELETE FROM sanse.door_token t WHERE t.resident_id = ANY (p_residents);
	UPDATE sanse.tier_history h SET override_reason = NULL
	 WHERE h.resident_id = ANY (p_residents) AND h.override_reason IS NOT NULL;
	UPDATE sanse.visit v SET note = NULL WHERE v.resident_id = ANY (p_residents) AND v.note IS NOT NULL;
	UPDATE sanse.visit_withdrawn v SET note = NULL, reason = 'forgotten' WHERE v.resident_id = ANY (p_residents);
	UPDATE sanse.event_transition t SET note = NULL
	  FROM sanse.event e
	 WHERE t.event_id = e.id AND e.resident_id = ANY (p_residents) AND t.note IS NOT NULL;
	UPDATE sanse.event e SET detail = NULL, action = NULL, feedback = NULL
	 WHERE e.resident_id = ANY (p_residents)
	   AND (e.detail IS NOT NULL OR e.action IS NOT NULL OR e.feedback IS NOT NULL);
	UPDATE sanse.resident r
	   SET name = 'forgotten', factors = '{}', tier_override = NULL, override_reason = NULL,
	       lat = NULL, lon = NULL, id_number = '', active = false, forgotten_at = now()
	 WHERE r.id = ANY (p_residents) AND r.forgotten_at IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE FUNCTION forget_resident(resident_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'forgetting a resident needs a reason' USING ERRCODE = '22023';
	ELSIF length(reason) > 2000 THEN
		RAISE EXCEPTION 'the reason is longer than 2000 characters' USING ERRCODE = '22001';
	END IF;
	PERFORM 1 FROM sanse.resident r WHERE r.id = resident_id AND sanse.caller_sees(r.area_id, 'care')
	   FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', coalesce(resident_id::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	PERFORM sanse.forget(ARRAY[resident_id]);
	PERFORM sanse.audit('forget_resident', ARRAY[resident_id], reason);
END
$$;
REVOKE ALL ON FUNCTION forget_resident(bigint, text), forget(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION forget_resident(bigint, text) IS 'erase what identifies a resident who left the programme (name, factors, ID hash, coordinates, door tokens, free texts), keeping the anonymous rows; audited';

-- sanse.retention as an interval, read in C (never a placeholder a role set
-- before the library was loaded in its session).
CREATE FUNCTION retention() RETURNS interval
	AS 'MODULE_PATHNAME', 'retention' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION retention() IS 'the setting sanse.retention, as an interval';

-- Residents inactive for longer than sanse.retention, forgotten by the sweep
-- (index resident_forget_due: the cost follows who is due).
CREATE FUNCTION forget_expired(at timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	ids bigint[];
BEGIN
	ids := ARRAY(SELECT r.id FROM sanse.resident r
	              WHERE NOT r.active AND r.forgotten_at IS NULL
	                AND r.deactivated_at < at - sanse.retention()
	              ORDER BY r.id);
	IF cardinality(ids) = 0 THEN
		RETURN 0;
	END IF;
	PERFORM sanse.audit('forget_resident', ids, 'retention: inactive longer than ' || sanse.retention()::text);
	RETURN sanse.forget(ids);
END
$$;
REVOKE ALL ON FUNCTION forget_expired(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION forget_expired(timestamptz) IS 'forget the residents inactive for longer than sanse.retention at a time; returns how many';
-- coverage per area and tier, with the tier as text: what a BI tool that
-- knows nothing of sanse filters with WHERE tier = 'red'.
CREATE VIEW coverage_by_tier AS
WITH per_grid AS (
	SELECT r.area_id, r.tier,
	       count(*) AS residents,
	       count(*) FILTER (WHERE s.status = 'overdue') AS overdue_now,
	       count(*) FILTER (WHERE s.status = 'met') AS window_met
	  FROM sanse.resident r
	  JOIN sanse.tier_policy p ON p.tier = r.tier
	 CROSS JOIN LATERAL (SELECT sanse.visit_status(r.next_visit, r.last_visit_at, p.cadence) AS status) s
	 WHERE r.active
	 GROUP BY r.area_id, r.tier)
SELECT up.id AS area_id, up.path::text AS path, up.kind, up.name, g.tier::text AS tier,
       sum(g.residents)::bigint AS residents, sum(g.overdue_now)::bigint AS overdue_now,
       sum(g.window_met)::bigint AS window_met,
       round(1 - sum(g.overdue_now)::numeric / sum(g.residents), 4) AS coverage_rate
  FROM per_grid g
  JOIN sanse.area m ON m.id = g.area_id
  JOIN sanse.area up ON up.path @> m.path
 GROUP BY up.id, up.path, up.kind, up.name, g.tier;
COMMENT ON VIEW coverage_by_tier IS 'coverage per area (rolled up) and tier (as text): residents, overdue now, window met, coverage rate';

-- Forgetting writes no history row (nor an override audit row, above).
DROP TRIGGER resident_history_update ON resident;
CREATE TRIGGER resident_history_update AFTER UPDATE ON resident
	FOR EACH ROW
	WHEN (NEW.forgotten_at IS NULL	-- forgetting keeps the history as it was
	      AND (OLD.computed_tier IS DISTINCT FROM NEW.computed_tier
	      OR OLD.tier_override IS DISTINCT FROM NEW.tier_override
	      OR OLD.tier IS DISTINCT FROM NEW.tier))
	EXECUTE FUNCTION resident_history_update();
-- TRUNCATE of the rules or the loop policies would bypass their row
-- triggers (built-in rules, re-derived clocks, the audit): refused.
CREATE FUNCTION refuse_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID NOT IN ('sanse.classification_rule'::regclass, 'sanse.loop_policy'::regclass,
	                    'sanse.area_grant'::regclass) THEN
		RAISE EXCEPTION 'trigger function refuse_truncate() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s rule and policy tables.';
	END IF;
	RAISE EXCEPTION 'sanse.% cannot be truncated', TG_TABLE_NAME
		USING ERRCODE = '23001', HINT = 'Delete the rows (built-in rules can only be switched off).';
END
$$;
REVOKE ALL ON FUNCTION refuse_truncate() FROM PUBLIC;
CREATE TRIGGER classification_rule_no_truncate BEFORE TRUNCATE ON classification_rule
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER loop_policy_no_truncate BEFORE TRUNCATE ON loop_policy
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE OR REPLACE FUNCTION door_token(resident_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_column
DECLARE
	current_nonce bytea;
BEGIN
	PERFORM 1 FROM sanse.resident r WHERE r.id = door_token.resident_id
	   AND sanse.caller_sees(r.area_id, 'read') FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', door_token.resident_id USING ERRCODE = '22023';
	END IF;
	IF EXISTS (SELECT 1 FROM sanse.resident r WHERE r.id = door_token.resident_id AND r.forgotten_at IS NOT NULL) THEN
		RAISE EXCEPTION 'resident % has been forgotten', door_token.resident_id
			USING ERRCODE = '55000', DETAIL = 'A forgotten resident gets no door token.';
	END IF;
	SELECT t.nonce INTO current_nonce FROM sanse.door_token t
	 WHERE t.resident_id = door_token.resident_id AND t.revoked_at IS NULL;
	IF NOT FOUND THEN
		INSERT INTO sanse.door_token (nonce, resident_id, version)
		SELECT sanse.door_token_nonce(), door_token.resident_id,
		       coalesce(max(t.version), 0) + 1
		  FROM sanse.door_token t WHERE t.resident_id = door_token.resident_id
		ON CONFLICT (resident_id) WHERE revoked_at IS NULL DO NOTHING;
		SELECT t.nonce INTO STRICT current_nonce FROM sanse.door_token t
		 WHERE t.resident_id = door_token.resident_id AND t.revoked_at IS NULL;
	END IF;
	RETURN sanse.door_token_sign(current_nonce);
END
$$;

-----------------------------------------------------------------------------
-- Issue 13: grants by area with row-level security, screen views that show
-- each role its areas with small cells hidden, SECURITY DEFINER functions
-- that see only the caller's subtrees.
-----------------------------------------------------------------------------
-- Grants by area (spec 8): a role sees the rows of an area's subtree only
-- through a row here (for itself or a role it is a member of).  aggregate:
-- the screen views, small cells hidden; read: rows, without factors,
-- coordinates or ID hashes; care: all columns, and writes residents and
-- carers.  The root ('') is refused: it would grant everything.
CREATE TABLE area_grant (
	role name NOT NULL,
	path ltree NOT NULL CONSTRAINT area_grant_not_the_root CHECK (nlevel(path) > 0),
	access text NOT NULL CHECK (access IN ('aggregate', 'read', 'care')),
	PRIMARY KEY (role, path, access)
);
REVOKE ALL ON area_grant FROM PUBLIC;
COMMENT ON TABLE area_grant IS 'grants by area: a role (or its members) sees the subtree of path with access aggregate, read or care';
SELECT pg_catalog.pg_extension_config_dump('area_grant', '');
-- The areas a role sees with at least an access: the subtrees granted to it
-- or to a role it is a member of.  Fails closed: an unknown or dropped role,
-- no grant, or a role the session may not act as sees nothing.  Superusers
-- and the extension owner see every area.  Row-level security and the
-- screen views call it with current_user; runs as the owner to read grants.
CREATE FUNCTION granted_areas(p_access text, p_role name) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF p_role IS NULL OR p_access IS NULL
	   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = p_role)
	   OR NOT pg_catalog.pg_has_role(session_user, p_role, 'MEMBER') THEN
		RETURN;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = p_role AND r.rolsuper)
	   OR p_role = (SELECT o.rolname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_roles o ON o.oid = e.extowner
	                 WHERE e.extname = 'sanse') THEN
		RETURN QUERY SELECT a.id FROM sanse.area a;
		RETURN;
	END IF;
	RETURN QUERY
	SELECT DISTINCT a.id
	  FROM sanse.area_grant g
	  JOIN sanse.area a ON sanse.path_contains(g.path, a.path)
	 WHERE g.access = ANY (CASE p_access WHEN 'aggregate' THEN ARRAY['aggregate', 'read', 'care']
	                                     WHEN 'read' THEN ARRAY['read', 'care']
	                                     WHEN 'care' THEN ARRAY['care']
	                                     ELSE '{}'::text[] END)
	   AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = g.role AND r.oid = g.role_oid)
	   -- USAGE: the privileges of g.role are the role's own (inherited, or by SET ROLE)
	   AND pg_catalog.pg_has_role(p_role, g.role, 'USAGE');
END
$$;
COMMENT ON FUNCTION granted_areas(text, name) IS 'ids of the areas a role sees with at least this access (every area for superusers and the owner; none when it is not the session''s to ask)';

-- The areas the current user sees on the screen views, each with whether it
-- sees them exactly (read or care) or as aggregates only (small cells
-- hidden): what every screen view joins on.  Inlined into the views.
CREATE FUNCTION screen_areas() RETURNS TABLE (id bigint, exact boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
	SELECT g.id, g.id IN (SELECT sanse.granted_areas('read', current_user))
	  FROM sanse.granted_areas('aggregate', current_user) g(id);
END;
COMMENT ON FUNCTION screen_areas() IS 'the areas current_user sees on the screen views, and whether exactly (read or care) or as aggregates only';
-- The same question asked per row, as a probe of a per-backend expansion of
-- the grant rows (area_access.c), reloaded when area_grant, area or the roles
-- change: what row-level security asks of every row a role reads or writes.
-- Fails closed like granted_areas.  current_user is SET ROLE's role, or a
-- SECURITY DEFINER function's owner.
CREATE FUNCTION sees_area(area_id bigint, access text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sees_area' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sees_area(bigint, text) IS 'true when current_user sees the area with at least this access (aggregate, read or care); false for NULLs';

-- Whether the role acting in this session (SET ROLE's, else the login) sees
-- an area with at least an access: what sanse's SECURITY DEFINER functions,
-- which run as the owner, check before they touch a person's rows, so they
-- leak nothing across subtrees (a resident outside is "does not exist").
CREATE FUNCTION caller_sees(p_area bigint, p_access text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'caller_sees' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION caller_sees(bigint, text) IS 'true when the acting role of the session sees the area with at least this access';

-- A count as an aggregate-only role sees it: 1 to sanse.min_cell - 1 hidden.
-- In C: reading the threshold loads sanse's library, so sanse.min_cell is
-- the superuser-only setting, never a placeholder any role could have set
-- before the library was loaded in its session.
CREATE FUNCTION cell(n bigint, exact boolean) RETURNS bigint
	AS 'MODULE_PATHNAME', 'cell' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cell(bigint, boolean) IS 'a count, NULL when from 1 to sanse.min_cell - 1 and not exact (aggregate-only access)';
CREATE TRIGGER a_restore_guard BEFORE INSERT ON department FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
-- the screen views become wrappers over the owner's *_all views; grants
-- given on them by hand move to the wrappers
SELECT pg_catalog.set_config('sanse_upgrade.view_grants', coalesce((
	SELECT json_agg(json_build_object('view', c.relname, 'grantee', a.grantee::regrole::text, 'privilege', a.privilege_type))::text
	  FROM pg_catalog.pg_class c, aclexplode(c.relacl) a
	 WHERE c.relnamespace = 'sanse'::regnamespace
	   AND c.relname IN ('coverage', 'coverage_by_tier', 'overdue_events', 'grid_daily_report', 'loop_metrics')
	   AND a.grantee <> c.relowner AND a.grantee <> 0), '[]'), true);
ALTER VIEW coverage RENAME TO coverage_all;
ALTER VIEW coverage_by_tier RENAME TO coverage_by_tier_all;
ALTER VIEW overdue_events RENAME TO overdue_events_all;
ALTER VIEW grid_daily_report RENAME TO grid_daily_report_all;
ALTER VIEW loop_metrics RENAME TO loop_metrics_all;
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM json_to_recordset(pg_catalog.current_setting('sanse_upgrade.view_grants')::json)
	                         AS x(view text, grantee text, privilege text) LOOP
		EXECUTE format('REVOKE ALL ON sanse.%I FROM %s', g.view || '_all', g.grantee);
	END LOOP;
END
$$;
COMMENT ON VIEW coverage_all IS 'all areas, for the owner (read coverage): per area at every level (rolled up the hierarchy): residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue';
COMMENT ON VIEW coverage_by_tier_all IS 'all areas, for the owner (read coverage_by_tier): coverage per area (rolled up) and tier (as text): residents, overdue now, window met, coverage rate';
COMMENT ON VIEW overdue_events_all IS 'all areas, for the owner (read overdue_events): per area (rolled up) and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close';
COMMENT ON VIEW grid_daily_report_all IS 'all areas, for the owner (read grid_daily_report): daily grid work report (网格工作报告) per micro grid: visits, complete checklists, flagged visits, events opened (by due day) and closed';
COMMENT ON VIEW loop_metrics_all IS 'all areas, for the owner (read loop_metrics): closed loop per area (rolled up), month of raising and kind: raised, answered in time (first arrival before the first arrival step), response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open';
-----------------------------------------------------------------------------
-- The screen views clients read (spec 8): each role sees the areas granted
-- to it (every area for superusers and the owner), and where its access is
-- aggregate only, no count from 1 to sanse.min_cell - 1 (nor a rate, median
-- or mean built on one): no small cell identifies a household.
-----------------------------------------------------------------------------
CREATE VIEW coverage AS
SELECT c.area_id, c.path, c.kind, c.name,
       sanse.cell(c.residents, v.exact) AS residents, sanse.cell(c.red, v.exact) AS red,
       sanse.cell(c.yellow, v.exact) AS yellow, sanse.cell(c.blue, v.exact) AS blue,
       sanse.cell(c.overdue_now, v.exact) AS overdue_now, sanse.cell(c.window_met, v.exact) AS window_met,
       CASE WHEN v.exact OR (sanse.cell(c.residents, false) IS NOT NULL AND sanse.cell(c.overdue_now, false) IS NOT NULL)
            THEN c.coverage_rate END AS coverage_rate
  FROM sanse.coverage_all c
  JOIN sanse.screen_areas() v ON v.id = c.area_id;
COMMENT ON VIEW coverage IS 'per area at every level (rolled up the hierarchy) the role may see: residents in the programme by tier, overdue now, current window met, coverage rate = share not overdue (small cells hidden from aggregate-only roles)';
CREATE VIEW coverage_by_tier AS
SELECT c.area_id, c.path, c.kind, c.name, c.tier,
       sanse.cell(c.residents, v.exact) AS residents, sanse.cell(c.overdue_now, v.exact) AS overdue_now,
       sanse.cell(c.window_met, v.exact) AS window_met,
       CASE WHEN v.exact OR (sanse.cell(c.residents, false) IS NOT NULL AND sanse.cell(c.overdue_now, false) IS NOT NULL)
            THEN c.coverage_rate END AS coverage_rate
  FROM sanse.coverage_by_tier_all c
  JOIN sanse.screen_areas() v ON v.id = c.area_id;
COMMENT ON VIEW coverage_by_tier IS 'coverage per area (rolled up) the role may see and tier (as text): residents, overdue now, window met, coverage rate (small cells hidden from aggregate-only roles)';
CREATE VIEW overdue_events AS
SELECT o.area_id, o.path, o.kind, o.name, o.month,
       sanse.cell(o.opened, v.exact) AS opened, sanse.cell(o.closed, v.exact) AS closed,
       sanse.cell(o.still_open, v.exact) AS still_open,
       sanse.cell(o.reached_level_1, v.exact) AS reached_level_1, sanse.cell(o.reached_level_2, v.exact) AS reached_level_2,
       sanse.cell(o.reached_level_3, v.exact) AS reached_level_3, sanse.cell(o.reached_level_4, v.exact) AS reached_level_4,
       CASE WHEN v.exact OR sanse.cell(o.closed, false) IS NOT NULL THEN o.median_time_to_close END AS median_time_to_close
  FROM sanse.overdue_events_all o
  JOIN sanse.screen_areas() v ON v.id = o.area_id;
COMMENT ON VIEW overdue_events IS 'per area (rolled up) the role may see and month of the due time: overdue events opened, closed, still open, by highest level reached, median time to close (small cells hidden from aggregate-only roles)';
CREATE VIEW grid_daily_report AS
SELECT d.area_id, d.path, d.name, d.day,
       sanse.cell(d.visits, v.exact) AS visits, sanse.cell(d.complete_checklists, v.exact) AS complete_checklists,
       sanse.cell(d.flagged_visits, v.exact) AS flagged_visits, sanse.cell(d.events_opened, v.exact) AS events_opened,
       sanse.cell(d.events_closed, v.exact) AS events_closed
  FROM sanse.grid_daily_report_all d
  JOIN sanse.screen_areas() v ON v.id = d.area_id;
COMMENT ON VIEW grid_daily_report IS 'daily grid work report (网格工作报告) per micro grid the role may see: visits, complete checklists, flagged visits, events opened (by due day) and closed (small cells hidden from aggregate-only roles)';
CREATE VIEW loop_metrics AS
SELECT l.area_id, l.path, l.name, l.month, l.kind,
       sanse.cell(l.raised, v.exact) AS raised, sanse.cell(l.answered_in_time, v.exact) AS answered_in_time,
       CASE WHEN v.exact OR (sanse.cell(l.raised, false) IS NOT NULL AND sanse.cell(l.answered_in_time, false) IS NOT NULL)
            THEN l.response_rate END AS response_rate,
       -- built on the arrivals, at least as many as answered in time
       CASE WHEN v.exact OR sanse.cell(l.answered_in_time, false) IS NOT NULL
            THEN l.median_time_to_arrive END AS median_time_to_arrive,
       sanse.cell(l.handled, v.exact) AS handled, sanse.cell(l.closed, v.exact) AS closed,
       sanse.cell(l.reopened, v.exact) AS reopened,
       CASE WHEN v.exact THEN l.mean_rating END AS mean_rating,
       sanse.cell(l.confirmed_solved, v.exact) AS confirmed_solved, sanse.cell(l.still_open, v.exact) AS still_open
  FROM sanse.loop_metrics_all l
  JOIN sanse.screen_areas() v ON v.id = l.area_id;
COMMENT ON VIEW loop_metrics IS 'closed loop per area (rolled up) the role may see, month of raising and kind: raised, answered in time, response rate, median time to arrive, handled, closed, reopened, mean rating, confirmed solved by the resident, still open (small cells hidden from aggregate-only roles)';
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM json_to_recordset(pg_catalog.current_setting('sanse_upgrade.view_grants')::json)
	                         AS x(view text, grantee text, privilege text) LOOP
		EXECUTE format('GRANT %s ON sanse.%I TO %s', g.privilege, g.view, g.grantee);
	END LOOP;
END
$$;
CREATE VIEW carer_gaps AS
SELECT r.id AS resident_id, r.area_id, r.tier::text AS tier,
       array_agg(f.force ORDER BY f.ord) AS missing_forces
  FROM resident r
 CROSS JOIN unnest(forces()) WITH ORDINALITY AS f(force, ord)
 WHERE r.active
   AND r.area_id IN (SELECT sanse.granted_areas('read', current_user))
   AND NOT EXISTS (SELECT 1 FROM carer c JOIN worker w ON w.id = c.worker_id
                    WHERE c.resident_id = r.id AND c.force = f.force AND w.active)
 GROUP BY r.id, r.area_id, r.tier;
COMMENT ON VIEW carer_gaps IS 'active residents whose five-for-one is incomplete, with the forces missing (inactive carers count as missing)';
-- The supervisor's board: every open event of every kind.
CREATE VIEW open_events AS
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
-- Who carries how much (paper 5.3.2: workers buried under visits): residents
-- in their care by tier, the visits a week their cadences ask for, open
-- events assigned to them, loop events they handled this month.
CREATE VIEW worker_load AS
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
-----------------------------------------------------------------------------
-- Row-level security by area (spec 8).  Every table that holds a person or
-- their events shows a role (other than the owner, who bypasses it, and
-- superusers) only the rows of the areas granted to it: resident, visit and
-- event by their area, carer, tier history, door tokens and withdrawn visits
-- by their resident, steps and transitions by their event.  Writes to
-- residents and carers need care.  Fails closed: without a grant row a role
-- sees no row, whatever table privileges it was given by hand.
-----------------------------------------------------------------------------
-- Each policy is a probe per row (sees_area), so a single-row write costs
-- a hash lookup, not an expansion of the granted subtree; rows keyed by a
-- resident or an event find its area through the primary key.
ALTER TABLE resident ENABLE ROW LEVEL SECURITY;
CREATE POLICY resident_read ON resident FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
CREATE POLICY resident_insert ON resident FOR INSERT
	WITH CHECK (sanse.sees_area(area_id, 'care'));
CREATE POLICY resident_update ON resident FOR UPDATE
	USING (sanse.sees_area(area_id, 'care'))
	WITH CHECK (sanse.sees_area(area_id, 'care'));
CREATE POLICY resident_delete ON resident FOR DELETE
	USING (sanse.sees_area(area_id, 'care'));

ALTER TABLE carer ENABLE ROW LEVEL SECURITY;
CREATE POLICY carer_read ON carer FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
CREATE POLICY carer_write ON carer FOR ALL
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'care'))
	WITH CHECK (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'care'));

ALTER TABLE visit ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_read ON visit FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
ALTER TABLE event ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_read ON event FOR SELECT
	USING (sanse.sees_area(area_id, 'read'));
ALTER TABLE event_step ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_step_read ON event_step FOR SELECT
	USING (sanse.sees_area((SELECT e.area_id FROM sanse.event e WHERE e.id = event_id), 'read'));
ALTER TABLE event_transition ENABLE ROW LEVEL SECURITY;
CREATE POLICY event_transition_read ON event_transition FOR SELECT
	USING (sanse.sees_area((SELECT e.area_id FROM sanse.event e WHERE e.id = event_id), 'read'));
ALTER TABLE tier_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY tier_history_read ON tier_history FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
ALTER TABLE door_token ENABLE ROW LEVEL SECURITY;
CREATE POLICY door_token_read ON door_token FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));
ALTER TABLE visit_withdrawn ENABLE ROW LEVEL SECURITY;
CREATE POLICY visit_withdrawn_read ON visit_withdrawn FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'read'));

-- sees_area's expansion of the grants follows the areas and the grant rows
CREATE TRIGGER area_access_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON area
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
CREATE TRIGGER area_access_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
ALTER TABLE area ENABLE ALWAYS TRIGGER area_access_cache;
ALTER TABLE area_grant ENABLE ALWAYS TRIGGER area_access_cache;

-- A grant row is the whole recipe: inserting, changing or deleting one gives
-- its role exactly the privileges its strongest remaining access needs
-- (schema usage is everyone's), and takes back the others, including any
-- granted by hand on these objects.
CREATE FUNCTION area_grant_privileges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	r name;
	roles name[];
	best text;
	aggregate_views text := 'sanse.coverage, sanse.coverage_by_tier, sanse.overdue_events, sanse.grid_daily_report, sanse.loop_metrics, sanse.worker_checkin_rate, sanse.coverage_history';
	-- the district's structure has no row-level security: grant rows manage
	-- only SELECT on it (its writes are granted by hand)
	structure text := 'sanse.area, sanse.worker, sanse.department';
	read_relations text := 'sanse.carer, sanse.visit, sanse.event, sanse.event_step, '
	                       'sanse.event_transition, sanse.tier_history, sanse.open_events, sanse.worker_load, sanse.carer_gaps, sanse.sweep_status';
	resident_read_columns text;
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.area_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function area_grant_privileges() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.area_grant.';
	END IF;
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO resident_read_columns
	  FROM pg_catalog.pg_attribute a
	 WHERE a.attrelid = 'sanse.resident'::regclass AND a.attnum > 0 AND NOT a.attisdropped
	   AND a.attname NOT IN ('factors', 'lat', 'lon', 'id_number_hash', 'id_number');
	-- each branch names only the transition tables its event has
	IF TG_OP = 'INSERT' THEN
		roles := ARRAY(SELECT DISTINCT n.role FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		roles := ARRAY(SELECT DISTINCT o.role FROM old_rows o);
	ELSE
		roles := ARRAY(SELECT n.role FROM new_rows n UNION SELECT o.role FROM old_rows o);
	END IF;
	FOREACH r IN ARRAY roles LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		SELECT CASE max(CASE g.access WHEN 'care' THEN 3 WHEN 'read' THEN 2 ELSE 1 END)
		         WHEN 3 THEN 'care' WHEN 2 THEN 'read' WHEN 1 THEN 'aggregate' END
		  INTO best FROM sanse.area_grant g
		 WHERE g.role = r AND g.role_oid = (SELECT x.oid FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', aggregate_views, r);
		EXECUTE format('REVOKE ALL ON %s FROM %I', read_relations, r);
		EXECUTE format('REVOKE SELECT ON %s FROM %I', structure, r);
		EXECUTE format('REVOKE ALL ON sanse.resident FROM %I', r);
		EXECUTE format('REVOKE ALL (%s, factors, lat, lon, id_number_hash, id_number) ON sanse.resident FROM %I',
		               resident_read_columns, r);
		IF best IS NOT NULL THEN
			EXECUTE format('GRANT SELECT ON %s TO %I', aggregate_views, r);
		END IF;
		IF best IN ('read', 'care') THEN
			EXECUTE format('GRANT SELECT ON %s TO %I', read_relations, r);
			EXECUTE format('GRANT SELECT ON %s TO %I', structure, r);
			EXECUTE format('GRANT SELECT (%s) ON sanse.resident TO %I', resident_read_columns, r);
		END IF;
		IF best = 'care' THEN
			EXECUTE format('GRANT SELECT, INSERT, UPDATE ON sanse.resident TO %I', r);
			EXECUTE format('GRANT INSERT, UPDATE, DELETE ON sanse.carer TO %I', r);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
CREATE TRIGGER area_grant_privileges_insert AFTER INSERT ON area_grant
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_privileges_update AFTER UPDATE ON area_grant
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_privileges_delete AFTER DELETE ON area_grant
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_grant_privileges();
CREATE TRIGGER area_grant_audit AFTER INSERT OR UPDATE OR DELETE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER area_grant_no_truncate BEFORE TRUNCATE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_grant FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION area_grant_privileges() FROM PUBLIC;

-- worker_checkin_rate per granted area with small cells hidden; grant rows manage only SELECT on the district structure
-- Reads the tally kept as things happen (worker_tally): one row per (worker,
-- month) with activity, so a month of every worker costs milliseconds.
-- Workers of the areas the role may see; small cells hidden where its access
-- is aggregate only.
CREATE OR REPLACE VIEW worker_checkin_rate AS
SELECT t.worker_id, wk.name AS worker_name, wk.force, wk.area_id, t.month,
       sanse.cell(t.windows_met + t.windows_missed, v.exact) AS windows_due,
       sanse.cell(t.windows_met, v.exact) AS windows_met,
       CASE WHEN t.windows_met + t.windows_missed > 0
             AND (v.exact OR (sanse.cell(t.windows_met + t.windows_missed, false) IS NOT NULL
                              AND sanse.cell(t.windows_met, false) IS NOT NULL))
            THEN round(t.windows_met::numeric / (t.windows_met + t.windows_missed), 4) END AS checkin_rate,
       sanse.cell(t.visits, v.exact) AS visits,
       sanse.cell(t.flagged_visits, v.exact) AS flagged_visits,
       CASE WHEN t.visits > 0 AND (v.exact OR sanse.cell(t.visits, false) IS NOT NULL)
            THEN round(t.checklist_items::numeric / (cardinality(checklist_items()) * t.visits), 4) END AS checklist_completeness
  FROM sanse.worker_tally t
  JOIN sanse.worker wk ON wk.id = t.worker_id
  JOIN sanse.screen_areas() v ON v.id = wk.area_id
 WHERE t.windows_met + t.windows_missed > 0 OR t.visits > 0;

-- Grant rows keep their role's OID (a role dropped and created again does not inherit them);
-- grants reach members that inherit (USAGE); care writes carers; loop medians and means for read access only
ALTER TABLE area_grant ADD COLUMN role_oid oid NOT NULL;
COMMENT ON COLUMN area_grant.role_oid IS 'the role the row was granted to (set by sanse): a role dropped and created again under the same name does not inherit the row';
-- The row names a role that exists now; its OID is kept, so the grant dies
-- with the role even if the name comes back.
CREATE FUNCTION area_grant_role() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.area_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function area_grant_role() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.area_grant.';
	END IF;
	IF NEW.role IS NULL THEN
		RETURN NEW;		-- the NOT NULL constraint refuses it (23502)
	END IF;
	NEW.role_oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.role);
	IF NEW.role_oid IS NULL THEN
		-- a restore into a cluster without the role keeps the row, matching nobody
		IF pg_catalog.current_setting('session_replication_role') = 'replica' THEN
			NEW.role_oid := 0;
			RETURN NEW;
		END IF;
		RAISE EXCEPTION 'role "%" does not exist', NEW.role USING ERRCODE = '42704';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER area_grant_role BEFORE INSERT OR UPDATE ON area_grant
	FOR EACH ROW EXECUTE FUNCTION area_grant_role();
-- a restored row takes the OID its role has in this cluster
ALTER TABLE area_grant ENABLE ALWAYS TRIGGER area_grant_role;
REVOKE ALL ON FUNCTION area_grant_role() FROM PUBLIC;
-----------------------------------------------------------------------------
-- Issue 14 (part): the daily history kept by the sweep (area_day) and the
-- screen view over it (coverage_history).
-----------------------------------------------------------------------------

-- One row per recorded day: the zone its boundaries were cut in, the time
-- of the sweep that recorded it and how many area rows it has (NULL: the
-- day before the history started, not recorded).
CREATE TABLE area_day_recorded (
	day date PRIMARY KEY,
	zone text NOT NULL,
	swept_at timestamptz NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	areas integer
);
REVOKE ALL ON area_day_recorded FROM PUBLIC;
COMMENT ON TABLE area_day_recorded IS 'days recorded in area_day: zone, sweep time, area rows (NULL: the day before the history started)';

-- The day's own numbers of an area rolled up over its subtree; an area
-- without a resident in the programme nor an event that day has no row.
CREATE TABLE area_day (
	day date NOT NULL,
	area_id bigint NOT NULL,
	residents integer NOT NULL,
	red integer NOT NULL,
	yellow integer NOT NULL,
	blue integer NOT NULL,
	overdue integer NOT NULL,
	windows_met integer NOT NULL,
	events_opened integer NOT NULL,
	events_closed integer NOT NULL,
	open_level_1 integer NOT NULL,
	open_level_2 integer NOT NULL,
	open_level_3 integer NOT NULL,
	open_level_4 integer NOT NULL,
	loop_raised integer NOT NULL,
	loop_answered_in_time integer NOT NULL,
	PRIMARY KEY (day, area_id)
);
CREATE INDEX area_day_area ON area_day (area_id, day);
REVOKE ALL ON area_day FROM PUBLIC;
COMMENT ON TABLE area_day IS 'daily history per area (rolled up) as of the end of each local day: residents in the programme by tier, overdue, windows met, overdue events opened, closed and open by level, loop events raised and answered in time; written only by the sweep';

-- What the days are computed from, by time: tier changes after a day's end
-- (the tier at that end is then read from the history), and open overdue
-- events (with the closed ones found by event_closed_at).
CREATE INDEX tier_history_changed_at ON tier_history (changed_at);
CREATE INDEX event_open_overdue ON event (due_at) WHERE kind = 'overdue' AND status <> 'closed';

-- History is never rewritten: UPDATE and TRUNCATE are refused (the owner
-- may DELETE a tail of days to have the next sweep record them again).
CREATE FUNCTION area_day_keep() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID NOT IN ('sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass) THEN
		RAISE EXCEPTION 'trigger function area_day_keep() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse''s daily history.';
	END IF;
	RAISE EXCEPTION 'sanse.% keeps the daily history: % is refused', TG_TABLE_NAME, TG_OP
		USING ERRCODE = '42501', HINT = 'Recorded days are never changed; sanse.sweep records each day once.';
END
$$;
REVOKE ALL ON FUNCTION area_day_keep() FROM PUBLIC;
CREATE TRIGGER area_day_keep BEFORE UPDATE ON area_day
	FOR EACH ROW EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_no_truncate BEFORE TRUNCATE ON area_day
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_recorded_keep BEFORE UPDATE ON area_day_recorded
	FOR EACH ROW EXECUTE FUNCTION area_day_keep();
CREATE TRIGGER area_day_recorded_no_truncate BEFORE TRUNCATE ON area_day_recorded
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_keep();
SELECT pg_catalog.pg_extension_config_dump('area_day', '');
SELECT pg_catalog.pg_extension_config_dump('area_day_recorded', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day_recorded FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- One day's rows, as of its end e = next local midnight (every state below
-- is the one just before e; what happens at e belongs to the next day):
--   residents   registered before e, active then (active now, or deactivated
--               at or after e), with a tier at e (the current tier unless it
--               changed at or after e, then as tier_at reads the history);
--   overdue     those of them with an overdue event open at e (due before e,
--               not closed before e);
--   windows_met visits of the day that met a window (window_due set);
--   events      overdue events due (opened) and closed during the day, and
--               those open at e by the level their steps had reached before e;
--   loop        loop events raised during the day, and those of them whose
--               first arrival came before their first arrival step and before e.
-- Each part reads an index on time (tier_history_changed_at, visit_at,
-- event_due_at, event_open_overdue, event_closed_at), except the residents,
-- which are counted once a day; rolled up over the area hierarchy.
CREATE FUNCTION record_area_day(p_day date, p_zone text) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	s timestamptz := p_day::timestamp AT TIME ZONE p_zone;
	e timestamptz := (p_day + 1)::timestamp AT TIME ZONE p_zone;
	n int;
BEGIN
	INSERT INTO sanse.area_day (day, area_id, residents, red, yellow, blue, overdue, windows_met,
	                            events_opened, events_closed, open_level_1, open_level_2, open_level_3, open_level_4,
	                            loop_raised, loop_answered_in_time)
	WITH changed AS MATERIALIZED (
		SELECT h.resident_id FROM sanse.tier_history h WHERE h.changed_at >= e
		UNION
		SELECT r.id FROM sanse.resident r
		 WHERE r.forgotten_at IS NOT NULL AND NOT r.active AND r.deactivated_at >= e),
	-- their tier at e as tier_at gives it: the last change before e, else the
	-- first row (the registration), in one pass over their history
	changed_tier AS MATERIALIZED (
		SELECT DISTINCT ON (h.resident_id) h.resident_id, h.new_tier
		  FROM sanse.tier_history h
		 WHERE h.resident_id IN (SELECT c.resident_id FROM changed c)
		 ORDER BY h.resident_id, h.changed_at < e DESC,
		          CASE WHEN h.changed_at < e THEN h.changed_at END DESC, CASE WHEN h.changed_at < e THEN h.id END DESC,
		          h.changed_at, h.id),
	open_overdue AS MATERIALIZED (
		SELECT ev.id, ev.resident_id, ev.area_id FROM sanse.event ev
		 WHERE ev.kind = 'overdue' AND ev.status <> 'closed' AND ev.due_at < e
		UNION ALL
		SELECT ev.id, ev.resident_id, ev.area_id FROM sanse.event ev
		 WHERE ev.kind = 'overdue' AND ev.status = 'closed' AND ev.resolved_at >= e AND ev.due_at < e),
	in_programme AS (
		SELECT p.id, p.area_id, p.tier
		  FROM (SELECT r.id, r.area_id, CASE WHEN ct.resident_id IS NULL THEN r.tier ELSE ct.new_tier END AS tier
		          FROM sanse.resident r
		          LEFT JOIN changed_tier ct ON ct.resident_id = r.id
		         WHERE r.registered_at < e AND (r.active OR r.deactivated_at >= e)) p
		 WHERE p.tier IS NOT NULL),
	leaf (area_id, residents, red, yellow, blue, overdue, windows_met, events_opened, events_closed,
	      level, loop_raised, loop_answered_in_time) AS (
		SELECT p.area_id, 1, (p.tier = 'red')::int, (p.tier = 'yellow')::int, (p.tier = 'blue')::int,
		       (p.id IN (SELECT o.resident_id FROM open_overdue o))::int, 0, 0, 0, 0, 0, 0
		  FROM in_programme p
		UNION ALL
		SELECT v.area_id, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0
		  FROM sanse.visit v
		 WHERE v.at >= s AND v.at < e AND v.window_due IS NOT NULL
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0
		  FROM sanse.event ev
		 WHERE ev.due_at >= s AND ev.due_at < e AND ev.kind = 'overdue'
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0
		  FROM sanse.event ev
		 WHERE ev.status = 'closed' AND ev.resolved_at >= s AND ev.resolved_at < e AND ev.kind = 'overdue'
		UNION ALL
		SELECT o.area_id, 0, 0, 0, 0, 0, 0, 0, 0,
		       coalesce((SELECT max(st.level) FROM sanse.event_step st WHERE st.event_id = o.id AND st.at < e), 1),
		       0, 0
		  FROM open_overdue o
		UNION ALL
		SELECT ev.area_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		       coalesce((SELECT min(t.at) FROM sanse.event_transition t
		                  WHERE t.event_id = ev.id AND t.stage = 'arrived' AND t.at < e)
		                < sanse.zone_add(ev.due_at, sanse.step_interval(ev.kind, ev.tier, 'called')), false)::int
		  FROM sanse.event ev
		 WHERE ev.due_at >= s AND ev.due_at < e AND ev.kind <> 'overdue'),
	per_area AS (
		SELECT l.area_id, sum(l.residents) AS residents, sum(l.red) AS red, sum(l.yellow) AS yellow,
		       sum(l.blue) AS blue, sum(l.overdue) AS overdue, sum(l.windows_met) AS windows_met,
		       sum(l.events_opened) AS events_opened, sum(l.events_closed) AS events_closed,
		       count(*) FILTER (WHERE l.level = 1) AS open_level_1, count(*) FILTER (WHERE l.level = 2) AS open_level_2,
		       count(*) FILTER (WHERE l.level = 3) AS open_level_3, count(*) FILTER (WHERE l.level = 4) AS open_level_4,
		       sum(l.loop_raised) AS loop_raised, sum(l.loop_answered_in_time) AS loop_answered_in_time
		  FROM leaf l
		 GROUP BY l.area_id)
	SELECT p_day, up.id, sum(g.residents), sum(g.red), sum(g.yellow), sum(g.blue), sum(g.overdue),
	       sum(g.windows_met), sum(g.events_opened), sum(g.events_closed),
	       sum(g.open_level_1), sum(g.open_level_2), sum(g.open_level_3), sum(g.open_level_4),
	       sum(g.loop_raised), sum(g.loop_answered_in_time)
	  FROM per_area g
	  JOIN sanse.area m ON m.id = g.area_id
	  JOIN sanse.area up ON sanse.path_contains(up.path, m.path)
	 GROUP BY up.id
	 ORDER BY up.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION record_area_day(date, text) FROM PUBLIC;
COMMENT ON FUNCTION record_area_day(date, text) IS 'write area_day rows of one local day (in a zone) as of its end; returns how many';

-- The sweep's phase: record every day that ended by at and is not recorded,
-- oldest first, at most max_days in one call (the rest at the next sweep).
-- The first call ever marks the day before its own as the history's start.
-- A sweep with nothing to record reads one index entry.
CREATE FUNCTION record_history(at timestamptz DEFAULT now(), max_days integer DEFAULT 7) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	zone text := sanse.current_zone();
	d date;
	n int := 0;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	-- one recorder at a time (sweep holds this lock already)
	LOCK TABLE sanse.sweep_lock IN EXCLUSIVE MODE;
	SELECT r.day + 1 INTO d FROM sanse.area_day_recorded r ORDER BY r.day DESC LIMIT 1;
	IF d IS NULL THEN
		INSERT INTO sanse.area_day_recorded (day, zone, swept_at, areas)
		VALUES ((at AT TIME ZONE zone)::date - 1, zone, at, NULL);
		RETURN 0;
	END IF;
	WHILE n < max_days AND ((d + 1)::timestamp AT TIME ZONE zone) <= at LOOP
		INSERT INTO sanse.area_day_recorded (day, zone, swept_at, areas)
		VALUES (d, zone, at, sanse.record_area_day(d, zone));
		n := n + 1;
		d := d + 1;
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION record_history(timestamptz, integer) FROM PUBLIC;
COMMENT ON FUNCTION record_history(timestamptz, integer) IS 'record in area_day every local day (sanse.timezone) that ended by at and is not recorded yet, oldest first, at most max_days; returns how many days (run by sanse.sweep)';

-- The history for the screen: every recorded day and area the role may see
-- (zeros where an area had no row), PII-free, small cells hidden from
-- aggregate-only roles as in the other screen views.
CREATE VIEW coverage_history AS
SELECT a.id AS area_id, a.path::text AS path, a.kind, a.name, d.day,
       sanse.cell(coalesce(h.residents, 0), v.exact) AS residents,
       sanse.cell(coalesce(h.red, 0), v.exact) AS red,
       sanse.cell(coalesce(h.yellow, 0), v.exact) AS yellow,
       sanse.cell(coalesce(h.blue, 0), v.exact) AS blue,
       sanse.cell(coalesce(h.overdue, 0), v.exact) AS overdue,
       sanse.cell(coalesce(h.windows_met, 0), v.exact) AS windows_met,
       sanse.cell(coalesce(h.events_opened, 0), v.exact) AS events_opened,
       sanse.cell(coalesce(h.events_closed, 0), v.exact) AS events_closed,
       sanse.cell(coalesce(h.open_level_1, 0), v.exact) AS open_level_1,
       sanse.cell(coalesce(h.open_level_2, 0), v.exact) AS open_level_2,
       sanse.cell(coalesce(h.open_level_3, 0), v.exact) AS open_level_3,
       sanse.cell(coalesce(h.open_level_4, 0), v.exact) AS open_level_4,
       sanse.cell(coalesce(h.loop_raised, 0), v.exact) AS loop_raised,
       sanse.cell(coalesce(h.loop_answered_in_time, 0), v.exact) AS loop_answered_in_time,
       CASE WHEN h.residents > 0
             AND (v.exact OR (sanse.cell(h.residents, false) IS NOT NULL AND sanse.cell(h.overdue, false) IS NOT NULL))
            THEN round(1 - h.overdue::numeric / h.residents, 4) END AS coverage_rate,
       CASE WHEN h.loop_raised > 0
             AND (v.exact OR (sanse.cell(h.loop_raised, false) IS NOT NULL AND sanse.cell(h.loop_answered_in_time, false) IS NOT NULL))
            THEN round(h.loop_answered_in_time::numeric / h.loop_raised, 4) END AS response_rate
  FROM sanse.area_day_recorded d
 CROSS JOIN sanse.area a
  JOIN sanse.screen_areas() v ON v.id = a.id
  LEFT JOIN sanse.area_day h ON h.day = d.day AND h.area_id = a.id
 WHERE d.areas IS NOT NULL;
COMMENT ON VIEW coverage_history IS 'daily history per area (rolled up) the role may see and recorded local day, as of the day''s end: residents in the programme by tier, overdue, windows met, overdue events opened, closed and open by level, loop events raised and answered in time, coverage rate, response rate (small cells hidden from aggregate-only roles)';

-- The views that filter by grant run as their owner, under no row-level
-- security: as security barriers, a caller's own functions in a WHERE
-- clause run on the rows they return, never below the filter or the
-- aggregates (only leakproof operators, like = on a path, are pushed down).
ALTER VIEW coverage SET (security_barrier = true);
ALTER VIEW coverage_by_tier SET (security_barrier = true);
ALTER VIEW overdue_events SET (security_barrier = true);
ALTER VIEW grid_daily_report SET (security_barrier = true);
ALTER VIEW loop_metrics SET (security_barrier = true);
ALTER VIEW coverage_history SET (security_barrier = true);
ALTER VIEW worker_checkin_rate SET (security_barrier = true);
ALTER VIEW open_events SET (security_barrier = true);
ALTER VIEW worker_load SET (security_barrier = true);
ALTER VIEW carer_gaps SET (security_barrier = true);
