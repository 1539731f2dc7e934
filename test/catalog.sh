#!/bin/sh
# A fresh install of the current version (its one generated script) and 1.0
# updated through every delta must end with identical catalogs in schema
# sanse: functions, aggregates, views, triggers, constraints, indexes,
# columns, sequences, types and operators, grants, RLS policies, comments,
# the tables pg_dump keeps and the rows of the vocabularies.  Prints
# TAP-like lines naming what differs.
cd "$(dirname "$0")/.." || exit 2
fresh=sanse_catalog_fresh
updated=sanse_catalog_updated
tmp=$(mktemp -d) || exit 2
fail=0
cleanup() {
	dropdb --if-exists "$fresh" >/dev/null 2>&1
	dropdb --if-exists "$updated" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
cleanup
mkdir -p "$tmp"
q() { db=$1; shift; PGOPTIONS="-c client_min_messages=warning" psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }

createdb "$fresh" && createdb "$updated" || { echo "not ok - createdb"; exit 1; }
if q "$fresh" -c "CREATE EXTENSION sanse CASCADE" >"$tmp/fresh.err" 2>&1; then
	echo "ok - fresh install of $(q "$fresh" -c "SELECT extversion FROM pg_extension WHERE extname = 'sanse'")"
else
	echo "not ok - fresh install"; sed 's/^/# /' "$tmp/fresh.err"; exit 1
fi
if q "$updated" -c "CREATE EXTENSION sanse VERSION '1.0' CASCADE" -c "ALTER EXTENSION sanse UPDATE" >"$tmp/upd.err" 2>&1; then
	echo "ok - 1.0 updated to $(q "$updated" -c "SELECT extversion FROM pg_extension WHERE extname = 'sanse'")"
else
	echo "not ok - 1.0 updated"; sed 's/^/# /' "$tmp/upd.err"; exit 1
fi

# each query prints one line per object: "<name>\t<definition>"
cat >"$tmp/functions.sql" <<'SQL'
SELECT p.oid::regprocedure::text, CASE WHEN p.prokind = 'a' THEN
         format('aggregate sfunc=%s stype=%s combine=%s sortop=%s', a.aggtransfn, a.aggtranstype::regtype, a.aggcombinefn, a.aggsortop::regoperator)
       ELSE replace(pg_get_functiondef(p.oid), E'\n', ' ') END
  FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
 WHERE p.pronamespace = 'sanse'::regnamespace ORDER BY 1
SQL
cat >"$tmp/views.sql" <<'SQL'
SELECT c.oid::regclass::text, replace(pg_get_viewdef(c.oid), E'\n', ' ')
  FROM pg_class c WHERE c.relnamespace = 'sanse'::regnamespace AND c.relkind IN ('v', 'm') ORDER BY 1
SQL
cat >"$tmp/triggers.sql" <<'SQL'
SELECT t.tgrelid::regclass || '.' || t.tgname, pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'sanse'::regnamespace AND NOT t.tgisinternal ORDER BY 1
SQL
cat >"$tmp/constraints.sql" <<'SQL'
SELECT coalesce(c.conrelid::regclass::text, c.contypid::regtype::text) || '.' || c.conname, pg_get_constraintdef(c.oid)
  FROM pg_constraint c WHERE c.connamespace = 'sanse'::regnamespace ORDER BY 1
SQL
cat >"$tmp/indexes.sql" <<'SQL'
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'sanse'::regnamespace ORDER BY 1
SQL
cat >"$tmp/columns.sql" <<'SQL'
SELECT c.oid::regclass || '.' || a.attname,
       concat_ws(' ', format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN 'not null' END,
                 'identity=' || nullif(a.attidentity::text, ''), 'generated=' || nullif(a.attgenerated::text, ''),
                 'default=' || pg_get_expr(d.adbin, d.adrelid), 'collation=' || nullif(a.attcollation, 0)::regcollation)
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'sanse'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'S')
 ORDER BY 1
SQL
cat >"$tmp/relations.sql" <<'SQL'
SELECT c.oid::regclass::text, concat_ws(' ', c.relkind, 'persistence=' || c.relpersistence::text, 'rls=' || c.relrowsecurity,
                                  'force_rls=' || c.relforcerowsecurity, 'options=' || c.reloptions::text)
  FROM pg_class c WHERE c.relnamespace = 'sanse'::regnamespace AND c.relkind NOT IN ('i', 'I', 't') ORDER BY 1
