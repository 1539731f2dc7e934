#!/bin/sh
# Issue 19, stable entry points: one library serves every version of the
# extension's SQL, each of which binds sanse.check_in to the C symbol written
# for it (check_in for 1.0, 1.2 and 1.3, check_in_1_1 for 1.1, check_in_1_4
# from 1.4 on).  A database left at each released version checks in with
# this library exactly as the current version does, up to what that version
# keeps: the same visits, flags, windows met and overdue events; 1.2 on also
# re-derive the timeline after a back-dated visit.  And the flags C writes
# (src/visit_flag.h) are the rows of sanse.visit_flag, in order.
# Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
q() { db=$1; shift; PGOPTIONS="-c client_min_messages=warning" psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" sanse.control)
# one instant for every database, so their answers compare
t0=$(q postgres -c "SELECT date_trunc('hour', now()) - interval '3 days'")

# database $1 at version $2 (1.0 updated to it, as a real database got there)
make_db() {
	dropdb --if-exists "$1" >/dev/null 2>&1
	createdb "$1" || return 1
	q "$1" -c "CREATE EXTENSION sanse VERSION '1.0' CASCADE" || return 1
	[ "$2" = 1.0 ] || q "$1" -c "ALTER EXTENSION sanse UPDATE TO '$2'"
}

# a red resident registered at t0 with a carer, and a leader who visits
# another home; check-ins late, on time, a retry, a quick succession, a
# repeat, and (for the last) one dated before the latest visit
scenario() {
	q "$1" >/dev/null <<SQL
SET search_path = sanse, public;
INSERT INTO area (path, kind, name) VALUES
  ('ul', 'district', 'UL'), ('ul.t', 'town', 'T'), ('ul.t.v', 'village', 'V'),
  ('ul.t.v.tg', 'total_grid', 'TG'), ('ul.t.v.tg.g', 'general_grid', 'G'), ('ul.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id)
SELECT 'vol', 'volunteer', 'member', a.id FROM area a WHERE a.kind = 'micro_grid';
INSERT INTO worker (name, force, role, area_id)
SELECT 'leader', 'grid_officer', 'micro_grid_leader', a.id FROM area a WHERE a.kind = 'micro_grid';
INSERT INTO resident (area_id, name, factors, registered_at, lat, lon)
SELECT a.id, 'r' || i, '{accident_risk}', '$t0', 30 + i * 0.2, 120 FROM generate_series(1, 2) i, area a WHERE a.kind = 'micro_grid';
INSERT INTO carer (resident_id, worker_id)
SELECT r.id, w.id FROM resident r, worker w WHERE w.name = 'vol';
SELECT sweep('$t0'::timestamptz + interval '2 days');
CREATE TABLE public.tok AS SELECT r.name, door_token(r.id) AS token FROM resident r;
CREATE TABLE public.got (step int, visit bigint);
INSERT INTO public.got SELECT 1, check_in((SELECT token FROM public.tok WHERE name = 'r1'), (SELECT id FROM worker WHERE name = 'vol'), '$t0'::timestamptz + interval '50 hours');
INSERT INTO public.got SELECT 2, check_in((SELECT token FROM public.tok WHERE name = 'r1'), (SELECT id FROM worker WHERE name = 'vol'), '$t0'::timestamptz + interval '50 hours');
INSERT INTO public.got SELECT 3, check_in((SELECT token FROM public.tok WHERE name = 'r2'), (SELECT id FROM worker WHERE name = 'vol'), '$t0'::timestamptz + interval '50 hours 2 minutes');
INSERT INTO public.got SELECT 4, check_in((SELECT token FROM public.tok WHERE name = 'r1'), (SELECT id FROM worker WHERE name = 'leader'), '$t0'::timestamptz + interval '60 hours');
INSERT INTO public.got SELECT 5, check_in((SELECT token FROM public.tok WHERE name = 'r1'), (SELECT id FROM worker WHERE name = 'leader'), '$t0'::timestamptz + interval '60 hours 10 minutes');
INSERT INTO public.got SELECT 6, check_in((SELECT token FROM public.tok WHERE name = 'r1'), (SELECT id FROM worker WHERE name = 'vol'), '$t0'::timestamptz + interval '55 hours');
SQL
}

# what the scenario left, in words that do not depend on ids
visits="SELECT string_agg(g.step || ':' || r.name || ',' || w.name || ',' || (v.at - '$t0') || ',' || v.flags::text || ',' || coalesce((v.window_due - '$t0')::text, '-'), ' ' ORDER BY g.step)
          FROM public.got g JOIN sanse.visit v ON v.id = g.visit JOIN sanse.resident r ON r.id = v.resident_id JOIN sanse.worker w ON w.id = v.worker_id"
retry="SELECT (SELECT visit FROM public.got WHERE step = 1) = (SELECT visit FROM public.got WHERE step = 2)"
events="SELECT string_agg(r.name || ',' || (e.due_at - '$t0') || ',' || e.status || ',' || coalesce((e.resolved_at - '$t0')::text, '-'), ' ' ORDER BY r.name, e.due_at)
          FROM sanse.event e JOIN sanse.resident r ON r.id = e.resident_id WHERE e.kind = 'overdue'"

db=sanse_entry_current
make_db $db "$current" || { echo "not ok - a database at $current"; exit 1; }
check "$current binds sanse.check_in to check_in_1_4" "$(q $db -c "SELECT prosrc FROM pg_proc WHERE oid = 'sanse.check_in'::regproc")" "check_in_1_4"
scenario $db || { echo "not ok - the scenario at $current"; exit 1; }
want_visits=$(q $db -c "$visits")
want_events=$(q $db -c "$events")
echo "# $current: $want_visits"
echo "# $current: $want_events"
check "$current: a retried scan gets the same visit" "$(q $db -c "$retry")" "t"
# the flags C writes, by name and order, are the rows of sanse.visit_flag
check "src/visit_flag.h names the flags of sanse.visit_flag, in order" \
	"$(sed -n 's/^#define VISIT_FLAG_[A-Z_]*[[:space:]]*"\([a-z_]*\)".*/\1/p' src/visit_flag.h | tr '\n' ' ')" \
	"$(q $db -c "SELECT string_agg(value, ' ' ORDER BY position) || ' ' FROM sanse.visit_flag")"
check "$current: the scenario's check-ins wrote every flag of sanse.visit_flag and no other" \
	"$(q $db -c "SELECT string_agg(f, ' ' ORDER BY f) FROM (SELECT DISTINCT unnest(flags) f FROM sanse.visit) x")" \
	"$(q $db -c "SELECT string_agg(value, ' ' ORDER BY value) FROM sanse.visit_flag")"
dropdb $db

for v in 1.0 1.1 1.2 1.3 1.4; do
	db=sanse_entry_$(echo $v | tr . _)
	make_db $db $v || { echo "not ok - a database at $v"; fail=1; continue; }
	symbol=$(q $db -c "SELECT prosrc FROM pg_proc WHERE oid = 'sanse.check_in'::regproc")
	if scenario $db; then
		echo "ok - a database at $v ($symbol) checks in with this library"
	else
		echo "not ok - a database at $v ($symbol) checks in with this library"; fail=1; dropdb $db; continue
	fi
	check "$v: a retried scan gets the same visit" "$(q $db -c "$retry")" "t"
	case $v in
	1.0|1.1)
		# before 1.2 a back-dated visit re-derived nothing: the five others as now
		check "$v: visits, flags and windows met as $current (but the back-dated one)" \
			"$(q $db -c "$visits" | cut -d' ' -f1-5)" "$(echo "$want_visits" | cut -d' ' -f1-5)"
		check "$v: the back-dated visit is stored, not re-derived" \
			"$(q $db -c "SELECT flags::text || coalesce(window_due::text, '-') FROM sanse.visit WHERE id = (SELECT visit FROM public.got WHERE step = 6)")" "{}-"
		;;
	*)
		check "$v: visits, flags and windows met as $current" "$(q $db -c "$visits")" "$want_visits"
		check "$v: overdue events as $current" "$(q $db -c "$events")" "$want_events"
		check "$v: every visit is tallied" "$(q $db -c "SELECT sanse.sweep(); SELECT sum(visits) = (SELECT count(*) FROM sanse.visit) FROM sanse.worker_tally" | tail -1)" "t"
		;;
	esac
	case $v in
	1.4)
		# a department's feed is loaded and applied as at 1.4 (the row
		# trigger is this library's; 1.4's feed_inbox has no column withheld),
		# by a loader role of its own: a feed grant sets the role's
		# session_preload_libraries cluster-wide, which the tests that look
		# for their probe in the server log must not inherit
		psql -X -q -d template1 -c "DROP ROLE IF EXISTS sanse_entry_loader" -c "CREATE ROLE sanse_entry_loader"
		check "$v: a feed row is stored hashed and applied" "$(q $db <<'SQL' | tail -1
INSERT INTO sanse.department (code, name) VALUES ('ep_health', 'Health');
INSERT INTO sanse.feed_grant (role, department, path) VALUES ('sanse_entry_loader', 'ep_health', 'ul');
SET ROLE sanse_entry_loader;
INSERT INTO sanse.feed_inbox (department, batch, line, id_number, name, area_path, factors)
VALUES ('ep_health', 'b1', 1, '11010519491231002X', 'fed', 'ul.t.v.tg.g.m', '{unstable_chronic}');
SELECT count(*) FROM sanse.apply_feed('ep_health', 'b1');
RESET ROLE;
SELECT string_agg(coalesce(id_number, '-') || ',' || (id_number_hash IS NOT NULL) || ',' || outcome, ' ')
  FROM sanse.feed_inbox WHERE department = 'ep_health';
SQL
)" "-,true,registered"
		;;
	esac
	dropdb $db
done
psql -X -q -d template1 -c "DROP ROLE IF EXISTS sanse_entry_loader"
exit $fail
