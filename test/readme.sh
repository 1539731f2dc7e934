#!/bin/sh
# The documentation's SQL runs as written (issues 11 and 19).  Every ```sql
# block of README.md, then of each page of doc/ and doc/zh/, is extracted in
# order and run as a superuser with psql -v ON_ERROR_STOP=1, block after
# block in one session, so the narrative carries from block to block within a
# page (a search_path set in one block holds in the next, the district built
# in one is there for the next).  One TAP-like line per block:
# "ok - <file>:<line> ..." or "not ok - <file>:<line> ... <error>", <line>
# being the line of the block's ```sql fence.  A block that fails ends the
# session; the next blocks go on in a new one on the same databases.
# Non-SQL fences (```sh, plain ```) are not run.
#
# The files, in this fixed order (FILES below): README.md; the reference
# doc/types.md, residents.md, feeds.md, checkin.md, loop.md, devices.md, protection.md, screen.md,
# operations.md, standby.md, city.md, errors.md; the Chinese guide doc/zh/README.md, install.md,
# roles.md, sweeps.md, screen.md, errors.md.  Each file runs on its own, as
# if on a fresh cluster: its databases are dropped and created afresh and
# the roles it creates are dropped before and after it, so every page is
# self-sufficient (a page whose examples need a district builds it in its
# own first blocks).  A page of doc/ or doc/zh/ missing from FILES is a
# failure, so no page goes unchecked; a page other than README.md may have no
# sql block (an index).  READMETEST_FILE=<file> runs that one file.
#
# Markers.  An HTML comment on the line right before a ```sql fence says how
# to run it; directives are separated by ";":
#   <!-- readme-test: expect 22P02 -->
#       the block must fail with exactly that SQLSTATE: exactly one of its
#       statements fails, with that code (split a block so that the statement
#       meant to fail stands alone in its own marked block)
#   <!-- readme-test: run in the cron database -->
#       the block needs pg_cron in its database: it runs in the cron database
#       ($SANSE_CRON_DB, default contrib_regression as in make test), where
#       pg_cron is created and sanse is dropped and created afresh first
#   <!-- readme-test: run in a database with sanse 1.0 -->
#       a database made by CREATE EXTENSION sanse VERSION '1.0' CASCADE
#   <!-- readme-test: your_sanse_db is the test database -->
#       the placeholder word your_sanse_db is replaced by the name of the
#       fresh database the unmarked blocks run in
#   <!-- readme-test: skip, <reason> -->
#       not run; prints "ok - <file>:<line> skipped: <reason>".  Only for
#       what cannot run here at all.
#   <!-- readme-test: comments are results -->
#       besides running as usual, the block's statements whose last line ends
#       "; -- <text>" must print exactly <text>: each row's columns joined by
#       " | ", rows joined by "; " (psql -A -t).  The blocks so marked are
#       run again, in order, in one session of their own whose TimeZone is
#       America/New_York and DateStyle ISO, so a block that shows times in
#       another zone must set it itself (explanations go on comment lines of
#       their own).  One line per statement checked; a marked block with no
#       such statement is a failure.
# A marker that is not followed by a ```sql fence, or an unknown directive,
# is itself a failure.
#
# Unmarked blocks run in a fresh database (sanse_readme, dropped and created)
# in which CREATE EXTENSION sanse CASCADE has been run, as the README tells a
# reader to do before its first block (unless a block of the file does it).
# The roles the file's blocks create (CREATE ROLE ...) are cluster-wide:
# any left from an interrupted run are dropped first, and all are dropped at
# the end, with the databases, the pg_cron jobs the blocks scheduled, and
# sanse (and pg_cron, if this test created it) in the cron database.
# READMETEST_VERBOSE=1 prints each block's query results as "# " lines.
# READMETEST_KEEP=1 keeps the temporary directory (blocks, scripts, output).
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/.." || exit 2
FILES="README.md doc/types.md doc/residents.md doc/feeds.md doc/checkin.md doc/loop.md doc/devices.md doc/protection.md doc/screen.md
doc/operations.md doc/standby.md doc/city.md doc/errors.md doc/zh/README.md doc/zh/install.md doc/zh/roles.md doc/zh/sweeps.md
doc/zh/screen.md doc/zh/errors.md"
if [ -z "$READMETEST_FILE" ]; then
	fail=0
	out=$(mktemp) || exit 2
	for f in $FILES; do
		[ -f "$f" ] && continue
		echo "not ok - $f exists (it is in test/readme.sh's list)"
		fail=1
	done
	for f in doc/*.md doc/zh/*.md; do
		[ -f "$f" ] || continue
		case " $(echo $FILES) " in
		*" $f "*) ;;
		*)
			echo "not ok - $f is in test/readme.sh's list of files (FILES)"
			fail=1
			;;
		esac
	done
	for f in $FILES; do
		[ -f "$f" ] || continue
		echo "# $f"
		READMETEST_FILE=$f sh "$self" >"$out" 2>&1
		rc=$?
		cat "$out"
		[ $rc -eq 0 ] && continue
		fail=1
		grep -q '^not ok' "$out" || echo "not ok - $f: test/readme.sh exited $rc"
	done
	rm -f "$out"
	exit $fail
fi
readme=${READMETEST_FILE:-README.md}
main=sanse_readme
v10=sanse_readme_10
cron=${SANSE_CRON_DB:-contrib_regression}
tmp=$(mktemp -d) || exit 2
fail=0

q() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }

# --- extract the blocks ------------------------------------------------------
# manifest: index, fence line, first content line, database (main/cron/v10),
# expected SQLSTATE, skip reason, placeholder, description, marker error;
# blocks in $tmp/blk.<index>.sql
awk -v dir="$tmp" '
function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
function flush_marker_error(msg) { errs = errs (errs == "" ? "" : "; ") msg }
BEGIN { n = 0; inblk = 0; marker = ""; mline = 0 }
inblk && /^[ \t]*```[ \t]*$/ {
	inblk = 0
	printf "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, fence, fence + 1, db, expect, skip, ph, desc, err, results >(dir "/manifest")
	close(file)
	next
}
inblk {
	print >file
	if (desc == "") {
		l = trim($0)
		if (l != "" && l !~ /^--/) { sub(/[ \t]*--.*$/, "", l); sub(/;$/, "", l); desc = substr(l, 1, 70) }
	}
	next
}
/^[ \t]*<!--[ \t]*readme-test:.*-->[ \t]*$/ {
	if (marker != "") printf "%d\t%s\n", mline, "marker not followed by a ```sql fence" >(dir "/stray")
	marker = $0; mline = NR
	sub(/^[ \t]*<!--[ \t]*readme-test:[ \t]*/, "", marker); sub(/[ \t]*-->[ \t]*$/, "", marker)
	next
}
/^[ \t]*```sql[ \t]*$/ {
	n++; inblk = 1; fence = NR; file = dir "/blk." n ".sql"
	printf "" >file
	db = "main"; expect = ""; skip = ""; ph = ""; desc = ""; err = ""; errs = ""; results = ""
	if (marker != "") {
		k = split(marker, d, ";")
		for (i = 1; i <= k; i++) {
			x = trim(d[i])
			if (x ~ /^expect [0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]$/) expect = substr(x, 8)
			else if (x ~ /^skip[,:]/) { skip = trim(substr(x, 6)); if (skip == "") flush_marker_error("skip without a reason") }
			else if (x == "run in the cron database") db = "cron"
			else if (x == "run in a database with sanse 1.0") db = "v10"
			else if (x ~ /^[A-Za-z_][A-Za-z_0-9]* is the test database$/) { ph = x; sub(/ .*/, "", ph) }
			else if (x == "comments are results") results = "yes"
			else flush_marker_error("unknown directive \"" x "\"")
		}
		err = errs
	}
	marker = ""
	next
}
trim($0) != "" { if (marker != "") printf "%d\t%s\n", mline, "marker not followed by a ```sql fence" >(dir "/stray"); marker = "" }
END {
	if (inblk) printf "%d\t%s\n", fence, "unterminated ```sql block" >(dir "/stray")
	if (marker != "") printf "%d\t%s\n", mline, "marker not followed by a ```sql fence" >(dir "/stray")
}
' "$readme" || exit 2
touch "$tmp/manifest" "$tmp/stray"
nblocks=$(wc -l <"$tmp/manifest")
if [ "$nblocks" -eq 0 ] && [ ! -s "$tmp/stray" ]; then
	rm -rf "$tmp"
	if [ "$readme" = README.md ]; then
		echo "not ok - README.md has sql blocks"
		exit 1
	fi
	echo "# $readme has no sql block"
	exit 0
