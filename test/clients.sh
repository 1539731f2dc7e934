#!/bin/sh
# Issue 11, "Tests with real clients": node-postgres 8 (npm, installed by
# `make deps` into test/clients/node_modules) and psycopg2 with pandas and
# SQLAlchemy (Debian's packages, for Debian's /usr/bin/python3) use sanse as a
# new user would, through login roles holding exactly the README's grants.
#
# As a superuser the test runs the README's role recipe as written (the ```sql
# blocks of "Roles and grants" that create sanse_app and grant it its functions).  The app logs in as the
# recipe's own member of sanse_app (district_app, password 'change me'); the
# other roles get a login member each (clients_printer IN ROLE sanse_printer,
# clients_supervisor, clients_bi, clients_sweeper).  Under row-level security
# by area, people's rows come from the recipe's rows of sanse.area_grant: the
# app's district and the supervisor's town are read from them, the app login
# creates that district and town, and each client builds its own village in the
# town (q.t1.nd, q.t1.py with the README's paths); a superuser builds another
# district outside every grant, of which the app, the printer and BI must see
# nothing.  Each client then
# builds a small village as the app role with bind parameters, gets door
# tokens as the printer, checks in as the app with the token as a parameter
# (visit id, retry, 28000 / 42501 / 22008 / 22023), writes tier_override as a
# bound string, reads the screens as the supervisor (exact counts) and the BI
# analyst (aggregate only: counts 1..4 hidden) without sanse on the search_path, compares tiers on the tables with and without the
# README's options, and handles risk_tier[]; psycopg2 also reflects the views
# with SQLAlchemy and reads them with pandas.  Finally the README's "Clients"
# SQL block is run and a fresh app session must compare tiers without options.
# Issue 18: the recipe's per-database part runs again in a second database
# (its roles are created once per cluster, in a block of their own), and the
# README's pooled login (NOINHERIT, a member of two area roles) runs the
# README's request through node-postgres's Pool and then, on the same
# connection, reads no resident.
# Issue 19: the recipe, "Pooled apps" and "Clients" moved from README.md to
# doc/protection.md, which is where "the README's" blocks are read from.
# Prints TAP-like lines; exits non-zero on any failure.  Host and port come
# from the PG* environment (pg_virtualenv); user and password are overridden.
cd "$(dirname "$0")/.." || exit 2
db=sanse_clients
fail=0
say() { echo "$1"; case $1 in "not ok"*) fail=1 ;; esac; }
tmp=$(mktemp -d)
sq() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }

# --- the clients are installed (never skipped) ------------------------------
PY=/usr/bin/python3
if $PY -c 'import psycopg2, pandas, sqlalchemy' 2>"$tmp/pyerr"; then
	say "ok - Debian's python3 has psycopg2 $($PY -c 'import psycopg2; print(psycopg2.__version__.split()[0])'), pandas $($PY -c 'import pandas; print(pandas.__version__)'), SQLAlchemy $($PY -c 'import sqlalchemy; print(sqlalchemy.__version__)')"
else
	say "not ok - Debian's python3 has psycopg2, pandas and SQLAlchemy (run 'make deps'): $(tail -1 "$tmp/pyerr")"
fi
if command -v node >/dev/null && [ -f test/clients/node_modules/pg/package.json ]; then
	say "ok - node $(node --version) with node-postgres $(node -p "require('./test/clients/node_modules/pg/package.json').version")"
else
	say "not ok - node and node-postgres in test/clients/node_modules (run 'make deps')"
fi

