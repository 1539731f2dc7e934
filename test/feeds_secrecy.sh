#!/bin/sh
# Issue 20, spec 9: "the clear ID number never reaches a table, the WAL or
# the server log".  A loader (a login role holding a feed grant) loads a
# batch with well-formed, malformed and refused rows, under log_statement =
# all and pgaudit.log = all, with the default log_min_error_statement
# (error):
#   * a COPY with well-formed and malformed numbers (applied);
#   * a COPY refused whole at line 3 (an extra column: PostgreSQL's CONTEXT
#     line quotes the line), a COPY refused at line 2 by sanse (42501: a
#     department the loader may not feed), an INSERT with a clear number as
#     a literal that fails (log_statement and the error's STATEMENT line
#     would print it), apply_feed of an unknown department;
#   * apply_feed of the batch.
# Then it looks for every clear number (and its first 14 characters) in
# every column of every table of the database (row::text), in the raw bytes
# of the WAL written meanwhile (the range pg_waldump reads, with a control
# string that must be found there), and in what the server log got
# meanwhile.  Prints TAP-like lines.
cd "$(dirname "$0")/.." || exit 2
db=sanse_feeds_secrecy
loader=sanse_feeds_loader
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fail=1; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1 (got '$2', want '$3')"; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

dropdb --if-exists "$db" >/dev/null 2>&1
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $loader" >/dev/null 2>&1
createdb "$db" || exit 1

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
	nok "found the server log (tried: $(candidates | tr '\n' ' '))"
	dropdb "$db"
	exit 1
fi
ok "found the server log: $logfile"
check "log_min_error_statement is the default (error)" "$(q -c "SHOW log_min_error_statement")" "error"
log_end() { wc -c <"$logfile" | tr -d ' '; }
wal_dir=$(q -c "SHOW data_directory")/pg_wal
waldump=$(ls /usr/lib/postgresql/15/bin/pg_waldump 2>/dev/null || command -v pg_waldump)

# --- a district, a department, the loader ------------------------------------
q >/dev/null <<SQL || { nok "district created"; exit 1; }
SET client_min_messages = warning;
CREATE EXTENSION sanse CASCADE;
INSERT INTO sanse.area (path, kind, name) VALUES
  ('fs', 'district', 'FS'), ('fs.t', 'town', 'T'), ('fs.t.v', 'village', 'V'),
  ('fs.t.v.tg', 'total_grid', 'TG'), ('fs.t.v.tg.g', 'general_grid', 'G'), ('fs.t.v.tg.g.m', 'micro_grid', 'M');
