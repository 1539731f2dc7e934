#!/bin/sh
# pg_dump keeps sanse's data: load a small district with history, an edited
# policy and rules, visits and events; dump; restore into a new database;
# compare.  Prints TAP-like lines.
src=sanse_dump_src
dst=sanse_dump_dst
dump=$(mktemp)
trap 'rm -f "$dump"' EXIT
fail=0
q() { db=$1; shift; PGOPTIONS="-c search_path=sanse,public -c TimeZone=UTC" psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1"; echo "#   source:      $2"; echo "#   destination: $3"; fail=1; fi; }

for db in $src $dst; do dropdb --if-exists "$db" >/dev/null 2>&1; done
createdb $src || exit 1
q $src >/dev/null <<'SQL' || { echo "not ok - load the source district"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
INSERT INTO area (path, kind, name) VALUES ('d', 'district', 'D'), ('d.t', 'town', 'T'), ('d.t.v', 'village', 'V'),
  ('d.t.v.tg', 'total_grid', 'TG'), ('d.t.v.tg.g', 'general_grid', 'G'), ('d.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id) SELECT 'leader', 'grid_officer', 'micro_grid_leader', id FROM area WHERE kind = 'micro_grid';
INSERT INTO worker (name, force, role, area_id) SELECT 'volunteer', 'volunteer', 'member', id FROM area WHERE kind = 'micro_grid';
UPDATE tier_policy SET cadence = 'rolling 3 days', escalate_after = '6 hours' WHERE tier = 'red';
UPDATE classification_rule SET enabled = false WHERE builtin AND all_of = '{unstable_chronic}';
INSERT INTO classification_rule (tier, all_of, note) VALUES ('yellow', '{lives_alone,disabled}', 'local rule');
INSERT INTO resident (area_id, name, factors, registered_at, id_number)
SELECT m.id, v.name, v.factors, '2024-03-01 09:00+08', v.idn
  FROM area m, (VALUES ('Wang', '{accident_risk}'::text[], '51010119400101123X'),
                       ('Li', '{lives_alone,disabled}', '510101194502021234'),
                       ('Zhao', '{unstable_chronic}', NULL)) v(name, factors, idn)
 WHERE m.kind = 'micro_grid';
UPDATE resident SET tier_override = 'red', override_reason = 'fell twice' WHERE name = 'Li';
INSERT INTO carer (resident_id, worker_id) SELECT r.id, w.id FROM resident r, worker w WHERE w.name = 'volunteer';
SELECT check_in(door_token(r.id), w.id, '2024-03-02 10:00+08', '{ask_health}') FROM resident r, worker w
 WHERE r.name = 'Wang' AND w.name = 'volunteer';
SELECT sweep('2024-03-08 00:00+08');
SQL

pg_dump -Fc -f "$dump" $src || { echo "not ok - pg_dump"; exit 1; }
createdb $dst
# sanse's documented restore: its triggers must not re-run over restored rows
PGOPTIONS="-c session_replication_role=replica" pg_restore -d $dst "$dump" 2>"$dump.err"
if [ -s "$dump.err" ]; then echo "not ok - pg_restore is clean"; sed 's/^/# /' "$dump.err"; fail=1; else echo "ok - pg_restore is clean"; fi
rm -f "$dump.err"

same() {	# $1 description, $2 query
	a=$(q $src -c "$2" 2>&1); b=$(q $dst -c "$2" 2>&1)
	check "$1" "$a" "$b"
}
same "areas" "SELECT id, path, kind, name FROM area ORDER BY id"
same "workers" "SELECT id, name, force, role, area_id, active FROM worker ORDER BY id"
same "residents with tiers, overrides and windows" \
	"SELECT id, name, factors, tier, computed_tier, tier_override, override_reason, override_by, override_at, registered_at, last_visit_at, next_visit, id_number_hash FROM resident ORDER BY id"
same "carers" "SELECT resident_id, worker_id, force FROM carer ORDER BY 1, 2"
same "the edited tier policy" "SELECT tier, cadence, escalate_after FROM tier_policy ORDER BY tier"
same "classification rules, built-in switched off and local" "SELECT id, tier, all_of, enabled, builtin, note FROM classification_rule ORDER BY id"
same "visits" "SELECT id, resident_id, worker_id, at, checklist, flags, window_due FROM visit ORDER BY id"
same "events" "SELECT id, resident_id, due_at, status, level, level_since, assignee_id, resolved_at, visit_id, charged_to FROM event ORDER BY id"
same "the check-in tally, folded and pending" "SELECT * FROM worker_tally ORDER BY worker_id, month"
same "escalation steps" "SELECT event_id, level, assignee_id, at FROM event_step ORDER BY 1, 2"
same "door tokens still open the same doors" "SELECT resident_id, door_token(resident_id) FROM door_token WHERE revoked_at IS NULL ORDER BY 1"
same "the ID-number lookup still finds residents (the secret came along)" "SELECT * FROM find_resident_by_id_number('510101194502021234')"
hist="SELECT id, resident_id, changed_at, changed_by, old_computed_tier, new_computed_tier, old_override, new_override, old_tier, new_tier, override_reason FROM tier_history ORDER BY id"
q $src -c "$hist" >"$dump.src"
q $dst -c "$hist" >"$dump.dst"
missing=$(grep -vxFf "$dump.dst" "$dump.src" | wc -l)
check "every source history row is in the destination ($(wc -l <"$dump.src") rows)" "$missing" "0"
rm -f "$dump.src" "$dump.dst"
check "after the restore the district takes new residents, visits and sweeps (sequences came along)" \
	"$(q $dst -c "INSERT INTO resident (area_id, name, factors, registered_at) SELECT id, 'Sun', '{accident_risk}', '2024-03-01 09:00+08' FROM area WHERE kind = 'micro_grid' RETURNING id > 3" \
	   && q $dst -c "SELECT check_in(door_token(r.id), w.id, '2024-03-02 10:00+08') > 1 FROM resident r, worker w WHERE r.name = 'Sun' AND w.name = 'leader'" \
	   && q $dst -c "SELECT (sweep('2024-03-20 00:00+08')).overdue_opened > 0")" "t
t
t"
dropdb $src
dropdb $dst
exit $fail
