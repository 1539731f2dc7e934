#!/bin/sh
# pg_dump -Fc of a database using sanse, restored into a new database, keeps
# the district: areas, workers, carers, residents (tiers, overrides, windows,
# ID hashes), the tier history, edited policies and rules, the secret (ID
# lookups still work), door tokens (still opening the same doors, revoked ones
# still refused), visits, events, escalation steps and the check-in tally
# (folded and pending), area grants (their roles' privileges, the
# row-level security policies, what a town role sees) and the audit log, and
# the restored district goes on the same way
# (new residents, check-ins, sweeps).  Runs in the cluster named by the PG*
# variables (pg_virtualenv sets PGHOST, PGPORT, PGUSER, PGPASSWORD) as a
# superuser.  Restores the way the README documents it
# (session_replication_role = replica); a plain pg_restore of the same dump
# into a third database must be refused with a message naming that command,
# leaving no sanse row behind.  Prints TAP-like "ok - ..." / "not ok - ..."
# lines; exits non-zero on any failure.  Every comparison fails when either
# side errors or is empty.  The databases are dropped at the end.
src=sanse_dump_src
dst=sanse_dump_dst
plain=sanse_dump_plain
tmp=$(mktemp -d) || exit 2
fail=0

# Roles are the cluster's: the town roles given grant rows in the source keep
# their names and OIDs in the destination, which is in the same cluster.
town_read=sanse_dump_town_read
town_care=sanse_dump_town_care
nobody=sanse_dump_nobody
cleanup() {
	dropdb --if-exists "$src" >/dev/null 2>&1
	dropdb --if-exists "$dst" >/dev/null 2>&1
	dropdb --if-exists "$plain" >/dev/null 2>&1
	for r in "$town_read" "$town_care" "$nobody"; do
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# The district's check-ins are dated 2024: where check_in limits how far back
# a check-in may be dated (sanse.max_backdate), the sessions that check in
# widen it, as a replay of old history would.
backdate="LOAD 'sanse';
DO \$\$ BEGIN
	IF EXISTS (SELECT FROM pg_settings WHERE name = 'sanse.max_backdate') THEN
		PERFORM set_config('sanse.max_backdate', '10000d', false);
	END IF;
END \$\$;"

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
# expect <description> <database> <query> <expected output>: runs without error and gives exactly that
expect() {
	got=$(q "$2" -c "$3" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ -n "$got" ] && [ "$got" = "$4" ]; then
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

# Then a week of work: door tokens, check-ins, a sweep, a late visit.
if { echo "$backdate"; cat; } <<'SQL' | q "$src" >"$tmp/work.out" 2>&1
-- door tokens; Granny Li's first one revoked (the revoked row comes along too)
SELECT door_token(id) FROM resident WHERE name IN ('Granny Li', 'Uncle Zhang', 'Mr Zhao', 'Ms Sun') ORDER BY id;
SELECT revoke_door_token(id) FROM resident WHERE name = 'Granny Li';
-- visits: Granny Li's on time with a checklist; three minutes later another
-- door (quick_succession), back-dated behind Uncle Zhang's last visit
SELECT check_in(door_token(r.id), w.id, '2024-03-02 10:00+08', '{ask_health,check_gas,clear_passage}')
  FROM resident r, worker w WHERE r.name = 'Granny Li' AND w.name = 'Officer Zheng';
SELECT check_in(door_token(r.id), w.id, '2024-03-02 10:03+08', '{ask_diet}')
  FROM resident r, worker w WHERE r.name = 'Uncle Zhang' AND w.name = 'Officer Zheng';
-- the sweep opens Granny Li's and Mr Zhao's missed windows and escalates
-- them to level 4 (Uncle Zhang's and Mrs Ma's missed windows were opened at
-- level 1 when their tiers changed), and folds the tally so far
SELECT sweep('2024-03-05 12:00+08');
-- Mr Zhao's late visit closes his event at the level it had reached; its
-- tally row stays pending (no sweep after it)
SELECT check_in(door_token(r.id), w.id, '2024-03-05 11:00+08', '{ask_family,check_water}', 'stairs again')
  FROM resident r, worker w WHERE r.name = 'Mr Zhao' AND w.name = 'General leader';
SQL
then
	ok "door tokens, check-ins and a sweep in $src"
else
	not_ok "door tokens, check-ins and a sweep in $src"
	sed 's/^/# /' "$tmp/work.out"
	exit 1
fi
# (what the round trip needs to carry, not check_in's exact outcomes)
expect "source: flagged visits and a window met, open and closed events, steps past level 1, folded and pending tally rows, a revoked token" "$src" \
	"SELECT (SELECT count(*) FROM visit WHERE flags <> '{}') > 0, (SELECT count(*) FROM visit WHERE window_due IS NOT NULL) > 0,
	        (SELECT count(*) FROM event WHERE status = 'open') > 0, (SELECT count(*) FROM event WHERE status = 'closed') > 0,
	        (SELECT count(*) FROM event_step WHERE level > 1) > 0,
	        (SELECT count(*) FROM worker_month) > 0, (SELECT count(*) FROM worker_month_pending) > 0,
	        (SELECT count(*) FROM door_token WHERE revoked_at IS NOT NULL) > 0" \
	"t|t|t|t|t|t|t|t"

# Row-level security (spec 8): a town role reading one micro grid, another
# caring for the other, a role with a hand grant but no grant row; the grant
# rows and an ID lookup leave audit rows.
if q "$src" >"$tmp/grant.out" 2>&1 <<SQL
SET client_min_messages = warning;
CREATE ROLE $town_read NOLOGIN;
CREATE ROLE $town_care NOLOGIN;
CREATE ROLE $nobody NOLOGIN;
INSERT INTO area_grant (role, path, access) VALUES ('$town_read', 'q.s1.c1.z1.g1.m1', 'read');
INSERT INTO area_grant (role, path, access) VALUES ('$town_care', 'q.s1.c1.z1.g1.m2', 'care');
GRANT SELECT ON resident TO $nobody;	-- a hand grant widens nothing without a grant row
SELECT count(*) FROM find_resident_by_id_number('51010119400101123X', 'dump check');
SQL
then
	ok "town roles with read and care grant rows, an ID lookup in $src"
else
	not_ok "town roles with read and care grant rows, an ID lookup in $src"
	sed 's/^/# /' "$tmp/grant.out"
	exit 1
fi
expect "source: two grant rows, audit rows for the overrides, the grants and the lookup, row-level security on resident" "$src" \
	"SELECT (SELECT count(*) FROM area_grant), (SELECT count(*) FROM audit_log WHERE act = 'tier_override') > 0,
	        (SELECT count(*) FROM audit_log WHERE act = 'grant_change') > 0, (SELECT count(*) FROM audit_log WHERE act = 'id_lookup'),
	        (SELECT relrowsecurity FROM pg_class WHERE oid = 'sanse.resident'::regclass)" \
	"2|t|t|1|t"

# Devices (issue 21): a day's partition of readings (not a member of the
# extension: pg_dump keeps it, its index and its statement trigger), a smoke
# detector whose late alarm raised a warning, an edited rule.
if { echo "$backdate"; cat; } <<'SQL' | q "$src" >"$tmp/devices.out" 2>&1
SELECT reading_partition('2024-03-02');
INSERT INTO device (kind, resident_id, area_id) SELECT 'smoke', r.id, r.area_id FROM resident r WHERE r.name = 'Granny Li';
INSERT INTO reading (device_id, at, value, alarm) SELECT d.id, '2024-03-02 09:00+08', 0, true FROM device d;
INSERT INTO device_rule (kind, rule, tier, threshold) VALUES ('gas', 'above', 'red', 10);
SQL
then
	ok "a device, a day of readings, an alarm's warning and an edited rule in $src"
else
	not_ok "a device, a day of readings, an alarm's warning and an edited rule in $src"
	sed 's/^/# /' "$tmp/devices.out"
fi

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
same "tier_history, row for row (no row re-dated or added by the restore)" \
	"SELECT id, resident_id, changed_at, changed_by, old_computed_tier, new_computed_tier, old_override, new_override, old_tier, new_tier, override_reason FROM tier_history ORDER BY id"
same "visits (flags, checklist, note, window met, recorded_at)" \
	"SELECT id, resident_id, worker_id, at, checklist, flags, note, area_id, window_due, recorded_at FROM visit ORDER BY id"
same "events (open and closed, levels, assignees, charged carers)" \
	"SELECT id, resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since, next_step_at, resolved_at, visit_id, closed_by, created_at, charged_to FROM event ORDER BY id"
same "escalation steps" "SELECT event_id, level, assignee_id, at FROM event_step ORDER BY event_id, level"
same "the check-in tally (sanse.worker_tally: folded plus pending)" \
	"SELECT worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items FROM worker_tally ORDER BY worker_id, month"
same "the folded tally (worker_month)" "SELECT * FROM worker_month ORDER BY worker_id, month"
same "the pending tally (worker_month_pending)" \
	"SELECT worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items FROM worker_month_pending ORDER BY 1, 2, 3, 4, 5, 6, 7"
same "door token rows (current and revoked)" \
	"SELECT encode(nonce, 'hex'), resident_id, version, issued_at, revoked_at FROM door_token ORDER BY resident_id, version"
same "door tokens still open the same doors (the same token text for every current token)" \
	"SELECT resident_id, door_token(resident_id) FROM door_token WHERE revoked_at IS NULL ORDER BY resident_id"
# catch-all: every table of the schema, row for row (count and digest of the rows' text)
same "every sanse table holds the same rows" \
	"SELECT c.relname, (xpath('/row/d/text()', query_to_xml(format(
	        'SELECT count(*) || '' '' || coalesce(md5(string_agg(t::text, E''\n'' ORDER BY t::text)), ''-'') AS d FROM sanse.%I t',
	        c.relname), false, true, '')))[1]
	   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE n.nspname = 'sanse' AND c.relkind = 'r' ORDER BY c.relname"