fi
field() { awk -F '\t' -v i="$1" -v f="$2" '$1 == i { print $f }' "$tmp/manifest"; }
uses() { awk -F '\t' -v d="$1" '$4 == d && $6 == "" { f = 1 } END { exit !f }' "$tmp/manifest"; }

# Placeholders: replaced in the block's file, so psql runs the substituted text.
awk -F '\t' '$7 != "" { print $1 "\t" $7 }' "$tmp/manifest" | while IFS="$(printf '\t')" read -r i ph; do
	sed -i "s/\\b$ph\\b/$main/g" "$tmp/blk.$i.sql"
done

# Roles the README creates (cluster-wide).
roles=$(cat "$tmp"/blk.*.sql | sed -n 's/^[[:space:]]*CREATE ROLE[[:space:]]\{1,\}\([A-Za-z_][A-Za-z_0-9]*\).*/\1/Ip' | sort -u | tr '\n' ' ')

# --- databases ---------------------------------------------------------------
cron_had_db=yes
cron_had_pgcron=
drop_roles() {
	[ -n "$roles" ] || return 0
	list=$(echo $roles | sed 's/ /, /g')
	existing=$(q -d postgres -c "SELECT string_agg(quote_ident(rolname), ', ') FROM pg_roles
	                            WHERE rolname = ANY (string_to_array('$(echo $roles | tr ' ' ',')', ','))")
	[ -n "$existing" ] || return 0
	for d in $(q -d postgres -c "SELECT datname FROM pg_database WHERE datallowconn"); do
		q -d "$d" -c "DROP OWNED BY $existing" >/dev/null 2>&1
	done
	q -d postgres -c "DROP ROLE $existing" >"$tmp/droproles" 2>&1 || { cat "$tmp/droproles"; return 1; }
}
cleanup() {
	if [ "$cron_ready" = yes ]; then
		q -d "$cron" >/dev/null 2>&1 <<SQL
SET client_min_messages = warning;
SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname IN ('sanse-sweep:$cron', 'sanse-sweep:$main');
DROP EXTENSION IF EXISTS sanse CASCADE;
SQL
		[ -z "$cron_had_pgcron" ] && q -d "$cron" -c "DROP EXTENSION IF EXISTS pg_cron" >/dev/null 2>&1
	fi
	dropdb --if-exists "$main" >/dev/null 2>&1
	dropdb --if-exists "$v10" >/dev/null 2>&1
	drop_roles >/dev/null 2>&1
	[ -n "$READMETEST_KEEP" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

dropdb --if-exists "$main" >/dev/null 2>&1
dropdb --if-exists "$v10" >/dev/null 2>&1
if ! drop_roles; then
	echo "not ok - roles left from an earlier run dropped ($roles)"
	exit 1
fi

setup_failed() { echo "not ok - setup: $1"; sed 's/^/# /' "$tmp/setup"; exit 1; }
createdb "$main" >"$tmp/setup" 2>&1 || setup_failed "createdb $main"
if ! awk -F '\t' '$4 == "main" { print $1 }' "$tmp/manifest" | while read -r i; do cat "$tmp/blk.$i.sql"; done |
	grep -qi 'CREATE EXTENSION[[:space:]]\{1,\}\(IF NOT EXISTS[[:space:]]\{1,\}\)\{0,1\}sanse'; then
	q -d "$main" -c "SET client_min_messages = warning; CREATE EXTENSION sanse CASCADE" >"$tmp/setup" 2>&1 ||
		setup_failed "CREATE EXTENSION sanse CASCADE in $main"
fi
if uses v10; then
	createdb "$v10" >"$tmp/setup" 2>&1 || setup_failed "createdb $v10"
	q -d "$v10" -c "SET client_min_messages = warning; CREATE EXTENSION sanse VERSION '1.0' CASCADE" >"$tmp/setup" 2>&1 ||
		setup_failed "CREATE EXTENSION sanse VERSION '1.0' CASCADE in $v10"
fi
if uses cron; then
	if [ -z "$(q -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$cron'")" ]; then
		cron_had_db=
		createdb "$cron" >"$tmp/setup" 2>&1 || setup_failed "createdb $cron"
	fi
	[ "$(q -d postgres -c "SHOW cron.database_name" 2>/dev/null)" = "$cron" ] ||
		{ echo "cron.database_name is not $cron" >"$tmp/setup"; setup_failed "pg_cron preloaded for $cron"; }
	cron_had_pgcron=$(q -d "$cron" -c "SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'")
	cron_ready=yes
	# pg_cron's launcher connects to a database created just now within a second
	i=0
	while :; do
		q -d "$cron" >"$tmp/setup" 2>&1 <<'SQL' && break
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
DROP EXTENSION IF EXISTS sanse CASCADE;
CREATE EXTENSION sanse CASCADE;
SQL
		i=$((i + 1))
		[ $i -lt 10 ] || setup_failed "pg_cron and a fresh sanse in $cron"
		sleep 1
	done
fi
dbname() { case $1 in main) echo "$main" ;; cron) echo "$cron" ;; v10) echo "$v10" ;; esac; }