# --- the README's SQL ---------------------------------------------------------
# sql_block PATTERN: the first ```sql block of doc/protection.md containing PATTERN
# (an awk regex) after the first line matching AFTER (default: anywhere)
sql_block() {
	awk -v pat="$1" -v after="${2:-}" '
		after != "" && !seen { if ($0 ~ after) seen = 1; next }
		/^```sql/ { inb = 1; buf = ""; next }
		inb && /^```/ { inb = 0; if (buf ~ pat) { printf "%s", buf; exit } next }
		inb { buf = buf $0 "\n" }' doc/protection.md
}
# The recipe: roles once per cluster (the block creating sanse_app), grants
# in every database (the block granting the app its functions); an old
# README had both in one block, "run once per database".
sql_block 'CREATE ROLE sanse_app' >"$tmp/recipe_roles.sql"
sql_block 'GRANT EXECUTE ON FUNCTION sanse\\.raise_event' >"$tmp/recipe_db.sql"
if cmp -s "$tmp/recipe_roles.sql" "$tmp/recipe_db.sql"; then
	cp "$tmp/recipe_roles.sql" "$tmp/recipe.sql"
else
	cat "$tmp/recipe_roles.sql" "$tmp/recipe_db.sql" >"$tmp/recipe.sql"
fi
sql_block 'search_path' '^\*\*Clients\.\*\*' >"$tmp/clients.sql"
# the pooled login: roles, grant rows and one request, after "**Pooled apps"
sql_block 'CREATE ROLE' '^\*\*Pooled apps' >"$tmp/pool_roles.sql"
sql_block 'area_grant' '^\*\*Pooled apps' >"$tmp/pool_db.sql"
sql_block 'SET LOCAL ROLE' '^\*\*Pooled apps' >"$tmp/pool_request.sql"
if [ -s "$tmp/recipe_roles.sql" ] && [ -s "$tmp/recipe_db.sql" ]; then say "ok - README has the role recipe"; else say "not ok - README has \`\`\`sql blocks creating sanse_app and granting it sanse.raise_event"; fi
if [ -s "$tmp/pool_roles.sql" ] && [ -s "$tmp/pool_db.sql" ] && [ -s "$tmp/pool_request.sql" ]; then
	say "ok - README has the pooled login's roles, grant rows and request"
else
	say "not ok - README's \"Pooled apps\" has \`\`\`sql blocks creating the roles, inserting grant rows and switching with SET LOCAL ROLE"
fi
if [ -s "$tmp/clients.sql" ]; then say "ok - README's Clients section has its search_path SQL"; else say "not ok - README's Clients section has a \`\`\`sql block setting search_path"; fi

# roles are cluster-wide: the recipe's and ours, dropped before and after
roles="$(cat "$tmp/recipe.sql" "$tmp/pool_roles.sql" | sed -n 's/.*CREATE ROLE \([a-z_0-9]*\).*/\1/p' | tr '\n' ' ')clients_app clients_printer clients_supervisor clients_bi clients_sweeper"
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
	dropdb --if-exists "${db}_2" >/dev/null 2>&1
	drop_roles
	rm -rf "$tmp"
}
trap cleanup EXIT
dropdb --if-exists "$db" >/dev/null 2>&1
dropdb --if-exists "${db}_2" >/dev/null 2>&1
drop_roles
createdb "$db" || exit 1
sq -d "$db" -c "SET client_min_messages = warning; CREATE EXTENSION sanse CASCADE" || exit 1

if sq -d "$db" -f "$tmp/recipe.sql" >"$tmp/recipe.out" 2>&1; then
	say "ok - the README's role recipe runs as written, as a superuser"
else
	say "not ok - the README's role recipe runs as written, as a superuser: $(tr '\n' ' ' <"$tmp/recipe.out")"
fi
# "in every database that has sanse": the per-database part in a second
# database, after the roles exist (the old one-block recipe failed 42710 here)
createdb "${db}_2" || exit 1
sq -d "${db}_2" -c "SET client_min_messages = warning; CREATE EXTENSION sanse CASCADE" || exit 1
if sq -d "${db}_2" -f "$tmp/recipe_db.sql" >"$tmp/recipe2.out" 2>&1; then
	say "ok - the README's per-database part of the recipe runs again in a second database"
else
	say "not ok - the README's per-database part of the recipe runs again in a second database: $(tr '\n' ' ' <"$tmp/recipe2.out")"
