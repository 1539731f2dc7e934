#!/bin/sh
# Runs every pg_regress, isolation, pgTAP and shell test against the cluster in
# the PG* environment (pg_virtualenv sets it) and ends with "N passed, M failed".
# $1 is the make command to use.
#
# It talks: "== <section>: start" as a section starts and
# "== <section>: N passed, M failed, T s" as it ends, the sections being
# pg_regress+isolation (make installcheck), pgTAP (pg_prove over test/pgtap/)
# and each test/*.sh.  A failing section's whole output follows its end line.
# Every section's output is kept in a log directory whose path is printed
# first; it is removed at the end unless something failed (SANSE_TEST_LOGS=dir
# keeps it there in any case; SANSE_TEST_VERBOSE=1 also prints every passing
# section's output; SANSE_TEST_ONLY="pgTAP test/upgrade.sh ..." runs only
# those sections).
#
# Sections run SANSE_TEST_JOBS at a time (default 3 on these two cores: the
# longest, screen.sh, is one backend replaying, and many sections wait on
# locks, sleeps or pg_cron's minute rather than compute; SANSE_TEST_JOBS=1
# runs them one by one, in the table's order).
# Two sections that hold the same thing never overlap, and run in the order of
# the table below:
#   cron   the pg_cron database contrib_regression: pg_regress drops and
#          creates it, pgTAP needs it without pg_cron (10_cron creates it in
#          its transaction) and asserts cron.job whole, cron_runs.sh and
#          readme.sh create pg_cron and schedule jobs there and drop sanse
#   roles  the README recipe's roles (sanse_app, sanse_sweeper, ...): cluster
#          wide, created and dropped by the tests that run the recipe
# The other sections use databases and roles of their own names, or none
# (dist.sh, generated_delta.sh and meta.sh: files and make only; standby.sh
# and failover.sh: clusters of their own on free loopback ports).  pgTAP's
# files run one by one (no pg_prove -j): each is one transaction in the same
# database, and the first audited write holds the audit chain's head row to
# its ROLLBACK, which another file waits 10 s for, then fails (55P03).
# "alone" sections run one by one after all the others, nothing beside them:
# checkin_log.sh and pgaudit.sh read the server log (a line another test
# writes there, e.g. a STATEMENT: of one of its errors, would count);
# feeds_secrecy.sh reads back the WAL its load wrote with pg_waldump (beside
# others, a CHECKPOINT of theirs recycled that segment first: its WAL
# controls failed once in make test); city.sh starts five clusters of its
# own and replays three districts (it would crowd the others); failover.sh
# kills a primary of its own under load and times how soon check-ins succeed
# again (beside others, the machine's load would be in its numbers and its
# one-minute bound); deb.sh
# (installs and removes the Debian package system-wide) runs last of all.  A
# test/*.sh missing from the table runs alone too, before deb.sh: put it in
# the table, with what it holds, to let it run beside others.
#
# Time of the whole `make test` (issue 19), the same tests (2840 passing)
# before and after, on the project machine: 2 cores, shared with five other
# helpers' builds and tests (the load average in brackets), so noisy; runs
# taken in turn over 1 h 40 min:
#   one section at a time, before      6 min  8 s  (1-2)
#   one section at a time, before     16 min 48 s  (6.5-7)
#   one section at a time, before      9 min 27 s  (5 falling to 1)
#   two at a time                     12 min 34 s  (8.5)
#   three at a time                    8 min 50 s  (8.5-9)
#   three at a time, a clean build     8 min 10 s  (8)
#   three at a time                    3 min 47 s  (1-5)
# With three at a time the run is about as long as screen.sh (its 30-day
# replay publishes the screen, sanse.publish_screen, once a simulated day:
# about 90 % of a replay's time) plus the sections that run alone.
MAKE=${1:-make}
cd "$(dirname "$0")/.." || exit 2
jobs=${SANSE_TEST_JOBS:-3}

