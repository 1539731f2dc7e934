#!/bin/sh
# Fuzzing: random and adversarial inputs through every type input and binary
# receive function of sanse, every SQL-callable function of schema sanse (with
# random arguments of each argument type), every trigger function (attached to
# temporary tables with wrong column types, dropped columns and NULLs, fired by
# INSERT/UPDATE/DELETE/TRUNCATE) and random writes to sanse's own tables.
# The generators and the driver are in test/fuzz/setup.sql.
#
# Asserts, in TAP-like lines: no call ever killed a backend or restarted the
# server (psql's connection, pg_postmaster_start_time() and the checkpointer's
# pid, which a crash-restart changes while the start time stays), and every
# refusal carries an expected SQLSTATE (never XX000/XX001/XX002).  A batch runs
# in one psql; each call is announced by a NOTICE, so when a call kills the
# backend the last NOTICE is its reproducer: it is reported, skipped, and the
# batch is run again.  FUZZ_SEED picks the seed (fixed by default, printed).
cd "$(dirname "$0")/.." || exit 2
SEED=${FUZZ_SEED:-20240301}
SCALE=${FUZZ_SCALE:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
crashes=0
echo "# fuzz seed $SEED (set FUZZ_SEED to change it), scale $SCALE"

q() { d=$1; shift; psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$d" "$@"; }
server_id() {
	psql -X -q -t -A -d postgres -c "SELECT pg_postmaster_start_time() || ' checkpointer ' || (SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer')" 2>/dev/null
}
wait_up() {
	i=0
	while [ $i -lt 120 ]; do
		psql -X -q -t -A -d postgres -c 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}

setup_db() {	# $1 database, $2 encoding
	dropdb --if-exists "$1" >/dev/null 2>&1
	createdb -T template0 -E "$2" --locale=C "$1" || return 1
	q "$1" >"$tmp/setup" 2>&1 <<-SQL || { cat "$tmp/setup"; return 1; }
	SET client_min_messages = warning;
	CREATE EXTENSION sanse CASCADE;
	\i test/fuzz/setup.sql
	SQL
}

start=$(server_id)
[ -n "$start" ] || { echo "not ok - the server answers"; exit 1; }
ok_setup=1
setup_db sanse_fuzz UTF8 || ok_setup=0
setup_db sanse_fuzz_ascii SQL_ASCII || ok_setup=0
if [ $ok_setup -eq 1 ]; then echo "ok - fuzz databases (UTF8 and SQL_ASCII) set up"; else echo "not ok - fuzz databases set up"; exit 1; fi

# run_batch db category batch n: one psql; on a crash report the call, skip it, run again
run_batch() {
	db=$1 cat=$2 batch=$3 n=$4
	attempt=0
	while :; do
		before=$(server_id)
		psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SELECT fuzz.run('$cat', $batch, $n, $SEED)" >"$tmp/out" 2>"$tmp/err"
		rc=$?
		dropped=0
		grep -qE 'server closed the connection|connection to server was lost|terminating connection|no connection to the server' "$tmp/err" && dropped=1
		[ $rc -eq 2 ] && dropped=1
		wait_up
		after=$(server_id)
		if [ $rc -eq 0 ] && [ $dropped -eq 0 ] && [ "$before" = "$after" ]; then
			return 0
		fi
		last=$(grep '^NOTICE:  fuzz [a-z-]* [0-9]*#' "$tmp/err" | tail -n 1 | sed 's/^NOTICE:  //')
		if [ $dropped -eq 0 ] && [ "$before" = "$after" ]; then
			echo "not ok - $db $cat batch $batch: psql failed (exit $rc)"
			grep -v '^NOTICE:  fuzz' "$tmp/err" | head -n 20 | sed 's/^/#   /'
			fail=1
			return 1
		fi
		crashes=$((crashes + 1))
		fail=1
		echo "not ok - $db $cat batch $batch: a call killed the backend (psql exit $rc; server $before -> $after)"
		case $last in
		"fuzz trigger"*)
			# the whole scenario: table, trigger and the statements so far
			awk '/^NOTICE:  fuzz scenario start/ { buf = "" } /^NOTICE:  fuzz trigger/ { buf = buf $0 "\n" } END { printf "%s", buf }' "$tmp/err" |
				sed 's/^NOTICE:  /#   /'
			skipcat=triggers ;;
		*)
			echo "#   $last"
			skipcat=$cat ;;
		esac
		grep -E 'server closed|terminat|lost' "$tmp/err" | head -n 3 | sed 's/^/#   /'
		id=$(echo "$last" | sed -n 's/^fuzz [a-z-]* [0-9]*#\([0-9]*\):.*/\1/p')
		attempt=$((attempt + 1))
		if [ -z "$id" ] || [ $attempt -ge 8 ]; then
			echo "#   giving up on this batch"
			return 1
		fi
		q "$db" -c "INSERT INTO fuzz.skip VALUES ('$skipcat', $batch, $id)" || return 1
	done
}

