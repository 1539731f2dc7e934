-- One style per vocabulary (issue 19): each vocabulary becomes a lookup
-- table (src/sql/02_vocabulary.sql) and the columns that hold its values
-- reference it instead of an inline CHECK list.  The rows of the tables
-- written in SQL are the ones a fresh install inserts; the tables that
-- mirror the library (tier, risk_factor, checklist_item, grant_access) are
-- filled (made equal to the library) by the DO block of 02_vocabulary.sql
-- that follows in this script.

CREATE TABLE sanse.area_kind (value text PRIMARY KEY, position smallint NOT NULL UNIQUE, meaning text NOT NULL);
INSERT INTO sanse.area_kind (value, position, meaning) VALUES
	('district', 1, 'district (区)'),
	('town', 2, 'town or street (镇/街道)'),
	('village', 3, 'village or community (村/社区)'),
	('total_grid', 4, 'total grid (总网格)'),
	('general_grid', 5, 'general grid (一般网格)'),
	('micro_grid', 6, 'micro grid (微网格)');

CREATE TABLE sanse.force (value text PRIMARY KEY, position smallint NOT NULL UNIQUE, meaning text NOT NULL);
INSERT INTO sanse.force (value, position, meaning) VALUES
	('department_staff', 1, 'department staff sent down to the grid (部门下沉人员)'),
	('community_cadre', 2, 'community cadre (社区两委干部)'),
	('grid_officer', 3, 'full-time grid officer (网格专职管理人员)'),
	('service_professional', 4, 'service professional (生活专业服务人员)'),
	('volunteer', 5, 'resident volunteer (居民志愿者)');

CREATE TABLE sanse.worker_role (value text PRIMARY KEY, position smallint NOT NULL UNIQUE, meaning text NOT NULL);
INSERT INTO sanse.worker_role (value, position, meaning) VALUES
	('member', 1, 'a worker who visits the residents in their care'),
	('micro_grid_leader', 2, 'leads a micro grid; escalation level 1'),
	('general_grid_leader', 3, 'leads a general grid; escalation level 2'),
	('total_grid_leader', 4, 'leads a total grid; escalation level 3, whistles for departments'),
	('task_force', 5, 'the district''s task force (工作专班); escalation level 4');

-- mirrors the library (area_access.c), whose DO block below would fill it:
-- its rows come first here, for the foreign key of area_grant.access
CREATE TABLE sanse.grant_access (value text PRIMARY KEY, position smallint NOT NULL UNIQUE, meaning text NOT NULL);
INSERT INTO sanse.grant_access (value, position, meaning) VALUES
	('aggregate', 1, 'the screen-patrol views only, small cells hidden'),
	('read', 2, 'rows of the subtree, without factors, coordinates or ID hashes'),
	('care', 3, 'all columns of the subtree, and writes residents and carers');

CREATE TABLE sanse.audit_act (value text PRIMARY KEY, position smallint NOT NULL UNIQUE, meaning text NOT NULL);
INSERT INTO sanse.audit_act (value, position, meaning) VALUES
	('tier_override', 1, 'a tier override set, changed, cleared or its reason rewritten'),
	('rule_change', 2, 'a classification rule changed'),
	('policy_change', 3, 'a tier or loop policy changed'),
	('grant_change', 4, 'an area grant changed'),
	('token_revocation', 5, 'a door token revoked'),
	('id_lookup', 6, 'residents looked up by ID number'),
	('forget_resident', 7, 'a resident forgotten'),
	('lock_timeout', 8, 'a sweep phase gave up waiting for a lock');

-- filled from the library by 02_vocabulary.sql's DO block
CREATE TABLE sanse.tier (value text PRIMARY KEY, position smallint NOT NULL UNIQUE, meaning text NOT NULL,
                         chinese text NOT NULL);
CREATE TABLE sanse.risk_factor (value text PRIMARY KEY, position smallint NOT NULL UNIQUE, meaning text NOT NULL);
CREATE TABLE sanse.checklist_item (value text PRIMARY KEY, position smallint NOT NULL UNIQUE, meaning text NOT NULL);

-- Inline lists become foreign keys (validated: every value an installation
-- holds today is in its list, which the CHECKs guaranteed).
ALTER TABLE sanse.area DROP CONSTRAINT area_kind_check,
	ADD CONSTRAINT area_kind_known FOREIGN KEY (kind) REFERENCES sanse.area_kind (value);
ALTER TABLE sanse.area_grant DROP CONSTRAINT area_grant_access_check,
	ADD CONSTRAINT area_grant_access_known FOREIGN KEY (access) REFERENCES sanse.grant_access (value);
ALTER TABLE sanse.worker DROP CONSTRAINT worker_force_check, DROP CONSTRAINT worker_role_check,
	ADD CONSTRAINT worker_force_known FOREIGN KEY (force) REFERENCES sanse.force (value),
	ADD CONSTRAINT worker_role_known FOREIGN KEY (role) REFERENCES sanse.worker_role (value);
ALTER TABLE sanse.audit_log DROP CONSTRAINT audit_log_act_check,
	ADD CONSTRAINT audit_log_act_known FOREIGN KEY (act) REFERENCES sanse.audit_act (value);

-- forces() and worker_roles() read per-backend copies of these two tables
CREATE TRIGGER vocabulary_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sanse.force
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.cache_invalidate();
CREATE TRIGGER vocabulary_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sanse.worker_role
	FOR EACH STATEMENT EXECUTE FUNCTION sanse.cache_invalidate();