# name             holds       (in this order within what they hold; the
#                               others longest first, so they balance)
table='
pg_regress+isolation  cron
pgTAP                 cron
test/cron_runs.sh     cron,roles
test/readme.sh        cron,roles
test/clients.sh       roles
test/screen.sh        -
test/fuzz.sh          -
test/dist.sh          -
test/upgrade.sh       -
test/small_cells_attack.sh -
test/dump_restore.sh  -
test/repeatable_read.sh -
test/upgrade_load.sh  -
test/demo_smoke.sh    -
test/locks.sh         -
test/catch_up.sh      -
test/catalog.sh       -
test/small_cells.sh   -
test/generated_delta.sh -
test/meta.sh          -
test/entry_points.sh  -
test/device_replay.sh -
test/standby.sh       -
test/checkin_log.sh   alone
test/pgaudit.sh       alone
test/feeds_secrecy.sh alone
test/city.sh          alone
test/failover.sh      alone
test/deb.sh           last
'

now() { date +%s.%N; }
# seconds since $1, rounded
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
# the file name of a section's output
slug() { echo "$1" | tr '/+.' '___'; }

# --- one section: its output in $log/<slug>.out, "ok bad seconds" in .res ----
run_regress() {	# $1 output
	$MAKE --no-print-directory installcheck >"$1" 2>&1
	rc=$?
	ok=$(grep -cE '\.\.\. ok ' "$1")
	bad=$(grep -cE '\.\.\. FAILED' "$1")
	if [ $rc -ne 0 ]; then
		for d in regression.diffs output_iso/regression.diffs; do
			[ -f "$d" ] && cat "$d" >>"$1"
		done
		[ "$bad" -eq 0 ] && bad=1
	fi
}
# a fresh sanse in the pg_cron database, every file in its own rollback
run_pgtap() {
	db=contrib_regression
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$1" 2>&1 <<'SQL'
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS sanse CASCADE;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION sanse CASCADE;
SQL
	if [ $? -ne 0 ]; then
		ok=0
		bad=1
		return
	fi
	pg_prove -v --timer --ext .sql -d "$db" test/pgtap/ >>"$1" 2>&1
	rc=$?
	ok=$(grep -cE '^[[:space:]]*ok [0-9]+' "$1")
	bad=$(grep -cE '^[[:space:]]*not ok [0-9]+' "$1")
	if grep -q 'Result: NOTESTS' "$1"; then
		echo "pg_prove found no tests" >>"$1"
		bad=$((bad + 1))
	elif [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
}
# shell-level tests: TAP-like lines
run_sh() {	# $1 output, $2 script
	sh "$2" >"$1" 2>&1
	rc=$?
	ok=$(grep -c '^ok ' "$1")
	bad=$(grep -c '^not ok ' "$1")
	if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
}
run_section() {	# $1 name
	out=$log/$(slug "$1").out
	t0=$(now)
	case $1 in
	pg_regress+isolation) run_regress "$out" ;;
	pgTAP) run_pgtap "$out" ;;
	*) run_sh "$out" "$1" ;;
	esac
	# written whole, then renamed: the scheduler takes the .res as "ended"
	echo "$ok $bad $(since "$t0")" >"$log/$(slug "$1").tmp"
	mv "$log/$(slug "$1").tmp" "$log/$(slug "$1").res"
}

# run_all.sh MAKE --section NAME LOGDIR: one section, in its own process
# group (setsid) so that an interrupted run can stop it whole
if [ "$2" = --section ]; then
	log=$4
	run_section "$3"
	exit 0
fi

if [ -n "$SANSE_TEST_LOGS" ]; then
	log=$SANSE_TEST_LOGS
	mkdir -p "$log" || exit 2
	keep=yes
else
	log=$(mktemp -d "${TMPDIR:-/tmp}/sanse-test.XXXXXX") || exit 2
	keep=
