#!/bin/sh
# Issue 13 / spec 8: reads of resident rows are audited by pgaudit (Debian's
# postgresql-15-pgaudit, preloaded by `make test` next to pg_cron), set up as
# the README shows: CREATE EXTENSION pgaudit, a NOLOGIN auditor role holding
# SELECT on sanse.resident, and pgaudit.role naming it for the database
# (object audit logging; session logging, pgaudit.log, stays 'none').
#
# In a fresh database the test runs the README's pgaudit block (the first
# ```sql block of README.md setting pgaudit.role; until the README has one,
# the copy below) and the README's role recipe (whose grant row gives the
# app care on the district this test builds), logs in as the recipe's
# member of sanse_app and proves, by reading the server log (found as
# test/checkin_log.sh finds it):
#   - the app's SELECT of sanse.resident writes an
#     "AUDIT: OBJECT,…,READ,SELECT,TABLE,sanse.resident,<statement>" line;
#   - its read of sanse.area, which the auditor holds nothing on, writes none;
#   - the app cannot switch auditing off (pgaudit.role is superuser-only);
#   - check_in called by the app with door tokens as literals (accepted,
#     refused, through dynamic SQL) puts no token text in the log: pgaudit
#     does not log statements run by SECURITY DEFINER functions for a session
#     user who is not a member of their owner, so check_in's own reads of
#     resident are not logged either (sanse.audit_log covers the sensitive
#     acts done through sanse's functions);
#   - a clear ID card number the app writes with a bind parameter
#     (node-postgres) stays out of the log; the audit line carries $1.
# Hazards the README warns about are shown as "# note:" lines, not counted.
# The README's blocks are those of doc/protection.md since issue 19 (the
# README became a guide); READMETEST_FILE reads another file.
# Prints TAP-like lines; exits non-zero on any failure.
cd "$(dirname "$0")/.." || exit 2
db=sanse_pgaudit
fail=0
say() { echo "$1"; case $1 in "not ok"*) fail=1 ;; esac; }
check() { if [ "$2" = "$3" ]; then say "ok - $1"; else say "not ok - $1 (got '$2', want '$3')"; fi; }
sq() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }
q() { sq -d "$db" "$@"; }
tmp=$(mktemp -d)

# --- pgaudit is preloaded ------------------------------------------------------
spl=$(sq -d postgres -c "SHOW shared_preload_libraries")
case ",$(echo "$spl" | tr -d ' ')," in
*,pgaudit,*) say "ok - pgaudit is in shared_preload_libraries ($spl)" ;;
*)
	say "not ok - pgaudit is in shared_preload_libraries (got '$spl'; make test preloads it)"
	rm -rf "$tmp"
	exit 1
	;;
esac

# --- the README's SQL -------------------------------------------------------------
# sql_block PATTERN: the first ```sql block of doc/protection.md containing PATTERN
sql_block() {
	awk -v pat="$1" '
		/^```sql/ { inb = 1; buf = ""; next }
		inb && /^```/ { inb = 0; if (buf ~ pat) { printf "%s", buf; exit } next }
		inb { buf = buf $0 "\n" }' "${READMETEST_FILE:-doc/protection.md}"
}
# the recipe: its roles (once per cluster) and its grants (per database)
sql_block 'CREATE ROLE sanse_app' >"$tmp/recipe.sql"
sql_block 'GRANT EXECUTE ON FUNCTION sanse\\.raise_event' >"$tmp/recipe_db.sql"
cmp -s "$tmp/recipe.sql" "$tmp/recipe_db.sql" || cat "$tmp/recipe_db.sql" >>"$tmp/recipe.sql"
sql_block 'pgaudit\\.role' | sed "s/your_sanse_db/$db/g" >"$tmp/audit.sql"
if [ -s "$tmp/audit.sql" ]; then
	echo "# pgaudit set up as doc/protection.md's block shows"
else
	echo "# doc/protection.md has no \`\`\`sql block setting pgaudit.role yet: using this test's copy"
	cat >"$tmp/audit.sql" <<SQL
CREATE EXTENSION pgaudit;
CREATE ROLE sanse_auditor NOLOGIN;
GRANT SELECT ON sanse.resident TO sanse_auditor;
ALTER DATABASE $db SET pgaudit.role = 'sanse_auditor';
SQL
fi
if [ -s "$tmp/recipe.sql" ]; then say "ok - README has the role recipe"; else say "not ok - README has a \`\`\`sql block creating sanse_app"; fi

