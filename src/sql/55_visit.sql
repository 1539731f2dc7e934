-----------------------------------------------------------------------------
-- Visits (入户走访) and check-in
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION checklist_items() RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION checklist_items() IS 'knock three things: three asks, three checks, three clears';

-- The flags check_in sets on a visit, for supervisors (5.3.3): the values
-- C writes (src/visit_flag.h names them, in this order), with their meaning.
-- Read by everyone, written by nobody: a new flag comes with a new version.
CREATE TABLE visit_flag (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
INSERT INTO visit_flag (value, position, meaning) VALUES
	('quick_succession', 1, 'checked in at another door less than sanse.quick_succession after the worker''s previous check-in'),
	('impossible_travel', 2, 'the worker''s previous door is farther away than sanse.max_travel_speed allows in the time between'),
	('repeat_visit', 3, 'the same worker checked in at the same door less than sanse.repeat_window before'),
	('late', 4, 'at or after the due time of the resident''s visit window');
GRANT SELECT ON visit_flag TO PUBLIC;
COMMENT ON TABLE visit_flag IS 'the flags a check-in may set on visit.flags, with their meaning (src/visit_flag.h names them in C)';

CREATE TABLE visit (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	resident_id bigint NOT NULL REFERENCES resident (id),
	worker_id bigint NOT NULL REFERENCES worker (id),
	at timestamptz NOT NULL,
	checklist text[] NOT NULL DEFAULT '{}',
	flags text[] NOT NULL DEFAULT '{}',
	note text,
	area_id bigint NOT NULL,
	window_due timestamptz,
	recorded_at timestamptz NOT NULL DEFAULT now(),
	UNIQUE (resident_id, worker_id, at)
);
CREATE INDEX visit_worker_at ON visit (worker_id, at);
CREATE INDEX visit_area_at ON visit (area_id, at);
-- A window is met once: the visit that meets it moves the window on.
CREATE UNIQUE INDEX visit_window_met ON visit (resident_id, window_due) WHERE window_due IS NOT NULL;
COMMENT ON TABLE visit IS 'door check-ins, written only by sanse.check_in (which validates the checklist)';
COMMENT ON COLUMN visit.flags IS 'values of sanse.visit_flag: quick_succession, impossible_travel, repeat_visit, late';
COMMENT ON COLUMN visit.area_id IS 'the resident''s micro grid at the visit';
COMMENT ON COLUMN visit.window_due IS 'due time of the window this visit met on time (NULL: late, early or back-dated)';

CREATE INDEX visit_at ON visit (at);
SELECT pg_catalog.pg_extension_config_dump('visit', '');
SELECT pg_catalog.pg_extension_config_dump('visit_id_seq', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON visit FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

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
	reason text NOT NULL CHECK (btrim(reason) <> '' AND length(reason) <= @SANSE_FREE_TEXT_MAX@),
	withdrawn_by name NOT NULL DEFAULT session_user,
	withdrawn_as name NOT NULL DEFAULT current_user,
	withdrawn_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON visit_withdrawn FROM PUBLIC;
COMMENT ON TABLE visit_withdrawn IS 'visits withdrawn with sanse.withdraw_visit: the visit as it was, who withdrew it, when and why';
SELECT pg_catalog.pg_extension_config_dump('visit_withdrawn', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON visit_withdrawn FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
