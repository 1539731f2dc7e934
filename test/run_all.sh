#!/bin/sh
# Runs every pg_regress, isolation and pgTAP test against the cluster in the
# PG* environment (pg_virtualenv sets it) and ends with "N passed, M failed".
# $1 is the make command to use.
MAKE=${1:-make}
cd "$(dirname "$0")/.." || exit 2
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# pg_regress and isolation specs (installcheck runs both)
$MAKE --no-print-directory installcheck >"$log/regress" 2>&1
regress_rc=$?
cat "$log/regress"
reg_ok=$(grep -cE '\.\.\. ok ' "$log/regress")
reg_bad=$(grep -cE '\.\.\. FAILED' "$log/regress")
if [ $regress_rc -ne 0 ]; then
	for d in regression.diffs output_iso/regression.diffs; do
		[ -f "$d" ] && cat "$d"
	done
	[ "$reg_bad" -eq 0 ] && reg_bad=1
fi

# pgTAP: a fresh sanse in the pg_cron database, every file in its own rollback
db=contrib_regression
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$log/setup" 2>&1 <<'SQL'
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS sanse CASCADE;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION sanse CASCADE;
SQL
if [ $? -ne 0 ]; then
	cat "$log/setup"
	tap_ok=0
	tap_bad=1
else
	pg_prove -v --ext .sql -d "$db" test/pgtap/ >"$log/tap" 2>&1
	tap_rc=$?
	cat "$log/tap"
	tap_ok=$(grep -cE '^[[:space:]]*ok [0-9]+' "$log/tap")
	tap_bad=$(grep -cE '^[[:space:]]*not ok [0-9]+' "$log/tap")
	if grep -q 'Result: NOTESTS' "$log/tap"; then
		echo "pg_prove found no tests"
		tap_bad=$((tap_bad + 1))
	elif [ $tap_rc -ne 0 ] && [ "$tap_bad" -eq 0 ]; then
		tap_bad=1
	fi
fi

# shell-level tests (pg_dump round trip, pg_cron really running): TAP-like lines
sh_ok=0
sh_bad=0
for t in test/*.sh; do
	[ "$t" = test/run_all.sh ] && continue
	sh "$t" >"$log/sh" 2>&1
	rc=$?
	echo "# $t"
	cat "$log/sh"
	ok=$(grep -c '^ok ' "$log/sh")
	bad=$(grep -c '^not ok ' "$log/sh")
	if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
	sh_ok=$((sh_ok + ok))
	sh_bad=$((sh_bad + bad))
done

passed=$((reg_ok + tap_ok + sh_ok))
failed=$((reg_bad + tap_bad + sh_bad))
# make test prints the summary after pg_virtualenv has dropped the cluster
if [ -n "$SANSE_SUMMARY" ]; then
	echo "$passed passed, $failed failed" >"$SANSE_SUMMARY"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
