#!/bin/sh
# The supervisor's screen as one offline page: reads the PII-free screen
# views of the database named by the PG* environment (psql's usual
# variables) as SCREEN_ROLE (SET ROLE; default: the login itself), turns them
# into JSON with test/demo/screen_data.sql, fills test/demo/screen.html.in
# with it and copies ECharts beside it.
#
#   sh test/demo/screen_page.sh [OUTDIR]        (default: demo)
#
# SCREEN_ROOT: the area path the page is about (default: the shallowest area
# the role sees).  ECHARTS: the echarts.min.js to copy (default: the one
# `make deps` installs into test/screen/node_modules).  Prints the page's path.
set -e
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-demo}
echarts=${ECHARTS:-$here/../screen/node_modules/echarts/dist/echarts.min.js}
if [ ! -f "$echarts" ]; then
	echo "screen_page: $echarts is missing (run 'make deps')" >&2
	exit 1
fi
mkdir -p "$out"
tmp=$(mktemp "$out/.screen.XXXXXX")
trap 'rm -f "$tmp" "$tmp.json"' EXIT

# The page is made by psql alone: screen_data.sql writes the JSON, the
# template and the JSON become psql variables, and replace() splices one into
# the other ("</" escaped, so no string in the data can end the <script>).
psql -X -q -At -v ON_ERROR_STOP=1 \
	-v template="$here/screen.html.in" -v data_sql="$here/screen_data.sql" \
	-v root="${SCREEN_ROOT:-}" -v role="${SCREEN_ROLE:-}" -v json="$tmp.json" -v out="$tmp" <<'SQL'
SELECT :'role' <> '' AS set_role \gset
\if :set_role
SET ROLE :"role";
\endif
-- a superuser sees every count exactly: not for a page written to a file
DO $$
BEGIN
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'screen_page: % is a superuser and would draw every small cell', current_user
			USING HINT = 'Set SCREEN_ROLE to a role with an aggregate grant row.';
	END IF;
END
$$;
\o :json
\i :data_sql
\o
\set screen `cat :'json'`
\set page `cat :'template'`
SELECT replace(:'page', '/*@SCREEN_DATA@*/null', replace(:'screen', '<', '\u003c')) \g :out
SQL
rm -f "$tmp.json"
chmod 644 "$tmp"
mv "$tmp" "$out/screen.html"
cp "$echarts" "$out/echarts.min.js"
echo "$out/screen.html"
