-----------------------------------------------------------------------------
-- People from the departments' records (一人一档, spec 9): department feeds
-- loaded with COPY, matched by the keyed hash of the resident ID number,
-- factors with their sources, and one record per person.
--
-- The clear ID number never reaches a table, the WAL or the server log: the
-- C row trigger on feed_inbox (resident_id.c) replaces it by its keyed hash
-- before the row is stored, and sanse's log hook keeps it out of COPY's
-- CONTEXT lines and error statements.  feed_inbox has no row-level security
-- (COPY FROM refuses a table that has it): nobody but the owner reads it;
-- every row a role inserts is checked against sanse.feed_grant, and a loader
-- reads its outcomes through sanse.feed_outcome.
-----------------------------------------------------------------------------

-- the tier history names what changed a tier when a feed did
ALTER TABLE tier_history ADD COLUMN reason text;
COMMENT ON COLUMN tier_history.reason IS 'what changed the tier when not a write of the resident row: the feed (department and batch) or a confirmed departure';


-- Who loads and applies a department's feed, for which areas' residents: a
-- row here is the whole recipe, as area_grant's rows are (INSERT on
-- feed_inbox, its outcomes, apply_feed), and deleting the role's last row
-- takes it back.
CREATE TABLE feed_grant (
	role name NOT NULL,
	department text NOT NULL REFERENCES department (code),
	path ltree NOT NULL CONSTRAINT feed_grant_not_the_root CHECK (nlevel(path) > 0),
	role_oid oid NOT NULL,
	PRIMARY KEY (role, department, path)
);
REVOKE ALL ON feed_grant FROM PUBLIC;
COMMENT ON TABLE feed_grant IS 'feed grants: a role (or its members) loads and applies the department''s feed for the residents of the subtree of path';
COMMENT ON COLUMN feed_grant.role_oid IS 'the role the row was granted to (set by sanse): a role dropped and created again under the same name does not inherit the row';
SELECT pg_catalog.pg_extension_config_dump('feed_grant', '');

-- A department's batch of rows (spec 9, pinned columns first).  sanse sets
-- id_number_hash (and id_number to NULL) as the row is stored; apply_feed
-- sets outcome, reason and resident_id.  A batch once loaded is what it is:
-- a corrected list is a new batch.
CREATE TABLE feed_inbox (
	department text NOT NULL,
	batch text NOT NULL,
	line integer NOT NULL,
	id_number text CONSTRAINT feed_inbox_clear_id_number_never_stored CHECK (id_number IS NULL),
	name text,
	area_path text,
	factors text[],
	left_programme boolean NOT NULL DEFAULT false,
	outcome text CONSTRAINT feed_inbox_outcome_check CHECK (outcome IN ('matched', 'registered', 'left', 'rejected')),
	reason text,
	id_number_hash bytea,
	resident_id bigint,
	loaded_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (department, batch, line)
) WITH (fillfactor = 80);	-- room on each page for apply_feed's outcomes (HOT updates)
-- forgetting a resident erases the feed rows that name them
CREATE INDEX feed_inbox_hash ON feed_inbox (id_number_hash) WHERE id_number_hash IS NOT NULL;
REVOKE ALL ON feed_inbox FROM PUBLIC;
COMMENT ON TABLE feed_inbox IS 'department feeds (spec 9): a loader COPYs a batch in, sanse.apply_feed applies it; the clear ID number is replaced by its keyed hash before the row is stored';
COMMENT ON COLUMN feed_inbox.id_number IS 'write the clear 18-character ID number here; it is checked, replaced by id_number_hash and never stored';
COMMENT ON COLUMN feed_inbox.id_number_hash IS 'HMAC-SHA256 of the ID number under the installation secret (NULL when malformed; set by sanse)';
COMMENT ON COLUMN feed_inbox.resident_id IS 'the resident the row named when applied (set by sanse)';
SELECT pg_catalog.pg_extension_config_dump('feed_inbox', '');

-- Provenance: who asserts which factor of a resident, since when, until when.
-- source is a department code, or 'visit' for what a worker assessed at the
-- door (what apps write into resident.factors).
CREATE TABLE factor_source (
	resident_id bigint NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
	factor text NOT NULL,
	source text NOT NULL,
	since timestamptz NOT NULL DEFAULT now(),
	until timestamptz,
	batch text,
	until_batch text,
	CONSTRAINT factor_source_period CHECK (until IS NULL OR until >= since)
);
CREATE UNIQUE INDEX factor_source_open ON factor_source (resident_id, factor, source) WHERE until IS NULL;
CREATE INDEX factor_source_department_open ON factor_source (source, resident_id) WHERE until IS NULL;
CREATE INDEX factor_source_resident ON factor_source (resident_id);
REVOKE ALL ON factor_source FROM PUBLIC;
COMMENT ON TABLE factor_source IS 'provenance of residents'' factors: source is a department code or visit; a resident''s factors are the union of the open ones (until IS NULL)';
COMMENT ON COLUMN factor_source.batch IS 'the feed batch that asserted it (NULL for visit)';
COMMENT ON COLUMN factor_source.until_batch IS 'the feed batch that withdrew it';
SELECT pg_catalog.pg_extension_config_dump('factor_source', '');

