/*
 * area_access.c — which areas a role sees, for row-level security and the
 * owner's functions (spec 8), as a probe per row instead of a set per
 * statement.
 *
 * The grant rows are expanded once per backend into a hash from area id to
 * the (role, access) pairs that reach it through a grant on the
 * area or one of its ancestors, and reloaded when area_grant or area change
 * (their statement triggers send a relcache invalidation) or a role is
 * created, renamed or dropped (a pg_authid syscache invalidation).  Role
 * membership is not cached here: each probe asks core's has_privs_of_role(),
 * whose own cache follows GRANT and REVOKE of roles.
 *
 * Fails closed like sanse.granted_areas(): a NULL area or access, an area no
 * grant reaches, a grant row whose role was dropped (or dropped and created
 * again under its name), all answer false.  Superusers and the extension
 * owner see every area.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "cache.h"
#include "vocabulary.h"

/*
 * The accesses of a grant row (spec 8), each including those before it: the
 * one list of them.  An access's level is its index + 1 (its position in the
 * lookup table sanse.grant_access, which sanse.compiled_vocabulary() fills
 * from here).
 */
const SanseTerm sanse_grant_accesses[] = {
	{"aggregate", "the screen-patrol views only, small cells hidden"},
	{"read", "rows of the subtree, without factors, coordinates or ID hashes"},
	{"care", "all columns of the subtree, and writes residents and carers"},
};
const int	sanse_grant_access_count = lengthof(sanse_grant_accesses);

/* The level of an access given as (pointer, length); 0 when unknown. */
static int
access_level_of(const char *data, int len)
{
	for (int i = 0; i < lengthof(sanse_grant_accesses); i++)
		if (len == strlen(sanse_grant_accesses[i].value) && memcmp(data, sanse_grant_accesses[i].value, len) == 0)
			return i + 1;
	return 0;
}

typedef struct AreaGrantRef
{
	Oid			role;			/* the grant row's role */
	int32		level;			/* an access it has on the area (one ref per access) */
} AreaGrantRef;

typedef struct AreaAccessEntry
{
	int64		area_id;		/* hash key */
	int			first;			/* its refs: refs[first .. first + count) */
	int			count;
} AreaAccessEntry;

static MemoryContext access_context = NULL;
static HTAB *access_by_area = NULL;
static AreaGrantRef *refs = NULL;
static Oid	extension_owner = InvalidOid;

/*
 * Rows sorted by area; the first row (area NULL) names the extension owner.
 * A grant counts only while a role of its name and OID exists.
 */
