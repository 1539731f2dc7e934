-----------------------------------------------------------------------------
-- Vocabularies: one lookup table each, the one place its values are listed.
--
-- Every vocabulary is a small table sanse.<vocabulary> (value text PRIMARY
-- KEY, position smallint UNIQUE, meaning text, and the vocabulary's own
-- attributes), written only by the extension's scripts and readable by
-- every role; the columns that hold its values reference it by foreign key
-- (an unknown value: 23503).  The view sanse.vocabulary lists them all
-- (95_vocabulary.sql): "what are the valid values?" is one query.
--
-- Tiers, risk factors, checklist items and area-grant accesses are checked
-- in C on every classification, check-in and row-level security probe:
-- their one place is a C array (risk_tier.c, rules.c, checklist.c,
-- area_access.c), and their tables are its catalog face, filled here from
-- sanse.compiled_vocabulary() at install and at every upgrade.
-----------------------------------------------------------------------------

-- The grid's levels (spec 1): a kind's position is its depth.
CREATE TABLE area_kind (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
INSERT INTO area_kind (value, position, meaning) VALUES
	('district', 1, 'district (区)'),
	('town', 2, 'town or street (镇/街道)'),
	('village', 3, 'village or community (村/社区)'),
	('total_grid', 4, 'total grid (总网格)'),
	('general_grid', 5, 'general grid (一般网格)'),
	('micro_grid', 6, 'micro grid (微网格)');
COMMENT ON TABLE area_kind IS 'vocabulary: the kinds of area, position = depth (district 1 ... micro_grid 6)';

-- The five forces of the five-for-one (五类力量, 五包一), spec 6.
CREATE TABLE force (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
INSERT INTO force (value, position, meaning) VALUES
	('department_staff', 1, 'department staff sent down to the grid (部门下沉人员)'),
	('community_cadre', 2, 'community cadre (社区两委干部)'),
	('grid_officer', 3, 'full-time grid officer (网格专职管理人员)'),
	('service_professional', 4, 'service professional (生活专业服务人员)'),
	('volunteer', 5, 'resident volunteer (居民志愿者)');
COMMENT ON TABLE force IS 'vocabulary: the five forces of the five-for-one, in order';

-- Worker roles: a member, then the leader of escalation level 1 to 4
-- (position = level + 1; worker_roles()[level + 1]).
CREATE TABLE worker_role (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
INSERT INTO worker_role (value, position, meaning) VALUES
	('member', 1, 'a worker who visits the residents in their care'),
	('micro_grid_leader', 2, 'leads a micro grid; escalation level 1'),
	('general_grid_leader', 3, 'leads a general grid; escalation level 2'),
	('total_grid_leader', 4, 'leads a total grid; escalation level 3, whistles for departments'),
	('task_force', 5, 'the district''s task force (工作专班); escalation level 4');
COMMENT ON TABLE worker_role IS 'vocabulary: worker roles, member then the leader of escalation level 1 to 4 (position = level + 1)';

-- The sensitive acts of the audit log (spec 8).
CREATE TABLE audit_act (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
INSERT INTO audit_act (value, position, meaning) VALUES
	('tier_override', 1, 'a tier override set, changed, cleared or its reason rewritten'),
	('rule_change', 2, 'a classification rule changed'),
	('policy_change', 3, 'a tier or loop policy changed'),
	('grant_change', 4, 'an area grant changed'),
	('token_revocation', 5, 'a door token revoked'),
	('id_lookup', 6, 'residents looked up by ID number'),
	('forget_resident', 7, 'a resident forgotten'),
	('lock_timeout', 8, 'a sweep phase gave up waiting for a lock'),
	('feed_apply', 9, 'a department''s feed applied');
COMMENT ON TABLE audit_act IS 'vocabulary: the acts audit_log records';

-- The vocabularies compiled into the library (C arrays) and their tables.
CREATE OR REPLACE FUNCTION compiled_vocabulary()
RETURNS TABLE (vocabulary text, value text, "position" smallint, meaning text, chinese text)
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION compiled_vocabulary() IS 'the vocabularies checked in C (tier, risk_factor, checklist_item, grant_access), as the library lists them';

-- Risk tiers (spec 1, 2): position is the tier's code (blue 1 < yellow 2 < red 3).
CREATE TABLE tier (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL,
	chinese text NOT NULL
);
COMMENT ON TABLE tier IS 'vocabulary: the values of sanse.risk_tier, position = severity (blue 1 < yellow 2 < red 3), chinese = the colour also accepted as input (with or without 色); from the library';
COMMENT ON COLUMN tier.chinese IS 'the colour in Chinese; input takes it alone or followed by 色';

-- Risk factors (spec 4): position is the factor's bit + 1.
CREATE TABLE risk_factor (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
COMMENT ON TABLE risk_factor IS 'vocabulary: the pinned risk factors; from the library';

-- What a row of area_grant gives (spec 8), in ascending order: each access
-- includes those of lower position.
CREATE TABLE grant_access (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
COMMENT ON TABLE grant_access IS 'vocabulary: the accesses of area_grant, each including those of lower position; from the library';

-- Checklist items, knock three things (spec 5).
CREATE TABLE checklist_item (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
COMMENT ON TABLE checklist_item IS 'vocabulary: the checklist items of a visit (three asks, three checks, three clears); from the library';

-- Filled from the library at install and at every upgrade (a DO block, so
-- upgrades repeat it): a value the library adds appears, one it drops goes.
DO $$
BEGIN
	INSERT INTO sanse.tier AS t (value, position, meaning, chinese)
	SELECT c.value, c.position, c.meaning, c.chinese FROM sanse.compiled_vocabulary() c WHERE c.vocabulary = 'tier'
	ON CONFLICT (value) DO UPDATE SET position = excluded.position, meaning = excluded.meaning, chinese = excluded.chinese
	 WHERE (t.position, t.meaning, t.chinese) IS DISTINCT FROM (excluded.position, excluded.meaning, excluded.chinese);
	DELETE FROM sanse.tier t
	 WHERE t.value NOT IN (SELECT c.value FROM sanse.compiled_vocabulary() c WHERE c.vocabulary = 'tier');

	INSERT INTO sanse.risk_factor AS t (value, position, meaning)
	SELECT c.value, c.position, c.meaning FROM sanse.compiled_vocabulary() c WHERE c.vocabulary = 'risk_factor'
	ON CONFLICT (value) DO UPDATE SET position = excluded.position, meaning = excluded.meaning
	 WHERE (t.position, t.meaning) IS DISTINCT FROM (excluded.position, excluded.meaning);
	DELETE FROM sanse.risk_factor t
	 WHERE t.value NOT IN (SELECT c.value FROM sanse.compiled_vocabulary() c WHERE c.vocabulary = 'risk_factor');

	INSERT INTO sanse.checklist_item AS t (value, position, meaning)
	SELECT c.value, c.position, c.meaning FROM sanse.compiled_vocabulary() c WHERE c.vocabulary = 'checklist_item'
	ON CONFLICT (value) DO UPDATE SET position = excluded.position, meaning = excluded.meaning
	 WHERE (t.position, t.meaning) IS DISTINCT FROM (excluded.position, excluded.meaning);
	DELETE FROM sanse.checklist_item t
	 WHERE t.value NOT IN (SELECT c.value FROM sanse.compiled_vocabulary() c WHERE c.vocabulary = 'checklist_item');

	INSERT INTO sanse.grant_access AS t (value, position, meaning)
	SELECT c.value, c.position, c.meaning FROM sanse.compiled_vocabulary() c WHERE c.vocabulary = 'grant_access'
	ON CONFLICT (value) DO UPDATE SET position = excluded.position, meaning = excluded.meaning
	 WHERE (t.position, t.meaning) IS DISTINCT FROM (excluded.position, excluded.meaning);
	DELETE FROM sanse.grant_access t
	 WHERE t.value NOT IN (SELECT c.value FROM sanse.compiled_vocabulary() c WHERE c.vocabulary = 'grant_access');
END
$$;

GRANT SELECT ON area_kind, force, worker_role, grant_access, audit_act, tier, risk_factor, checklist_item TO PUBLIC;

-----------------------------------------------------------------------------
-- Free text: notes, reasons, purposes, at most 2,000 characters.  The limit
-- is written once, in C: SANSE_FREE_TEXT_MAX in src/vocabulary.h.  C uses it
-- directly; make writes it into the install and upgrade scripts where a
-- table's CHECK names it (SANSE_FREE_TEXT_MAX between two @ signs; a longer
-- value: 23514); functions read it through
-- free_text_max() and check their free-text arguments with
-- check_free_text(value, what) (22001 "the <what> is longer than 2000
-- characters").
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION free_text_max() RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION free_text_max() IS 'the longest free text sanse keeps, in characters';

CREATE OR REPLACE FUNCTION check_free_text(value text, what text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION check_free_text(text, text) IS 'raises 22001 "the <what> is longer than free_text_max() characters" for a longer value; NULL passes';
