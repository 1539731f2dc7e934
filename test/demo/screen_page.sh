#!/bin/sh
# The supervisor's screen as one offline page: reads the PII-free screen
# views of the database named by the PG* environment (psql's usual
# variables) as SCREEN_ROLE (SET ROLE; default: the login itself), turns them
# into JSON with test/demo/screen_data.sql, fills test/demo/screen.html.in
# with it and copies ECharts beside it.  The page is for an aggregate
# audience: it refuses (psql's exit status 3, no page written) to draw as a
# superuser, as the owner of sanse or a member of it, or as a role with a
# read or care grant (its own or one it inherits).
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
-- The page is for an aggregate audience: drawn only as a role that sees
-- every area as aggregates (small cells hidden).  A superuser, the owner of
-- sanse (or a member acting with its privileges) and a role with a read or
-- care grant, its own or a role's it inherits from, see exact counts: the
-- screen views would put every small cell into the file.
DO $$
DECLARE
	owner name := (SELECT o.rolname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_roles o ON o.oid = e.extowner
	                WHERE e.extname = 'sanse');
	exact bigint;
BEGIN
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'screen_page: % is a superuser and would draw every small cell', current_user
			USING ERRCODE = '42501', HINT = 'Set SCREEN_ROLE to a role whose only grants are aggregate ones.';
	END IF;
	IF current_user = owner OR pg_catalog.pg_has_role(current_user, owner, 'USAGE') THEN
		RAISE EXCEPTION 'screen_page: % is (or acts as) the owner of sanse, %, and would draw every small cell', current_user, owner
			USING ERRCODE = '42501', HINT = 'Set SCREEN_ROLE to a role whose only grants are aggregate ones.';
	END IF;
	-- what the screen views show exactly, and what row-level security lets read
	SELECT count(*) INTO exact FROM sanse.screen_areas() v WHERE v.exact OR sanse.sees_area(v.id, 'read');
	IF exact > 0 THEN
		RAISE EXCEPTION 'screen_page: % holds a read or care grant (% areas seen exactly) and would draw their small cells', current_user, exact
			USING ERRCODE = '42501', DETAIL = 'A grant counts when it is the role''s own or one of a role it inherits from.',
			      HINT = 'Set SCREEN_ROLE to a role whose only grants are aggregate ones.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM sanse.screen_areas()) THEN
		RAISE EXCEPTION 'screen_page: % has no aggregate grant: there is nothing to draw', current_user
			USING ERRCODE = '42501', HINT = 'INSERT INTO sanse.area_grant (role, path, access) VALUES (<role>, <path>, ''aggregate'').';
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
