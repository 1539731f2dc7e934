/*
 * vocabulary.c — the vocabularies compiled into the library, shown to SQL,
 * and the one limit on free text.
 *
 * Risk tiers, risk factors, checklist items and area-grant accesses are
 * checked in C on every classification, check-in and row-level security
 * probe, so their one place is a C array (risk_tier.c, rules.c,
 * checklist.c, area_access.c): a lookup there costs a few string compares,
 * no catalog access and no cache to keep current, and works the same with
 * any installed version of the SQL.  Their lookup tables (sanse.tier,
 * sanse.risk_factor, sanse.checklist_item, sanse.grant_access) are the
 * catalog's face of those arrays: the install and upgrade scripts fill them
 * from sanse.compiled_vocabulary(), and nobody else writes them.
 *
 * The other vocabularies live in their tables only.  sanse.forces() and
 * sanse.worker_roles() give two of them as arrays, from a per-backend copy
 * of the table (cache.c): leader_for() compares every candidate leader's
 * role with worker_roles(), so a call must cost no query.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "cache.h"
#include "checklist.h"
#include "risk_tier.h"
#include "rules.h"
#include "vocabulary.h"

/* "<prefix>a, b, ... and z." */
char *
sanse_list_hint(const char *prefix, const char *const *values, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, prefix);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s", i == 0 ? "" : i == n - 1 ? " and " : ", ", values[i]);
	appendStringInfoChar(&buf, '.');
	return buf.data;
}

static void
put_term(Tuplestorestate *store, TupleDesc desc, const char *vocabulary, int position,
		 const char *value, const char *meaning, const char *chinese)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, chinese == NULL};

	values[0] = CStringGetTextDatum(vocabulary);
	values[1] = CStringGetTextDatum(value);
	values[2] = Int16GetDatum(position);
	values[3] = CStringGetTextDatum(meaning);
	values[4] = chinese ? CStringGetTextDatum(chinese) : (Datum) 0;
	tuplestore_putvalues(store, desc, values, nulls);
}

/*
 * compiled_vocabulary — every value of the vocabularies compiled into the
 * library: (vocabulary, value, position, meaning, chinese).  A tier's
 * position is its code (blue 1 < yellow 2 < red 3), a factor's its bit plus
 * one, an item's its place in the checklist, an access's its level.
 */
PG_FUNCTION_INFO_V1(compiled_vocabulary);
Datum
compiled_vocabulary(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < sanse_risk_tier_count; i++)
		put_term(rsinfo->setResult, rsinfo->setDesc, "tier", sanse_risk_tiers[i].tier,
				 sanse_risk_tiers[i].name, sanse_risk_tiers[i].meaning, sanse_risk_tiers[i].chinese);
	for (int i = 0; i < sanse_risk_factor_count; i++)
		put_term(rsinfo->setResult, rsinfo->setDesc, "risk_factor", i + 1,
				 sanse_risk_factors[i].value, sanse_risk_factors[i].meaning, NULL);
	for (int i = 0; i < SANSE_CHECKLIST_ITEMS; i++)
		put_term(rsinfo->setResult, rsinfo->setDesc, "checklist_item", i + 1,
				 sanse_checklist_items[i], sanse_checklist_meaning(i), NULL);
	for (int i = 0; i < sanse_grant_access_count; i++)
		put_term(rsinfo->setResult, rsinfo->setDesc, "grant_access", i + 1,
				 sanse_grant_accesses[i].value, sanse_grant_accesses[i].meaning, NULL);
	return (Datum) 0;
}

/* free_text_max — the longest free text sanse keeps, in characters */
PG_FUNCTION_INFO_V1(free_text_max);
Datum
free_text_max(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(SANSE_FREE_TEXT_MAX);
}

/*
 * check_free_text — a function's free-text argument within the limit, or
 * 22001 "the <what> is longer than 2000 characters"; NULL passes (the
 * callers decide whether NULL or blank is allowed).
 */
PG_FUNCTION_INFO_V1(check_free_text);
Datum
check_free_text(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0) &&
		DatumGetInt32(DirectFunctionCall1(textlen, PG_GETARG_DATUM(0))) > SANSE_FREE_TEXT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("the %s is longer than %d characters",
						PG_ARGISNULL(1) ? "text" : text_to_cstring(PG_GETARG_TEXT_PP(1)),
						SANSE_FREE_TEXT_MAX)));
	PG_RETURN_VOID();
}

/*
 * A vocabulary table's values in position order, read once per backend and
 * again after the table changes (its statement trigger cache_invalidate()).
 */
static void
values_load(ArrayType **kept, SPITupleTable *rows, uint64 nrows)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(nrows, 1));
	ArrayType  *loaded;
	ArrayType  *copy;

	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;

		elems[i] = SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull);
		if (isnull)
			elog(ERROR, "a vocabulary value is NULL");
	}
	loaded = construct_array(elems, (int) nrows, TEXTOID, -1, false, TYPALIGN_INT);
	copy = MemoryContextAlloc(TopMemoryContext, VARSIZE(loaded));
	memcpy(copy, loaded, VARSIZE(loaded));
	if (*kept)
		pfree(*kept);
	*kept = copy;
}

static ArrayType *forces_values = NULL;
static ArrayType *worker_roles_values = NULL;

static void
forces_load(SPITupleTable *rows, uint64 nrows)
{
	values_load(&forces_values, rows, nrows);
}

static void
worker_roles_load(SPITupleTable *rows, uint64 nrows)
{
	values_load(&worker_roles_values, rows, nrows);
}

static SanseCache forces_cache = {.relname = "force",
	.query = "SELECT value FROM sanse.force ORDER BY position",
	.load = forces_load};
static SanseCache worker_roles_cache = {.relname = "worker_role",
	.query = "SELECT value FROM sanse.worker_role ORDER BY position",
	.load = worker_roles_load};

static Datum
values_copy(ArrayType *values)
{
	ArrayType  *copy = palloc(VARSIZE(values));

	memcpy(copy, values, VARSIZE(values));
	return PointerGetDatum(copy);
}

/* forces — the five forces of the five-for-one, in order (sanse.force) */
PG_FUNCTION_INFO_V1(forces);
Datum
forces(PG_FUNCTION_ARGS)
{
	sanse_cache_ensure(&forces_cache);
	return values_copy(forces_values);
}

/* worker_roles — member, then the leader of escalation level 1 to 4 (sanse.worker_role) */
PG_FUNCTION_INFO_V1(worker_roles);
Datum
worker_roles(PG_FUNCTION_ARGS)
{
	sanse_cache_ensure(&worker_roles_cache);
	return values_copy(worker_roles_values);
}