fi
running=	# name:holds:pid of the sections running in the background
cleanup() {
	# each in its own process group (setsid): stop it whole
	for e in $running; do kill -TERM "-${e##*:}" 2>/dev/null; done
	[ -z "$keep" ] && rm -rf "$log"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# --- reporting ---------------------------------------------------------------
passed=0
failed=0
report() {	# $1 name
	read -r ok bad secs <"$log/$(slug "$1").res"
	echo "== $1: $ok passed, $bad failed, $secs s"
	if [ "$bad" -ne 0 ] || [ -n "$SANSE_TEST_VERBOSE" ]; then
		[ "$bad" -ne 0 ] && keep=yes
		echo "---- output of $1 ($log/$(slug "$1").out) ----"
		cat "$log/$(slug "$1").out"
		echo "---- end of $1 ----"
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# --- which sections, what they hold -----------------------------------------
pool=	# name:holds, in table order
alone=
last=
listed=
add() {	# $1 name, $2 holds
	case $2 in
	alone) alone="$alone $1" ;;
	last) last="$last $1" ;;
	*) pool="$pool $1:$2" ;;
	esac
}
echo "$table" | while read -r name holds; do
	[ -n "$name" ] && echo "$name $holds"
done >"$log/table"
while read -r name holds; do
	case $name in
	test/*) [ -f "$name" ] || continue ;;
	esac
	listed="$listed $name "
	if [ -n "$SANSE_TEST_ONLY" ]; then
		case " $SANSE_TEST_ONLY " in *" $name "*) ;; *) continue ;; esac
	fi
	add "$name" "$holds"
done <"$log/table"
for t in test/*.sh; do
	[ "$t" = test/run_all.sh ] && continue
	case $listed in *" $t "*) continue ;; esac
	if [ -n "$SANSE_TEST_ONLY" ]; then
		case " $SANSE_TEST_ONLY " in *" $t "*) ;; *) continue ;; esac
	fi
	echo "== $t is not in run_all.sh's table: it runs alone"
	alone="$alone $t"
done
n=$(echo $pool $alone $last | wc -w)
echo "== $n sections, $jobs at a time; their output in $log"
t_all=$(now)

# --- the pool: up to $jobs sections at once ----------------------------------
# A pending section starts when fewer than $jobs run and nothing it holds is
# held by a running section or by a pending one before it in the table.
running=	# name:holds:pid
# (sh has no local variables: these use names of their own)
conflicts() {	# $1 holds, $2 list of name:holds[:pid]; true if they share a thing
	[ "$1" = - ] && return 1
	for c_e in $2; do
		c_h=${c_e#*:}
		c_h=${c_h%%:*}
		for c_a in $(echo "$1" | tr , ' '); do
			case ",$c_h," in *",$c_a,"*) return 0 ;; esac
		done
	done
	return 1
}
while [ -n "$pool" ] || [ -n "$running" ]; do
	changed=
	# the sections that ended
	still=
	for e in $running; do
		name=${e%%:*}
		if [ -f "$log/$(slug "$name").res" ]; then
			wait "${e##*:}" 2>/dev/null
			report "$name"
			changed=yes
		else
			still="$still $e"
		fi
	done
	running=$still
	# the sections that may start
	before=
	rest=
	for e in $pool; do
		holds=${e#*:}
		if [ $(echo $running | wc -w) -lt "$jobs" ] &&
			! conflicts "$holds" "$running" && ! conflicts "$holds" "$before"; then
			name=${e%%:*}
			echo "== $name: start"
			setsid sh test/run_all.sh "$MAKE" --section "$name" "$log" </dev/null &
			running="$running $e:$!"
			changed=yes
		else
			rest="$rest $e"
			before="$before $e"
		fi
	done
	pool=$rest
	[ -z "$changed" ] && sleep 0.2
done

# --- then one by one, nothing beside them -----------------------------------
for name in $alone $last; do
	echo "== $name: start (alone)"
	run_section "$name"
	report "$name"
done

secs=$(since "$t_all")
echo "== all $n sections: $passed passed, $failed failed, $((secs / 60)) min $((secs % 60)) s"
[ -n "$keep" ] && echo "== every section's output is kept in $log"
# make test prints the summary after pg_virtualenv has dropped the cluster
if [ -n "$SANSE_SUMMARY" ]; then
	echo "$passed passed, $failed failed" >"$SANSE_SUMMARY"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