fi
# the app logs in as the recipe's own member of sanse_app, with its password;
# the other roles get a login member each here
login=$(sed -n "s/.*CREATE ROLE \([a-z_0-9]*\) LOGIN PASSWORD '\([^']*\)' IN ROLE sanse_app;.*/\1 \2/p" "$tmp/recipe.sql" | head -1)
if [ -n "$login" ] && [ "$(PGUSER=${login%% *} PGPASSWORD=${login#* } sq -d "$db" -c 'SELECT current_user' 2>&1)" = "${login%% *}" ]; then
	say "ok - the recipe's login role ${login%% *} (IN ROLE sanse_app) logs in over TCP with its password"
	export SANSE_APP_USER="${login%% *}" SANSE_APP_PASSWORD="${login#* }"
	members="printer supervisor bi sweeper"
else
	say "not ok - the recipe has a login role IN ROLE sanse_app that logs in over TCP with its password (${login:-none})"
	members="app printer supervisor bi sweeper"
fi
pw() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
for r in $members; do
	p=$(pw)
	R=$(echo "$r" | tr a-z A-Z)
	sq -d "$db" -c "CREATE ROLE clients_$r LOGIN PASSWORD '$p' IN ROLE sanse_$r" || say "not ok - login role clients_$r IN ROLE sanse_$r"
	export "SANSE_${R}_USER=clients_$r" "SANSE_${R}_PASSWORD=$p"
done
# in the second database the app login acts under the per-database grants
got=$(PGUSER=$SANSE_APP_USER PGPASSWORD=$SANSE_APP_PASSWORD sq -d "${db}_2" \
	-c "SELECT has_function_privilege('sanse.raise_event(text, bigint, text, text, timestamptz, bigint)', 'EXECUTE')" \
	-c "INSERT INTO sanse.area (path, kind, name) VALUES ('q', 'district', 'Q') RETURNING kind" 2>&1 | tr '\n' ' ')
say "$( [ "$got" = "t district " ] && echo ok || echo not ok) - in the second database the app login may raise events and write the district (got '$got')"
# the screen BI reads is published by the sweep; the clients publish at once
sq -d "$db" -c "GRANT EXECUTE ON FUNCTION sanse.publish_screen(timestamptz) TO clients_sweeper" >/dev/null
# the cluster must not put sanse on anyone's path for us
say "$( [ "$(sq -d "$db" -c "SELECT count(*) FROM pg_db_role_setting, unnest(setconfig) c WHERE c ~ '^search_path=.*sanse'")" = 0 ] \
	&& echo ok || echo not ok) - no database or role setting puts sanse on the search_path yet"

# --- the granted paths: the district and town the clients build under ---------
# grant_path ROLE ACCESS: the path of the recipe's grant row for ROLE with ACCESS
grant_path() { grep -o "('$1', *'[a-z0-9_.]*', *'$2')" "$tmp/recipe.sql" | head -1 | sed "s/^('[^']*', *'\([^']*\)'.*/\1/"; }
app_path=$(grant_path sanse_app care)
sup_path=$(grant_path sanse_supervisor read)
bi_path=$(grant_path sanse_bi aggregate)
printer_path=$(grant_path sanse_printer read)
if [ -n "$app_path" ] && [ -n "$sup_path" ] && [ "${app_path#*.}" = "$app_path" ] && [ "${sup_path%.*}" = "$app_path" ] &&
   [ "${sup_path#*.}" = "${sup_path#$app_path.}" ] && [ "$bi_path" = "$app_path" ] && [ "$printer_path" = "$app_path" ]; then
	say "ok - the recipe's grant rows: app care on district $app_path, printer read and BI aggregate on it, supervisor read on its town $sup_path"
else
	say "not ok - the recipe's grant rows give the app care on a district, the printer read and BI aggregate on it, the supervisor read on a town of it (app '$app_path', printer '$printer_path', BI '$bi_path', supervisor '$sup_path')"
	app_path=q sup_path=q.t1
