/*
 * resident.c — the BEFORE trigger that keeps a resident's derived columns
 * right whatever client writes the row: computed_tier from the factors,
 * tier (override, else computed), who and when of an override, and
 * next_visit (the window invariant of spec 3).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "policy.h"
#include "rules.h"
#include "trigger_guard.h"

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

static const char *const resident_table[] = {"resident"};

/* Longest override reason kept (characters). */
#define MAX_REASON_CHARS 2000

static Oid
sanse_type(const char *name)
{
	return GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum(name),
						   ObjectIdGetDatum(get_namespace_oid("sanse", false)));
}

/* Type of each column: builtin OIDs, and sanse's own types looked up by name. */
static Oid
resident_column_type(ResidentColumn c)
{
	switch (c)
	{
		case COL_FACTORS:
			return TEXTARRAYOID;
		case COL_COMPUTED_TIER:
		case COL_TIER:
		case COL_TIER_OVERRIDE:
			return sanse_type("risk_tier");
		case COL_OVERRIDE_REASON:
			return TEXTOID;
		case COL_OVERRIDE_BY:
		case COL_WRITTEN_BY:
			return NAMEOID;
		case COL_OVERRIDE_AT:
		case COL_REGISTERED_AT:
		case COL_LAST_VISIT_AT:
			return TIMESTAMPTZOID;
		case COL_NEXT_VISIT:
			return sanse_type("visit_window");
		case COL_ACTIVE:
			return BOOLOID;
		default:
			elog(ERROR, "unknown resident column %d", (int) c);
	}
	return InvalidOid;			/* keep compiler quiet */
}

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
	TriggerData *trigdata;
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

	trigdata = sanse_trigger_guard(fcinfo, "resident_maintain", resident_table, 1);
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("resident_maintain must be a BEFORE INSERT OR UPDATE row trigger")));

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
		attnum[c] = sanse_column(desc, "resident", resident_column_names[c], resident_column_type(c));
		value[c] = heap_getattr(newtuple, attnum[c], desc, &isnull[c]);
		replace_value[c] = value[c];
		replace_null[c] = isnull[c];
	}

	/* computed tier from the factors (NOT NULL: checked here, before constraints run) */
	if (isnull[COL_FACTORS])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("factors must not be NULL"),
				 errhint("Use an empty array for a resident with no risk factors.")));
	if (!isnull[COL_OVERRIDE_REASON] &&
		DatumGetInt32(DirectFunctionCall1(textlen, value[COL_OVERRIDE_REASON])) > MAX_REASON_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("override_reason is longer than %d characters", MAX_REASON_CHARS)));
	computed = sanse_classify_mask(sanse_factor_mask(DatumGetArrayTypeP(value[COL_FACTORS])));
	replace_null[COL_COMPUTED_TIER] = (computed == RISK_TIER_INVALID);
	replace_value[COL_COMPUTED_TIER] = RiskTierGetDatum(computed);

	/* an override needs a reason; who set it and when are ours to write */
	if (oldtuple)
	{
		bool		old_null;
		Datum		old_override = heap_getattr(oldtuple, attnum[COL_TIER_OVERRIDE], desc, &old_null);

		bool		old_reason_null;
		Datum		old_reason = heap_getattr(oldtuple, attnum[COL_OVERRIDE_REASON], desc, &old_reason_null);

		override_changed = (old_null != isnull[COL_TIER_OVERRIDE]) ||
			(!old_null && DatumGetRiskTier(old_override) != DatumGetRiskTier(value[COL_TIER_OVERRIDE]));
		/* a reason rewritten alone changes the override too (audited, in the history) */
		if (!override_changed && !isnull[COL_TIER_OVERRIDE])
			override_changed = (old_reason_null != isnull[COL_OVERRIDE_REASON]) ||
				(!old_reason_null &&
				 !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID,
													   old_reason, value[COL_OVERRIDE_REASON])));
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

/*
 * Columns only sanse writes.  tier, computed_tier, next_visit, who and when
 * of an override and written_by are derived by resident_maintain;
 * last_visit_at by check_in and withdraw_visit from the visits; and
 * id_number_hash from id_number.  A client that wrote last_visit_at could
 * hide a missed visit without visiting, so writes are refused rather than
 * overwritten.
 */
static const char *const derived_columns[] = {
	"computed_tier", "tier", "override_by", "override_at", "last_visit_at",
	"next_visit", "written_by", "id_number_hash", "deactivated_at", "forgotten_at"
};

/*
 * resident_guard — BEFORE INSERT OR UPDATE FOR EACH ROW on sanse.resident,
 * fired first: a role that is not a superuser (sanse's own functions run as
 * the extension owner) may not write a derived column: 42501.  On insert it
 * must be NULL, on update unchanged, so clients that write a row back as
 * they read it keep working.
 */
PG_FUNCTION_INFO_V1(resident_guard);
Datum
resident_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = sanse_trigger_guard(fcinfo, "resident_guard", resident_table, 1);
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	bool		update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	HeapTuple	newtuple;

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) || update))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("resident_guard must be a BEFORE INSERT OR UPDATE row trigger")));
	newtuple = update ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	if (superuser())
		return PointerGetDatum(newtuple);

	for (int i = 0; i < lengthof(derived_columns); i++)
	{
		int			attnum = SPI_fnumber(desc, derived_columns[i]);
		Form_pg_attribute att;
		bool		new_null;
		bool		old_null = true;
		Datum		new_value;
		Datum		old_value = (Datum) 0;
		bool		changed;

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("sanse.resident has no column \"%s\"", derived_columns[i])));
		att = TupleDescAttr(desc, attnum - 1);
		new_value = heap_getattr(newtuple, attnum, desc, &new_null);
		if (update)
			old_value = heap_getattr(trigdata->tg_trigtuple, attnum, desc, &old_null);
		if (new_null || old_null)
			changed = new_null != old_null;
		else
			changed = !datumIsEqual(new_value, old_value, att->attbyval, att->attlen);
		if (changed)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("column \"%s\" of sanse.resident is written only by sanse", derived_columns[i]),
					 strcmp(derived_columns[i], "last_visit_at") == 0 ?
					 errhint("Visits are recorded with sanse.check_in; a wrongly recorded one is withdrawn with sanse.withdraw_visit.") :
					 strcmp(derived_columns[i], "id_number_hash") == 0 ?
					 errhint("Write the clear number into id_number; sanse stores its keyed hash.") :
					 errhint("sanse derives it from factors, tier_override and the visits.")));
	}
	return PointerGetDatum(newtuple);
}
