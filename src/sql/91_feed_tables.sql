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
	withheld text,
	PRIMARY KEY (department, batch, line)
) WITH (fillfactor = 45);	-- room on each page for a new version of every row: apply_feed writes the outcomes as HOT updates
-- forgetting a resident erases the feed rows that name them: an equality
-- lookup, so a hash index (a btree's descent over random 32-byte keys cost
-- a COPY of 100,000 rows more than the rows themselves)
CREATE INDEX feed_inbox_hash ON feed_inbox USING hash (id_number_hash) WHERE id_number_hash IS NOT NULL;
REVOKE ALL ON feed_inbox FROM PUBLIC;
COMMENT ON TABLE feed_inbox IS 'department feeds (spec 9): a loader COPYs a batch in, sanse.apply_feed applies it; the clear ID number is replaced by its keyed hash before the row is stored';
COMMENT ON COLUMN feed_inbox.id_number IS 'write the clear 18-character ID number here; it is checked, replaced by id_number_hash and never stored';
COMMENT ON COLUMN feed_inbox.id_number_hash IS 'HMAC-SHA256 of the ID number under the installation secret (NULL when malformed; set by sanse)';
COMMENT ON COLUMN feed_inbox.resident_id IS 'the resident the row named when applied (set by sanse)';
COMMENT ON COLUMN feed_inbox.withheld IS 'what the loader is not told about the row (set by sanse): a resident outside the areas it may feed has the number';
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
-- (no index by department: an apply reads a department's open sources whole,
-- hashed; an index by department cost a first snapshot's 200,000 new rows ≈ 0.4 s)
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
-- micro-grid leader confirms it with; closing it ends the care.  Or the
-- leader finds the person still there (sanse.still_here): the task closes,
-- the care goes on, and the department's later rows saying left are
-- rejected until its list names the person without left again or a
-- snapshot leaves them out (settled).
CREATE TABLE feed_departure (
	event_id bigint PRIMARY KEY REFERENCES event (id),
	resident_id bigint NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
	department text NOT NULL,
	batch text NOT NULL,
	reported_at timestamptz NOT NULL,
	confirmed_at timestamptz,
	refuted_at timestamptz,
	refuted_by bigint REFERENCES worker (id),
	settled_at timestamptz,
	settled_batch text,
	CONSTRAINT feed_departure_one_answer CHECK (confirmed_at IS NULL OR refuted_at IS NULL),
	CONSTRAINT feed_departure_settles_a_refutation CHECK (settled_at IS NULL OR refuted_at IS NOT NULL)
);
-- one open departure (a task pending) or one refuted and not settled, per
-- person and department
CREATE UNIQUE INDEX feed_departure_open ON feed_departure (resident_id, department) WHERE confirmed_at IS NULL AND settled_at IS NULL;
REVOKE ALL ON feed_departure FROM PUBLIC;
COMMENT ON TABLE feed_departure IS 'departures a department reported: the closed-loop task that confirms each; closing it ends the care and that department''s assertions, answering it "still here" (sanse.still_here) keeps both';
COMMENT ON COLUMN feed_departure.refuted_at IS 'when the worker at the door answered "still here" (the task closed, the care goes on)';
COMMENT ON COLUMN feed_departure.refuted_by IS 'the worker who answered "still here"';
COMMENT ON COLUMN feed_departure.settled_at IS 'when the department''s list stopped saying left after a "still here" (a row naming the person without left, or a snapshot leaving them out): until then its rows saying left are rejected';
COMMENT ON COLUMN feed_departure.settled_batch IS 'the batch that settled it';
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