# roles are cluster-wide: the recipe's and the auditor, dropped before and after
roles=$(cat "$tmp/recipe.sql" "$tmp/audit.sql" | sed -n 's/.*CREATE ROLE \([a-z_0-9]*\).*/\1/p' | sort -u | tr '\n' ' ')
drop_roles() {
	for r in $roles; do
		[ "$(sq -d postgres -c "SELECT count(*) FROM pg_roles WHERE rolname = '$r'")" = 1 ] || continue
		for d in $(sq -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn"); do
			sq -d "$d" -c "DROP OWNED BY $r" >/dev/null 2>&1
		done
		sq -d postgres -c "DROP ROLE $r" || echo "# could not drop role $r"
	done
}
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	drop_roles
	rm -rf "$tmp"
}
trap cleanup EXIT
dropdb --if-exists "$db" >/dev/null 2>&1
drop_roles
createdb "$db" || exit 1
q -c "SET client_min_messages = warning; CREATE EXTENSION sanse CASCADE" || exit 1

if q -f "$tmp/audit.sql" >"$tmp/audit.out" 2>&1; then
	say "ok - the pgaudit setup runs as written, as a superuser"
else
	say "not ok - the pgaudit setup runs as written, as a superuser: $(tr '\n' ' ' <"$tmp/audit.out")"
fi
if q -f "$tmp/recipe.sql" >"$tmp/recipe.out" 2>&1; then
	say "ok - the README's role recipe runs as written, as a superuser"
else
	say "not ok - the README's role recipe runs as written, as a superuser: $(tr '\n' ' ' <"$tmp/recipe.out")"
fi
auditor=$(sed -n "s/.*pgaudit\.role *= *'\([a-z_0-9]*\)'.*/\1/p" "$tmp/audit.sql" | head -1)