same "every sanse sequence is where it was" \
	"SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'sanse' ORDER BY sequencename"

# grants, policies and the audit (before any lookup below adds to the audit)
same "area_grant rows (role, path, access, role OID)" "SELECT role, path, access, role_oid FROM area_grant ORDER BY role, path, access"
same "audit_log rows (the restore adds none)" \
	"SELECT id, at, session_user_name, current_user_name, act, resident_ids, purpose, detail FROM audit_log ORDER BY id"
same "the audit chain: each row's seal, predecessor and hash, the head, and audit_verify() whole" \
	"SELECT id, encode(text_seal, 'hex'), prev_id, encode(hash, 'hex') FROM audit_log
	 UNION ALL SELECT last_id, 'head', NULL, encode(last_hash, 'hex') FROM audit_chain
	 UNION ALL SELECT -1, 'verify: ' || coalesce(audit_verify()::text, 'whole'), NULL, NULL ORDER BY 1, 2"
same "row-level security policies on the same tables" \
	"SELECT tablename, policyname, permissive, roles, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'sanse' ORDER BY tablename, policyname"
same "relrowsecurity on the same tables" \
	"SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	  WHERE n.nspname = 'sanse' AND c.relkind = 'r' ORDER BY c.relname"
same "the town roles' table and column privileges" \
	"SELECT grantee, table_name, column_name, privilege_type FROM information_schema.column_privileges
	  WHERE table_schema = 'sanse' AND grantee IN ('$town_read', '$town_care', '$nobody')
	 UNION ALL
	 SELECT grantee, table_name, '*', privilege_type FROM information_schema.table_privileges
	  WHERE table_schema = 'sanse' AND grantee IN ('$town_read', '$town_care', '$nobody')
	 ORDER BY 1, 2, 3, 4"