-- The last apply of each department's feed: its row is locked (updated) by
-- each apply, so two applies of one department run one after the other.
CREATE TABLE feed_state (
	department text PRIMARY KEY REFERENCES department (code),
	batch text NOT NULL,
	mode text NOT NULL,
	applied_at timestamptz NOT NULL,
	applied_by name NOT NULL
);
REVOKE ALL ON feed_state FROM PUBLIC;
COMMENT ON TABLE feed_state IS 'the last feed applied per department (its row serialises the applies of one department)';
SELECT pg_catalog.pg_extension_config_dump('feed_state', '');

-- A department reported a resident left (died or moved away): the task the
-- micro-grid leader confirms it with; closing it ends the care.
CREATE TABLE feed_departure (
	event_id bigint PRIMARY KEY REFERENCES event (id),
	resident_id bigint NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
	department text NOT NULL,
	batch text NOT NULL,
	reported_at timestamptz NOT NULL,
	confirmed_at timestamptz
);
CREATE UNIQUE INDEX feed_departure_open ON feed_departure (resident_id, department) WHERE confirmed_at IS NULL;
REVOKE ALL ON feed_departure FROM PUBLIC;
COMMENT ON TABLE feed_departure IS 'departures a department reported: the closed-loop task that confirms each; closing it ends the care and that department''s assertions';
SELECT pg_catalog.pg_extension_config_dump('feed_departure', '');

-- Row-level security (spec 8) on the new tables that hold a person: only the
-- owner writes them; a role with care over the resident's area reads.
ALTER TABLE factor_source ENABLE ROW LEVEL SECURITY;
CREATE POLICY factor_source_read ON factor_source FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'care'));
ALTER TABLE feed_departure ENABLE ROW LEVEL SECURITY;
CREATE POLICY feed_departure_read ON feed_departure FOR SELECT
	USING (sanse.sees_area((SELECT r.area_id FROM sanse.resident r WHERE r.id = resident_id), 'care'));
ALTER TABLE feed_grant ENABLE ROW LEVEL SECURITY;
ALTER TABLE feed_state ENABLE ROW LEVEL SECURITY;

-----------------------------------------------------------------------------
-- The ID number, in C
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION id_number_problem(id_number text) RETURNS text
	AS 'MODULE_PATHNAME', 'id_number_problem' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION id_number_problem(text) IS 'why an ID number is malformed (length, digits, GB 11643 check character by ISO 7064 MOD 11-2), NULL when it is well formed';
CREATE OR REPLACE FUNCTION feed_inbox_row() RETURNS trigger
	AS 'MODULE_PATHNAME', 'feed_inbox_row' LANGUAGE C;
CREATE OR REPLACE FUNCTION feed_inbox_statement() RETURNS trigger
	AS 'MODULE_PATHNAME', 'feed_inbox_statement' LANGUAGE C;
REVOKE ALL ON FUNCTION feed_inbox_row(), feed_inbox_statement() FROM PUBLIC;

-----------------------------------------------------------------------------
-- Feed grants
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION feed_grant_role() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.feed_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function feed_grant_role() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.feed_grant.';
	END IF;
	IF NEW.role IS NULL THEN
		RETURN NEW;		-- the NOT NULL constraint refuses it (23502)
	END IF;
	NEW.role_oid := (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = NEW.role);
	IF NEW.role_oid IS NULL THEN
		IF pg_catalog.current_setting('session_replication_role') = 'replica' THEN
			NEW.role_oid := 0;
			RETURN NEW;
		END IF;
		RAISE EXCEPTION 'role "%" does not exist', NEW.role USING ERRCODE = '42704';
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION feed_grant_role() FROM PUBLIC;

-- The areas whose residents a role may feed for a department: the subtrees of
-- its feed grants (or of a role it may act as).  Fails closed like
-- granted_areas; superusers and the owner feed every area.
CREATE OR REPLACE FUNCTION feed_areas(p_department text, p_role name) RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF p_role IS NULL OR p_department IS NULL
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
	  FROM sanse.feed_grant g
	  JOIN sanse.area a ON sanse.path_contains(g.path, a.path)
	 WHERE g.department = p_department
	   AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = g.role AND r.oid = g.role_oid)
	   AND pg_catalog.pg_has_role(p_role, g.role, 'USAGE');
END
$$;
REVOKE ALL ON FUNCTION feed_areas(text, name) FROM PUBLIC;
COMMENT ON FUNCTION feed_areas(text, name) IS 'ids of the areas whose residents a role may feed for a department (every area for superusers and the owner; none when it is not the session''s to ask)';

