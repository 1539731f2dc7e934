#!/bin/sh
# pg_dump -Fc of a database using sanse, restored into a new database, keeps
# the district: areas, workers, carers, residents (tiers, overrides, windows,
# ID hashes), the tier history, edited policies and rules, and the secret
# (ID lookups still work).  Runs in the cluster named by the PG* variables
# (pg_virtualenv sets PGHOST, PGPORT, PGUSER, PGPASSWORD) as a superuser.
# Restores the way the README documents it (session_replication_role =
# replica).  Prints TAP-like "ok - ..." / "not ok - ..." lines; exits non-zero
# on any failure.  Both databases are dropped at the end.
src=sanse_dump_src
dst=sanse_dump_dst
tmp=$(mktemp -d) || exit 2
fail=0

cleanup() {
	dropdb --if-exists "$src" >/dev/null 2>&1
	dropdb --if-exists "$dst" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# psql on a database: unaligned, tuples only, UTC, stop on error
q() {
	db=$1
	shift
	PGOPTIONS="-c search_path=sanse,public -c TimeZone=UTC -c DateStyle=ISO" \
		psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"
}
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; fail=1; }
# same <description> <query>: the query gives the same non-empty output in both databases
same() {
	a=$(q "$src" -c "$2" 2>&1)
	ra=$?
	b=$(q "$dst" -c "$2" 2>&1)
	rb=$?
	if [ $ra -eq 0 ] && [ $rb -eq 0 ] && [ -n "$a" ] && [ "$a" = "$b" ]; then
		ok "$1 ($(printf '%s\n' "$a" | wc -l | tr -d ' ') rows)"
	else
		not_ok "$1"
		printf '%s\n' "$a" | sed 's/^/#   source:      /'
		printf '%s\n' "$b" | sed 's/^/#   destination: /'
	fi
}
# expect <description> <database> <query> <expected output>
expect() {
	got=$(q "$2" -c "$3" 2>&1)
	if [ "$got" = "$4" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf '%s\n' "$got" | sed 's/^/#   got:      /'
		printf '%s\n' "$4" | sed 's/^/#   expected: /'
	fi
}

cleanup
mkdir -p "$tmp"
if ! createdb "$src"; then
	not_ok "createdb $src"
	exit 1
fi

# A small district.  Registration times are fixed; the history comes from
# inserts, factor changes and an override set and cleared.
if q "$src" >"$tmp/load.out" 2>&1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
-- edited policy, a built-in rule switched off, a rule of our own
UPDATE tier_policy SET cadence = 'rolling 5 days', escalate_after = '12 hours' WHERE tier = 'yellow';
UPDATE classification_rule SET enabled = false WHERE builtin AND all_of = '{mobility_impaired}';
INSERT INTO classification_rule (tier, all_of, note) VALUES ('yellow', '{lives_alone,disabled}', 'local: alone and disabled');
INSERT INTO area (path, kind, name) VALUES
	('q', 'district', 'Q district'), ('q.s1', 'town', 'Street 1'), ('q.s1.c1', 'village', 'Community 1'),
	('q.s1.c1.z1', 'total_grid', 'Total grid 1'), ('q.s1.c1.z1.g1', 'general_grid', 'General grid 1'),
	('q.s1.c1.z1.g1.m1', 'micro_grid', 'Micro grid 1'), ('q.s1.c1.z1.g1.m2', 'micro_grid', 'Micro grid 2');
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, v.force, v.role, a.id
  FROM (VALUES ('Task force', 'department_staff', 'task_force', 'q'),
               ('Total leader', 'community_cadre', 'total_grid_leader', 'q.s1.c1.z1'),
               ('General leader', 'grid_officer', 'general_grid_leader', 'q.s1.c1.z1.g1'),
               ('Micro leader', 'grid_officer', 'micro_grid_leader', 'q.s1.c1.z1.g1.m1'),
               ('Staff Zhou', 'department_staff', 'member', 'q.s1'),
               ('Cadre Wu', 'community_cadre', 'member', 'q.s1.c1'),
               ('Officer Zheng', 'grid_officer', 'member', 'q.s1.c1.z1.g1.m1'),
               ('Nurse Wang', 'service_professional', 'member', 'q.s1.c1.z1.g1.m1'),
               ('Volunteer Feng', 'volunteer', 'member', 'q.s1.c1.z1.g1.m2'),
               ('Volunteer Chen', 'volunteer', 'member', 'q.s1.c1.z1.g1.m2')) v(name, force, role, path)
  JOIN area a ON a.path = v.path::ltree;
UPDATE worker SET active = false WHERE name = 'Volunteer Chen';
INSERT INTO resident (area_id, name, factors, registered_at, last_visit_at, id_number, lat, lon, active)
SELECT a.id, v.name, v.factors, v.reg, v.visited, v.idn, v.lat, v.lon, v.active
  FROM (VALUES ('Granny Li', '{sudden_illness,no_caregiver,lives_alone}'::text[], '2024-03-01 09:00+08'::timestamptz,
                NULL::timestamptz, '51010119400101123X', 30.65, 104.06, true, 'q.s1.c1.z1.g1.m1'),
               ('Uncle Zhang', '{partial_care,unstable_chronic}', '2024-03-01 09:00+08', '2024-03-05 10:00+08',
                '510101194502021234', NULL, NULL, true, 'q.s1.c1.z1.g1.m1'),
               ('Mr Zhao', '{mobility_impaired}', '2024-03-02 15:30+08', NULL, NULL, NULL, NULL, true, 'q.s1.c1.z1.g1.m2'),
               ('Ms Sun', '{lives_alone,disabled}', '2024-03-03 08:00+08', NULL, '11010119500303002x', NULL, NULL, true, 'q.s1.c1.z1.g1.m2'),
               ('Mr Qian', '{self_care_difficulty}', '2024-02-10 11:00+08', '2024-02-28 16:00+08', NULL, NULL, NULL, false, 'q.s1.c1.z1.g1.m2'),
               ('Mrs Ma', '{recently_discharged}', '2024-03-04 12:00+08', NULL, NULL, NULL, NULL, true, 'q.s1.c1.z1.g1.m1')
       ) v(name, factors, reg, visited, idn, lat, lon, active, path)
  JOIN area a ON a.path = v.path::ltree;
-- history: a factor change, an override kept, an override set and cleared
UPDATE resident SET factors = '{partial_care,unstable_chronic,accident_risk}' WHERE name = 'Uncle Zhang';
UPDATE resident SET tier_override = 'red', override_reason = 'lives on the sixth floor, no lift' WHERE name = 'Mr Zhao';
UPDATE resident SET tier_override = 'yellow', override_reason = 'daughter away' WHERE name = 'Mrs Ma';
UPDATE resident SET tier_override = NULL WHERE name = 'Mrs Ma';
-- five-for-one
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r, worker w
 WHERE (r.name = 'Granny Li' AND w.name IN ('Staff Zhou', 'Cadre Wu', 'Officer Zheng', 'Nurse Wang', 'Volunteer Feng'))
    OR (r.name = 'Uncle Zhang' AND w.name IN ('Officer Zheng', 'Volunteer Feng'))
    OR (r.name = 'Ms Sun' AND w.name = 'Nurse Wang');
SQL
then
	ok "load a small district into $src"
else
	not_ok "load a small district into $src"
	sed 's/^/# /' "$tmp/load.out"
	exit 1
fi

# the source is what the test means it to be (so that "identical" means something)
expect "source: tiers as the rules, overrides and policy give them" "$src" \
	"SELECT name, coalesce(computed_tier::text, '-'), coalesce(tier::text, '-'), coalesce(next_visit::text, '-') FROM resident ORDER BY id" \
	"Granny Li|red|red|[2024-03-01 01:00:00+00,2024-03-03 01:00:00+00)
Uncle Zhang|red|red|[2024-03-05 02:00:00+00,2024-03-07 02:00:00+00)
Mr Zhao|-|red|[2024-03-02 07:30:00+00,2024-03-04 07:30:00+00)
Ms Sun|yellow|yellow|[2024-03-03 00:00:00+00,2024-03-08 00:00:00+00)
Mr Qian|blue|blue|-
Mrs Ma|-|-|-"
# 4 inserts with a tier (Li, Zhang, Sun, Qian), Zhang's upgrade, Zhao's override,
# Ma's override set and cleared
expect "source: tier_history has the eight changes" "$src" "SELECT count(*) FROM tier_history" "8"

# dump and restore (README: restore with sanse's triggers held back)
if pg_dump -Fc -f "$tmp/district.dump" "$src" 2>"$tmp/dump.err"; then
	ok "pg_dump -Fc $src"
else
	not_ok "pg_dump -Fc $src"
	sed 's/^/# /' "$tmp/dump.err"
	exit 1
fi
if ! createdb "$dst"; then
	not_ok "createdb $dst"
	exit 1
fi
PGOPTIONS="-c session_replication_role=replica" pg_restore -d "$dst" "$tmp/district.dump" >"$tmp/restore.err" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$tmp/restore.err" ]; then
	ok "pg_restore into $dst, without errors or warnings"
else
	not_ok "pg_restore into $dst, without errors or warnings (exit $rc)"
	sed 's/^/# /' "$tmp/restore.err"
fi

same "areas" "SELECT id, path, kind, name FROM area ORDER BY id"
same "workers" "SELECT id, name, force, role, area_id, db_role, active FROM worker ORDER BY id"
same "carers" "SELECT resident_id, worker_id, force FROM carer ORDER BY resident_id, worker_id"
same "residents: id, tier, computed tier, override, next visit, ID hash" \
	"SELECT id, tier, computed_tier, tier_override, next_visit, encode(id_number_hash, 'hex') FROM resident ORDER BY id"
same "residents: every other column" \
	"SELECT id, area_id, name, factors, override_reason, override_by, override_at, registered_at, last_visit_at, active, lat, lon, id_number FROM resident ORDER BY id"
same "tier_policy (the edited yellow row included)" "SELECT tier, cadence, escalate_after FROM tier_policy ORDER BY tier"
same "classification rules (built-in one switched off, custom one added)" \
	"SELECT id, tier, all_of, enabled, builtin, note FROM classification_rule ORDER BY id"

hist="SELECT id, resident_id, changed_at, changed_by, old_computed_tier, new_computed_tier, old_override, new_override, old_tier, new_tier, override_reason FROM tier_history ORDER BY id"
q "$src" -c "$hist" >"$tmp/hist.src" 2>&1
q "$dst" -c "$hist" >"$tmp/hist.dst" 2>&1
nsrc=$(wc -l <"$tmp/hist.src" | tr -d ' ')
missing=$(grep -vxF -f "$tmp/hist.dst" "$tmp/hist.src" | wc -l | tr -d ' ')
if [ "$nsrc" -gt 0 ] && [ "$missing" -eq 0 ]; then
	ok "every tier_history row of the source is in the destination ($nsrc rows)"
else
	not_ok "every tier_history row of the source is in the destination ($missing of $nsrc missing)"
	grep -vxF -f "$tmp/hist.dst" "$tmp/hist.src" | sed 's/^/#   missing: /'
fi

# the secret came along: clear numbers still find their residents
for pair in "51010119400101123X|Granny Li" " 510101194502021234 |Uncle Zhang" "11010119500303002X|Ms Sun"; do
	num=${pair%%|*}
	name=${pair#*|}
	expect "find_resident_by_id_number('$num') finds $name in the destination" "$dst" \
		"SELECT (SELECT array_agg(x ORDER BY x) FROM find_resident_by_id_number('$num') x)
		      = (SELECT array_agg(id ORDER BY id) FROM resident WHERE name = '$name')" "t"
done
same "a new resident's ID number hashes the same in both databases" "SELECT encode(id_number_hash('44030119800101001X'), 'hex')"

# the restored database works like the source: same new ids, tiers and windows
new="INSERT INTO resident (area_id, name, factors, registered_at, id_number)
     SELECT id, 'After restore', '{lives_alone,disabled,mobility_impaired}', '2024-03-06 10:00+08', '44030119800101001X'
       FROM area WHERE path = 'q.s1.c1.z1.g1.m2'
     RETURNING id, computed_tier, tier, next_visit, encode(id_number_hash, 'hex')"
same "a resident inserted after the restore gets the same id, tier (custom rule, built-in switched off) and window (edited cadence)" "$new"
same "a worker inserted after the restore gets the same id" \
	"INSERT INTO worker (name, force, area_id) SELECT 'New volunteer', 'volunteer', id FROM area WHERE path = 'q' RETURNING id"
same "the tier history grows the same way after the restore" \
	"UPDATE resident SET tier_override = 'red', override_reason = 'storm warning' WHERE name = 'Ms Sun';
	 SELECT count(*), max(id) FROM tier_history"

exit $fail