# what each role sees in the destination, against the owner's count by path there
for pair in "$town_read|q.s1.c1.z1.g1.m1" "$town_care|q.s1.c1.z1.g1.m2"; do
	r=${pair%%|*}
	path=${pair#*|}
	want=$(q "$dst" -c "SELECT count(*) || ' ' || string_agg(r.id::text, ',' ORDER BY r.id) FROM resident r JOIN area a ON a.id = r.area_id WHERE a.path <@ '$path'" 2>&1)
	case $want in
	[1-9]*) expect "$r sees exactly the residents under $path in the destination ($want)" "$dst" \
		"SET ROLE $r; SELECT count(*) || ' ' || string_agg(id::text, ',' ORDER BY id) FROM resident" "$want" ;;
	*) not_ok "the destination's residents under $path"; printf '%s\n' "$want" | sed 's/^/#   /' ;;
	esac
done
expect "$town_read sees the visits and events under its micro grid only" "$dst" \
	"SET ROLE $town_read; SELECT (SELECT count(*) FROM visit) || '|' || (SELECT count(*) FROM event)" \
	"$(q "$dst" -c "SELECT (SELECT count(*) FROM visit v JOIN area a ON a.id = v.area_id WHERE a.path <@ 'q.s1.c1.z1.g1.m1')
	     || '|' || (SELECT count(*) FROM event e JOIN area a ON a.id = e.area_id WHERE a.path <@ 'q.s1.c1.z1.g1.m1')" 2>&1)"