-- Whether a role may load the department's feed at all (any feed grant).
CREATE OR REPLACE FUNCTION may_load_feed(p_department text, p_role name) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT EXISTS (SELECT 1 FROM sanse.feed_areas(may_load_feed.p_department, may_load_feed.p_role));
END;
REVOKE ALL ON FUNCTION may_load_feed(text, name) FROM PUBLIC;
COMMENT ON FUNCTION may_load_feed(text, name) IS 'true when the role holds a feed grant for the department (or is a superuser or the owner)';

CREATE OR REPLACE FUNCTION feed_grant_privileges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	r name;
	roles name[];
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.feed_grant'::regclass THEN
		RAISE EXCEPTION 'trigger function feed_grant_privileges() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.feed_grant.';
	END IF;
	LOCK TABLE sanse.grant_lock IN EXCLUSIVE MODE;	-- one grant change at a time (90_area_grant.sql)
	IF TG_OP = 'INSERT' THEN
		roles := ARRAY(SELECT DISTINCT n.role FROM new_rows n);
	ELSIF TG_OP = 'DELETE' THEN
		roles := ARRAY(SELECT DISTINCT o.role FROM old_rows o);
	ELSE
		roles := ARRAY(SELECT n.role FROM new_rows n UNION SELECT o.role FROM old_rows o);
	END IF;
	FOREACH r IN ARRAY roles LOOP
		CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x WHERE x.rolname = r);
		IF EXISTS (SELECT 1 FROM sanse.feed_grant g
		            WHERE g.role = r AND g.role_oid = (SELECT x.oid FROM pg_catalog.pg_roles x WHERE x.rolname = r)) THEN
			EXECUTE format('GRANT INSERT ON sanse.feed_inbox TO %I', r);
			EXECUTE format('GRANT SELECT ON sanse.feed_outcome TO %I', r);
			EXECUTE format('GRANT EXECUTE ON FUNCTION sanse.apply_feed(text, text, text), sanse.may_load_feed(text, name) TO %I', r);
			-- its sessions load sanse's library (and log hook) as they start,
			-- before a first statement could carry a clear number to the log
			EXECUTE format('ALTER ROLE %I SET session_preload_libraries = %L', r, 'sanse');
		ELSE
			EXECUTE format('REVOKE ALL ON sanse.feed_inbox FROM %I', r);
			EXECUTE format('REVOKE ALL ON sanse.feed_outcome FROM %I', r);
			EXECUTE format('REVOKE ALL ON FUNCTION sanse.apply_feed(text, text, text), sanse.may_load_feed(text, name) FROM %I', r);
			EXECUTE format('ALTER ROLE %I RESET session_preload_libraries', r);
		END IF;
	END LOOP;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION feed_grant_privileges() FROM PUBLIC;

-----------------------------------------------------------------------------
-- Factors from their sources
-----------------------------------------------------------------------------

-- The union of a resident's open sources, in the order of current (the
-- factors it has now that stay), then the new ones by name.
CREATE OR REPLACE FUNCTION factor_union(p_resident bigint, current text[]) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT ARRAY(SELECT c.f FROM unnest(factor_union.current) WITH ORDINALITY c(f, o)
	              WHERE EXISTS (SELECT 1 FROM sanse.factor_source s
	                             WHERE s.resident_id = factor_union.p_resident AND s.factor = c.f AND s.until IS NULL)
	              ORDER BY c.o)
	    || ARRAY(SELECT DISTINCT s.factor FROM sanse.factor_source s
	              WHERE s.resident_id = factor_union.p_resident AND s.until IS NULL
	                AND s.factor <> ALL (factor_union.current)
	              ORDER BY s.factor);
END;
REVOKE ALL ON FUNCTION factor_union(bigint, text[]) FROM PUBLIC;

-- What a write of resident.factors means: the factors it adds become the
-- visit source's (unless a department asserts them already), the ones it
-- removes end the visit source's assertion; a department's factor stays (the
-- department corrects its list).  Fired before classification (name order).
CREATE OR REPLACE FUNCTION resident_factor_sources() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	kept text[];
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_factor_sources() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO sanse.factor_source (resident_id, factor, source, since)
		SELECT DISTINCT n.id, f, 'visit', now()
		  FROM new_rows n, unnest(n.factors) f
		 WHERE f IS NOT NULL AND n.forgotten_at IS NULL
		   AND NOT EXISTS (SELECT 1 FROM sanse.factor_source s
		                    WHERE s.resident_id = n.id AND s.factor = f AND s.until IS NULL);
		RETURN NULL;
	END IF;
	IF NEW.forgotten_at IS NOT NULL THEN
		RETURN NEW;		-- forgetting erases (resident_forget_sources)
	END IF;
	UPDATE sanse.factor_source s SET until = now()
	 WHERE s.resident_id = NEW.id AND s.source = 'visit' AND s.until IS NULL
	   AND s.factor = ANY (OLD.factors) AND s.factor <> ALL (coalesce(NEW.factors, '{}'));
	INSERT INTO sanse.factor_source (resident_id, factor, source, since)
	SELECT DISTINCT NEW.id, f, 'visit', now()
	  FROM unnest(NEW.factors) f
	 WHERE f IS NOT NULL AND f <> ALL (coalesce(OLD.factors, '{}'))
	   AND NOT EXISTS (SELECT 1 FROM sanse.factor_source s
	                    WHERE s.resident_id = NEW.id AND s.factor = f AND s.until IS NULL);
	kept := ARRAY(SELECT DISTINCT s.factor FROM sanse.factor_source s
	               WHERE s.resident_id = NEW.id AND s.until IS NULL AND s.source <> 'visit'
	                 AND s.factor <> ALL (coalesce(NEW.factors, '{}'))
	               ORDER BY s.factor);
	IF cardinality(kept) > 0 THEN
		NEW.factors := coalesce(NEW.factors, '{}') || kept;
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION resident_factor_sources() FROM PUBLIC;