# --- run ---------------------------------------------------------------------
# One psql session runs the blocks from $1 on; markers on stdout (\echo) and
# stderr (\warn) cut its output and its messages into blocks.
session() {
	from=$1
	s="$tmp/session.sql"
	: >"$s"
	cur=
	i=$from
	while [ "$i" -le "$nblocks" ]; do
		if [ -z "$(field "$i" 6)" ] && [ -z "$(field "$i" 9)" ]; then
			d=$(field "$i" 4)
			if [ "$d" != "$cur" ]; then
				printf '\\connect %s\n' "$(dbname "$d")" >>"$s"
				cur=$d
			fi
			printf '\\echo @@begin %s\n\\warn @@begin %s\n\\qecho @@begin %s\n' "$i" "$i" "$i" >>"$s"
			if [ -n "$(field "$i" 5)" ]; then
				printf '\\set ON_ERROR_STOP 0\n\\set LAST_ERROR_SQLSTATE 00000\n' >>"$s"
				printf '\\i %s\n' "$tmp/blk.$i.sql" >>"$s"
				printf '\\echo @@sqlstate %s :LAST_ERROR_SQLSTATE\n\\set ON_ERROR_STOP 1\n' "$i" >>"$s"
			else
				printf '\\i %s\n' "$tmp/blk.$i.sql" >>"$s"
			fi
			printf '\\echo @@end %s\n' "$i" >>"$s"
		fi
		i=$((i + 1))
	done
	PGOPTIONS='-c client_min_messages=notice' psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -v SHOW_CONTEXT=never \
		-o "$tmp/out" -f "$s" >"$tmp/marks" 2>"$tmp/err"
}
# the text between "@@begin <i>" and the next "@@begin" in a file
segment() { awk -v i="$2" '/^@@begin / { on = ($2 == i); next } on' "$1"; }
# "psql:<file>:<n>: ERROR:  <code>: <message>" -> "$readme:<line>: ERROR <code> <message>"
errors() {
	segment "$tmp/err" "$1" | grep 'ERROR:' | sed -n "s|^psql:$tmp/blk\.$1\.sql:\([0-9]*\): ERROR: *\(.*\)|\1 \2|p" |
		while read -r n rest; do echo "$readme:$(($(field "$1" 3) + n - 1)): ERROR $rest"; done
	segment "$tmp/err" "$1" | grep 'ERROR:' | grep -v "^psql:$tmp/blk\.$1\.sql:" | sed 's/^psql:[^ ]*: //'
}
verbose() {
	[ -n "$READMETEST_VERBOSE" ] || return 0
	segment "$tmp/out" "$1" | sed 's/^/# /'
	segment "$tmp/err" "$1" | grep -v '^LOCATION:' | sed 's/^psql:[^ ]*: //; s/^/# /'
}
report() {
	i=$1
	line=$(field "$i" 2)
	desc=$(field "$i" 8)
	want=$(field "$i" 5)
	if [ -n "$(field "$i" 9)" ]; then
		echo "not ok - $readme:$line bad marker: $(field "$i" 9)"
		fail=1
	elif [ -n "$(field "$i" 6)" ]; then
		echo "ok - $readme:$line skipped: $(field "$i" 6)"
	elif ! grep -qx "@@begin $i" "$tmp/marks"; then
		echo "not ok - $readme:$line $desc: not run (psql: $(grep -v '^@@' "$tmp/err" | head -1))"
		fail=1
	elif ! grep -qx "@@end $i" "$tmp/marks"; then
		echo "not ok - $readme:$line $desc: $(errors "$i" | head -1)"
		verbose "$i"
		fail=1
	elif [ -n "$want" ]; then
		got=$(sed -n "s/^@@sqlstate $i //p" "$tmp/marks")
		nerr=$(errors "$i" | wc -l)
		if [ "$got" = "$want" ] && [ "$nerr" -eq 1 ]; then
			echo "ok - $readme:$line $desc fails with $want"
		elif [ "$got" = 00000 ]; then
			echo "not ok - $readme:$line $desc: succeeded, want SQLSTATE $want"
			fail=1
		else
			echo "not ok - $readme:$line $desc: want SQLSTATE $want and one error, got $got; $(errors "$i" | tr '\n' ' ')"
			fail=1
		fi
		verbose "$i"
	else
		echo "ok - $readme:$line $desc"
		verbose "$i"
	fi
}

