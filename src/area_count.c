/*
 * area_count.c — list the micro grid of a resident an update wrote
 * (issue 22, src/sql/80_area_count.sql).
 *
 * Every check-in updates its resident, so the trigger that lists the grid
 * for the next fold runs on the check-in's path: a PL/pgSQL trigger cost
 * about 30-50 us a row there.  This one appends the grid's id (both ids of
 * a move) to sanse.area_count_dirty with one heap insert: the table has no
 * index, no trigger and no policy that a row written here must pass
 * (refused if one appears), and nobody but sanse writes it.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/rel.h"

#include "trigger_guard.h"

static void
list_grid(Relation dirty, int64 area_id)
{
	Datum		values[1];
	bool		nulls[1] = {false};
	HeapTuple	tup;

	values[0] = Int64GetDatum(area_id);
	tup = heap_form_tuple(RelationGetDescr(dirty), values, nulls);
	simple_heap_insert(dirty, tup);
	heap_freetuple(tup);
}

/* sanse.area_count_dirty, checked to be what list_grid writes into. */
static Relation
open_listing(void)
{
	Oid			relid = sanse_relid("area_count_dirty");
	Relation	dirty;
	TupleDesc	desc;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("sanse.area_count_dirty does not exist")));
	dirty = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(dirty);
	if (dirty->rd_rel->relkind != RELKIND_RELATION || dirty->rd_rel->relhasindex ||
		dirty->rd_rel->relrowsecurity || desc->natts != 1 ||
		TupleDescAttr(desc, 0)->atttypid != INT8OID || TupleDescAttr(desc, 0)->attisdropped)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sanse.area_count_dirty is not a plain table of one bigint column"),
				 errdetail("The resident trigger appends to it directly: no index or policy may be on it.")));
	return dirty;
}

PG_FUNCTION_INFO_V1(area_count_mark_row);
Datum
area_count_mark_row(PG_FUNCTION_ARGS)
{
	static const char *const resident_table[] = {"resident"};
	TriggerData *trigdata;
	TupleDesc	desc;
	int			att;
	bool		isnull_old;
	bool		isnull_new;
	Datum		old_area;
	Datum		new_area;
	Relation	dirty;

	trigdata = sanse_trigger_guard(fcinfo, "area_count_mark_row", resident_table, 1);
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("area_count_mark_row must be an UPDATE row trigger")));
	desc = RelationGetDescr(trigdata->tg_relation);
	att = sanse_column(desc, "resident", "area_id", INT8OID);
	old_area = heap_getattr(trigdata->tg_trigtuple, att, desc, &isnull_old);
	new_area = heap_getattr(trigdata->tg_newtuple, att, desc, &isnull_new);

	dirty = open_listing();
	if (!isnull_new)
		list_grid(dirty, DatumGetInt64(new_area));
	if (!isnull_old && (isnull_new || DatumGetInt64(old_area) != DatumGetInt64(new_area)))
		list_grid(dirty, DatumGetInt64(old_area));
	table_close(dirty, NoLock);

	return PointerGetDatum(TRIGGER_FIRED_BEFORE(trigdata->tg_event) ? trigdata->tg_newtuple : NULL);
}
