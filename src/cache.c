/*
 * cache.c — per-backend caches of small sanse tables, reloaded after a
 * relcache invalidation of their table, which a statement trigger on each
 * table sends (DML alone sends none).
 *
 * A cache is shared by all the backend's transactions, so it must hold what
 * is committed, not what some transaction's snapshot happens to see: the
 * table is read the way core reads a catalog, under a fresh catalog snapshot
 * (the latest committed rows plus this transaction's own changes, whatever
 * the isolation level; unlike GetLatestSnapshot() it may be taken in
 * parallel mode, and classify is PARALLEL SAFE).  The cache is marked
 * "loading" before that snapshot is taken, and an invalidation arriving
 * meanwhile demotes it, so a load that an edit overtook is redone on next
 * use instead of being trusted; a load that fails leaves it "loading" too.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "cache.h"

/*
 * The caches used so far in this backend.  A cache joins on first use: until
 * then it holds nothing that an invalidation could make stale.
 */
static SanseCache *caches = NULL;

static void
cache_relcache_callback(Datum arg, Oid relid)
{
	sanse_cache_invalidate(relid);
}

/* From _PG_init: one relcache callback serves every cache. */
void
sanse_cache_init(void)
{
	CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
}

/*
 * Mark the cache of this table (of every table for InvalidOid) for reload.
 * Only the flag changes unless the module asked for its data to be forgotten
 * at once; otherwise the data stays until the next load replaces it.
 */
void
sanse_cache_invalidate(Oid relid)
{
	for (SanseCache *cache = caches; cache != NULL; cache = cache->next)
	{
		if (relid != InvalidOid && relid != cache->relid && relid != cache->also_relid)
			continue;
		sanse_cache_mark_stale(cache);
	}
}

/* Mark one cache for reload, for changes no table invalidation announces. */
void
sanse_cache_mark_stale(SanseCache *cache)
{
	cache->state = SANSE_CACHE_INVALID;
	if (cache->forget)
		cache->forget();
}

/* Make the cache's data current: reload it unless nothing changed since. */
void
sanse_cache_ensure(SanseCache *cache)
{
	int			ret;

	if (!cache->listed)
	{
		cache->next = caches;
		caches = cache;
		cache->listed = true;
	}

	/*
	 * Edits of a cached table take no lock that conflicts with ours, so a
	 * transaction that already holds its locks would otherwise not hear of
	 * them until its next new lock; reading the queue is cheap when it is
	 * empty.
	 */
	AcceptInvalidationMessages();
	if (cache->state == SANSE_CACHE_VALID)
		return;

	cache->relid = get_relname_relid(cache->relname, get_namespace_oid("sanse", false));
	if (!OidIsValid(cache->relid))
		elog(ERROR, "sanse.%s is missing", cache->relname);
	if (cache->also_relname)
	{
		cache->also_relid = get_relname_relid(cache->also_relname, get_namespace_oid("sanse", false));
		if (!OidIsValid(cache->also_relid))
			elog(ERROR, "sanse.%s is missing", cache->also_relname);
	}

	/* before the snapshot: an invalidation from here on must not be lost */
	cache->state = SANSE_CACHE_LOADING;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetCatalogSnapshot(cache->relid));
	if (cache->as_owner)
	{
		/*
		 * As row-level security's own checks and foreign keys do: the owner,
		 * for this read only (an error restores the caller at abort), and
		 * without security-restricted operations.
		 */
		Oid			save_userid;
		int			save_sec_context;
		HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(cache->relid));
		Oid			owner;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for relation %u", cache->relid);
		owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
		ReleaseSysCache(tuple);
		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
		ret = SPI_execute(cache->query, true, 0);
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	else
		ret = SPI_execute(cache->query, true, 0);
	PopActiveSnapshot();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read sanse.%s: %s", cache->relname, SPI_result_code_string(ret));
	cache->load(SPI_tuptable, SPI_processed);
	SPI_finish();

	/*
	 * Trusted only if no invalidation came during the read; the rows just
	 * read still serve this call, as new as any the caller can see.
	 */
	if (cache->state == SANSE_CACHE_LOADING)
		cache->state = SANSE_CACHE_VALID;
}
