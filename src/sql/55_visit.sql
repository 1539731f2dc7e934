-----------------------------------------------------------------------------
-- Visits (入户走访) and check-in
-----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION checklist_items() RETURNS text[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION checklist_items() IS 'knock three things: three asks, three checks, three clears';

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
COMMENT ON COLUMN visit.flags IS 'quick_succession, impossible_travel, repeat_visit, late';
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
