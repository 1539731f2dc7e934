-- pgTAP: the fixed vocabularies come from one source each and say what the
-- spec pins (spec 1, 4, 5, 6): forces, worker roles, area kinds, risk
-- factors, checklist items; and everything that checks a value uses them.
BEGIN;
SET LOCAL search_path = public, sanse;
\ir include/helpers.psql
SELECT plan(16);

-- the pinned lists, written here from the spec (not read from sanse)
SELECT is(forces(), ARRAY['department_staff', 'community_cadre', 'grid_officer', 'service_professional', 'volunteer'],
          'forces(): the five forces of spec 6, in order');
SELECT is(worker_roles(), ARRAY['member', 'micro_grid_leader', 'general_grid_leader', 'total_grid_leader', 'task_force'],
          'worker_roles(): member, then the leaders of levels 1 to 4 (spec 6)');
SELECT is(checklist_items(), ARRAY['ask_health', 'ask_diet', 'ask_family', 'check_water', 'check_power', 'check_gas',
                                   'clear_clutter', 'clear_garbage', 'clear_passage'],
          'checklist_items(): knock three things, the nine codes of spec 5');
SELECT is(factor_names(), ARRAY['sudden_illness', 'no_caregiver', 'accident_risk', 'partial_care', 'unstable_chronic',
                                'mobility_impaired', 'self_care_difficulty', 'lives_alone', 'disabled', 'mental_disorder',
                                'recently_discharged'],
          'factor_names(): the eleven factors of spec 4');
SELECT is(ARRAY(SELECT area_kind_level(k) FROM unnest(ARRAY['district', 'town', 'village', 'total_grid', 'general_grid', 'micro_grid']) k),
          ARRAY[1, 2, 3, 4, 5, 6], 'area kinds: district 1 ... micro_grid 6 (spec 1)');
SELECT is(area_kind_level('street'), NULL, 'an unknown area kind has no level');

-- the checks use them: a value outside the list is refused, one inside is not
INSERT INTO area (path, kind, name) VALUES ('vq', 'district', 'VQ');
SELECT is(pg_temp.sqlstate_of(format($$INSERT INTO worker (name, force, area_id) SELECT 'x', %L, id FROM area WHERE path = 'vq'$$, t.force)),
          t.expected, t.description)
  FROM (VALUES ('volunteer', 'ok', 'a force from forces() is accepted'),
               ('police', '23503', 'a force outside forces() is refused (23503: not in sanse.force)')) t(force, expected, description);
SELECT is(pg_temp.sqlstate_of(format($$INSERT INTO worker (name, force, role, area_id) SELECT 'x', 'volunteer', %L, id FROM area WHERE path = 'vq'$$, t.role)),
          t.expected, t.description)
  FROM (VALUES ('task_force', 'ok', 'a role from worker_roles() is accepted (task force on a district)'),
               ('mayor', '23503', 'a role outside worker_roles() is refused (23503: not in sanse.worker_role)')) t(role, expected, description);

-- a full checklist is all of checklist_items(), in the views too
SELECT is((SELECT count(*) FROM pg_views WHERE schemaname = 'sanse'
            AND definition ~ 'checklist_items\(\)'), 2::bigint,
          'both views that judge checklists read checklist_items() (no literal 9)');
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_views WHERE schemaname = 'sanse' AND definition ~ '[^0-9.]9\)'),
          'no view counts the checklist with a literal 9');

-- the carers_of list and carer_gaps use the same forces
-- (1.5: carer_gaps reads sanse.carer_gap, which carer_gap_refresh keeps)
SELECT is((SELECT pg_get_viewdef('sanse.carer_gaps'::regclass) ~ 'carer_gap\M'
              AND pg_get_functiondef('sanse.carer_gap_refresh(bigint[])'::regprocedure) ~ 'forces\(\)'), true,
          'carer_gaps lists the missing forces from forces() (kept in carer_gap by carer_gap_refresh)');
SELECT is(carers_of(-1), '{}'::bigint[], 'carers_of() of nobody is empty, not NULL');

-- the leader of each level has the role worker_roles() names for it
SELECT is(pg_get_functiondef('sanse.leader_for(bigint, int)'::regprocedure) ~ 'worker_roles\(\)', true,
          'leader_for() takes the level''s role from worker_roles()');
SELECT is((pg_temp.error_of($$SELECT check_in('x', 1, now(), '{ask_everything}')$$)).hint,
          'Valid items are ask_health, ask_diet, ask_family, check_water, check_power, check_gas, clear_clutter, clear_garbage and clear_passage.',
          'an unknown checklist item''s hint lists the nine codes, from the same list');

SELECT * FROM finish();
ROLLBACK;
