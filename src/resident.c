/*
 * resident.c — the BEFORE trigger that keeps a resident's derived columns
 * right whatever client writes the row: computed_tier from the factors,
 * tier (override, else computed), who and when of an override, and
 * next_visit (the window invariant of spec 3).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "policy.h"
#include "rules.h"

typedef enum ResidentColumn
{
	COL_FACTORS,
	COL_COMPUTED_TIER,
	COL_TIER,
	COL_TIER_OVERRIDE,
	COL_OVERRIDE_REASON,
	COL_OVERRIDE_BY,
	COL_OVERRIDE_AT,
	COL_REGISTERED_AT,
	COL_LAST_VISIT_AT,
	COL_NEXT_VISIT,
	COL_ACTIVE,
	COL_WRITTEN_BY,
	NUM_RESIDENT_COLUMNS
} ResidentColumn;

static const char *const resident_column_names[NUM_RESIDENT_COLUMNS] = {
	"factors", "computed_tier", "tier", "tier_override", "override_reason",
	"override_by", "override_at", "registered_at", "last_visit_at",
	"next_visit", "active", "written_by"
};

static bool
blank(Datum reason, bool isnull)
{
	char	   *s;

	if (isnull)
		return true;
	s = TextDatumGetCString(reason);
	while (*s && isspace((unsigned char) *s))
		s++;
	return *s == '\0';
}

/* resident_maintain — BEFORE INSERT OR UPDATE FOR EACH ROW on sanse.resident */
PG_FUNCTION_INFO_V1(resident_maintain);
Datum
resident_maintain(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtuple;
	HeapTuple	oldtuple = NULL;
	int			attnum[NUM_RESIDENT_COLUMNS];
	Datum		value[NUM_RESIDENT_COLUMNS];
	bool		isnull[NUM_RESIDENT_COLUMNS];
	Datum		replace_value[NUM_RESIDENT_COLUMNS];
	bool		replace_null[NUM_RESIDENT_COLUMNS];
	RiskTier	computed;
	RiskTier	effective;
	bool		override_changed;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		elog(ERROR, "resident_maintain: must be a BEFORE INSERT OR UPDATE row trigger");

	desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		oldtuple = trigdata->tg_trigtuple;
		newtuple = trigdata->tg_newtuple;
	}
	else
		newtuple = trigdata->tg_trigtuple;

	for (int c = 0; c < NUM_RESIDENT_COLUMNS; c++)
	{
		attnum[c] = SPI_fnumber(desc, resident_column_names[c]);
		if (attnum[c] <= 0)
			elog(ERROR, "sanse.resident has no column %s", resident_column_names[c]);
		value[c] = heap_getattr(newtuple, attnum[c], desc, &isnull[c]);
		replace_value[c] = value[c];
		replace_null[c] = isnull[c];
	}

	/* computed tier from the factors (NOT NULL, validated here) */
	computed = sanse_classify_mask(sanse_factor_mask(DatumGetArrayTypeP(value[COL_FACTORS])));
	replace_null[COL_COMPUTED_TIER] = (computed == RISK_TIER_INVALID);
	replace_value[COL_COMPUTED_TIER] = RiskTierGetDatum(computed);

	/* an override needs a reason; who set it and when are ours to write */
	if (oldtuple)
	{
		bool		old_null;
		Datum		old_override = heap_getattr(oldtuple, attnum[COL_TIER_OVERRIDE], desc, &old_null);

		override_changed = (old_null != isnull[COL_TIER_OVERRIDE]) ||
			(!old_null && DatumGetRiskTier(old_override) != DatumGetRiskTier(value[COL_TIER_OVERRIDE]));
		if (!override_changed)
		{
			replace_value[COL_OVERRIDE_BY] = heap_getattr(oldtuple, attnum[COL_OVERRIDE_BY], desc,
														  &replace_null[COL_OVERRIDE_BY]);
			replace_value[COL_OVERRIDE_AT] = heap_getattr(oldtuple, attnum[COL_OVERRIDE_AT], desc,
														  &replace_null[COL_OVERRIDE_AT]);
		}
	}
	else
		override_changed = !isnull[COL_TIER_OVERRIDE];

	if (!isnull[COL_TIER_OVERRIDE])
	{
		if (blank(value[COL_OVERRIDE_REASON], isnull[COL_OVERRIDE_REASON]))
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("a tier override needs a reason"),
					 errdetail("Set override_reason together with tier_override.")));
		if (override_changed)
		{
			replace_value[COL_OVERRIDE_BY] = DirectFunctionCall1(namein,
																 CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
			replace_null[COL_OVERRIDE_BY] = false;
			replace_value[COL_OVERRIDE_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
			replace_null[COL_OVERRIDE_AT] = false;
		}
		effective = DatumGetRiskTier(value[COL_TIER_OVERRIDE]);
	}
	else
	{
		/* no override: nothing about one is kept on the row (history has it) */
		replace_null[COL_OVERRIDE_REASON] = true;
		replace_null[COL_OVERRIDE_BY] = true;
		replace_null[COL_OVERRIDE_AT] = true;
		effective = computed;
	}
	/* who wrote the row, for the history (its trigger runs as the owner) */
	replace_value[COL_WRITTEN_BY] = DirectFunctionCall1(namein,
														CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	replace_null[COL_WRITTEN_BY] = false;

	replace_null[COL_TIER] = (effective == RISK_TIER_INVALID);
	replace_value[COL_TIER] = RiskTierGetDatum(effective);

	/* the window invariant: active residents with a tier have next_visit */
	if (effective != RISK_TIER_INVALID && !isnull[COL_ACTIVE] && DatumGetBool(value[COL_ACTIVE]))
	{
		Datum		anchor = isnull[COL_LAST_VISIT_AT] ? value[COL_REGISTERED_AT] : value[COL_LAST_VISIT_AT];

		if (isnull[COL_REGISTERED_AT])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("registered_at must not be NULL")));
		replace_value[COL_NEXT_VISIT] =
			PointerGetDatum(sanse_window_after_tier(effective, DatumGetTimestampTz(anchor)));
		replace_null[COL_NEXT_VISIT] = false;
	}
	else
		replace_null[COL_NEXT_VISIT] = true;

	{
		int			cols[NUM_RESIDENT_COLUMNS];
		int			n = 0;
		Datum		vals[NUM_RESIDENT_COLUMNS];
		bool		nulls[NUM_RESIDENT_COLUMNS];
		const ResidentColumn derived[] = {
			COL_COMPUTED_TIER, COL_TIER, COL_OVERRIDE_REASON, COL_OVERRIDE_BY,
			COL_OVERRIDE_AT, COL_NEXT_VISIT, COL_WRITTEN_BY
		};

		for (int i = 0; i < lengthof(derived); i++)
		{
			cols[n] = attnum[derived[i]];
			vals[n] = replace_value[derived[i]];
			nulls[n] = replace_null[derived[i]];
			n++;
		}
		newtuple = heap_modify_tuple_by_cols(newtuple, desc, n, cols, vals, nulls);
	}
	return PointerGetDatum(newtuple);
}
