/*
 * device_cache.c — sanse.device and sanse.device_rule, cached per backend
 * for the write path of readings (see cache.c for how a cache stays
 * current: read under a fresh catalog snapshot, reloaded after the statement
 * trigger of its table sends an invalidation).
 *
 * The devices are a hash from id to kind and active; the rules are, per
 * device kind, what could raise a warning at once (alarm, the lowest above
 * threshold, the highest below threshold), whatever the tier.  Both are read
 * as the extension owner: a gateway appends readings without reading
 * devices.  The write path of the device itself (last_reading_at,
 * last_active_at) sends no invalidation: the trigger fires only when a
 * cached column is written.
 */
#include "postgres.h"

#include <math.h>

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "cache.h"
#include "device_cache.h"

/* device_kind positions are small; a larger one is a damaged installation */
#define DEVICE_KIND_MAX 64

static HTAB *devices = NULL;
static MemoryContext devices_context = NULL;
static DeviceKindRules kind_rules[DEVICE_KIND_MAX + 1];

static int
device_kind_of(SPITupleTable *rows, uint64 i, int attnum)
{
	bool		isnull;
	int			kind = DatumGetInt16(SPI_getbinval(rows->vals[i], rows->tupdesc, attnum, &isnull));

	if (isnull || kind < 1 || kind > DEVICE_KIND_MAX)
		elog(ERROR, "sanse.device_kind position out of range: %d", kind);
	return kind;
}

/* Parse every row into a new hash, then replace the old one. */
static void
devices_load(SPITupleTable *rows, uint64 nrows)
{
	MemoryContext context = AllocSetContextCreate(CacheMemoryContext, "sanse devices",
												  ALLOCSET_DEFAULT_SIZES);
	HASHCTL		ctl;
	HTAB	   *hash;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(DeviceEntry);
	ctl.hcxt = context;
	hash = hash_create("sanse devices", Max(nrows, 64), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	PG_TRY();
	{
		for (uint64 i = 0; i < nrows; i++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
			DeviceEntry *entry = hash_search(hash, &id, HASH_ENTER, NULL);

			entry->kind = device_kind_of(rows, i, 2);
			entry->active = DatumGetBool(SPI_getbinval(rows->vals[i], rows->tupdesc, 3, &isnull));
		}
	}
	PG_CATCH();
	{
		MemoryContextDelete(context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (devices_context != NULL)
		MemoryContextDelete(devices_context);
	devices_context = context;
	devices = hash;
}

static SanseCache devices_cache = {.relname = "device",
	.query = "SELECT d.id, k.position, d.active FROM sanse.device d JOIN sanse.device_kind k ON k.value OPERATOR(pg_catalog.=) d.kind",
	.as_owner = true,
	.load = devices_load};

/* Fold each rule into its kind's summary, then replace the old summaries. */
static void
rules_load(SPITupleTable *rows, uint64 nrows)
{
	DeviceKindRules parsed[DEVICE_KIND_MAX + 1];

	for (int k = 0; k <= DEVICE_KIND_MAX; k++)
		parsed[k] = (DeviceKindRules) {false, false, INFINITY, false, -INFINITY};
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		DeviceKindRules *r = &parsed[device_kind_of(rows, i, 1)];
		char	   *rule = SPI_getvalue(rows->vals[i], rows->tupdesc, 2);
		double		threshold = DatumGetFloat8(SPI_getbinval(rows->vals[i], rows->tupdesc, 3, &isnull));

		if (strcmp(rule, "alarm") == 0)
			r->alarm = true;
		else if (strcmp(rule, "above") == 0 && !isnull)
		{
			r->above = true;
			r->above_min = Min(r->above_min, threshold);
		}
		else if (strcmp(rule, "below") == 0 && !isnull)
		{
			r->below = true;
			r->below_max = Max(r->below_max, threshold);
		}
	}
	memcpy(kind_rules, parsed, sizeof(kind_rules));
}

static SanseCache rules_cache = {.relname = "device_rule",
	.query = "SELECT k.position, r.rule, r.threshold FROM sanse.device_rule r JOIN sanse.device_kind k ON k.value OPERATOR(pg_catalog.=) r.kind",
	.as_owner = true,
	.load = rules_load};

/* Make both caches current (once per statement of the write path). */
void
sanse_device_cache_ensure(void)
{
	sanse_cache_ensure(&devices_cache);
	sanse_cache_ensure(&rules_cache);
}

/* The device of an id, or NULL when there is none. */
const DeviceEntry *
sanse_device_lookup(int64 id)
{
	if (devices == NULL)
		return NULL;
	return (const DeviceEntry *) hash_search(devices, &id, HASH_FIND, NULL);
}

/* What the rules of a device kind could raise at once. */
const DeviceKindRules *
sanse_device_kind_rules(int kind)
{
	Assert(kind >= 1 && kind <= DEVICE_KIND_MAX);
	return &kind_rules[kind];
}