fi
if PGUSER=$SANSE_APP_USER PGPASSWORD=$SANSE_APP_PASSWORD sq -d "$db" >"$tmp/town.out" 2>&1 <<SQL
INSERT INTO sanse.area (path, kind, name) VALUES ('$app_path', 'district', 'the granted district'), ('$sup_path', 'town', 'the supervised town');
SQL
then
	say "ok - the app login creates the granted district $app_path and town $sup_path (hand grant on sanse.area after the grant rows)"
else
	say "not ok - the app login creates the granted district $app_path and town $sup_path: $(tr '
' ' ' <"$tmp/town.out")"
	sq -d "$db" -c "INSERT INTO sanse.area (path, kind, name) VALUES ('$app_path', 'district', 'D'), ('$sup_path', 'town', 'T') ON CONFLICT DO NOTHING" >/dev/null 2>&1
fi
# another district, outside every grant row, built by the superuser: five red
# residents (a cell BI would see, were it granted), each with a carer and a visit
other=zz$(echo "$app_path" | tr -dc a-z0-9 | head -c 8)
sq -d "$db" >"$tmp/other.out" 2>&1 <<SQL
SET client_min_messages = warning;
INSERT INTO sanse.area (path, kind, name) VALUES
  ('$other', 'district', 'O'), ('$other.t', 'town', 'OT'), ('$other.t.v', 'village', 'OV'),
  ('$other.t.v.tg', 'total_grid', 'OTG'), ('$other.t.v.tg.g', 'general_grid', 'OG'), ('$other.t.v.tg.g.m', 'micro_grid', 'OM');
INSERT INTO sanse.worker (name, force, area_id) SELECT 'other officer', 'grid_officer', id FROM sanse.area WHERE path = '$other.t.v.tg.g.m';
INSERT INTO sanse.resident (area_id, name, factors)
SELECT a.id, 'Other ' || i, '{accident_risk,lives_alone}' FROM sanse.area a, generate_series(1, 5) i WHERE a.path = '$other.t.v.tg.g.m';
INSERT INTO sanse.carer (resident_id, worker_id) SELECT r.id, w.id FROM sanse.resident r, sanse.worker w WHERE w.name = 'other officer';
SELECT sanse.check_in(sanse.door_token(r.id), w.id) FROM sanse.resident r, sanse.worker w WHERE w.name = 'other officer';
SQL
ids=$(sq -d "$db" -c "SELECT a.id, min(r.id) FROM sanse.area a JOIN sanse.resident r ON r.area_id = a.id WHERE a.path = '$other.t.v.tg.g.m' GROUP BY a.id")
if [ -n "$ids" ]; then
	say "ok - a superuser builds another district $other (no grant row) with five red residents, carers and visits"
else
	say "not ok - a superuser builds another district $other: $(tr '