# category:batches:calls per batch (triggers: scenarios of 2-6 statements)
plan_utf8="types:6:500 binary:3:500 functions:6:500 tables:3:500 triggers:4:150"
plan_ascii="types:2:500 functions:2:400 triggers:1:100"
t0=$(date +%s)
for spec in "sanse_fuzz:$plan_utf8" "sanse_fuzz_ascii:$plan_ascii"; do
	db=${spec%%:*}
	for p in ${spec#*:}; do
		cat=${p%%:*}; rest=${p#*:}; nb=${rest%%:*}; n=${rest#*:}
		nb=$((nb * SCALE))
		b=1
		while [ $b -le $nb ]; do
			run_batch "$db" "$cat" "$b" "$n"
			b=$((b + 1))
		done
	done
done
t1=$(date +%s)
echo "# fuzzing took $((t1 - t0)) s"

end=$(server_id)
if [ $crashes -eq 0 ] && [ "$start" = "$end" ]; then
	echo "ok - no call killed a backend; the server never restarted ($start)"
else
	echo "not ok - no call killed a backend; the server never restarted ($crashes crashes; $start -> $end)"
	fail=1
fi

# SQLSTATEs: documented in README's table, core's data exceptions (22xxx) and
# integrity violations (23xxx) everywhere; per category what core raises on
# the shapes we feed it (wrong-typed trigger tables, broken binary files, ...)
report=$(mktemp -p "$tmp")
for db in sanse_fuzz sanse_fuzz_ascii; do
	q "$db" >>"$report" <<-'SQL'
	CREATE TEMP TABLE allowed (category text, sqlstate text, why text);
	INSERT INTO allowed SELECT c, s, 'README' FROM unnest('{types,binary,binary-nested,functions,tables,triggers,trigger-setup}'::text[]) c,
	  unnest('{00000,22P02,22P03,22000,22023,22004,22008,28000,42501,2BP01,23001,23502,23503,23505,23514,55000}'::text[]) s;
	INSERT INTO allowed VALUES
	  ('binary-nested', '42804', 'array or record of the wrong element/column type on the wire (core array_recv, record_recv)'),
	  ('binary-nested', '54000', 'array dimensions too large (core array_recv)'),
	  ('binary-nested', '08P01', 'array or record shorter than its header says (core array_recv, record_recv)'),
	  ('functions', '54000', 'array or string too large (core)'),
	  ('functions', '42601', 'ltree syntax error (ltree_in) in an ltree argument (path_contains)'),
  ('functions', '39P01', 'trigger_fired_on, the check every trigger function makes first, given a table it was not written for (README)'),
	  ('tables', '428C9', 'a value for a generated or identity column (core)'),
	  ('tables', '42601', 'ltree syntax error (ltree_in)'),
	  ('tables', '0A000', 'TRUNCATE of a referenced table (core)'),
	  ('tables', '54000', 'array or string too large (core)');
	INSERT INTO allowed SELECT c, s, 'a trigger function on a table of the wrong shape, as core and PL/pgSQL refuse it'
	  FROM unnest('{triggers,trigger-setup}'::text[]) c,
	       unnest('{42703,42P01,42804,42883,0A000,42P17,42601,428C9,54000,39P01,2F005,21000,P0002,P0003,42846,42725,42P08,42809,2D000}'::text[]) s;
	SELECT format('# %s %-13s %-6s %6s  %s', current_database(), o.category, o.sqlstate, o.n,
	              left(regexp_replace(o.m, '[\n\r\t]', ' ', 'g'), 90))
	       || CASE WHEN o.sqlstate <> 'SKIP' AND o.sqlstate !~ '^2[23]'
	                    AND NOT EXISTS (SELECT FROM allowed a WHERE a.category = o.category AND a.sqlstate = o.sqlstate)
	               THEN '   <-- NOT ALLOWED' ELSE '' END
	  FROM (SELECT category, sqlstate, count(*) AS n, min(message) AS m FROM fuzz.outcome GROUP BY 1, 2) o ORDER BY o.category, o.sqlstate;
	SELECT format('#! %s %s %s: %s -- %s', current_database(), o.category, o.sqlstate,
	              left(regexp_replace(o.message, '[\n\r\t]', ' ', 'g'), 200), left(regexp_replace(o.call, '[\n\r\t]', ' ', 'g'), 700))
	  FROM (SELECT DISTINCT ON (category, sqlstate, left(message, 40)) * FROM fuzz.outcome o
	         WHERE o.sqlstate <> 'SKIP' AND NOT o.sqlstate ~ '^2[23]'
	           AND NOT EXISTS (SELECT FROM allowed a WHERE a.category = o.category AND a.sqlstate = o.sqlstate)
	         ORDER BY category, sqlstate, left(message, 40), length(call)) o;
	SELECT format('#= %s %s %s', current_database(), category, count(*)) FROM fuzz.outcome WHERE sqlstate <> 'SKIP' GROUP BY category ORDER BY 1;
	SQL
done
echo "# SQLSTATEs seen (database, category, SQLSTATE, count, first message):"
grep '^# ' "$report"
total=$(grep '^#= ' "$report" | awk '{ s += $4 } END { print s + 0 }')
echo "# inputs run per category:"
grep '^#= ' "$report" | sed 's/^#= /#   /'
if [ "$total" -ge 10000 ]; then
	echo "ok - $total fuzz inputs ran"
else
	echo "not ok - at least 10000 fuzz inputs ran (only $total)"
	fail=1
fi
if grep -q '^#! ' "$report"; then
	echo "not ok - every refusal carries a documented SQLSTATE"
	grep '^#! ' "$report" | sed 's/^#! /#   /'
	fail=1
else
	echo "ok - every refusal carries a documented SQLSTATE (no XX000, XX001 or XX002)"
fi

for db in sanse_fuzz sanse_fuzz_ascii; do dropdb --if-exists "$db" >/dev/null 2>&1; done
exit $fail