-- Forgetting a resident erases their factors' provenance and what the feeds
-- said about them (name, hash).
CREATE OR REPLACE FUNCTION resident_forget_sources() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_forget_sources() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	DELETE FROM sanse.factor_source s WHERE s.resident_id = NEW.id;
	-- every feed row naming the person (applied or not), by the hash it had
	UPDATE sanse.feed_inbox i SET name = NULL, id_number_hash = NULL, area_path = NULL, factors = NULL
	 WHERE i.id_number_hash = OLD.id_number_hash;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION resident_forget_sources() FROM PUBLIC;

-- The tier history rows a feed's changes made (after the id mark, at this
-- transaction's time) name it.
CREATE OR REPLACE FUNCTION feed_history_reason(p_mark bigint, p_residents bigint[], p_reason text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	UPDATE sanse.tier_history h SET reason = feed_history_reason.p_reason
	 WHERE h.id > feed_history_reason.p_mark AND h.changed_at = now() AND h.reason IS NULL
	   AND h.resident_id = ANY (feed_history_reason.p_residents);
END;
REVOKE ALL ON FUNCTION feed_history_reason(bigint, bigint[], text) FROM PUBLIC;

-----------------------------------------------------------------------------
-- Applying a batch
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION apply_feed(department text, batch text, mode text DEFAULT 'snapshot')
RETURNS TABLE (outcome text, n bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
DECLARE
	who name := sanse.acting_role();
	t timestamptz := now();
	mark bigint;
	label text;
	rec record;
	ev bigint;
	c_matched bigint;
	c_registered bigint;
	c_left bigint;
	c_rejected bigint;
BEGIN
	IF mode IS NULL OR mode NOT IN ('snapshot', 'delta') THEN
		RAISE EXCEPTION 'unknown feed mode "%"', coalesce(mode, 'NULL')
			USING ERRCODE = '22023', HINT = 'A batch is applied as a snapshot (the department''s whole list) or a delta (only its rows change).';
	END IF;
	IF department IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.department d WHERE d.code = department) THEN
		RAISE EXCEPTION 'unknown department "%"', coalesce(department, 'NULL')
			USING ERRCODE = '22023', HINT = 'Departments are the rows of sanse.department.';
	END IF;
	IF NOT sanse.may_load_feed(department, who) THEN
		RAISE EXCEPTION 'role "%" may not apply feeds of department "%"', who, department
			USING ERRCODE = '42501', HINT = 'A row of sanse.feed_grant names the roles that load a department''s feed.';
	END IF;
	IF batch IS NULL OR NOT EXISTS (SELECT 1 FROM sanse.feed_inbox i WHERE i.department = department AND i.batch = batch) THEN
		RAISE EXCEPTION 'department "%" has no batch "%"', department, coalesce(batch, 'NULL')
			USING ERRCODE = '22023', HINT = 'Load the batch''s rows into sanse.feed_inbox first.';
	END IF;
	-- one apply of a department at a time: the second waits for the first to
	-- commit (READ COMMITTED), or fails with 40001 (REPEATABLE READ and above)
	INSERT INTO sanse.feed_state AS s (department, batch, mode, applied_at, applied_by)
	VALUES (department, batch, mode, t, who)
	ON CONFLICT ON CONSTRAINT feed_state_pkey
	DO UPDATE SET batch = EXCLUDED.batch, mode = EXCLUDED.mode, applied_at = EXCLUDED.applied_at, applied_by = EXCLUDED.applied_by;
	label := format('feed %s, batch %s', department, batch);
	mark := coalesce((SELECT max(h.id) FROM sanse.tier_history h), 0);

	-- the session's work tables (emptied at commit), sanse's own: a table of
	-- the caller's under these names is refused, never written to
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
	            WHERE c.oid IN (pg_catalog.to_regclass('pg_temp.feed_allowed'), pg_catalog.to_regclass('pg_temp.feed_work'),
	                            pg_catalog.to_regclass('pg_temp.feed_changed'))
	              AND c.relowner <> (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname = current_user)) THEN
		RAISE EXCEPTION 'the session has a temporary table feed_work, feed_allowed or feed_changed of its own'
			USING ERRCODE = '42P07', HINT = 'Drop it: apply_feed uses these names for its work.';
	END IF;
	IF pg_catalog.to_regclass('pg_temp.feed_allowed') IS NULL THEN
		CREATE TEMP TABLE feed_allowed (area_id bigint PRIMARY KEY) ON COMMIT DELETE ROWS;
	END IF;
	IF pg_catalog.to_regclass('pg_temp.feed_changed') IS NULL THEN
		CREATE TEMP TABLE feed_changed (resident_id bigint PRIMARY KEY) ON COMMIT DELETE ROWS;
	END IF;
	IF pg_catalog.to_regclass('pg_temp.feed_work') IS NULL THEN
		CREATE TEMP TABLE feed_work (line integer PRIMARY KEY, h bytea, name text, factors text[], area_id bigint,
		                             resident_id bigint, outcome text, reason text) ON COMMIT DELETE ROWS;
		CREATE INDEX ON pg_temp.feed_work (resident_id);
	END IF;
	TRUNCATE pg_temp.feed_allowed, pg_temp.feed_changed, pg_temp.feed_work;
	INSERT INTO pg_temp.feed_allowed SELECT DISTINCT x FROM sanse.feed_areas(department, who) x;
	ANALYZE pg_temp.feed_allowed;
	-- a large batch just COPYed in: the planner is told (hash joins, not a probe a row)
	IF (SELECT count(*) FROM (SELECT 1 FROM sanse.feed_inbox i WHERE i.department = department AND i.batch = batch LIMIT 10001) x) > 10000 THEN
		ANALYZE sanse.feed_inbox;
	END IF;

	-- every row with a well-formed number (a malformed one was rejected as
	-- stored), its person, area and outcome, in one pass
	INSERT INTO pg_temp.feed_work (line, h, name, factors, area_id, resident_id, outcome, reason)
	SELECT x.line, x.h, x.name, x.factors, x.area_id, x.resident_id,
	       CASE WHEN v.why IS NOT NULL THEN 'rejected'
	            WHEN x.resident_id IS NULL THEN 'registered'
	            WHEN x.leaving THEN 'left'
	            WHEN x.old_outcome = 'registered' AND x.old_resident = x.resident_id THEN 'registered'
	            ELSE 'matched' END,
	       v.why
	  FROM (SELECT i.line, i.id_number_hash AS h, i.name, i.left_programme AS leaving,
	               CASE WHEN cardinality(i.factors) > 0
	                    THEN ARRAY(SELECT DISTINCT f FROM unnest(i.factors) f WHERE f IS NOT NULL ORDER BY f)
	                    ELSE '{}'::text[] END AS factors,
	               CASE WHEN NOT i.factors <@ sanse.factor_names()
	                    THEN (SELECT coalesce(min(f), 'NULL') FROM unnest(i.factors) f WHERE f IS NULL OR f <> ALL (sanse.factor_names()))
	               END AS bad_factor,
	               d.h IS NOT NULL AS twice,
	               nullif(btrim(i.area_path), '') IS NOT NULL AS has_area, a.id AS area_id, a.kind AS area_kind,
	               fa.area_id IS NOT NULL AS area_allowed,
	               m.id AS resident_id, m.n AS residents, fr.area_id IS NOT NULL AS resident_allowed,
	               i.outcome AS old_outcome, i.resident_id AS old_resident
	          FROM sanse.feed_inbox i
	          LEFT JOIN sanse.area a ON a.path::text = btrim(i.area_path)
	          LEFT JOIN pg_temp.feed_allowed fa ON fa.area_id = a.id
	          LEFT JOIN (SELECT r.id_number_hash, min(r.id) AS id, count(*) AS n, min(r.area_id) AS area_id
	                       FROM sanse.resident r
	                      WHERE r.forgotten_at IS NULL
	                        AND r.id_number_hash IN (SELECT j.id_number_hash FROM sanse.feed_inbox j
	                                                  WHERE j.department = department AND j.batch = batch)
	                      GROUP BY r.id_number_hash) m ON m.id_number_hash = i.id_number_hash
	          LEFT JOIN pg_temp.feed_allowed fr ON fr.area_id = m.area_id
	          LEFT JOIN (SELECT j.id_number_hash AS h FROM sanse.feed_inbox j
	                      WHERE j.department = department AND j.batch = batch AND j.id_number_hash IS NOT NULL
	                      GROUP BY j.id_number_hash HAVING count(*) > 1) d ON d.h = i.id_number_hash
	         WHERE i.department = department AND i.batch = batch AND i.id_number_hash IS NOT NULL) x
	 CROSS JOIN LATERAL (
	       SELECT CASE WHEN x.twice THEN 'the same person is twice in this batch'
	                   WHEN x.bad_factor IS NOT NULL THEN format('unknown factor "%s"', left(x.bad_factor, 64))
	                   WHEN x.has_area AND x.area_id IS NULL THEN 'unknown area'
	                   WHEN x.has_area AND x.area_kind <> 'micro_grid' THEN 'the area is not a micro grid'
	                   WHEN x.residents > 1 THEN 'several residents have this ID number'
	                   WHEN x.resident_id IS NOT NULL AND NOT x.resident_allowed
	                     THEN 'the person lives outside the areas this role may feed'
	                   WHEN x.resident_id IS NOT NULL THEN NULL
	                   WHEN x.leaving THEN 'an unknown person cannot be reported left'
	                   WHEN NOT x.has_area THEN 'an unknown person needs an area'
	                   WHEN NOT x.area_allowed THEN 'the area is outside the areas this role may feed'
	                   WHEN nullif(btrim(x.name), '') IS NULL THEN 'an unknown person needs a name'
	              END AS why) v;
	ANALYZE pg_temp.feed_work;

	-- registered: a resident of the micro grid, with the department's
	-- factors (classified on insert), in one statement with its sources
	WITH reg AS (
		INSERT INTO sanse.resident (area_id, name, factors, id_number_hash)
		SELECT w.area_id, btrim(w.name), w.factors, w.h
		  FROM pg_temp.feed_work w WHERE w.outcome = 'registered' AND w.resident_id IS NULL
		RETURNING id, id_number_hash, factors
	), src AS (
		INSERT INTO sanse.factor_source (resident_id, factor, source, since, batch)
		SELECT reg.id, f, department, t, batch FROM reg, unnest(reg.factors) f
	)
	UPDATE pg_temp.feed_work w SET resident_id = reg.id FROM reg WHERE w.h = reg.id_number_hash;

	-- a row replaces that department's factors for that person
	WITH closed AS (
		UPDATE sanse.factor_source s SET until = t, until_batch = batch
		  FROM pg_temp.feed_work w
		 WHERE w.outcome IN ('matched', 'registered') AND s.resident_id = w.resident_id
		   AND s.source = department AND s.until IS NULL AND s.factor <> ALL (w.factors)
		RETURNING s.resident_id
	), opened AS (
		INSERT INTO sanse.factor_source (resident_id, factor, source, since, batch)
		SELECT n.resident_id, n.factor, department, t, batch
		  FROM (SELECT w.resident_id, f AS factor FROM pg_temp.feed_work w, unnest(w.factors) f
		         WHERE w.outcome IN ('matched', 'registered')) n
		  LEFT JOIN sanse.factor_source s
		         ON s.resident_id = n.resident_id AND s.factor = n.factor AND s.source = department AND s.until IS NULL
		 WHERE s.resident_id IS NULL
		RETURNING resident_id
	), omitted AS (
		-- snapshot: what the department asserted before about a person of
		-- its areas this batch does not name is withdrawn (a rejected row
		-- naming a known person is not an omission)
		UPDATE sanse.factor_source s SET until = t, until_batch = batch
		 WHERE mode = 'snapshot' AND s.source = department AND s.until IS NULL
		   AND s.resident_id NOT IN (SELECT w.resident_id FROM pg_temp.feed_work w WHERE w.resident_id IS NOT NULL)
		   AND s.resident_id IN (SELECT r.id FROM sanse.resident r JOIN pg_temp.feed_allowed f ON f.area_id = r.area_id)
		RETURNING s.resident_id
	)
	INSERT INTO pg_temp.feed_changed
	SELECT resident_id FROM closed UNION SELECT resident_id FROM opened UNION SELECT resident_id FROM omitted;
	ANALYZE pg_temp.feed_changed;

	-- the residents' factors are the union of their open sources (those they
	-- have stay in their order, new ones follow by name): the change
	-- reclassifies at once (resident_20_maintain)
	UPDATE sanse.resident r
	   SET factors = ARRAY(SELECT c.f FROM unnest(r.factors) WITH ORDINALITY c(f, o) WHERE c.f = ANY (u.fs) ORDER BY c.o)
	              || ARRAY(SELECT f FROM unnest(u.fs) f WHERE f <> ALL (r.factors) ORDER BY f)
	  FROM (SELECT c.resident_id, coalesce(array_agg(DISTINCT s.factor) FILTER (WHERE s.factor IS NOT NULL), '{}') AS fs
	          FROM pg_temp.feed_changed c
	          LEFT JOIN sanse.factor_source s ON s.resident_id = c.resident_id AND s.until IS NULL
	         GROUP BY c.resident_id) u
	 WHERE r.id = u.resident_id AND r.forgotten_at IS NULL AND NOT (r.factors @> u.fs AND r.factors <@ u.fs);
	UPDATE sanse.tier_history h SET reason = label
	 WHERE h.id > mark AND h.changed_at = t AND h.reason IS NULL
	   AND (h.resident_id IN (SELECT c.resident_id FROM pg_temp.feed_changed c)
	        OR h.resident_id IN (SELECT w.resident_id FROM pg_temp.feed_work w WHERE w.outcome = 'registered'));

	-- left: the micro-grid leader confirms it at the door (a closed-loop
	-- task); until then everything stays as it was
	FOR rec IN SELECT w.resident_id, r.area_id, r.tier
	             FROM pg_temp.feed_work w JOIN sanse.resident r ON r.id = w.resident_id
	            WHERE w.outcome = 'left' AND r.active
	              AND NOT EXISTS (SELECT 1 FROM sanse.feed_departure d
	                               WHERE d.resident_id = w.resident_id AND d.department = department AND d.confirmed_at IS NULL)
	            ORDER BY w.line LOOP
		ev := sanse.call_event('task', rec.resident_id, rec.area_id, rec.tier,
		                       format('%s reports that this person died or moved away (%s): confirm it at the door; closing this task ends the care',
		                              department, label),
		                       'grid', t, NULL, NULL, NULL);
		IF ev IS NOT NULL THEN
			INSERT INTO sanse.feed_departure (event_id, resident_id, department, batch, reported_at)
			VALUES (ev, rec.resident_id, department, batch, t);
		END IF;
	END LOOP;

	-- outcomes on the rows (only where they changed: a second apply writes nothing)
	UPDATE sanse.feed_inbox i SET outcome = w.outcome, reason = w.reason, resident_id = w.resident_id
	  FROM pg_temp.feed_work w
	 WHERE i.department = department AND i.batch = batch AND i.line = w.line
	   AND (i.outcome, i.reason, i.resident_id) IS DISTINCT FROM (w.outcome, w.reason, w.resident_id);

	SELECT count(*) FILTER (WHERE i.outcome = 'matched'), count(*) FILTER (WHERE i.outcome = 'registered'),
	       count(*) FILTER (WHERE i.outcome = 'left'), count(*) FILTER (WHERE i.outcome = 'rejected')
	  INTO c_matched, c_registered, c_left, c_rejected
	  FROM sanse.feed_inbox i WHERE i.department = department AND i.batch = batch;
	PERFORM sanse.audit('feed_apply', '{}', 'applying a department''s feed',
	                    format('department %s, batch %s, mode %s: matched %s, registered %s, left %s, rejected %s',
	                           department, batch, mode, c_matched, c_registered, c_left, c_rejected));
	RETURN QUERY VALUES ('matched', c_matched), ('registered', c_registered), ('left', c_left), ('rejected', c_rejected);
