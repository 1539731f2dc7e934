#!/bin/sh
# Issue 9, "Logs: no token, no flood": refused check-ins stay out of the
# server log but for one short LOG line each, with the default
# log_min_error_statement (error).  The test finds the running cluster's log
# file, sends refused check-ins whose door tokens are literals in the SQL text
# (42501, 22008, 22023, 28000 forged/revoked/unknown/malformed, at top level
# and through dynamic SQL), then one ~100 KB statement that refuses 1,000
# check-ins in a PL/pgSQL loop, and reads what the server log got meanwhile.
# Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_checkin_log
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db" || exit 1
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail=0
check() { if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "not ok - $1 (got '$2', want '$3')"; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the server log of this cluster ------------------------------------------
# Candidates, best first: the collector's current file; the file the
# postmaster's stderr points at (pg_ctlcluster/pg_virtualenv start it with
# "pg_ctl -l <file>"); pg_lsclusters' log column for this port; Debian's
# default places.  A candidate counts only once a LOG line with a random
# marker written now shows up in it.
candidates() {
	q -c "SELECT CASE WHEN f IS NULL THEN '' WHEN f LIKE '/%' THEN f
	                  ELSE current_setting('data_directory') || '/' || f END
	        FROM pg_current_logfile() f"
	pid=$(q -c "SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)")
	for fd in 2 1; do
		readlink "/proc/$pid/fd/$fd" 2>/dev/null
	done
	port=$(q -c "SHOW port")
	pg_lsclusters -h 2>/dev/null | awk -v p="$port" '$3 == p { print $NF }'
	[ -n "$PG_CLUSTER_CONF_ROOT" ] && ls -t "$PG_CLUSTER_CONF_ROOT"/../log/*.log 2>/dev/null
	ls -t /var/log/postgresql/*.log 2>/dev/null
}
probe="sanse-log-probe-$$-$(date +%s%N)"
q -c "SET log_min_messages = log; DO \$\$BEGIN RAISE LOG '%', '$probe'; END\$\$" || exit 1
logfile=
for try in 1 2 3 4 5 6 7 8 9 10; do
	for f in $(candidates | grep -v '^$' | awk '!seen[$0]++'); do
		if [ -f "$f" ] && [ -r "$f" ] && grep -qF "$probe" "$f"; then
			logfile=$f
			break 2
		fi
	done
	sleep 0.5
done
if [ -z "$logfile" ]; then
	echo "not ok - found the server log (tried: $(candidates | tr '\n' ' '))"
	dropdb "$db"
	exit 1
fi
echo "ok - found the server log: $logfile ($(q -c "SHOW log_destination"), logging_collector $(q -c "SHOW logging_collector"))"
check "log_min_error_statement is the default (error)" "$(q -c "SHOW log_min_error_statement")" "error"

# byte offset of the log's end; log_since OFFSET MARKER prints what was
# written from OFFSET up to the line carrying MARKER (waits for it to arrive)
log_end() { wc -c <"$logfile" | tr -d ' '; }
end_mark() {
	mark="sanse-log-end-$$-$(date +%s%N)"
	q -c "DO \$\$BEGIN RAISE LOG '%', '$mark'; END\$\$" >/dev/null
	for try in $(seq 1 40); do
		tail -c +"$(($1 + 1))" "$logfile" | grep -qF "$mark" && break
		sleep 0.25
	done
	tail -c +"$(($1 + 1))" "$logfile" | awk -v m="$mark" 'index($0, m) { exit } { print }'
}

# --- a small district --------------------------------------------------------
# r1: a red resident with carer "carer"; "stranger" is an active worker of the
# same micro grid but no carer of r1; r2 registered yesterday; r3's token is
# then deleted from sanse.door_token (well signed but unknown).
ids=$(q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
SET search_path = sanse, public;
INSERT INTO area (path, kind, name) VALUES
  ('cl', 'district', 'CL'), ('cl.t', 'town', 'T'), ('cl.t.v', 'village', 'V'),
  ('cl.t.v.tg', 'total_grid', 'TG'), ('cl.t.v.tg.g', 'general_grid', 'G'), ('cl.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, 'volunteer', 'member', a.id FROM (VALUES ('carer'), ('stranger')) v(name), area a WHERE a.kind = 'micro_grid';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, v.name, '{accident_risk}', now() - v.ago FROM area a,
       (VALUES ('r1', interval '1 year'), ('r2', interval '1 day'), ('r3', interval '1 year')) v(name, ago)
 WHERE a.kind = 'micro_grid';
INSERT INTO carer (resident_id, worker_id) SELECT r.id, w.id FROM resident r, worker w WHERE w.name = 'carer';
SELECT (SELECT id FROM worker WHERE name = 'carer'), (SELECT id FROM worker WHERE name = 'stranger'),
       (SELECT id FROM resident WHERE name = 'r1'), (SELECT id FROM resident WHERE name = 'r2'),
       (SELECT id FROM resident WHERE name = 'r3');
SQL
) || { echo "not ok - district created"; exit 1; }
carer=$(echo "$ids" | cut -d'|' -f1)
stranger=$(echo "$ids" | cut -d'|' -f2)
r1=$(echo "$ids" | cut -d'|' -f3)
r2=$(echo "$ids" | cut -d'|' -f4)
r3=$(echo "$ids" | cut -d'|' -f5)
revoked=$(q -c "SELECT sanse.door_token($r1)")
token=$(q -c "SELECT sanse.revoke_door_token($r1)")
token2=$(q -c "SELECT sanse.door_token($r2)")
unknown=$(q -c "SELECT sanse.door_token($r3)")
q -c "DELETE FROM sanse.door_token WHERE resident_id = $r3" >/dev/null || echo "# could not delete r3's token row"
# forged: the current token with a character of its random part changed
forged=$(q -c "SELECT overlay('$token' PLACING CASE WHEN substr('$token', 20, 1) = 'A' THEN 'B' ELSE 'A' END FROM 20 FOR 1)")
check "four distinct 43-character tokens" \
	"$(printf '%s\n' "$revoked" "$token" "$token2" "$unknown" "$forged" | awk 'length($0) == 43' | sort -u | wc -l | tr -d ' ')" "5"
# the tokens themselves, and their halves (a log cut in the middle is a leak too)
for t in "$token" "$token2" "$revoked" "$unknown" "$forged"; do
	echo "$t"
	echo "$t" | cut -c1-21
	echo "$t" | cut -c22-43
done >"$tmp/secrets"
echo "not-a-door-token-but-secret-looking-xyzzy" >>"$tmp/secrets"
check "the setup succeeds with a token that works (control)" \
	"$(q -c "SELECT sanse.check_in('$token', $carer) > 0")" "t"

# --- refused check-ins, each its own top-level statement ---------------------
# "<SQL>|<SQLSTATE>|<worker>|<reason in the LOG line>"
cat >"$tmp/cases" <<EOF
SELECT sanse.check_in('$token', $stranger);|42501|$stranger|SQLSTATE 42501
SELECT sanse.check_in('$token', $carer, now() + interval '1 hour');|22008|$carer|SQLSTATE 22008
SELECT sanse.check_in('$token', $carer, now() - interval '40 days');|22008|$carer|SQLSTATE 22008
SELECT sanse.check_in('$token2', $carer, now() - interval '5 days');|22008|$carer|SQLSTATE 22008
SELECT sanse.check_in('$token', $carer, now(), '{ask_health,look_at_the_moon}');|22023|$carer|SQLSTATE 22023
SELECT sanse.check_in('$token', $carer, now(), '{ask_health,ask_health}');|22023|$carer|SQLSTATE 22023
SELECT sanse.check_in('$forged', $carer);|28000|$carer|forged door token
SELECT sanse.check_in('$revoked', $carer);|28000|$carer|revoked door token
SELECT sanse.check_in('$unknown', $carer);|28000|$carer|unknown door token
SELECT sanse.check_in('not-a-door-token-but-secret-looking-xyzzy', $carer);|28000|$carer|malformed door token
DO \$\$BEGIN EXECUTE 'SELECT sanse.check_in(''$token'', $stranger)'; END\$\$;|42501|$stranger|SQLSTATE 42501
DO \$\$BEGIN EXECUTE 'SELECT sanse.check_in(''$token'', $carer, now(), ''{ask_diet,ask_diet}'')'; END\$\$;|22023|$carer|SQLSTATE 22023
DO \$\$BEGIN EXECUTE 'SELECT sanse.check_in(''$forged'', $carer)'; END\$\$;|28000|$carer|forged door token
DO \$\$BEGIN EXECUTE 'SELECT sanse.check_in(''$revoked'', $carer)'; END\$\$;|28000|$carer|revoked door token
EOF
ncases=$(wc -l <"$tmp/cases" | tr -d ' ')
start=$(log_end)
while IFS='|' read -r sql state worker why; do
	got=$(printf '%s\n\\echo :SQLSTATE\n' "$sql" | psql -X -q -t -A -d "$db" 2>/dev/null | tail -n 1)
	check "refused with $state: $(echo "$sql" | sed "s/$token2/<token2>/g; s/$token/<token>/g; s/$forged/<forged>/g; s/$revoked/<revoked>/g; s/$unknown/<unknown>/g")" "$got" "$state"
done <"$tmp/cases"
end_mark "$start" >"$tmp/log1"
echo "# $(wc -l <"$tmp/log1" | tr -d ' ') log lines written during the $ncases refusals"
leaks=$(grep -cFf "$tmp/secrets" "$tmp/log1")
check "no token text in the log lines written during the $ncases refusals" "$leaks" "0"
[ "$leaks" != 0 ] && grep -Ff "$tmp/secrets" "$tmp/log1" | cut -c1-300 | sed 's/^/#   /' | head -n 12
stmts=$(grep -c 'STATEMENT:' "$tmp/log1")
check "no STATEMENT: line follows the refusals" "$stmts" "0"
[ "$stmts" != 0 ] && grep 'STATEMENT:' "$tmp/log1" | cut -c1-200 | sed 's/^/#   /' | head -n 12
ctx=$(grep -c 'CONTEXT:' "$tmp/log1")
check "no CONTEXT: line follows the refusals" "$ctx" "0"
[ "$ctx" != 0 ] && grep 'CONTEXT:' "$tmp/log1" | cut -c1-200 | sed 's/^/#   /' | head -n 12
cut -d'|' -f3,4 "$tmp/cases" | awk -F'|' '{ print "sanse: check-in by worker " $1 " refused: " $2 }' | sort >"$tmp/want1"
grep -o 'sanse: check-in by worker [0-9]* refused: .*' "$tmp/log1" | sort >"$tmp/got1"
check "exactly one 'sanse: check-in by worker N refused' LOG line per refusal, naming the worker and why ($ncases)" \
	"$(diff "$tmp/want1" "$tmp/got1" >/dev/null && echo same || { diff "$tmp/want1" "$tmp/got1" | grep '^[<>]' | tr '\n' ';'; })" "same"
check "each of those lines is short (under 200 characters)" "$(grep 'sanse: check-in by worker' "$tmp/log1" | awk 'length($0) >= 200' | wc -l | tr -d ' ')" "0"

# --- one ~100 KB statement refusing 1,000 check-ins --------------------------
# Tokens are literals in the text; five reasons in turn: a worker who may not
# (42501), an hour ahead (22008), a duplicated item (22023), forged and
# revoked tokens (28000).  Each error is caught in the loop.
{
	echo "DO \$big\$"
	echo "DECLARE"
	printf "\ttoks text[] := ARRAY["
	i=0
	while [ $i -lt 1000 ]; do
		case $((i % 5)) in
		3) t=$forged ;;
		4) t=$revoked ;;
		*) t=$token ;;
		esac
		[ $i -gt 0 ] && printf ","
		printf "'%s'" "$t"
		i=$((i + 1))
	done
	echo "];"
	echo "	n_refused int := 0; states text := '';"
	echo "BEGIN"
	# pad the statement to ~100 KB with a comment carrying the tokens once more
	echo "/*"
	i=0
	while [ $i -lt 560 ]; do
		echo "padding $i $token $revoked"
		i=$((i + 1))
	done
	echo "*/"
	echo "	FOR i IN 1 .. 1000 LOOP"
	echo "		BEGIN"
	echo "			PERFORM sanse.check_in(toks[i],"
	echo "			        CASE WHEN (i - 1) % 5 = 0 THEN $stranger ELSE $carer END,"
	echo "			        CASE WHEN (i - 1) % 5 = 1 THEN now() + interval '1 hour' ELSE now() END,"
	echo "			        CASE WHEN (i - 1) % 5 = 2 THEN '{check_gas,check_gas}'::text[] ELSE '{}' END);"
	echo "		EXCEPTION WHEN OTHERS THEN"
	echo "			n_refused := n_refused + 1;"
	echo "			IF i <= 5 THEN states := states || SQLSTATE || ' '; END IF;"
	echo "		END;"
	echo "	END LOOP;"
	echo "	RAISE NOTICE 'refused % %', n_refused, states;"
	echo "END"
	echo "\$big\$;"
} >"$tmp/big1.sql"
size=$(wc -c <"$tmp/big1.sql" | tr -d ' ')
echo "# the statement is $size bytes"
start=$(log_end)
notice=$(psql -X -q -t -A -d "$db" -f "$tmp/big1.sql" 2>&1)
check "the 1,000-check-in statement ran, each refused (42501 22008 22023 28000 28000)" \
	"$(echo "$notice" | sed -n 's/.*NOTICE: *//p')" "refused 1000 42501 22008 22023 28000 28000 "
end_mark "$start" >"$tmp/log2"
grew=$(wc -c <"$tmp/log2" | tr -d ' ')
echo "# it added $grew bytes to the log ($(wc -l <"$tmp/log2" | tr -d ' ') lines)"
check "the statement was ~100 KB ($size bytes)" "$([ "$size" -gt 90000 ] && echo yes)" "yes"
check "the 1,000 refusals added less than 2 MB to the log" "$([ "$grew" -lt 2000000 ] && echo yes || echo "no: $grew bytes")" "yes"
leaks=$(grep -cFf "$tmp/secrets" "$tmp/log2")
check "no token text in the log lines written by the 1,000 refusals" "$leaks" "0"
[ "$leaks" != 0 ] && grep -Ff "$tmp/secrets" "$tmp/log2" | cut -c1-200 | sed 's/^/#   /' | head -n 5
check "no STATEMENT: line after the 1,000 refusals" "$(grep -c 'STATEMENT:' "$tmp/log2")" "0"
check "no padding of the statement in the log" "$(grep -c 'padding' "$tmp/log2")" "0"
for want in "$stranger|SQLSTATE 42501|200" "$carer|SQLSTATE 22008|200" "$carer|SQLSTATE 22023|200" \
	"$carer|forged door token|200" "$carer|revoked door token|200"; do
	w=$(echo "$want" | cut -d'|' -f1); why=$(echo "$want" | cut -d'|' -f2); n=$(echo "$want" | cut -d'|' -f3)
	check "$n LOG lines 'sanse: check-in by worker $w refused: $why'" \
		"$(grep -c "sanse: check-in by worker $w refused: $why\$" "$tmp/log2")" "$n"
done
check "1,000 refusal LOG lines in all" "$(grep -c 'sanse: check-in by worker [0-9]* refused' "$tmp/log2")" "1000"
check "nothing was recorded by the refusals (one visit, the control)" "$(q -c "SELECT count(*) FROM sanse.visit")" "1"

dropdb "$db"
exit $fail
