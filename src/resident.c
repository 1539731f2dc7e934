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
#include "vocabulary.h"

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

/* A resident row as the client wrote it, and the derived columns to write back. */
typedef struct ResidentRow
{
	TupleDesc	desc;
	HeapTuple	oldtuple;		/* NULL on insert */
	int			attnum[NUM_RESIDENT_COLUMNS];
	Datum		value[NUM_RESIDENT_COLUMNS];
	bool		isnull[NUM_RESIDENT_COLUMNS];
	Datum		derived[NUM_RESIDENT_COLUMNS];
	bool		derived_null[NUM_RESIDENT_COLUMNS];
} ResidentRow;

/* The columns resident_maintain writes back. */
static const ResidentColumn derived_by_maintain[] = {
	COL_COMPUTED_TIER, COL_TIER, COL_OVERRIDE_REASON, COL_OVERRIDE_BY,
	COL_OVERRIDE_AT, COL_NEXT_VISIT, COL_WRITTEN_BY
};

static void
read_resident_row(ResidentRow *row, HeapTuple newtuple)
{
	for (int c = 0; c < NUM_RESIDENT_COLUMNS; c++)
	{
		row->attnum[c] = sanse_column(row->desc, "resident", resident_column_names[c], resident_column_type(c));
		row->value[c] = heap_getattr(newtuple, row->attnum[c], row->desc, &row->isnull[c]);
		row->derived[c] = row->value[c];
		row->derived_null[c] = row->isnull[c];
	}
}

/* A column of the row before the update. */
static Datum
old_value(const ResidentRow *row, ResidentColumn c, bool *isnull)
{
	return heap_getattr(row->oldtuple, row->attnum[c], row->desc, isnull);
}

/* The session user's name, as a name datum. */
static Datum
user_name(void)
{
	return DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
}

/* What the client wrote that the constraints would see too late: NOT NULL factors, the reason's length. */
static void
check_written(const ResidentRow *row)
{
	if (row->isnull[COL_FACTORS])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("factors must not be NULL"),
				 errhint("Use an empty array for a resident with no risk factors.")));
	if (!row->isnull[COL_OVERRIDE_REASON] &&
		DatumGetInt32(DirectFunctionCall1(textlen, row->value[COL_OVERRIDE_REASON])) > SANSE_FREE_TEXT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("override_reason is longer than %d characters", SANSE_FREE_TEXT_MAX)));
}

/*
 * Whether this write sets or changes the override: a new tier, or a reason
 * rewritten alone (audited, in the history).  An unchanged override keeps
 * who set it and when.
 */
static bool
override_changed(ResidentRow *row)
{
	bool		old_null;
	Datum		old_override;
	bool		old_reason_null;
	Datum		old_reason;
	bool		changed;

	if (row->oldtuple == NULL)
		return !row->isnull[COL_TIER_OVERRIDE];
	old_override = old_value(row, COL_TIER_OVERRIDE, &old_null);
	old_reason = old_value(row, COL_OVERRIDE_REASON, &old_reason_null);
	changed = (old_null != row->isnull[COL_TIER_OVERRIDE]) ||
		(!old_null && DatumGetRiskTier(old_override) != DatumGetRiskTier(row->value[COL_TIER_OVERRIDE]));
	if (!changed && !row->isnull[COL_TIER_OVERRIDE])
		changed = (old_reason_null != row->isnull[COL_OVERRIDE_REASON]) ||
			(!old_reason_null &&
			 !DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID,
												   old_reason, row->value[COL_OVERRIDE_REASON])));
	if (!changed)
	{
		row->derived[COL_OVERRIDE_BY] = old_value(row, COL_OVERRIDE_BY, &row->derived_null[COL_OVERRIDE_BY]);
		row->derived[COL_OVERRIDE_AT] = old_value(row, COL_OVERRIDE_AT, &row->derived_null[COL_OVERRIDE_AT]);
	}
	return changed;
}

/*
 * The effective tier: the override (which needs a reason; who set it and
 * when are ours to write), else the computed one.  Without an override
 * nothing about one is kept on the row (the history has it).
 */
