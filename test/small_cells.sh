#!/bin/sh
# sanse's superuser-only settings cannot be set by other roles: before
# anything loads sanse's library in a session a name like sanse.min_cell is
# only a placeholder that any role may set (in the session, or as PGOPTIONS
# at connection), so sanse reads them in C.  Small cells: every screen view
# is read from a fresh session of a non-superuser aggregate login that set
# sanse.min_cell = 1 first (the district has one resident in micro grid M2:
# every count of M2 is 1).  Retention: the sweep run by a non-superuser
# sweeper that set sanse.retention = '1 second' forgets nobody who left a day
# ago.
# Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_small_cells
login=sanse_small_cells_login
role=sanse_small_cells_bi
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
sweeper=sanse_small_cells_sweeper
tmp_sweep=$(mktemp)
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $login" -c "DROP ROLE IF EXISTS $role" -c "DROP ROLE IF EXISTS $sweeper" >/dev/null 2>&1
}
trap 'cleanup; rm -f "$tmp_sweep"' EXIT
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $login" -c "DROP ROLE IF EXISTS $role" -c "DROP ROLE IF EXISTS $sweeper" >/dev/null 2>&1
q >/dev/null <<SQL || exit 1
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
INSERT INTO sanse.area (path, kind, name) VALUES
  ('q', 'district', 'Q'), ('q.t', 'town', 'T'), ('q.t.v', 'village', 'V'), ('q.t.v.tg', 'total_grid', 'TG'),
  ('q.t.v.tg.g', 'general_grid', 'G'), ('q.t.v.tg.g.m1', 'micro_grid', 'M1'), ('q.t.v.tg.g.m2', 'micro_grid', 'M2');
INSERT INTO sanse.worker (name, force, area_id) SELECT 'carer', 'volunteer', id FROM sanse.area WHERE path = 'q.t.v.tg.g.m2';
INSERT INTO sanse.resident (area_id, name, factors, registered_at)
SELECT id, 'alone', '{mobility_impaired}', now() - interval '40 days' FROM sanse.area WHERE path = 'q.t.v.tg.g.m2';
-- a day of history, and a month of the worker's tally (what check_in appends)
SELECT sanse.record_history(now() - interval '2 days'), sanse.record_history(now());
INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met, windows_missed, visits)
SELECT id, date_trunc('month', now())::date, 1, 0, 1 FROM sanse.worker;
CREATE ROLE $role NOLOGIN;
CREATE ROLE $login LOGIN PASSWORD 'small' IN ROLE $role;
INSERT INTO sanse.area_grant (role, path, access) VALUES ('$role', 'q', 'aggregate');
-- what aggregate-only roles read: the screen as the sweep publishes it
SELECT sanse.publish_screen();
SQL
m2=$(q -c "SELECT id FROM sanse.area WHERE path = 'q.t.v.tg.g.m2'")
check "the district has a recorded day with M2's one resident (as the owner)" \
	"$(q -c "SELECT residents FROM sanse.coverage_history WHERE area_id = $m2 ORDER BY day DESC LIMIT 1")" "1"

# as the login, in a fresh session each time; $1: how min_cell is set, $2: the query
as_login() {
	case $1 in
	startup) PGOPTIONS="-c sanse.min_cell=1" PGPASSWORD=small psql -X -q -t -A -h localhost -U "$login" -d "$db" -c "$2" 2>/dev/null ;;
	set) PGPASSWORD=small psql -X -q -t -A -h localhost -U "$login" -d "$db" -c "SET sanse.min_cell = 1" -c "$2" 2>/dev/null ;;
	esac
}
for how in startup set; do
	for v in coverage coverage_by_tier coverage_history; do
		check "$v, min_cell 1 set at $how by the aggregate login: M2's one resident hidden" \
			"$(as_login $how "SELECT coalesce(max(residents)::text, 'hidden') FROM sanse.$v WHERE area_id = $m2")" "hidden"
	done
	check "worker_checkin_rate, min_cell 1 set at $how by the aggregate login: the one visit hidden" \
		"$(as_login $how "SELECT coalesce(max(visits)::text, 'hidden') || '/' || count(*) FROM sanse.worker_checkin_rate")" "hidden/1"
done

# --- retention: a resident who left a day ago, a sweep by a non-superuser ---
q >/dev/null <<SQL || exit 1
INSERT INTO sanse.resident (area_id, name, factors) SELECT id, 'left', '{lives_alone}' FROM sanse.area WHERE path = 'q.t.v.tg.g.m1';
UPDATE sanse.resident SET active = false WHERE name = 'left';
UPDATE sanse.resident SET deactivated_at = now() - interval '1 day' WHERE name = 'left';
CREATE ROLE $sweeper LOGIN PASSWORD 'small';
GRANT EXECUTE ON FUNCTION sanse.sweep(timestamptz) TO $sweeper;
SQL
PGOPTIONS="-c sanse.retention=1s" PGPASSWORD=small psql -X -q -t -A -h localhost -U "$sweeper" -d "$db" \
	-c "SELECT skipped FROM sanse.sweep()" >"$tmp_sweep" 2>/dev/null
check "a sweep by a sweeper that set sanse.retention to 1 s at connection forgets nobody who left a day ago" \
	"$(q -c "SELECT forgotten_at IS NULL AND name = 'left' FROM sanse.resident WHERE registered_at IS NOT NULL AND id = (SELECT max(id) FROM sanse.resident)")" "t"
check "... and the sweep ran (as the sweeper, not skipped)" "$(cat "$tmp_sweep")" "f"
exit $fail