INSERT INTO sanse.department (code, name) VALUES ('fs_health', 'Health'), ('fs_civil', 'Civil affairs');
CREATE ROLE $loader LOGIN PASSWORD 'feeds-loader-pw';
-- as loud as a server can be about what a role sends (superuser settings)
ALTER ROLE $loader SET log_statement = 'all';
ALTER ROLE $loader SET pgaudit.log = 'all';
ALTER ROLE $loader SET pgaudit.log_parameter = on;
INSERT INTO sanse.feed_grant (role, department, path) VALUES ('$loader', 'fs_health', 'fs');
SQL
# numbers made here, check characters by ISO 7064 MOD 11-2 computed in SQL;
# random bodies, so nothing else in the cluster holds them
numbers=$(q <<'SQL'
SELECT b || substr('10X98765432', (SELECT sum(substr(b, i, 1)::int * ((2 ^ (18 - i))::int % 11))
                                    FROM generate_series(1, 17) i)::int % 11 + 1, 1)
  FROM (SELECT '5101' || lpad((random() * 1e13)::bigint::text, 13, '0') AS b FROM generate_series(1, 8)) s;
SQL
)
set -- $numbers
v1=$1 v2=$2 v3=$3 v4=$4 r1=$5 r2=$6 r3=$7 r4=$8
# malformed: a wrong check character, one character short, a letter inside
bad1=$(echo "$v4" | cut -c1-17)$( [ "$(echo "$v4" | cut -c18)" = 0 ] && echo 1 || echo 0)
bad2=$(echo "$r4" | cut -c1-17)
bad3=$(echo "$r3" | cut -c1-9)A$(echo "$r3" | cut -c11-18)
canary="sanse-wal-canary-$$-$(date +%s)"
printf '%s\n' "$v1" "$v2" "$v3" "$v4" "$r1" "$r2" "$r3" "$r4" "$bad1" "$bad2" "$bad3" >"$tmp/numbers"
# the numbers, and their first 14 characters (a cut number is a leak too)
{ cat "$tmp/numbers"; cut -c1-14 "$tmp/numbers"; } | sort -u >"$tmp/secrets"
check "eight well-formed numbers (checked in SQL) and three malformed ones" \
	"$(q -c "SELECT count(*) FILTER (WHERE sanse.id_number_problem(n) IS NULL) || '/' || count(*) FROM unnest(string_to_array('$(tr '\n' ' ' <"$tmp/numbers" | sed 's/ $//')', ' ')) n")" "8/11"
# (that statement, run by the superuser before the loader's session, is not the loader's: its log lines are before $start)

# the first well-formed number is known to sanse already
q -c "INSERT INTO sanse.resident (area_id, name, factors, id_number)
      SELECT id, 'Known', '{lives_alone}', '$v1' FROM sanse.area WHERE path = 'fs.t.v.tg.g.m'" >/dev/null
q -c "CHECKPOINT" >/dev/null
wal_start=$(q -c "SELECT pg_current_wal_insert_lsn()")
start=$(log_end)

# --- the loader's session -----------------------------------------------------
# its first statement carries a clear number (the library is loaded as the
# session starts: the feed grant set session_preload_libraries)
PGPASSWORD=feeds-loader-pw psql -X -q -t -A -U "$loader" -d "$db" >"$tmp/loader.out" 2>&1 <<SQL
INSERT INTO sanse.feed_inbox (department, batch, line, id_number, name) VALUES ('fs_health', 'lit', 'one', '$r1', '$canary-literal');
COPY sanse.feed_inbox (department, batch, line, id_number, name, area_path, factors, left_programme) FROM STDIN;
fs_health	b1	1	$v1	$canary-1	\N	{sudden_illness,no_caregiver}	f
fs_health	b1	2	$v2	$canary-2	fs.t.v.tg.g.m	{accident_risk}	f
fs_health	b1	3	$v3	$canary-3	fs.t.v.tg.g.m	{unstable_chronic}	f
fs_health	b1	4	$v4	$canary-4	fs.t.v.tg.g.m	{flying}	f
fs_health	b1	5	$bad1	$canary-5	fs.t.v.tg.g.m	{lives_alone}	f
fs_health	b1	6	$bad2	$canary-6	fs.t.v.tg.g.m	{lives_alone}	f
fs_health	b1	7	$bad3	$canary-7	fs.t.v.tg.g.m	{lives_alone}	f
\.
COPY sanse.feed_inbox (department, batch, line, id_number, name, area_path, factors, left_programme) FROM STDIN;
fs_health	b2	1	$r2	$canary-8	fs.t.v.tg.g.m	{lives_alone}	f
fs_health	b2	2	$r2	$canary-8	fs.t.v.tg.g.m	{lives_alone}	f
fs_health	b2	3	$r3	$canary-9	fs.t.v.tg.g.m	{lives_alone}	f	extra column
\.
COPY sanse.feed_inbox (department, batch, line, id_number, name, area_path, factors, left_programme) FROM STDIN;
fs_health	b3	1	$r3	$canary-10	fs.t.v.tg.g.m	{lives_alone}	f
fs_civil	b3	2	$r4	$canary-11	fs.t.v.tg.g.m	{lives_alone}	f
\.
SELECT * FROM sanse.apply_feed('fs_nobody', 'b1');
SELECT outcome || ' ' || n FROM sanse.apply_feed('fs_health', 'b1');
SQL
check "the loader's literal INSERT failed (22P02)" "$(grep -c 'invalid input syntax for type integer' "$tmp/loader.out")" "1"
check "the COPY with an extra column was refused" "$(grep -c 'extra data after last expected column' "$tmp/loader.out")" "1"
check "the COPY naming another department was refused (42501)" "$(grep -c 'may not load feeds of department "fs_civil"' "$tmp/loader.out")" "1"
check "apply_feed of an unknown department was refused" "$(grep -c 'unknown department "fs_nobody"' "$tmp/loader.out")" "1"
check "the batch was applied: 1 matched, 2 registered, 4 rejected" \
	"$(grep -E '^(matched|registered|left|rejected) ' "$tmp/loader.out" | tr '\n' ',')" "matched 1,registered 2,left 0,rejected 4,"
check "nothing the loader saw printed a clear number" \
	"$(grep -cFf "$tmp/secrets" "$tmp/loader.out")" "0"
check "rows of batch b1 stored: 7, hashed: 4" \
	"$(q -c "SELECT count(*) || ', hashed: ' || count(id_number_hash) FROM sanse.feed_inbox WHERE batch = 'b1'")" "7, hashed: 4"

# --- tables: every column of every table -------------------------------------
q -c "ANALYZE" >/dev/null
q -c "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'm', 'p') ORDER BY 1" >"$tmp/tables"
pattern=$(paste -sd'|' "$tmp/secrets")
found=
while read -r t; do
	n=$(q -c "SELECT count(*) FROM $t x WHERE x::text ~ '$pattern'" 2>/dev/null) || n="unreadable"
	[ "$n" = 0 ] || found="$found $t($n)"
done <"$tmp/tables"
check "no clear number (nor its first 14 characters) in any column of the $(wc -l <"$tmp/tables" | tr -d ' ') tables" "${found:-none}" "none"
check "control: the loader's names are in sanse.feed_inbox (the scan reads its rows)" \
	"$(q -c "SELECT count(*) > 0 FROM sanse.feed_inbox x WHERE x::text ~ '$canary'")" "t"

# --- the WAL written by the load ---------------------------------------------
wal_end=$(q -c "SELECT pg_current_wal_insert_lsn()")
q -c "SELECT pg_switch_wal()" >/dev/null
segs=$(q -c "SELECT string_agg(pg_walfile_name(l), ' ' ORDER BY l)
               FROM (SELECT DISTINCT ('$wal_start'::pg_lsn + (s * 16 * 1024 * 1024)::numeric) AS l
                       FROM generate_series(0, (('$wal_end'::pg_lsn - '$wal_start'::pg_lsn) / (16 * 1024 * 1024))::int + 1) s) x
              WHERE l <= '$wal_end'::pg_lsn OR pg_walfile_name(l) = pg_walfile_name('$wal_end'::pg_lsn)")
files=
for s in $segs; do files="$files $wal_dir/$s"; done
if [ -n "$waldump" ]; then
	relfile=$(q -c "SELECT pg_relation_filenode('sanse.feed_inbox')")
	"$waldump" -p "$wal_dir" -s "$wal_start" -e "$wal_end" >"$tmp/waldump" 2>&1
	check "pg_waldump: the load wrote feed_inbox's rows to the WAL (Heap INSERT records of its relfilenode)" \
		"$(grep -E 'Heap2? +len.*(INSERT|MULTI_INSERT).*rel [0-9]+/[0-9]+/'"$relfile"'\b' "$tmp/waldump" | head -1 | grep -c .)" "1"
	check "pg_waldump's description of the range carries no clear number" "$(grep -cFf "$tmp/secrets" "$tmp/waldump")" "0"
else
	nok "pg_waldump found (looked in /usr/lib/postgresql/15/bin and PATH)"
fi
# the bytes of the segments (the records' tuple data, full-page images)
cat $files >"$tmp/wal.bin" 2>/dev/null
check "control: the loaded names are in the WAL segments' bytes ($segs)" "$(grep -caF "$canary-2" "$tmp/wal.bin" | awk '{print ($1 > 0)}')" "1"
check "no clear number (nor its first 14 characters) in the WAL written by the load" "$(grep -caFf "$tmp/secrets" "$tmp/wal.bin")" "0"

# --- the server log -----------------------------------------------------------
mark="sanse-log-end-$$-$(date +%s%N)"
q -c "DO \$\$BEGIN RAISE LOG '%', '$mark'; END\$\$" >/dev/null
for try in $(seq 1 40); do
	tail -c +"$((start + 1))" "$logfile" | grep -qF "$mark" && break
	sleep 0.25
done
tail -c +"$((start + 1))" "$logfile" | awk -v m="$mark" 'index($0, m) { exit } { print }' >"$tmp/log"
check "control: the log got the loader's statements (log_statement = all)" \
	"$(grep -c "statement: INSERT INTO sanse.feed_inbox" "$tmp/log" | awk '{print ($1 > 0)}')" "1"
check "control: the log got the refused COPY's context, without its line" \
	"$(grep -c 'CONTEXT:  COPY feed_inbox, line 3$' "$tmp/log" | awk '{print ($1 > 0)}')" "1"
check "control: the log got sanse's refusal at line 2, without its line" \
	"$(grep -c 'CONTEXT:  COPY feed_inbox, line 2$' "$tmp/log" | awk '{print ($1 > 0)}')" "1"
check "control: the log got the literal statement with its number masked" \
	"$(grep -c "'\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*\*', '$canary-literal'" "$tmp/log" | awk '{print ($1 > 0)}')" "1"
check "no clear number (nor its first 14 characters) in the server log ($(wc -l <"$tmp/log" | tr -d ' ') lines)" \
	"$(grep -cFf "$tmp/secrets" "$tmp/log")" "0"
if [ "$fail" -ne 0 ]; then
	echo "# what the server log got:"
	sed 's/^/#   /' "$tmp/log" | head -60
fi

dropdb "$db"
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $loader" >/dev/null 2>&1
exit $fail