END
$$;
REVOKE ALL ON FUNCTION apply_feed(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION apply_feed(text, text, text) IS 'apply a department''s batch from sanse.feed_inbox (snapshot: its whole list; delta: only its rows); sets each row''s outcome; returns the count of each outcome; audited';

-- Closing a departure's task confirms it: the care ends (the resident is no
-- longer active) and so do the department's assertions.
CREATE OR REPLACE FUNCTION feed_departure_confirm() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	d sanse.feed_departure;
	mark bigint := coalesce((SELECT max(h.id) FROM sanse.tier_history h), 0);
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.event'::regclass THEN
		RAISE EXCEPTION 'trigger function feed_departure_confirm() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.event.';
	END IF;
	UPDATE sanse.feed_departure x SET confirmed_at = NEW.resolved_at
	 WHERE x.event_id = NEW.id AND x.confirmed_at IS NULL
	RETURNING * INTO d;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	UPDATE sanse.factor_source s SET until = now(), until_batch = d.batch
	 WHERE s.resident_id = d.resident_id AND s.source = d.department AND s.until IS NULL;
	UPDATE sanse.resident r SET factors = sanse.factor_union(r.id, r.factors), active = false
	 WHERE r.id = d.resident_id AND r.forgotten_at IS NULL;
	PERFORM sanse.feed_history_reason(mark, ARRAY[d.resident_id],
	                                  format('feed %s, batch %s: departure confirmed (event %s)', d.department, d.batch, NEW.id));
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION feed_departure_confirm() FROM PUBLIC;