while IFS="$(printf '\t')" read -r sline smsg; do
	echo "not ok - $readme:$sline $smsg"
	fail=1
done <"$tmp/stray"

from=1
while [ "$from" -le "$nblocks" ]; do
	session "$from"
	i=$from
	next=$((nblocks + 1))
	while [ "$i" -le "$nblocks" ]; do
		report "$i"
		if grep -qx "@@begin $i" "$tmp/marks" && ! grep -qx "@@end $i" "$tmp/marks"; then
			# this block ended the session: the next ones run in a new one
			next=$((i + 1))
			break
		fi
		i=$((i + 1))
	done
	from=$next
done

# --- comments are results ------------------------------------------------------
# The marked blocks again, in one session of their own in another zone: each
# statement ending "; -- <text>" must print <text>.
check_results() {
	cs="$tmp/results.sql"
	: >"$cs"
	: >"$tmp/expected"
	cur=
	for i in $(awk -F '\t' '$10 == "yes" && $6 == "" && $9 == "" { print $1 }' "$tmp/manifest"); do
		d=$(field "$i" 4)
		if [ "$d" != "$cur" ]; then
			printf '\\connect %s\n' "$(dbname "$d")" >>"$cs"
			printf '\\pset format unaligned\n\\pset tuples_only on\n\\pset fieldsep %s\n' "' | '" >>"$cs"
			cur=$d
		fi
		awk -v i="$i" -v first="$(field "$i" 3)" -v expf="$tmp/expected" '
			{ stmt = stmt $0 "\n" }
			match($0, /;[ \t]*(--.*)?$/) {
				tail = substr($0, RSTART + 1)
				if (tail ~ /^[ \t]*--/) {
					sub(/^[ \t]*--[ \t]?/, "", tail); sub(/[ \t]+$/, "", tail)
					n++
					printf "%s\t%d\t%d\t%s\n", i, n, first + NR - 1, tail >>expf
					printf "\\echo @@res %s %d\n%s\\echo @@endres %s %d\n", i, n, stmt, i, n
				} else
					printf "%s", stmt
				stmt = ""
			}
			END { if (stmt != "") printf "%s", stmt; if (!n) printf "%s\t0\t%d\t\n", i, first >>expf }
		' "$tmp/blk.$i.sql" >>"$cs"
	done
	[ -s "$tmp/expected" ] || return 0
	PGOPTIONS='-c client_min_messages=warning -c TimeZone=America/New_York -c DateStyle=ISO,MDY' \
		psql -X -q -f "$cs" >"$tmp/results" 2>"$tmp/results.err"
	while IFS="$(printf '\t')" read -r i n line want; do
		if [ "$n" = 0 ]; then
			echo "not ok - $readme:$(field "$i" 2) is marked \"comments are results\" but no statement ends with \"; -- <result>\""
			fail=1
			continue
		fi
		got=$(awk -v k="$i $n" '$0 == "@@res " k { on = 1; next } $0 == "@@endres " k { on = 0 } on' "$tmp/results" |
			awk 'NR > 1 { printf "; " } { printf "%s", $0 }')
		if [ "$got" = "$want" ]; then
			echo "ok - $readme:$line prints $want (TimeZone America/New_York in the session)"
		else
			echo "not ok - $readme:$line prints '$got', its comment says '$want' (TimeZone America/New_York in the session)"
			grep 'ERROR' "$tmp/results.err" | head -2 | sed 's/^/# /'
			fail=1
		fi
	done <"$tmp/expected"
}
check_results

# The README gives the call that schedules sweeps from the cron database for
# a sanse database without pg_cron as "the call schedule_sweeps prints in its
# hint": in the fresh database (no pg_cron there) the hint must carry it.
i=$(grep -l 'cron\.schedule_in_database(' "$tmp"/blk.*.sql 2>/dev/null | head -1 | sed 's/.*blk\.\([0-9]*\)\.sql/\1/')
if [ -n "$i" ]; then
	line=$(field "$i" 2)
	want=$(grep -o 'SELECT cron\.schedule_in_database(.*);' "$tmp/blk.$i.sql" | head -1)
	got=$(psql -X -q -d "$main" -c "SELECT sanse.schedule_sweeps()" 2>&1 | grep -o 'SELECT cron\.schedule_in_database(.*);' | head -1)
	if [ -n "$want" ] && [ "$got" = "$want" ]; then
		echo "ok - $readme:$line the call is the one schedule_sweeps() prints in its hint without pg_cron"
	else
		echo "not ok - $readme:$line the call is the one schedule_sweeps() prints in its hint without pg_cron (hint: '$got', $readme with $main: '$want')"
		fail=1
	fi
fi
exit $fail
