/*
 * reading.c — the write path of sensor readings (spec 10).
 *
 * A gateway appends readings to sanse.reading with COPY or INSERT.  Each row
 * is checked by a BEFORE ROW trigger (reading_check, cloned onto every
 * partition) against the per-backend device cache (device_cache.c), with no
 * query per row: an unknown device (23503), an inactive one (55000), a time
 * more than 5 minutes ahead of the statement's start (22008), a NaN or
 * infinite value (22003) refuse the statement (for COPY, the whole batch).
 * The trigger also notes, per device, the latest reading time and the latest
 * with value > 0, and the rows that one of the kind's rules might turn into
 * a warning (an alarm, a value above the lowest above threshold or below the
 * highest below threshold, for any tier).
 *
 * At the end of the statement (reading_flush, an AFTER STATEMENT trigger on
 * sanse.reading and on each partition) what was noted is written in the
 * inserting transaction, as the extension owner: the devices' last times
 * (sanse.device_seen, once per device) and then each candidate in the order
 * of its own time (sanse.device_warning, which picks the tier's rule and
 * raises or counts the warning).  What was noted lives in a context of its
 * own, emptied after the flush and at the end of every (sub)transaction.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "device_cache.h"
#include "reading.h"
#include "trigger_guard.h"

/* a reading may be dated at most this far ahead of the server clock */
#define READING_AHEAD_MAX (5 * USECS_PER_MINUTE)

/* what one statement noted about a device */
typedef struct SeenDevice
{
	int64		id;				/* hash key */
	TimestampTz last_at;		/* latest reading */
	TimestampTz last_active_at; /* latest reading with value > 0 */
	bool		active_seen;	/* any reading with value > 0 */
} SeenDevice;

/* a reading one of its kind's rules might turn into a warning */
typedef struct Candidate
{
	int64		device_id;
	const char *rule;			/* alarm, above or below */
	TimestampTz at;
	double		value;
	bool		value_null;
} Candidate;

static MemoryContext noted_context = NULL;
static HTAB *noted_devices = NULL;
static Candidate *candidates = NULL;
static int	ncandidates = 0;
static int	maxcandidates = 0;
static bool noting = false;		/* a statement has noted rows */
static TimestampTz ahead_limit;

/*
 * Partitions of sanse.reading the guard has checked in this transaction (a
 * batch spans a few days): get_partition_parent() is a catalog scan, a
 * quarter of the write path's time when it ran for every row.
 */
#define GUARDED_MAX 8
static Oid	guarded[GUARDED_MAX];
static int	nguarded = 0;

/* where the columns of the relation the row trigger last fired on are */
static Oid	columns_relid = InvalidOid;
static int	col_device_id, col_at, col_value, col_alarm;

/* Forget what was noted: after a flush, and at the end of a (sub)transaction. */
static void
reading_forget(void)
{
	if (noted_context != NULL)
		MemoryContextReset(noted_context);
	noted_devices = NULL;
	candidates = NULL;
	ncandidates = maxcandidates = 0;
	noting = false;
}

static void
reading_xact_callback(XactEvent event, void *arg)
{
	/* a partition detached and its oid reused by another table: checked again */
	nguarded = 0;
	if (noting)
		reading_forget();
}

static void
reading_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && noting)
		reading_forget();
}

/* From _PG_init. */
void
sanse_reading_init(void)
{
	RegisterXactCallback(reading_xact_callback, NULL);
	RegisterSubXactCallback(reading_subxact_callback, NULL);
}

/*
 * The trigger data of a call on sanse.reading or one of its partitions;
 * 39P01 otherwise (as sanse_trigger_guard does for the other tables).
 */
static TriggerData *
reading_trigger_guard(FunctionCallInfo fcinfo, const char *funcname)
{
	TriggerData *trigdata;
	Oid			relid;
	Oid			reading;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a trigger", funcname)));
	trigdata = (TriggerData *) fcinfo->context;
	relid = RelationGetRelid(trigdata->tg_relation);
	for (int i = 0; i < nguarded; i++)
		if (guarded[i] == relid)
			return trigdata;
	reading = sanse_relid("reading");
	if (relid == reading && OidIsValid(reading))
		return trigdata;
	if (trigdata->tg_relation->rd_rel->relispartition &&
		get_partition_parent(relid, true) == reading && OidIsValid(reading))
	{
		if (nguarded < GUARDED_MAX)
			guarded[nguarded++] = relid;
		return trigdata;
	}
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger function %s fired on table \"%s\"", funcname,
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("It only works as a trigger on sanse.reading and its partitions.")));
	return NULL;				/* keep compiler quiet */
}