static RiskTier
derive_tier(ResidentRow *row, RiskTier computed)
{
	bool		changed = override_changed(row);

	if (row->isnull[COL_TIER_OVERRIDE])
	{
		row->derived_null[COL_OVERRIDE_REASON] = true;
		row->derived_null[COL_OVERRIDE_BY] = true;
		row->derived_null[COL_OVERRIDE_AT] = true;
		return computed;
	}
	if (blank(row->value[COL_OVERRIDE_REASON], row->isnull[COL_OVERRIDE_REASON]))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a tier override needs a reason"),
				 errdetail("Set override_reason together with tier_override.")));
	if (changed)
	{
		row->derived[COL_OVERRIDE_BY] = user_name();
		row->derived_null[COL_OVERRIDE_BY] = false;
		row->derived[COL_OVERRIDE_AT] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		row->derived_null[COL_OVERRIDE_AT] = false;
	}
	return DatumGetRiskTier(row->value[COL_TIER_OVERRIDE]);
}

/* The window invariant: active residents with a tier have next_visit. */
static void
derive_next_visit(ResidentRow *row, RiskTier effective)
{
	Datum		anchor;

	if (effective == RISK_TIER_INVALID || row->isnull[COL_ACTIVE] || !DatumGetBool(row->value[COL_ACTIVE]))
	{
		row->derived_null[COL_NEXT_VISIT] = true;
		return;
	}
	if (row->isnull[COL_REGISTERED_AT])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("registered_at must not be NULL")));
	anchor = row->isnull[COL_LAST_VISIT_AT] ? row->value[COL_REGISTERED_AT] : row->value[COL_LAST_VISIT_AT];
	row->derived[COL_NEXT_VISIT] = PointerGetDatum(sanse_window_after_tier(effective, DatumGetTimestampTz(anchor)));
	row->derived_null[COL_NEXT_VISIT] = false;
}

static HeapTuple
write_derived(const ResidentRow *row, HeapTuple newtuple)
{
	int			cols[lengthof(derived_by_maintain)];
	Datum		vals[lengthof(derived_by_maintain)];
	bool		nulls[lengthof(derived_by_maintain)];

	for (int i = 0; i < lengthof(derived_by_maintain); i++)
	{
		cols[i] = row->attnum[derived_by_maintain[i]];
		vals[i] = row->derived[derived_by_maintain[i]];
		nulls[i] = row->derived_null[derived_by_maintain[i]];
	}
	return heap_modify_tuple_by_cols(newtuple, row->desc, lengthof(derived_by_maintain), cols, vals, nulls);
}

/* resident_maintain — BEFORE INSERT OR UPDATE FOR EACH ROW on sanse.resident */
PG_FUNCTION_INFO_V1(resident_maintain);
Datum
resident_maintain(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	HeapTuple	newtuple;
	ResidentRow row;
	RiskTier	computed;
	RiskTier	effective;

	trigdata = sanse_trigger_guard(fcinfo, "resident_maintain", resident_table, 1);
	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("resident_maintain must be a BEFORE INSERT OR UPDATE row trigger")));

	row.desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		row.oldtuple = trigdata->tg_trigtuple;
		newtuple = trigdata->tg_newtuple;
	}
	else
	{
		row.oldtuple = NULL;
		newtuple = trigdata->tg_trigtuple;
	}
	read_resident_row(&row, newtuple);
	check_written(&row);

	/* the computed tier from the factors, the effective one, the window */
	computed = sanse_classify_mask(sanse_factor_mask(DatumGetArrayTypeP(row.value[COL_FACTORS])));
	row.derived_null[COL_COMPUTED_TIER] = (computed == RISK_TIER_INVALID);
	row.derived[COL_COMPUTED_TIER] = RiskTierGetDatum(computed);
	effective = derive_tier(&row, computed);
	row.derived_null[COL_TIER] = (effective == RISK_TIER_INVALID);
	row.derived[COL_TIER] = RiskTierGetDatum(effective);
	derive_next_visit(&row, effective);

	/* who wrote the row, for the history (its trigger runs as the owner) */
	row.derived[COL_WRITTEN_BY] = user_name();
	row.derived_null[COL_WRITTEN_BY] = false;

	return PointerGetDatum(write_derived(&row, newtuple));
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