SQL
cat >"$tmp/sequences.sql" <<'SQL'
SELECT s.seqrelid::regclass::text, concat_ws(' ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
  FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = 'sanse'::regnamespace ORDER BY 1
SQL
cat >"$tmp/types.sql" <<'SQL'
SELECT t.oid::regtype::text, concat_ws(' ', t.typtype, t.typlen, t.typbyval, t.typalign, t.typstorage, t.typinput, t.typoutput, t.typreceive, t.typsend)
  FROM pg_type t WHERE t.typnamespace = 'sanse'::regnamespace AND t.typtype <> 'c' AND t.typelem = 0
UNION ALL
SELECT o.oid::regoperator::text, concat_ws(' ', o.oprcode, o.oprcom::regoperator, o.oprnegate::regoperator, o.oprrest, o.oprjoin, o.oprcanhash, o.oprcanmerge)
  FROM pg_operator o WHERE o.oprnamespace = 'sanse'::regnamespace
UNION ALL
SELECT am.amname || ' ' || oc.opcname, concat_ws(' ', oc.opcdefault, oc.opcintype::regtype,
       (SELECT string_agg(ao.amopstrategy || ':' || ao.amopopr::regoperator, ',' ORDER BY ao.amopstrategy) FROM pg_amop ao WHERE ao.amopfamily = oc.opcfamily),
       (SELECT string_agg(ap.amprocnum || ':' || ap.amproc::regproc, ',' ORDER BY ap.amprocnum) FROM pg_amproc ap WHERE ap.amprocfamily = oc.opcfamily))
  FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod WHERE oc.opcnamespace = 'sanse'::regnamespace
ORDER BY 1
SQL
cat >"$tmp/casts.sql" <<'SQL'
SELECT format_type(c.castsource, NULL) || ' -> ' || format_type(c.casttarget, NULL),
       concat_ws(' ', c.castcontext, c.castmethod, c.castfunc::regprocedure)
  FROM pg_cast c
 WHERE c.castsource IN (SELECT oid FROM pg_type WHERE typnamespace = 'sanse'::regnamespace)
    OR c.casttarget IN (SELECT oid FROM pg_type WHERE typnamespace = 'sanse'::regnamespace)
 ORDER BY 1
SQL
cat >"$tmp/grants.sql" <<'SQL'
SELECT 'relation ' || c.oid::regclass, coalesce(c.relacl::text, 'default') FROM pg_class c
 WHERE c.relnamespace = 'sanse'::regnamespace AND c.relkind NOT IN ('i', 'I', 't')
UNION ALL
SELECT 'function ' || p.oid::regprocedure, coalesce(p.proacl::text, 'default') FROM pg_proc p WHERE p.pronamespace = 'sanse'::regnamespace
UNION ALL
SELECT 'schema sanse', coalesce(n.nspacl::text, 'default') FROM pg_namespace n WHERE n.nspname = 'sanse'
UNION ALL
SELECT 'type ' || t.oid::regtype, coalesce(t.typacl::text, 'default') FROM pg_type t WHERE t.typnamespace = 'sanse'::regnamespace AND t.typelem = 0
UNION ALL
SELECT 'column ' || a.attrelid::regclass || '.' || a.attname, a.attacl::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'sanse'::regnamespace AND a.attacl IS NOT NULL
ORDER BY 1
SQL
cat >"$tmp/policies.sql" <<'SQL'
SELECT p.polrelid::regclass || '.' || p.polname,
       concat_ws(' ', p.polcmd, p.polpermissive, p.polroles::regrole[]::text, pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'sanse'::regnamespace ORDER BY 1
SQL
cat >"$tmp/comments.sql" <<'SQL'
SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid), replace(d.description, E'\n', ' ')
  FROM pg_description d
 WHERE (pg_identify_object(d.classoid, d.objoid, d.objsubid)).schema = 'sanse'
    OR (pg_identify_object(d.classoid, d.objoid, d.objsubid)).identity LIKE 'sanse.%'
 ORDER BY 1
SQL
cat >"$tmp/dumped.sql" <<'SQL'
SELECT c::regclass::text, coalesce(e.extcondition[array_position(e.extconfig, c)], '')
  FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'sanse' ORDER BY 1
SQL

# the rows of the vocabularies (scripts insert them, pg_dump does not keep them)
cat >"$tmp/vocabularies.sql" <<'SQL'
SELECT v.vocabulary || '.' || v.value, v.position || ' ' || v.meaning FROM sanse.vocabulary v
UNION ALL
SELECT 'tier.' || t.value || ' chinese', t.chinese FROM sanse.tier t
ORDER BY 1
SQL

for what in functions views triggers constraints indexes columns relations sequences types casts grants policies comments dumped vocabularies; do
	if ! q "$fresh" -F '	' -f "$tmp/$what.sql" >"$tmp/$what.fresh" 2>"$tmp/$what.err" ||
	   ! q "$updated" -F '	' -f "$tmp/$what.sql" >"$tmp/$what.updated" 2>>"$tmp/$what.err" || [ -s "$tmp/$what.err" ]; then
		echo "not ok - $what: the catalog query failed"
		sed 's/^/# /' "$tmp/$what.err"
		fail=1
		continue
	fi
	n=$(wc -l <"$tmp/$what.fresh" | tr -d ' ')
	if [ "$n" -eq 0 ] && [ "$what" != policies ]; then
		echo "not ok - $what: nothing to compare"
		fail=1
	elif cmp -s "$tmp/$what.fresh" "$tmp/$what.updated"; then
		echo "ok - $what identical ($n)"
	else
		echo "not ok - $what differ"
		# name the objects that differ
		diff "$tmp/$what.fresh" "$tmp/$what.updated" | grep '^[<>]' | cut -f1 | sort | uniq -c |
			sed 's/^ *[0-9]* //; s/^</#   fresh:   /; s/^>/#   updated: /' | head -40
		fail=1
	fi
done
exit $fail
