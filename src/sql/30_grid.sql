-----------------------------------------------------------------------------
-- Grid hierarchy (微网实格) on ltree paths
-----------------------------------------------------------------------------

-- The kinds are the vocabulary sanse.area_kind (02_vocabulary.sql).
CREATE OR REPLACE FUNCTION area_kind_level(kind text) RETURNS int
LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN (SELECT k.position::int FROM sanse.area_kind k WHERE k.value = area_kind_level.kind);
COMMENT ON FUNCTION area_kind_level(text) IS 'depth of an area kind: district 1 ... micro_grid 6 (sanse.area_kind)';

CREATE TABLE area (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	path ltree NOT NULL UNIQUE,
	kind text NOT NULL CONSTRAINT area_kind_known REFERENCES area_kind (value),
	name text NOT NULL,
	UNIQUE (id, kind)
);
CREATE INDEX area_path_gist ON area USING gist (path);

-- Grants by area (spec 8): a role sees the rows of an area's subtree only
-- through a row here (for itself or a role it is a member of).  aggregate:
-- the screen views, small cells hidden; read: rows, without factors,
-- coordinates or ID hashes; care: all columns, and writes residents and
-- carers.  The root ('') is refused: it would grant everything.
CREATE TABLE area_grant (
	role name NOT NULL,
	path ltree NOT NULL CONSTRAINT area_grant_not_the_root CHECK (nlevel(path) > 0),
	access text NOT NULL CONSTRAINT area_grant_access_known REFERENCES grant_access (value),
	role_oid oid NOT NULL,
	PRIMARY KEY (role, path, access)
);
COMMENT ON COLUMN area_grant.role_oid IS 'the role the row was granted to (set by sanse): a role dropped and created again under the same name does not inherit the row';

-- The row names a role that exists now; its OID is kept, so the grant dies
-- with the role even if the name comes back.
CREATE OR REPLACE FUNCTION area_grant_role() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'area_grant_role', '{sanse.area_grant}');
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
REVOKE ALL ON area_grant FROM PUBLIC;
COMMENT ON TABLE area_grant IS 'grants by area: a role (or its members) sees the subtree of path with access aggregate, read or care';
SELECT pg_catalog.pg_extension_config_dump('area_grant', '');

-- The areas a role sees with at least an access: the subtrees granted to it
-- or to a role it is a member of.  Fails closed: an unknown or dropped role,
-- no grant, or a role the session may not act as sees nothing.  Superusers
-- and the extension owner see every area.  Row-level security and the
-- screen views call it with current_user; runs as the owner to read grants.
CREATE OR REPLACE FUNCTION granted_areas(p_access text, p_role name) RETURNS SETOF bigint
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
	 -- this access or one that includes it (an unknown one: none)
	 WHERE g.access IN (SELECT x.value FROM sanse.grant_access x
	                     WHERE x.position >= (SELECT y.position FROM sanse.grant_access y WHERE y.value = p_access))
	   AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = g.role AND r.oid = g.role_oid)
	   -- USAGE: the privileges of g.role are the role's own (inherited, or by SET ROLE)
	   AND pg_catalog.pg_has_role(p_role, g.role, 'USAGE');
END
$$;
COMMENT ON FUNCTION granted_areas(text, name) IS 'ids of the areas a role sees with at least this access (every area for superusers and the owner; none when it is not the session''s to ask)';