' ' ' <"$tmp/other.out")"
fi
export SANSE_OTHER_PATH=$other SANSE_OTHER_AREA=${ids%|*} SANSE_OTHER_RESIDENT=${ids#*|}

# --- the clients ---------------------------------------------------------------
export PGDATABASE=$db
SANSE_ROOT=$sup_path.nd node test/clients/node_client.js >"$tmp/node.out" 2>&1
rc=$?
cat "$tmp/node.out"
if grep -q '^not ok' "$tmp/node.out"; then fail=1
elif [ $rc -ne 0 ]; then say "not ok - node-postgres client exited with $rc"; fi
SANSE_ROOT=$sup_path.py $PY test/clients/py_client.py district >"$tmp/py.out" 2>&1
rc=$?
cat "$tmp/py.out"
if grep -q '^not ok' "$tmp/py.out"; then fail=1
elif [ $rc -ne 0 ]; then say "not ok - psycopg2 client exited with $rc"; fi

# --- BI over both villages: a cell of five or more is shown ---------------------
# (BI reads the screen as the sweep publishes it)
sq -d "$db" -c "SELECT sanse.publish_screen()" >/dev/null
bi() { PGUSER=$SANSE_BI_USER PGPASSWORD=$SANSE_BI_PASSWORD sq -d "$db" "$@"; }
got=$(bi -c "SELECT residents FROM sanse.coverage WHERE path = '$sup_path'" 2>&1)
say "$( [ "$got" = 6 ] && echo ok || echo not ok) - BI (aggregate) sees the town $sup_path's six residents of both villages (5 or more is shown; got '$got')"
got=$(bi -c "SELECT count(*) FROM sanse.coverage_by_tier WHERE tier = 'red' AND path = '$other'" 2>&1)
say "$( [ "$got" = 0 ] && echo ok || echo not ok) - BI sees no row of the ungranted district $other in coverage_by_tier WHERE tier = 'red', five red residents there notwithstanding (got '$got')"
# a hand grant is no row: the BI login's role gets SELECT on resident by hand, still no row
sq -d "$db" -c "GRANT SELECT ON sanse.resident, sanse.visit TO sanse_bi" >/dev/null
got=$(bi -c "SELECT (SELECT count(*) FROM sanse.resident) || '/' || (SELECT count(*) FROM sanse.visit)" 2>&1)
say "$( [ "$got" = 0/0 ] && echo ok || echo not ok) - SELECT on resident and visit granted by hand to an aggregate role shows no row (got '$got')"
sq -d "$db" -c "REVOKE SELECT ON sanse.resident, sanse.visit FROM sanse_bi" >/dev/null
# deleting the grant row takes the privileges back
sq -d "$db" -c "DELETE FROM sanse.area_grant WHERE role = 'sanse_bi'" >/dev/null
got=$(printf 'SELECT count(*) FROM sanse.coverage;\n\\echo :SQLSTATE\n' |
	PGUSER=$SANSE_BI_USER PGPASSWORD=$SANSE_BI_PASSWORD psql -X -q -t -A -d "$db" 2>/dev/null | tail -n 1)
say "$( [ "$got" = 42501 ] && echo ok || echo not ok) - after its grant row is deleted, BI may not read sanse.coverage (got '$got')"
sq -d "$db" -c "INSERT INTO sanse.area_grant (role, path, access) VALUES ('sanse_bi', '$app_path', 'aggregate')" >/dev/null

# --- the README's "Clients" SQL, then fresh sessions without options ----------
if sq -d "$db" -f "$tmp/clients.sql" >"$tmp/clients.out" 2>&1; then
	say "ok - the README's Clients SQL runs as written, as a superuser"
else
	say "not ok - the README's Clients SQL runs as written, as a superuser: $(tr '\n' ' ' <"$tmp/clients.out")"
fi
SANSE_ROOT=$sup_path.py $PY test/clients/py_client.py search-path >"$tmp/py2.out" 2>&1
rc=$?
cat "$tmp/py2.out"
if grep -q '^not ok' "$tmp/py2.out"; then fail=1
elif [ $rc -ne 0 ]; then say "not ok - psycopg2 client (search-path) exited with $rc"; fi
SANSE_ROOT=$sup_path.nd node test/clients/node_client.js search-path >"$tmp/node2.out" 2>&1
rc=$?
cat "$tmp/node2.out"
if grep -q '^not ok' "$tmp/node2.out"; then fail=1
elif [ $rc -ne 0 ]; then say "not ok - node-postgres client (search-path) exited with $rc"; fi

# --- the README's pooled login (issue 18) --------------------------------------
# As written: its roles (cluster), its grant rows (database), then one request
# through node-postgres's Pool on one connection, as the pooled login; the
# same connection after the request's transaction must read no resident.
sq -d "$db" -f "$tmp/pool_roles.sql" >"$tmp/pool.out" 2>&1 && sq -d "$db" -f "$tmp/pool_db.sql" >>"$tmp/pool.out" 2>&1
if [ $? -eq 0 ]; then
	say "ok - the README's pooled login: its roles and grant rows run as written, as a superuser"
else
	say "not ok - the README's pooled login: its roles and grant rows run as written, as a superuser: $(tr '\n' ' ' <"$tmp/pool.out")"
fi
pool_login=$(sed -n "s/.*CREATE ROLE \([a-z_0-9]*\) LOGIN PASSWORD '\([^']*\)'.* IN ROLE .*/\1 \2/p" "$tmp/pool_roles.sql" | head -1)
pool_role=$(sed -n 's/.*SET LOCAL ROLE \([a-z_0-9]*\).*/\1/p' "$tmp/pool_request.sql" | head -1)
pool_paths=$(grep -o "('[a-z_0-9]*', *'[a-z0-9_.]*', *'care')" "$tmp/pool_db.sql" | sed "s/^('\([^']*\)', *'\([^']*\)'.*/\1 \2/")
pool_path=$(echo "$pool_paths" | awk -v r="$pool_role" '$1 == r { print $2; exit }')
pool_other=$(echo "$pool_paths" | awk -v r="$pool_role" '$1 != r { print $2; exit }')
if [ -n "$pool_login" ] && [ -n "$pool_path" ] && [ -n "$pool_other" ]; then
	say "ok - the pooled login ${pool_login%% *} switches to $pool_role ($pool_path); its other area is $pool_other"
else
	say "not ok - the README's pooled login: a LOGIN PASSWORD role IN ROLE the area roles, SET LOCAL ROLE to one with a care row, another area (login '$pool_login', role '$pool_role', paths '$pool_paths')"
fi
# (only when the README's blocks were found: the line above said which are missing)
if [ -n "$pool_login" ] && [ -n "$pool_path" ] && [ -n "$pool_other" ]; then
	# residents in the other area too (a superuser builds it if the README's paths are new here)
	sq -d "$db" >"$tmp/pool_other.out" 2>&1 <<SQL
SET client_min_messages = warning;
INSERT INTO sanse.area (path, kind, name)
SELECT p::ltree, k, p FROM (VALUES ('$pool_other', 'town', 1), ('$pool_other.v', 'village', 2), ('$pool_other.v.tg', 'total_grid', 3),
                            ('$pool_other.v.tg.g', 'general_grid', 4), ('$pool_other.v.tg.g.m', 'micro_grid', 5)) v(p, k, o)
 WHERE NOT EXISTS (SELECT FROM sanse.area a WHERE a.path = v.p::ltree) ORDER BY o;
INSERT INTO sanse.resident (area_id, name, factors)
SELECT id, 'pooled other ' || i, '{accident_risk}' FROM sanse.area, generate_series(1, 2) i WHERE path = '$pool_other.v.tg.g.m';
SQL
	[ $? -eq 0 ] || say "not ok - a superuser builds $pool_other with two residents: $(tr '\n' ' ' <"$tmp/pool_other.out")"
	ids=$(sq -d "$db" -c "SELECT string_agg(r.id::text, ',' ORDER BY r.id) FROM sanse.resident r JOIN sanse.area a ON a.id = r.area_id WHERE a.path <@ '$pool_path'")
	both=$(sq -d "$db" -c "SELECT count(*) FROM sanse.resident r JOIN sanse.area a ON a.id = r.area_id WHERE a.path <@ '$pool_path' OR a.path <@ '$pool_other'")
	SANSE_POOLED_USER=${pool_login%% *} SANSE_POOLED_PASSWORD=${pool_login#* } SANSE_POOLED_IDS=$ids SANSE_POOLED_BOTH=$both \
		SANSE_POOLED_PATH=$pool_path SANSE_POOLED_REQUEST_FILE=$tmp/pool_request.sql node test/clients/node_client.js pooled >"$tmp/node3.out" 2>&1
	rc=$?
	cat "$tmp/node3.out"
	if grep -q '^not ok' "$tmp/node3.out"; then fail=1
	elif [ $rc -ne 0 ]; then say "not ok - node-postgres client (pooled) exited with $rc"; fi
fi

exit $fail
