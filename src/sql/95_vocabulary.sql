-----------------------------------------------------------------------------
-- Every vocabulary in one view: "what are the valid values?" is one query,
--   SELECT value, meaning FROM sanse.vocabulary WHERE vocabulary = 'force' ORDER BY position;
-- vocabulary is the name of the lookup table that holds the values (whose
-- own columns add the vocabulary's attributes).  Last of the sources, after
-- every file that makes a vocabulary table.
-----------------------------------------------------------------------------
CREATE OR REPLACE VIEW vocabulary AS
SELECT 'area_kind'::text AS vocabulary, value, position, meaning FROM area_kind
UNION ALL SELECT 'force', value, position, meaning FROM force
UNION ALL SELECT 'worker_role', value, position, meaning FROM worker_role
UNION ALL SELECT 'grant_access', value, position, meaning FROM grant_access
UNION ALL SELECT 'audit_act', value, position, meaning FROM audit_act
UNION ALL SELECT 'tier', value, position, meaning FROM tier
UNION ALL SELECT 'risk_factor', value, position, meaning FROM risk_factor
UNION ALL SELECT 'checklist_item', value, position, meaning FROM checklist_item
UNION ALL SELECT 'event_kind', value, position, meaning FROM event_kind
UNION ALL SELECT 'event_scale', value, position, meaning FROM event_scale
UNION ALL SELECT 'event_status', value, position, meaning FROM event_status
UNION ALL SELECT 'loop_stage', value, position, meaning FROM loop_stage
UNION ALL SELECT 'visit_flag', value, position, meaning FROM visit_flag
UNION ALL SELECT 'device_kind', value, position, meaning FROM device_kind
UNION ALL SELECT 'device_rule_kind', value, position, meaning FROM device_rule_kind;
COMMENT ON VIEW vocabulary IS 'every vocabulary of sanse: (vocabulary, value, position, meaning); vocabulary names the lookup table sanse.<vocabulary>';
GRANT SELECT ON vocabulary TO PUBLIC;