-----------------------------------------------------------------------------
-- What a loader sees of its batches, and the one record per person
-----------------------------------------------------------------------------
CREATE OR REPLACE VIEW feed_outcome AS
SELECT i.department, i.batch, i.line, i.outcome, i.reason, i.resident_id, i.loaded_at
  FROM sanse.feed_inbox i
 WHERE i.department IN (SELECT d.code FROM sanse.department d WHERE sanse.may_load_feed(d.code, current_user));
ALTER VIEW feed_outcome SET (security_barrier = true);
REVOKE ALL ON feed_outcome FROM PUBLIC;
COMMENT ON VIEW feed_outcome IS 'the outcome and reason of every feed row of the departments the current role loads (no names, no hashes)';

CREATE OR REPLACE VIEW resident_profile AS
SELECT r.id AS resident_id, r.area_id, a.path::text AS area_path, r.name, r.active,
       r.tier, r.computed_tier, r.tier_override, r.override_reason,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                 'factor', f.f,
                 'sources', (SELECT coalesce(jsonb_agg(jsonb_build_object('source', s.source, 'since', s.since, 'batch', s.batch)
                                                       ORDER BY s.since, s.source), '[]'::jsonb)
                               FROM sanse.factor_source s
                              WHERE s.resident_id = r.id AND s.factor = f.f AND s.until IS NULL))
               ORDER BY f.o), '[]'::jsonb)
          FROM unnest(r.factors) WITH ORDINALITY f(f, o)) AS factors,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('worker_id', c.worker_id, 'force', c.force, 'name', w.name)
                                  ORDER BY c.force), '[]'::jsonb)
          FROM sanse.carer c JOIN sanse.worker w ON w.id = c.worker_id
         WHERE c.resident_id = r.id) AS carers,
       r.last_visit_at, r.next_visit,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('event_id', e.id, 'kind', e.kind, 'stage', e.status, 'level', e.level)
                                  ORDER BY e.id), '[]'::jsonb)
          FROM sanse.event e
         WHERE e.resident_id = r.id AND e.status <> 'closed') AS open_events
  FROM sanse.resident r
  JOIN sanse.area a ON a.id = r.area_id
 WHERE r.forgotten_at IS NULL AND sanse.sees_area(r.area_id, 'care');