expect "a role with no grant row sees no resident in the destination" "$dst" "SET ROLE $nobody; SELECT count(*) FROM resident" "0"
expect "the owner still sees every resident in the destination" "$dst" "SELECT count(*) FROM resident" \
	"$(q "$src" -c "SELECT count(*) FROM resident" 2>&1)"

# the secret came along: clear numbers still find their residents
for pair in "51010119400101123X|Granny Li" " 510101194502021234 |Uncle Zhang" "11010119500303002X|Ms Sun"; do
	num=${pair%%|*}
	name=${pair#*|}
	expect "find_resident_by_id_number('$num') finds $name in the destination" "$dst" \
		"SELECT (SELECT array_agg(x ORDER BY x) FROM find_resident_by_id_number('$num', 'restore check') x)
		      = (SELECT array_agg(id ORDER BY id) FROM resident WHERE name = '$name')" "t"
done
same "a new resident's ID number hashes the same in both databases" "SELECT encode(id_number_hash('44030119800101001X'), 'hex')"
expect "the lookups' audit rows joined the restored chain: audit_verify() whole, the head at the last row" "$dst" \
	"SELECT coalesce(audit_verify()::text, 'whole'), (SELECT last_id FROM audit_chain) = (SELECT max(id) FROM audit_log),
	        (SELECT count(*) FROM audit_log WHERE purpose = 'restore check')" "whole|t|3"

# Door tokens printed from the source open the same doors in the destination;
# the one revoked there stays refused.
tokens=$(q "$src" -c "SELECT r.name || '|' || door_token_sign(t.nonce) FROM door_token t JOIN resident r ON r.id = t.resident_id
                      WHERE t.revoked_at IS NULL ORDER BY r.id" 2>&1)
if [ $? -eq 0 ] && [ "$(printf '%s\n' "$tokens" | grep -c '|')" -eq 4 ]; then
	ok "the source's four current door tokens"
else
	not_ok "the source's four current door tokens"
	printf '%s\n' "$tokens" | sed 's/^/#   /'
fi
for pair in $(printf '%s\n' "$tokens" | sed 's/ /_/g'); do
	name=$(printf '%s' "${pair%%|*}" | tr _ ' ')
	tok=${pair#*|}
	expect "$name's door token from the source opens $name's door in the destination" "$dst" \
		"SELECT r.name FROM door_token t JOIN resident r ON r.id = t.resident_id
		  WHERE t.nonce = door_token_open('$tok') AND t.revoked_at IS NULL" "$name"
done
revoked=$(q "$src" -c "SELECT door_token_sign(nonce) FROM door_token WHERE revoked_at IS NOT NULL" 2>&1)
if [ $? -eq 0 ] && [ -n "$revoked" ]; then
	got=$(q "$dst" -v VERBOSITY=verbose \
		-c "$backdate" -c "SELECT check_in('$revoked', (SELECT id FROM worker WHERE name = 'Nurse Wang'), '2024-03-05 09:00+08')" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && printf '%s\n' "$got" | grep -q 'ERROR: *28000' && printf '%s\n' "$got" | grep -qi 'revoked'; then
		ok "Granny Li's revoked door token is refused in the destination"
	else
		not_ok "Granny Li's revoked door token is refused in the destination (exit $rc)"
		printf '%s\n' "$got" | sed 's/^/#   /'
	fi
else
	not_ok "the source's revoked door token"
	printf '%s\n' "$revoked" | sed 's/^/#   /'
fi

# The restored database goes on like the source: the same statements give the
# same ids, tiers, windows, history, visits, events, steps and tally.
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
# the token text comes from the source in both databases
li=$(printf '%s\n' "$tokens" | sed -n 's/^Granny Li|//p')
same "a check-in after the restore, with the source's door token, stores the same visit" \
	"$backdate
	 SELECT check_in('$li', (SELECT id FROM worker WHERE name = 'Nurse Wang'), '2024-03-06 09:00+08', '{ask_health}');
	 SELECT id, resident_id, worker_id, at, checklist, flags, window_due FROM visit WHERE id = (SELECT max(id) FROM visit)"
same "a sweep after the restore opens and escalates the same number of events" \
	"SELECT overdue_opened, escalations, skipped FROM sweep('2024-03-10 00:00+08')"
same "events and steps after that sweep" \
	"SELECT e.id, e.resident_id, e.status, e.level, e.assignee_id, e.due_at, e.next_step_at, e.resolved_at, e.charged_to,
	        (SELECT string_agg(s.level || '@' || s.at, ' ' ORDER BY s.level) FROM event_step s WHERE s.event_id = e.id)
	   FROM event e ORDER BY e.id"
same "the check-in tally after that sweep" \
	"SELECT worker_id, month, windows_met, windows_missed, visits, flagged_visits, checklist_items FROM worker_tally ORDER BY worker_id, month"
same "nothing left pending after that sweep" "SELECT count(*) FROM worker_month_pending"
same "devices and the day's readings" \
	"SELECT d.id, d.kind, d.resident_id, d.area_id, d.last_reading_at, (SELECT count(*) FROM reading r WHERE r.device_id = d.id) FROM device d ORDER BY d.id"
same "the device rules (the edited one included)" "SELECT kind, rule, tier, threshold, quiet_for FROM device_rule ORDER BY 1, 2, 3"
same "an alarm after the restore counts on the restored warning" \
	"$backdate
	 INSERT INTO reading (device_id, at, value, alarm) SELECT d.id, '2024-03-02 09:05+08', 0, true FROM device d;
	 SELECT id, rule, repeats FROM event WHERE device_id IS NOT NULL ORDER BY id"

# A plain pg_restore (without replica mode) would re-run sanse's triggers over
# the restored rows (history re-dated, overrides re-stamped, tally doubled):
# it must be refused, naming the command that works, with no sanse row left
# half-restored.
if ! createdb "$plain"; then
	not_ok "createdb $plain"
	exit 1
fi
env -u PGOPTIONS pg_restore -d "$plain" "$tmp/district.dump" >"$tmp/plain.err" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	ok "a plain pg_restore into $plain fails (exit $rc)"
else
	not_ok "a plain pg_restore into $plain fails (exit 0)"
fi
if grep -q "session_replication_role=replica" "$tmp/plain.err"; then
	ok "the plain pg_restore's errors name session_replication_role=replica"
else
	not_ok "the plain pg_restore's errors name session_replication_role=replica"
	head -n 20 "$tmp/plain.err" | sed 's/^/#   /'
fi
expect "the plain pg_restore left no sanse row behind" "$plain" \
	"SELECT t, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM sanse.%I', t), false, true, '')))[1]
	   FROM unnest('{resident,tier_history,visit,event,event_step,worker_month,worker_month_pending,area,worker,carer,door_token}'::text[]) t" \
	"resident|0
tier_history|0
visit|0
event|0
event_step|0
worker_month|0
worker_month_pending|0
area|0
worker|0
carer|0
door_token|0"

exit $fail