static void
area_access_load(SPITupleTable *rows, uint64 nrows)
{
	MemoryContext context;
	MemoryContext old;
	HASHCTL		ctl;
	HTAB	   *map;
	AreaGrantRef *loaded;
	Oid			owner = InvalidOid;
	int			n = 0;

	/* under the load's context until parsed whole: an error frees it */
	context = AllocSetContextCreate(CurrentMemoryContext, "sanse area access", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(AreaAccessEntry);
	ctl.hcxt = context;
	map = hash_create("sanse area access", Max(nrows, 16), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	loaded = palloc(sizeof(AreaGrantRef) * Max(nrows, 1));
	MemoryContextSwitchTo(old);

	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	row = rows->vals[i];
		bool		area_null,
					role_null,
					level_null;
		Datum		area = SPI_getbinval(row, rows->tupdesc, 1, &area_null);
		Datum		role = SPI_getbinval(row, rows->tupdesc, 2, &role_null);
		Datum		access = SPI_getbinval(row, rows->tupdesc, 3, &level_null);
		int			level;
		int64		area_id;
		AreaAccessEntry *entry;
		bool		found;

		if (role_null)
			continue;
		if (area_null)
		{
			owner = DatumGetObjectId(role);
			continue;
		}
		if (level_null)
			continue;
		level = access_level_of(VARDATA_ANY(DatumGetTextPP(access)), VARSIZE_ANY_EXHDR(DatumGetTextPP(access)));
		if (level == 0)
			continue;
		area_id = DatumGetInt64(area);
		entry = hash_search(map, &area_id, HASH_ENTER, &found);
		if (!found)
		{
			entry->first = n;
			entry->count = 0;
		}
		else if (entry->first + entry->count != n)
			elog(ERROR, "sanse area access rows are not sorted by area");
		loaded[n].role = DatumGetObjectId(role);
		loaded[n].level = level;
		entry->count++;
		n++;
	}

	/* parsed whole: keep it, and replace the old data */
	MemoryContextSetParent(context, TopMemoryContext);
	if (access_context)
		MemoryContextDelete(access_context);
	access_context = context;
	access_by_area = map;
	refs = loaded;
	extension_owner = owner;
}

static SanseCache area_access_cache = {.relname = "area_grant",
	.also_relname = "area",
	.as_owner = true,
	/* run as the owner: every operator qualified, so no search_path can redirect one */
	/* each access a role has on an area (the load keeps the strongest that probes need) */
	.query = "SELECT NULL::pg_catalog.int8, e.extowner, NULL::pg_catalog.text FROM pg_catalog.pg_extension e "
	" WHERE e.extname OPERATOR(pg_catalog.=) 'sanse' "
	"UNION ALL "
	"SELECT DISTINCT a.id, g.role_oid, g.access "
	"  FROM sanse.area_grant g "
	"  JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) g.role_oid AND r.rolname OPERATOR(pg_catalog.=) g.role "
	"  JOIN sanse.area a ON sanse.path_contains(g.path, a.path) "
	" ORDER BY 1 NULLS FIRST",
	.load = area_access_load};

/* a role created, renamed or dropped: grant rows may now match or not */
static void
area_access_role_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	sanse_cache_mark_stale(&area_access_cache);
}

void
sanse_area_access_init(void)
{
	CacheRegisterSyscacheCallback(AUTHOID, area_access_role_callback, (Datum) 0);
}

/* The level an access names; compared in place, no copy per row probed. */
static int
access_level(text *access)
{
	int			level = access_level_of(VARDATA_ANY(access), VARSIZE_ANY_EXHDR(access));
	const char *names[lengthof(sanse_grant_accesses)];

	if (level > 0)
		return level;
	for (int i = 0; i < lengthof(sanse_grant_accesses); i++)
		names[i] = sanse_grant_accesses[i].value;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown area access \"%s\"", text_to_cstring(access)),
			 errhint("%s", sanse_list_hint("The accesses are ", names, lengthof(names)))));
	return 0;					/* keep the compiler quiet */
}

/* Whether role sees area with at least level: the probe both functions make. */
static bool
role_sees_area(Oid role, int64 area_id, int level)
{
	AreaAccessEntry *entry;

	sanse_cache_ensure(&area_access_cache);
	if (superuser_arg(role) || role == extension_owner)
		return true;
	entry = hash_search(access_by_area, &area_id, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	for (int i = entry->first; i < entry->first + entry->count; i++)
		if (refs[i].level >= level && has_privs_of_role(role, refs[i].role))
			return true;
	return false;
}

/*
 * sees_area(area, access) — whether the current user (SET ROLE's, or a
 * SECURITY DEFINER function's owner) sees the area with at least this access:
 * the test of every row-level security policy.
 */
PG_FUNCTION_INFO_V1(sees_area);
Datum
sees_area(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(role_sees_area(GetUserId(), PG_GETARG_INT64(0), access_level(PG_GETARG_TEXT_PP(1))));
}

/*
 * caller_sees(area, access) — the same for the role acting in the session
 * (SET ROLE's, else the login), which sanse's SECURITY DEFINER functions
 * check: they run as the owner, who sees everything.
 */
PG_FUNCTION_INFO_V1(caller_sees);
Datum
caller_sees(PG_FUNCTION_ARGS)
{
	Oid			acting = GetCurrentRoleId();

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	if (!OidIsValid(acting))
		acting = GetSessionUserId();
	PG_RETURN_BOOL(role_sees_area(acting, PG_GETARG_INT64(0), access_level(PG_GETARG_TEXT_PP(1))));
}