-- The areas the current user sees on the screen views, each with whether it
-- sees them exactly (read or care) or as aggregates only (small cells
-- hidden): what every screen view joins on.  Inlined into the views.
CREATE OR REPLACE FUNCTION screen_areas() RETURNS TABLE (id bigint, exact boolean)
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
CREATE OR REPLACE FUNCTION sees_area(area_id bigint, access text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sees_area' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION sees_area(bigint, text) IS 'true when current_user sees the area with at least this access (aggregate, read or care); false for NULLs';

-- Whether the role acting in this session (SET ROLE's, else the login) sees
-- an area with at least an access: what sanse's SECURITY DEFINER functions,
-- which run as the owner, check before they touch a person's rows, so they
-- leak nothing across subtrees (a resident outside is "does not exist").
CREATE OR REPLACE FUNCTION caller_sees(p_area bigint, p_access text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'caller_sees' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION caller_sees(bigint, text) IS 'true when the acting role of the session sees the area with at least this access';

-- A count as an aggregate-only role sees it: 1 to sanse.min_cell - 1 hidden.
-- In C: reading the threshold loads sanse's library, so sanse.min_cell is
-- the superuser-only setting, never a placeholder any role could have set
-- before the library was loaded in its session.
CREATE OR REPLACE FUNCTION cell(n bigint, exact boolean) RETURNS bigint
	AS 'MODULE_PATHNAME', 'cell' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION cell(bigint, boolean) IS 'a count, NULL when from 1 to sanse.min_cell - 1 and not exact (aggregate-only access)';

-- ltree's @> bound when the extension is created (ltree may live in any
-- schema), for C code that must not build SQL text around a schema name.
CREATE OR REPLACE FUNCTION path_contains(ancestor ltree, descendant ltree) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ancestor @> descendant;
COMMENT ON FUNCTION path_contains(ltree, ltree) IS 'true when ancestor is descendant or one of its ancestors (ltree @>)';
-- ltree's =, nlevel and subpath bound the same way, for PL/pgSQL whose
-- search_path is pinned to pg_catalog, sanse (leader_for): each is inlined
-- where it is planned, so path_equals still uses the index on area.path.
CREATE OR REPLACE FUNCTION path_equals(a ltree, b ltree) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN a = b;
COMMENT ON FUNCTION path_equals(ltree, ltree) IS 'true when the paths are equal (ltree =)';
CREATE OR REPLACE FUNCTION path_depth(path ltree) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN nlevel(path);
COMMENT ON FUNCTION path_depth(ltree) IS 'number of labels in the path (ltree nlevel)';
CREATE OR REPLACE FUNCTION path_ancestor(path ltree, depth integer) RETURNS ltree
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN subpath(path, 0, depth);
COMMENT ON FUNCTION path_ancestor(ltree, integer) IS 'the first depth labels of the path (ltree subpath(path, 0, depth))';
COMMENT ON TABLE area IS 'grid hierarchy: district > town > village > total_grid > general_grid > micro_grid';

-- As the owner: its checks for child areas, residents and workers must see
-- every row, not what the caller's row-level security shows.
CREATE OR REPLACE FUNCTION area_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	parent sanse.area;
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'area_check', '{sanse.area}');
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
CREATE TRIGGER area_check BEFORE INSERT OR UPDATE OF path, kind OR DELETE ON area
	FOR EACH ROW EXECUTE FUNCTION area_check();
-- SQL bodies below are bound to ltree and pgcrypto when created; this
-- PL/pgSQL one finds ltree's functions through its search_path.
DO $$
BEGIN
	EXECUTE format('ALTER FUNCTION sanse.area_check() SET search_path = pg_catalog, %I, sanse',
	               (SELECT n.nspname FROM pg_catalog.pg_extension e
	                  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
	                 WHERE e.extname = 'ltree'));
END
$$;

-----------------------------------------------------------------------------
-- Workers of the five forces (五类力量) and leaders
-----------------------------------------------------------------------------

-- The five forces (五类力量), and the worker roles: member, then the leader
-- of escalation level 1 to 4 (worker_roles()[level + 1]); the vocabularies
-- sanse.force and sanse.worker_role (02_vocabulary.sql) as arrays, from a
-- per-backend copy of the tables (vocabulary.c): leader_for() asks for the
-- roles once per candidate row, so a call costs no query.
CREATE OR REPLACE FUNCTION forces() RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION forces() IS 'the five forces of the five-for-one, in order (sanse.force)';
CREATE OR REPLACE FUNCTION worker_roles() RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION worker_roles() IS 'member, then the leader of escalation level 1 to 4 (sanse.worker_role)';
-- the copies follow the tables (only the extension's scripts write them)
CREATE TRIGGER vocabulary_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON force
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
CREATE TRIGGER vocabulary_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON worker_role
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();

-- Departments that the grid whistles for (网格吹哨); department staff carry
-- worker.department.
CREATE TABLE department (
	code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
	name text NOT NULL
);
COMMENT ON TABLE department IS 'departments the grid can whistle for (网格吹哨): code and name';
SELECT pg_catalog.pg_extension_config_dump('department', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON department FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

CREATE TABLE worker (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name text NOT NULL,
	force text NOT NULL CONSTRAINT worker_force_known REFERENCES force (value),
	role text NOT NULL DEFAULT 'member' CONSTRAINT worker_role_known REFERENCES worker_role (value),
	area_id bigint NOT NULL REFERENCES area (id),
	db_role name,
	active boolean NOT NULL DEFAULT true,
	-- the kind of area a leader's role requires; NULL for members (not checked)
	led_area_kind text GENERATED ALWAYS AS (
		CASE role WHEN 'micro_grid_leader' THEN 'micro_grid'
		          WHEN 'general_grid_leader' THEN 'general_grid'
		          WHEN 'total_grid_leader' THEN 'total_grid'
		          WHEN 'task_force' THEN 'district' END) STORED,
	department text REFERENCES department (code),
	UNIQUE (id, force),
	CONSTRAINT worker_leads_area_of_its_kind FOREIGN KEY (area_id, led_area_kind) REFERENCES area (id, kind)
);
CREATE INDEX worker_area ON worker (area_id);
COMMENT ON TABLE worker IS 'grid workers of the five forces; leaders lead the area of their role''s kind';
SELECT pg_catalog.pg_extension_config_dump('area', '');
SELECT pg_catalog.pg_extension_config_dump('area_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('worker', '');
SELECT pg_catalog.pg_extension_config_dump('worker_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON worker FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION area_check() FROM PUBLIC;
-- sees_area's expansion of the grants follows the areas and the grant rows
CREATE TRIGGER area_access_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON area
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
CREATE TRIGGER area_access_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON area_grant
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
ALTER TABLE area ENABLE ALWAYS TRIGGER area_access_cache;
ALTER TABLE area_grant ENABLE ALWAYS TRIGGER area_access_cache;
