/*
 * cache.h — per-backend caches of small sanse tables (the classification
 * rules, the tier policies, the installation secret, the areas granted to
 * roles), kept to what is committed.
 *
 * A module declares one SanseCache for its table, giving the query that
 * reads it and a callback that turns the rows into the module's own data,
 * and calls sanse_cache_ensure() before each use of that data.
 */
#ifndef SANSE_CACHE_H
#define SANSE_CACHE_H

#include "executor/spi.h"

typedef enum SanseCacheState
{
	SANSE_CACHE_INVALID = 0,	/* reload before use */
	SANSE_CACHE_LOADING,		/* being read, or the read failed */
	SANSE_CACHE_VALID			/* read, and no invalidation since */
} SanseCacheState;

typedef struct SanseCache
{
	/* set by the owning module */
	const char *relname;		/* the cached table, in schema sanse */
	const char *also_relname;	/* optional: a second table the data depends on */
	const char *query;			/* reads it (read-only, all rows) */

	/*
	 * Read the tables as their owner (the extension owner), for a cache that
	 * serves callers who may not read them (row-level security's checks).
	 */
	bool		as_owner;

	/*
	 * Parses the rows and installs them as the module's data.  It runs
	 * connected to SPI, so its pallocs go when the load ends; what it keeps
	 * it copies to a long-lived context.  It must parse every row before
	 * replacing anything, so that an error leaves the old data whole.
	 */
	void		(*load) (SPITupleTable *rows, uint64 nrows);

	/*
	 * Optional: drops the data as soon as the table is invalidated, for data
	 * (a key) that must not outlive its row.  Without it, the old data stays
	 * until the next load replaces it.
	 */
	void		(*forget) (void);

	/* private to cache.c; zero-initialized */
	SanseCacheState state;
	Oid			relid;			/* the table as last loaded */
	Oid			also_relid;		/* also_relname as last loaded */
	bool		listed;			/* on the invalidation list */
	struct SanseCache *next;
} SanseCache;

extern void sanse_cache_init(void);
extern void sanse_cache_ensure(SanseCache *cache);
extern void sanse_cache_invalidate(Oid relid);
extern void sanse_cache_mark_stale(SanseCache *cache);

/* area_access.c: reloads its cache when roles change */
extern void sanse_area_access_init(void);

#endif							/* SANSE_CACHE_H */