ALTER VIEW resident_profile SET (security_barrier = true);
REVOKE ALL ON resident_profile FROM PUBLIC;
COMMENT ON VIEW resident_profile IS 'one record per person (一人一档), care access only: tiers, each factor with its sources and since when, carers, last visit, next window, open events';

-- Care roles read the profile (the area_grant recipe grants it; this gives
-- it to roles that held care before it existed).
DO $$
DECLARE
	r name;
BEGIN
	FOR r IN SELECT DISTINCT g.role FROM sanse.area_grant g JOIN pg_catalog.pg_roles x ON x.rolname = g.role AND x.oid = g.role_oid
	          WHERE g.access = 'care' ORDER BY 1 LOOP
		EXECUTE format('GRANT SELECT ON sanse.resident_profile TO %I', r);
	END LOOP;
END
$$;

-- Triggers, created here once (an upgrade creates them after the functions
-- above exist): the ID number's hash as a feed row is stored, the sources of
-- resident.factors, forgetting, departures confirmed, feed grants.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = 'sanse.feed_inbox'::regclass AND tgname = 'feed_inbox_row') THEN
		CREATE TRIGGER feed_inbox_statement BEFORE INSERT ON sanse.feed_inbox
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.feed_inbox_statement();
		CREATE TRIGGER feed_inbox_row BEFORE INSERT OR UPDATE OF id_number ON sanse.feed_inbox
			FOR EACH ROW EXECUTE FUNCTION sanse.feed_inbox_row();
		-- fired after the hash of the clear number (10), before classification (20)
		CREATE TRIGGER resident_15_factor_sources BEFORE UPDATE OF factors ON sanse.resident
			FOR EACH ROW WHEN (OLD.factors IS DISTINCT FROM NEW.factors)
			EXECUTE FUNCTION sanse.resident_factor_sources();
		CREATE TRIGGER resident_factor_sources_insert AFTER INSERT ON sanse.resident
			REFERENCING NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.resident_factor_sources();
		CREATE TRIGGER resident_forget_sources AFTER UPDATE OF forgotten_at ON sanse.resident
			FOR EACH ROW WHEN (NEW.forgotten_at IS NOT NULL AND OLD.forgotten_at IS NULL)
			EXECUTE FUNCTION sanse.resident_forget_sources();
		CREATE TRIGGER feed_departure_confirm AFTER UPDATE OF status ON sanse.event
			FOR EACH ROW WHEN (NEW.status = 'closed' AND OLD.status <> 'closed' AND NEW.kind = 'task')
			EXECUTE FUNCTION sanse.feed_departure_confirm();
		CREATE TRIGGER feed_grant_role BEFORE INSERT OR UPDATE ON sanse.feed_grant
			FOR EACH ROW EXECUTE FUNCTION sanse.feed_grant_role();
		ALTER TABLE sanse.feed_grant ENABLE ALWAYS TRIGGER feed_grant_role;
		CREATE TRIGGER feed_grant_privileges_insert AFTER INSERT ON sanse.feed_grant
			REFERENCING NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.feed_grant_privileges();
		CREATE TRIGGER feed_grant_privileges_update AFTER UPDATE ON sanse.feed_grant
			REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.feed_grant_privileges();
		CREATE TRIGGER feed_grant_privileges_delete AFTER DELETE ON sanse.feed_grant
			REFERENCING OLD TABLE AS old_rows
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.feed_grant_privileges();
		CREATE TRIGGER feed_grant_audit AFTER INSERT OR UPDATE OR DELETE ON sanse.feed_grant
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.audit_change();
		CREATE TRIGGER feed_grant_no_truncate BEFORE TRUNCATE ON sanse.feed_grant
			FOR EACH STATEMENT EXECUTE FUNCTION sanse.refuse_truncate();
	END IF;
END
$$;
