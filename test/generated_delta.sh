#!/bin/sh
# The delta to the current version is generated (issue 19): the hand-written
# change files, then every function and view of src/sql as CREATE OR REPLACE.
# This checks the generator and the rules around it; test/catalog.sh checks
# that what it generates makes the same catalog as a fresh install.
# Prints TAP-like lines.  Needs no database.
cd "$(dirname "$0")/.." || exit 2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; fail=1; }

cur=$(sed -n "s/^default_version = '\(.*\)'/\1/p" sanse.control)
from=$(sed -n 's/^UPDATE_FROM *= *//p' Makefile)
delta=sanse--$from--$cur.sql
changes=src/updates/$from--$cur

# 1. released scripts are frozen: byte for byte what shipped
if sha256sum --quiet -c src/updates/released.sha256 >"$tmp/sum" 2>&1; then
	ok "released scripts unchanged ($(wc -l <src/updates/released.sha256) files)"
else
	nok "a released script changed: $(tr '\n' ' ' <"$tmp/sum")"
fi
# ... and every script make installs is either released (and summed), or built
for f in $(sed -n 's/^DATA *= *//p; s/^ *\(sanse--.*\.sql\)$/\1/p' Makefile | tr -d '\\'); do
	grep -q " $f\$" src/updates/released.sha256 || nok "$f is installed but not summed in src/updates/released.sha256"
done

# ... and no other script is committed (a built one would shadow nothing but
# mislead: the current version's scripts are made by make)
if git rev-parse --git-dir >/dev/null 2>&1; then
	for f in $(git ls-files 'sanse--*.sql'); do
		grep -q " $f\$" src/updates/released.sha256 || nok "$f is committed but is no released script"
	done
fi

# 2. the delta is what the generator makes from today's sources
make -s "$delta" >"$tmp/make" 2>&1 || nok "make $delta: $(cat "$tmp/make")"
perl src/updates/replaceable.pl $(ls src/sql/*.sql | sort) >"$tmp/replaceable.sql" || nok "replaceable.pl failed"
if tail -n "$(wc -l <"$tmp/replaceable.sql")" "$delta" | cmp -s - "$tmp/replaceable.sql"; then
	ok "$delta ends with every function and view of src/sql"
else
	nok "$delta does not end with the generated part"
fi
want=$(cat src/sql/*.sql | grep -ciE '^CREATE OR REPLACE (FUNCTION|PROCEDURE|VIEW)')
got=$(grep -ciE '^CREATE OR REPLACE (FUNCTION|PROCEDURE|VIEW)' "$tmp/replaceable.sql")
[ "$want" = "$got" ] && ok "all $want functions and views of src/sql are carried" || nok "carried $got of $want functions and views"

# 3. no function or view body is written twice: a change file defines none
#    that src/sql defines
names() { grep -hoiE '^CREATE OR REPLACE (FUNCTION|PROCEDURE|VIEW) +[a-z_.]+' "$@" | awk '{print tolower($NF)}' | sed 's/^sanse\.//' | sort -u; }
names src/sql/*.sql >"$tmp/src_names"
if ls "$changes"/*.sql >/dev/null 2>&1; then
	names "$changes"/*.sql >"$tmp/change_names"
	copied=$(comm -12 "$tmp/src_names" "$tmp/change_names" | tr '\n' ' ')
	[ -z "$copied" ] && ok "no change file in $changes copies a function or view of src/sql" \
		|| nok "change files copy what src/sql defines: $copied"
else
	nok "no change files in $changes"
fi

# 4. the generator refuses what would reach a fresh install but no upgrade,
#    and keeps what replacing resets
printf 'CREATE FUNCTION sanse.f() RETURNS int LANGUAGE sql RETURN 1;\n' >"$tmp/plain.sql"
perl src/updates/replaceable.pl "$tmp/plain.sql" >/dev/null 2>"$tmp/err" \
	&& nok "a plain CREATE FUNCTION is accepted" || ok "a plain CREATE FUNCTION is refused: $(cat "$tmp/err")"
cat >"$tmp/mixed.sql" <<'SQL'
CREATE TABLE sanse.t (x text CHECK (x <> ';'));
-- heads g
CREATE OR REPLACE FUNCTION sanse.g(a text) RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
	RETURN a || ';';
END
$fn$;
CREATE OR REPLACE FUNCTION sanse.h() RETURNS int LANGUAGE sql
BEGIN ATOMIC
	SELECT 1;
	SELECT 2;
END;
INSERT INTO sanse.t VALUES ('a;');
ALTER FUNCTION sanse.g(text) SET search_path = pg_catalog;
REVOKE ALL ON FUNCTION sanse.g(text) FROM PUBLIC;
CREATE INDEX ON sanse.t (x);
SQL
perl src/updates/replaceable.pl "$tmp/mixed.sql" | grep -v '^$' >"$tmp/mixed.out"
cat >"$tmp/mixed.want" <<SQL
-- $tmp/mixed.sql
-- heads g
CREATE OR REPLACE FUNCTION sanse.g(a text) RETURNS text LANGUAGE plpgsql AS \$fn\$
BEGIN
	RETURN a || ';';
END
\$fn\$;
CREATE OR REPLACE FUNCTION sanse.h() RETURNS int LANGUAGE sql
BEGIN ATOMIC
	SELECT 1;
	SELECT 2;
END;
ALTER FUNCTION sanse.g(text) SET search_path = pg_catalog;
REVOKE ALL ON FUNCTION sanse.g(text) FROM PUBLIC;
SQL
if cmp -s "$tmp/mixed.out" "$tmp/mixed.want"; then
	ok "the generator keeps functions (dollar-quoted, BEGIN ATOMIC), settings and grants, and leaves tables, rows and indexes"
else
	nok "the generator split statements wrongly:"; diff "$tmp/mixed.want" "$tmp/mixed.out" | sed 's/^/# /'
fi

# 5. the fresh install and the delta are built from the same sources
grep -q "^-- src/sql/" "sanse--$cur.sql" && ok "sanse--$cur.sql is built from src/sql" || nok "sanse--$cur.sql not built from src/sql"
exit $fail