/* Start noting for a statement: current caches, the clock, a place for notes. */
static void
reading_start_statement(void)
{
	HASHCTL		ctl;

	sanse_device_cache_ensure();
	if (noted_context == NULL)
		noted_context = AllocSetContextCreate(TopMemoryContext, "sanse readings noted",
											  ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(SeenDevice);
	ctl.hcxt = noted_context;
	noted_devices = hash_create("sanse devices seen", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ahead_limit = GetCurrentStatementStartTimestamp() + READING_AHEAD_MAX;
	noting = true;
}

static void
reading_note_candidate(int64 device_id, const char *rule, TimestampTz at, double value, bool value_null)
{
	if (ncandidates == maxcandidates)
	{
		maxcandidates = Max(16, maxcandidates * 2);
		candidates = candidates == NULL
			? MemoryContextAlloc(noted_context, maxcandidates * sizeof(Candidate))
			: repalloc(candidates, maxcandidates * sizeof(Candidate));
	}
	candidates[ncandidates++] = (Candidate) {device_id, rule, at, value, value_null};
}

/* The refusals of the write path: the same words for a row of COPY or INSERT. */
static const DeviceEntry *
reading_refuse_or_device(int64 device_id, TimestampTz at, double value, bool value_null)
{
	const DeviceEntry *device = sanse_device_lookup(device_id);

	if (device == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("device %lld does not exist", (long long) device_id),
				 errdetail("Readings are taken only from devices registered in sanse.device."),
				 errhint("Register the device, or drop its readings from the batch, and send the batch again.")));
	if (!device->active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("device %lld is not active", (long long) device_id),
				 errdetail("Readings of a device taken out of service are refused."),
				 errhint("Drop its readings from the batch and send the batch again.")));
	if (at > ahead_limit)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("reading of device %lld is dated %s, more than 5 minutes ahead of the server clock",
						(long long) device_id, timestamptz_to_str(at)),
				 errhint("Set the gateway's clock (NTP) and send the batch again.")));
	if (!value_null && (isnan(value) || isinf(value)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("reading of device %lld has value %s, which is no measurement", (long long) device_id,
						isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity")),
				 errhint("Send NULL for a device that measures nothing; drop the row or correct it and send the batch again.")));
	return device;
}

/* Note a checked reading: its device's latest times, and a possible warning. */
static void
reading_note(const DeviceEntry *device, TimestampTz at, double value, bool value_null, bool alarm)
{
	const DeviceKindRules *rules = sanse_device_kind_rules(device->kind);
	bool		found;
	SeenDevice *seen = hash_search(noted_devices, &device->id, HASH_ENTER, &found);
	bool		active = !value_null && value > 0;

	if (!found)
	{
		seen->last_at = at;
		seen->active_seen = false;
	}
	else if (at > seen->last_at)
		seen->last_at = at;
	if (active && (!seen->active_seen || at > seen->last_active_at))
	{
		seen->last_active_at = at;
		seen->active_seen = true;
	}
	if (alarm && rules->alarm)
		reading_note_candidate(device->id, "alarm", at, value, value_null);
	if (!value_null && rules->above && value > rules->above_min)
		reading_note_candidate(device->id, "above", at, value, value_null);
	if (!value_null && rules->below && value < rules->below_max)
		reading_note_candidate(device->id, "below", at, value, value_null);
}

/* Where the columns are in the relation the trigger fires on (39P01 if changed). */
static void
reading_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (RelationGetRelid(rel) == columns_relid)
		return;
	columns_relid = InvalidOid;
	col_device_id = sanse_column(desc, "reading", "device_id", INT8OID);
	col_at = sanse_column(desc, "reading", "at", TIMESTAMPTZOID);
	col_value = sanse_column(desc, "reading", "value", FLOAT8OID);
	col_alarm = sanse_column(desc, "reading", "alarm", BOOLOID);
	columns_relid = RelationGetRelid(rel);
}

/*
 * reading_check — BEFORE INSERT row trigger on sanse.reading (and its
 * partitions): refuse a bad reading, note a good one; the row is stored as
 * it came.
 */
PG_FUNCTION_INFO_V1(reading_check);
Datum
reading_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = reading_trigger_guard(fcinfo, "reading_check");
	HeapTuple	tuple = trigdata->tg_trigtuple;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	Datum		values_local[8];
	bool		nulls_local[8];
	Datum	   *values = values_local;
	bool	   *nulls = nulls_local;
	bool		value_null;
	int64		device_id;
	TimestampTz at;
	double		value;
	bool		alarm;

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reading_check must fire before insert for each row")));
	reading_columns(trigdata->tg_relation);
	if (!noting)
		reading_start_statement();

	/* one pass over the row; NOT NULL of device_id, at and alarm is checked after this trigger */
	if (desc->natts > lengthof(values_local))
	{
		values = palloc(desc->natts * sizeof(Datum));
		nulls = palloc(desc->natts * sizeof(bool));
	}
	heap_deform_tuple(tuple, desc, values, nulls);
	if (nulls[col_device_id - 1] || nulls[col_at - 1])
		return PointerGetDatum(tuple);
	device_id = DatumGetInt64(values[col_device_id - 1]);
	at = DatumGetTimestampTz(values[col_at - 1]);
	value_null = nulls[col_value - 1];
	value = value_null ? 0 : DatumGetFloat8(values[col_value - 1]);
	alarm = !nulls[col_alarm - 1] && DatumGetBool(values[col_alarm - 1]);

	reading_note(reading_refuse_or_device(device_id, at, value, value_null), at, value, value_null, alarm);
	return PointerGetDatum(tuple);
}