# the app logs in as the recipe's own member of sanse_app, with its password
login=$(sed -n "s/.*CREATE ROLE \([a-z_0-9]*\) LOGIN PASSWORD '\([^']*\)' IN ROLE sanse_app;.*/\1 \2/p" "$tmp/recipe.sql" | head -1)
app_user=${login%% *}
app_pw=${login#* }
app() { PGUSER=$app_user PGPASSWORD=$app_pw psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
if [ -n "$login" ] && [ "$(app -c 'SELECT current_user' 2>&1)" = "$app_user" ]; then
	say "ok - the recipe's login role $app_user (IN ROLE sanse_app) logs in"
else
	say "not ok - the recipe has a login role IN ROLE sanse_app that logs in (${login:-none})"
	exit 1
fi
check "a fresh $app_user session has pgaudit.role = $auditor (set for the database)" \
	"$(app -c "SHOW pgaudit.role")" "${auditor:-the auditor}"
check "session logging is off (pgaudit.log = none)" "$(app -c "SHOW pgaudit.log")" "none"
check "pgaudit.log_parameter is off" "$(app -c "SHOW pgaudit.log_parameter")" "off"
check "the app cannot switch auditing off: SET pgaudit.role is refused (42501)" \
	"$(printf "SET pgaudit.role = '';\n\\\\echo :SQLSTATE\n" | PGUSER=$app_user PGPASSWORD=$app_pw psql -X -q -t -A -d "$db" 2>/dev/null | tail -n 1)" "42501"
check "nor for its own logins: ALTER ROLE $app_user SET pgaudit.role is refused (42501)" \
	"$(printf "ALTER ROLE $app_user SET pgaudit.role = '';\n\\\\echo :SQLSTATE\n" | PGUSER=$app_user PGPASSWORD=$app_pw psql -X -q -t -A -d "$db" 2>/dev/null | tail -n 1)" "42501"

# --- the server log of this cluster (as test/checkin_log.sh finds it) ---------
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
	say "not ok - found the server log (tried: $(candidates | tr '\n' ' '))"
	exit 1
fi
say "ok - found the server log: $logfile"
log_end() { wc -c <"$logfile" | tr -d ' '; }
# end_mark OFFSET: what the log got from OFFSET up to a LOG line written now
end_mark() {
	mark="sanse-log-end-$$-$(date +%s%N)"
	q -c "DO \$\$BEGIN RAISE LOG '%', '$mark'; END\$\$" >/dev/null
	for try in $(seq 1 40); do
		tail -c +"$(($1 + 1))" "$logfile" | grep -qF "$mark" && break
		sleep 0.25
	done
	tail -c +"$(($1 + 1))" "$logfile" | awk -v m="$mark" 'index($0, m) { exit } { print }'
}

# --- a small district (as the superuser), where the recipe's grant row gives ---
# the app care (row-level security: the app sees and writes no other district)
pa=$(grep -o "('sanse_app', *'[a-z0-9_]*', *'care')" "$tmp/recipe.sql" | head -1 | sed "s/^('sanse_app', *'\([^']*\)'.*/\1/")
if [ -n "$pa" ]; then
	say "ok - the recipe's grant row gives sanse_app care on district $pa"
else
	say "not ok - the recipe has a grant row ('sanse_app', '<district>', 'care') in sanse.area_grant"
	pa=pa
fi
ids=$(q <<SQL
SET client_min_messages = warning;
SET search_path = sanse, public;
INSERT INTO area (path, kind, name) VALUES
  ('$pa', 'district', 'PA'), ('$pa.t', 'town', 'T'), ('$pa.t.v', 'village', 'V'),
  ('$pa.t.v.tg', 'total_grid', 'TG'), ('$pa.t.v.tg.g', 'general_grid', 'G'), ('$pa.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO worker (name, force, role, area_id)
SELECT v.name, 'volunteer', 'member', a.id FROM (VALUES ('carer'), ('stranger')) v(name), area a WHERE a.kind = 'micro_grid';
INSERT INTO resident (area_id, name, factors, registered_at)
SELECT a.id, 'r1', '{accident_risk}', now() - interval '1 year' FROM area a WHERE a.kind = 'micro_grid';
INSERT INTO carer (resident_id, worker_id) SELECT r.id, w.id FROM resident r, worker w WHERE w.name = 'carer';
SELECT (SELECT id FROM worker WHERE name = 'carer'), (SELECT id FROM worker WHERE name = 'stranger'),
       (SELECT id FROM resident WHERE name = 'r1');
SQL
) || { say "not ok - district created"; exit 1; }
carer=$(echo "$ids" | cut -d'|' -f1)
stranger=$(echo "$ids" | cut -d'|' -f2)
r1=$(echo "$ids" | cut -d'|' -f3)
token=$(q -c "SELECT sanse.door_token($r1)")
nonce=$(q -c "SELECT encode(nonce, 'hex') FROM sanse.door_token WHERE resident_id = $r1 AND revoked_at IS NULL")
forged=$(q -c "SELECT overlay('$token' PLACING CASE WHEN substr('$token', 20, 1) = 'A' THEN 'B' ELSE 'A' END FROM 20 FOR 1)")
check "a 43-character door token" "$(printf %s "$token" | wc -c | tr -d ' ')" "43"
for t in "$token" "$forged"; do
	echo "$t"
	echo "$t" | cut -c1-21
	echo "$t" | cut -c22-43
done >"$tmp/secrets"
[ -n "$nonce" ] && echo "$nonce" >>"$tmp/secrets"

# --- the app reads resident: one audit line; area: none ------------------------
m1="pgaudit-read-resident-$$"
m2="pgaudit-read-area-$$"
start=$(log_end)
n=$(app -c "SELECT count(*) FROM sanse.resident /* $m1 */")
check "the app's SELECT of sanse.resident runs and sees the one resident of its granted district" "$n" "1"
n=$(app -c "SELECT count(*) FROM sanse.area /* $m2 */")
check "the app's SELECT of sanse.area runs" "$n" "6"
end_mark "$start" >"$tmp/log1"
line=$(grep -F "$m1" "$tmp/log1" | grep 'AUDIT: OBJECT,[0-9]*,[0-9]*,READ,SELECT,TABLE,sanse\.resident,' | head -1)
if [ -n "$line" ]; then
	say "ok - the app's read of sanse.resident is in the server log as an audit line"
	echo "#   $(echo "$line" | cut -c1-240)"
else
	say "not ok - the app's read of sanse.resident is in the server log as 'AUDIT: OBJECT,…,READ,SELECT,TABLE,sanse.resident,…'"
	grep -F "$m1" "$tmp/log1" | cut -c1-240 | sed 's/^/#   /'
fi
check "the audit line carries the login ($app_user@$db in the line prefix)" \
	"$(echo "$line" | grep -cF "$app_user@$db")" "1"
check "the app's read of sanse.area (nothing granted to the auditor) writes no audit line" \
	"$(grep -F "$m2" "$tmp/log1" | grep -c 'AUDIT:')" "0"
check "exactly one audit line for the two reads" "$(grep -c 'AUDIT:' "$tmp/log1")" "1"

# --- check-ins by the app with tokens as literals --------------------------------
start=$(log_end)
v=$(app -c "SELECT sanse.check_in('$token', $carer)")
check "the app checks in with the token as a literal" "$(echo "$v" | grep -c '^[0-9][0-9]*$')" "1"
for c in "SELECT sanse.check_in('$token', $carer, now() - interval '1 hour')|" \
	"SELECT sanse.check_in('$token', $stranger)|42501" \
	"SELECT sanse.check_in('$forged', $carer)|28000" \
	"DO \$\$BEGIN EXECUTE 'SELECT sanse.check_in(''$token'', $carer, now() - interval ''2 hours'')'; END\$\$|" \
	"DO \$\$BEGIN EXECUTE 'SELECT sanse.check_in(''$token'', $stranger)'; END\$\$|42501"; do
	sql=${c%|*}
	want=${c##*|}
	got=$(printf '%s;\n\\echo :SQLSTATE\n' "$sql" | PGUSER=$app_user PGPASSWORD=$app_pw psql -X -q -t -A -d "$db" 2>/dev/null | tail -n 1)
	check "check-in by the app ends with SQLSTATE ${want:-00000}: $(echo "$sql" | sed "s/$forged/<forged>/g; s/$token/<token>/g")" "$got" "${want:-00000}"
done
end_mark "$start" >"$tmp/log2"
leaks=$(grep -cFf "$tmp/secrets" "$tmp/log2")
check "no token text (whole, halves or nonce) in the log lines written by the app's six check-ins" "$leaks" "0"
[ "$leaks" != 0 ] && grep -Ff "$tmp/secrets" "$tmp/log2" | cut -c1-200 | sed 's/^/#   /' | head -n 5
check "check_in's own reads of resident (run as the extension owner) write no audit line for the app" \
	"$(grep -c 'AUDIT:' "$tmp/log2")" "0"

# --- a clear ID card number written with a bind parameter -------------------------
idnum=110101199003071234
m3="pgaudit-id-bind-$$"
start=$(log_end)
out=$(PGUSER=$app_user PGPASSWORD=$app_pw NODE_PATH=test/clients/node_modules node -e '
const { Client } = require("pg");
(async () => {
  const c = new Client({ database: process.argv[1] });
  await c.connect();
  const r = await c.query("UPDATE sanse.resident SET id_number = $1 WHERE id = $2 /* " + process.argv[4] + " */",
                          [process.argv[2], process.argv[3]]);
  console.log(r.rowCount);
  await c.end();
})().catch(e => { console.log("error " + (e.code || e.message)); process.exit(1); });
' "$db" "$idnum" "$r1" "$m3" 2>&1)
end_mark "$start" >"$tmp/log3"
echo "# the app's UPDATE with the number bound: $out row(s)"
check "the app's UPDATE of resident with the ID number bound is audited (WRITE,UPDATE)" \
	"$(grep -F "$m3" "$tmp/log3" | grep -c 'AUDIT: OBJECT,[0-9]*,[0-9]*,WRITE,UPDATE,TABLE,sanse\.resident,')" "1"
check "the clear ID number bound as a parameter is not in the log" "$(grep -cF "$idnum" "$tmp/log3")" "0"
check "the UPDATE changed the resident, and sanse stored the hash, not the number" \
	"$out $(q -c "SELECT id_number IS NULL AND id_number_hash IS NOT NULL FROM sanse.resident WHERE id = $r1")" "1 t"

# --- hazards the README warns about (notes, not counted) --------------------------
start=$(log_end)
app -c "UPDATE sanse.resident SET id_number = '${idnum%????}9999' WHERE id = $r1" >/dev/null 2>&1
end_mark "$start" >"$tmp/log4"
echo "# note: an ID number written as a literal in an UPDATE lands in the log: $(grep -cF "${idnum%????}9999" "$tmp/log4") line(s)"
start=$(log_end)
app -c "SELECT sanse.check_in('$token', $carer, now() - interval '3 hours'); SELECT count(*) FROM sanse.resident" >/dev/null 2>&1
end_mark "$start" >"$tmp/log5"
echo "# note: a token in the same query string as a read of resident lands in the log: $(grep -cFf "$tmp/secrets" "$tmp/log5") line(s)"
start=$(log_end)
q -c "SET pgaudit.log = 'read'; SELECT sanse.check_in('$token', $carer, now() - interval '4 hours')" >/dev/null 2>&1
end_mark "$start" >"$tmp/log6"
echo "# note: with session logging (pgaudit.log = 'read') a check_in call's token lands in the log: $(grep -cFf "$tmp/secrets" "$tmp/log6") line(s)"

exit $fail