static int
candidate_cmp(const void *a, const void *b)
{
	const Candidate *x = a;
	const Candidate *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->device_id != y->device_id)
		return x->device_id < y->device_id ? -1 : 1;
	return strcmp(x->rule, y->rule);
}

static int
seen_cmp(const void *a, const void *b)
{
	int64		x = ((const SeenDevice *) a)->id;
	int64		y = ((const SeenDevice *) b)->id;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* The devices seen, in id order (the order their rows are locked in). */
static void
reading_flush_devices(SeenDevice *seen, int nseen)
{
	static SPIPlanPtr plan = NULL;
	Datum	   *ids = palloc(nseen * sizeof(Datum));
	Datum	   *lasts = palloc(nseen * sizeof(Datum));
	Datum	   *actives = palloc(nseen * sizeof(Datum));
	bool	   *active_nulls = palloc(nseen * sizeof(bool));
	int			dims[1] = {nseen};
	int			lbs[1] = {1};
	Datum		args[3];

	if (plan == NULL)
	{
		Oid			types[3] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID};

		plan = SPI_prepare("SELECT sanse.device_seen($1, $2, $3)", 3, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare sanse.device_seen: %s", SPI_result_code_string(SPI_result));
	}
	for (int i = 0; i < nseen; i++)
	{
		ids[i] = Int64GetDatum(seen[i].id);
		lasts[i] = TimestampTzGetDatum(seen[i].last_at);
		actives[i] = TimestampTzGetDatum(seen[i].last_active_at);
		active_nulls[i] = !seen[i].active_seen;
	}
	args[0] = PointerGetDatum(construct_array(ids, nseen, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(lasts, nseen, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_md_array(actives, active_nulls, 1, dims, lbs, TIMESTAMPTZOID, 8,
												 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(plan, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "sanse.device_seen failed");
}

/* Each candidate, in the order of its own time: raise or count its warning. */
static void
reading_flush_candidates(Candidate *cands, int n)
{
	static SPIPlanPtr plan = NULL;

	if (plan == NULL)
	{
		Oid			types[4] = {INT8OID, TEXTOID, TIMESTAMPTZOID, FLOAT8OID};

		plan = SPI_prepare("SELECT sanse.device_warning($1, $2, $3, $4)", 4, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare sanse.device_warning: %s", SPI_result_code_string(SPI_result));
	}
	qsort(cands, n, sizeof(Candidate), candidate_cmp);
	for (int i = 0; i < n; i++)
	{
		Datum		args[4] = {Int64GetDatum(cands[i].device_id), CStringGetTextDatum(cands[i].rule),
		TimestampTzGetDatum(cands[i].at), Float8GetDatum(cands[i].value)};
		char		nulls[4] = {' ', ' ', ' ', cands[i].value_null ? 'n' : ' '};

		if (SPI_execute_plan(plan, args, nulls, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "sanse.device_warning failed");
	}
}

/*
 * reading_flush — AFTER INSERT statement trigger on sanse.reading (and its
 * partitions): write what the statement's rows noted, as the owner of
 * sanse.reading, in the inserting transaction.
 */
PG_FUNCTION_INFO_V1(reading_flush);
Datum
reading_flush(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = reading_trigger_guard(fcinfo, "reading_flush");
	MemoryContext caller = CurrentMemoryContext;
	HASH_SEQ_STATUS status;
	SeenDevice *entry;
	SeenDevice *seen;
	Candidate  *cands;
	int			nseen = 0,
				ncands = ncandidates;
	Oid			save_userid;
	int			save_sec_context;
	HeapTuple	classtup;
	Oid			owner;

	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reading_flush must fire after insert for each statement")));
	if (!noting)
		return PointerGetDatum(NULL);

	/* take the notes out, so that what the flush runs starts afresh */
	seen = palloc(hash_get_num_entries(noted_devices) * sizeof(SeenDevice) + 1);
	hash_seq_init(&status, noted_devices);
	while ((entry = hash_seq_search(&status)) != NULL)
		seen[nseen++] = *entry;
	cands = palloc(ncands * sizeof(Candidate) + 1);
	if (ncands > 0)
		memcpy(cands, candidates, ncands * sizeof(Candidate));
	reading_forget();
	if (nseen == 0)
		return PointerGetDatum(NULL);
	qsort(seen, nseen, sizeof(SeenDevice), seen_cmp);

	classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(sanse_relid("reading")));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "sanse.reading is missing");
	owner = ((Form_pg_class) GETSTRUCT(classtup))->relowner;
	ReleaseSysCache(classtup);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	reading_flush_devices(seen, nseen);
	if (ncands > 0)
		reading_flush_candidates(cands, ncands);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	MemoryContextSwitchTo(caller);
	return PointerGetDatum(NULL);
}
