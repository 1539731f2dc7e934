/*
 * checkin_read.c — what sanse.check_in reads before it writes, fetched
 * through the tables' indexes without a query (issue 22).
 *
 * The entry query of checkin.c joined a token, its resident (row locked),
 * two areas, the worker, the carer row and three lookups of visits: a plan
 * of twenty nodes set up and torn down on every scan cost more than the
 * lookups themselves.  Here each is one index probe under the snapshot a
 * query would have had, and the resident's row is locked the way SELECT ...
 * FOR NO KEY UPDATE locks it (the latest version in READ COMMITTED, a
 * serialization failure in REPEATABLE READ).  Nothing is written here; the
 * tables are read as the function's owner, as the query read them.
 *
 * When the tables are not as this code knows them (a database whose SQL
 * is older, a column or index missing, a partitioned table), it says so and
 * check_in runs its query instead.  Relation, index and column numbers are kept per backend
 * and dropped on any invalidation of the tables.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "checkin.h"
#include "trigger_guard.h"

/* One table as read here: its index for the lookup and the columns used. */
typedef struct ReadTable
{
	Oid			relid;
	Oid			index;
} ReadTable;

static struct
{
	bool		valid;			/* looked up since the last invalidation */
	bool		usable;			/* and every table is as expected */
	bool		callback;
	ReadTable	token,			/* door_token by (nonce) */
				resident,		/* resident by (id) */
				area,			/* area by (id) */
				worker,			/* worker by (id) */
				carer,			/* carer by (resident_id, worker_id) */
				visit_scan,		/* visit by (resident_id, worker_id, at) */
				visit_worker;	/* visit by (worker_id, at) */
	AttrNumber	t_nonce, t_resident, t_revoked;
	AttrNumber	r_id, r_next_visit, r_last_visit, r_area, r_lat, r_lon, r_registered, r_forgotten;
	AttrNumber	a_path;
	AttrNumber	w_active, w_db_role, w_role, w_area;
	AttrNumber	v_id, v_resident, v_at;
	FmgrInfo	path_out;		/* the output function of area.path */
} rd;

static void
checkin_read_invalidate(Datum arg, Oid relid)
{
	if (!rd.valid)
		return;
	if (!OidIsValid(relid) || relid == rd.token.relid || relid == rd.resident.relid ||
		relid == rd.area.relid || relid == rd.worker.relid || relid == rd.carer.relid ||
		relid == rd.visit_scan.relid)
		rd.valid = false;
}

/* A column of the table with this type (InvalidOid: any); 0 when missing. */
static AttrNumber
column(Oid relid, const char *name, Oid typid)
{
	AttrNumber	att = get_attnum(relid, name);

	if (att == InvalidAttrNumber || (OidIsValid(typid) && get_atttype(relid, att) != typid))
		return InvalidAttrNumber;
	return att;
}

/*
 * A valid plain btree index of the table whose leading key columns are
 * exactly cols (the narrowest such); InvalidOid when there is none.
 */
static Oid
index_on(Relation rel, const AttrNumber *cols, int ncols)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			best = InvalidOid;
	int			best_width = INT_MAX;

	foreach(lc, indexes)
	{
		Relation	irel = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index ix = irel->rd_index;
		bool		fits = irel->rd_rel->relkind == RELKIND_INDEX &&
			irel->rd_rel->relam == BTREE_AM_OID && ix->indisvalid &&
			ix->indnkeyatts >= ncols && heap_attisnull(irel->rd_indextuple, Anum_pg_index_indpred, NULL);

		for (int i = 0; fits && i < ncols; i++)
			fits = ix->indkey.values[i] == cols[i];
		if (fits && ix->indnkeyatts < best_width)
		{
			best = RelationGetRelid(irel);
			best_width = ix->indnkeyatts;
		}
		index_close(irel, AccessShareLock);
	}
	list_free(indexes);
	return best;
}

/* Look up a table and its index on the named columns; false when either is missing. */
static bool
find_table(ReadTable *t, const char *relname, const char *const *cols, int ncols)
{
	AttrNumber	atts[3];
	Relation	rel;

	t->relid = sanse_relid(relname);
	if (!OidIsValid(t->relid))
		return false;
	for (int i = 0; i < ncols; i++)
		if ((atts[i] = column(t->relid, cols[i], InvalidOid)) == InvalidAttrNumber)
			return false;
	rel = table_open(t->relid, AccessShareLock);
	/* a partitioned table is read by its query, which routes to the partitions */
	t->index = rel->rd_rel->relkind == RELKIND_RELATION ? index_on(rel, atts, ncols) : InvalidOid;
	table_close(rel, AccessShareLock);
	return OidIsValid(t->index);
}

static bool
find_tables(void)
{
	Oid			path_type;
	Oid			out;
	bool		varlena;

	if (!find_table(&rd.token, "door_token", (const char *[]) {"nonce"}, 1) ||
		!find_table(&rd.resident, "resident", (const char *[]) {"id"}, 1) ||
		!find_table(&rd.area, "area", (const char *[]) {"id"}, 1) ||
		!find_table(&rd.worker, "worker", (const char *[]) {"id"}, 1) ||
		!find_table(&rd.carer, "carer", (const char *[]) {"resident_id", "worker_id"}, 2) ||
		!find_table(&rd.visit_scan, "visit", (const char *[]) {"resident_id", "worker_id", "at"}, 3) ||
		!find_table(&rd.visit_worker, "visit", (const char *[]) {"worker_id", "at"}, 2))
		return false;
	rd.t_nonce = column(rd.token.relid, "nonce", BYTEAOID);
	rd.t_resident = column(rd.token.relid, "resident_id", INT8OID);
	rd.t_revoked = column(rd.token.relid, "revoked_at", TIMESTAMPTZOID);
	rd.r_id = column(rd.resident.relid, "id", INT8OID);
	rd.r_next_visit = column(rd.resident.relid, "next_visit", InvalidOid);
	rd.r_last_visit = column(rd.resident.relid, "last_visit_at", TIMESTAMPTZOID);
	rd.r_area = column(rd.resident.relid, "area_id", INT8OID);
	rd.r_lat = column(rd.resident.relid, "lat", FLOAT8OID);
	rd.r_lon = column(rd.resident.relid, "lon", FLOAT8OID);
	rd.r_registered = column(rd.resident.relid, "registered_at", TIMESTAMPTZOID);
	rd.r_forgotten = column(rd.resident.relid, "forgotten_at", TIMESTAMPTZOID);
	rd.a_path = column(rd.area.relid, "path", InvalidOid);
	rd.w_active = column(rd.worker.relid, "active", BOOLOID);
	rd.w_db_role = column(rd.worker.relid, "db_role", NAMEOID);
	rd.w_role = column(rd.worker.relid, "role", TEXTOID);
	rd.w_area = column(rd.worker.relid, "area_id", INT8OID);
	rd.v_id = column(rd.visit_scan.relid, "id", INT8OID);
	rd.v_resident = column(rd.visit_scan.relid, "resident_id", INT8OID);
	rd.v_at = column(rd.visit_scan.relid, "at", TIMESTAMPTZOID);
	if (!rd.t_nonce || !rd.t_resident || !rd.t_revoked || !rd.r_id || !rd.r_next_visit ||
		!rd.r_last_visit || !rd.r_area || !rd.r_lat || !rd.r_lon || !rd.r_registered ||
		!rd.r_forgotten || !rd.a_path || !rd.w_active || !rd.w_db_role || !rd.w_role ||
		!rd.w_area || !rd.v_id || !rd.v_resident || !rd.v_at)
		return false;
	path_type = get_atttype(rd.area.relid, rd.a_path);
	getTypeOutputInfo(path_type, &out, &varlena);
	fmgr_info_cxt(out, &rd.path_out, TopMemoryContext);
	return true;
}

static bool
ensure_tables(void)
{
	if (!rd.callback)
	{
		CacheRegisterRelcacheCallback(checkin_read_invalidate, (Datum) 0);
		rd.callback = true;
	}
	if (!rd.valid)
	{
		rd.usable = false;
		rd.valid = true;		/* an invalidation while looking up clears it again */
		rd.usable = find_tables();
	}
	return rd.usable;
}

/*
 * Lock the tables read (as a query locks them before it is planned), then
 * make sure no invalidation came in while waiting for a lock: a check-in
 * that waited out ALTER EXTENSION UPDATE, or an index rebuilt, looks the
 * tables up again.  The locks are held to the end of the transaction.
 */
static bool
lock_tables(void)
{
	for (;;)
	{
		if (!ensure_tables())
			return false;
		LockRelationOid(rd.token.relid, AccessShareLock);
		LockRelationOid(rd.resident.relid, RowShareLock);
		LockRelationOid(rd.area.relid, AccessShareLock);
		LockRelationOid(rd.worker.relid, AccessShareLock);
		LockRelationOid(rd.carer.relid, AccessShareLock);
		LockRelationOid(rd.visit_scan.relid, AccessShareLock);
		if (rd.valid)
			return true;
	}
}

/* An index scan of one table, keys on its index's leading columns. */
typedef struct Probe
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
} Probe;

static void
probe_begin(Probe *p, const ReadTable *t, LOCKMODE lockmode, Snapshot snap, ScanKey keys, int nkeys)
{
	p->heap = table_open(t->relid, lockmode);
	p->index = index_open(t->index, AccessShareLock);
	p->slot = table_slot_create(p->heap, NULL);
	p->scan = index_beginscan(p->heap, p->index, snap, nkeys, 0);
	index_rescan(p->scan, keys, nkeys, NULL, 0);
}

static bool
probe_next(Probe *p, ScanDirection dir)
{
	return index_getnext_slot(p->scan, dir, p->slot);
}

/* The relation locks stay until the transaction ends, as a query's do. */
static void
probe_end(Probe *p)
{
	index_endscan(p->scan);
	ExecDropSingleTupleTableSlot(p->slot);
	index_close(p->index, NoLock);
	table_close(p->heap, NoLock);
}

static void
key_int8(ScanKey key, AttrNumber indexcol, int64 value)
{
	ScanKeyInit(key, indexcol, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(value));
}

static void
key_time(ScanKey key, AttrNumber indexcol, StrategyNumber strategy, TimestampTz value)
{
	RegProcedure proc = strategy == BTEqualStrategyNumber ? F_TIMESTAMPTZ_EQ
		: strategy == BTLessStrategyNumber ? F_TIMESTAMPTZ_LT
		: strategy == BTLessEqualStrategyNumber ? F_TIMESTAMPTZ_LE : F_TIMESTAMPTZ_GE;

	ScanKeyInit(key, indexcol, strategy, proc, TimestampTzGetDatum(value));
}

static Datum
get(TupleTableSlot *slot, AttrNumber att, bool *isnull)
{
	return slot_getattr(slot, att, isnull);
}

/* The token of this nonce: its resident and whether it was revoked. */
static bool
read_token(Snapshot snap, const uint8 *nonce, EntryRow *row)
{
	bytea	   *value = palloc(VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
	ScanKeyData key;
	Probe		p;
	bool		found;
	bool		isnull;

	SET_VARSIZE(value, VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
	memcpy(VARDATA(value), nonce, DOOR_TOKEN_NONCE_LEN);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(value));
	probe_begin(&p, &rd.token, AccessShareLock, snap, &key, 1);
	found = probe_next(&p, ForwardScanDirection);
	if (found)
	{
		Datum		d = get(p.slot, rd.t_resident, &isnull);

		found = !isnull;
		row->resident_id = found ? DatumGetInt64(d) : 0;
		(void) get(p.slot, rd.t_revoked, &isnull);
		row->revoked = !isnull;
	}
	probe_end(&p);
	return found;
}

/*
 * The resident's row, locked as SELECT ... FOR NO KEY UPDATE locks it, and
 * what check-in needs of it; false when the row is gone (or was changed by
 * this very statement, which a query would skip).
 */
static bool
lock_resident(Snapshot snap, EntryRow *row)
{
	ScanKeyData key;
	Probe		p;
	TM_FailureData tmfd;
	TM_Result	result;
	bool		isnull;
	Datum		d;

	key_int8(&key, 1, row->resident_id);
	probe_begin(&p, &rd.resident, RowShareLock, snap, &key, 1);
	if (!probe_next(&p, ForwardScanDirection))
	{
		probe_end(&p);
		return false;
	}
	result = table_tuple_lock(p.heap, &p.slot->tts_tid, snap, p.slot, GetCurrentCommandId(true),
							  LockTupleNoKeyExclusive, LockWaitBlock,
							  IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	switch (result)
	{
		case TM_Ok:
			break;
		case TM_SelfModified:
		case TM_Deleted:
			if (result == TM_Deleted && IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent delete")));
			probe_end(&p);
			return false;
		case TM_Updated:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
			break;
		default:
			elog(ERROR, "unrecognized table_tuple_lock status: %u", result);
	}

	row->area_id = DatumGetInt64(get(p.slot, rd.r_area, &isnull));
	row->registered_at = DatumGetTimestampTz(get(p.slot, rd.r_registered, &isnull));
	(void) get(p.slot, rd.r_forgotten, &isnull);
	row->forgotten = !isnull;
	d = get(p.slot, rd.r_next_visit, &isnull);
	row->has_window = !isnull;
	if (row->has_window)
		row->next_visit = *DatumGetVisitWindowP(d);
	d = get(p.slot, rd.r_last_visit, &isnull);
	row->has_last = !isnull;
	row->last_visit_at = isnull ? 0 : DatumGetTimestampTz(d);
	{
		bool		n1,
					n2;

		row->lat = DatumGetFloat8(get(p.slot, rd.r_lat, &n1));
		row->lon = DatumGetFloat8(get(p.slot, rd.r_lon, &n2));
		row->has_positions = !n1 && !n2;	/* the other home's are added later */
	}
	probe_end(&p);
	return true;
}

/* An area's path as text; NULL when the area is missing. */
static char *
area_path(Snapshot snap, int64 area_id)
{
	ScanKeyData key;
	Probe		p;
	char	   *path = NULL;
	bool		isnull;

	key_int8(&key, 1, area_id);
	probe_begin(&p, &rd.area, AccessShareLock, snap, &key, 1);
	if (probe_next(&p, ForwardScanDirection))
	{
		Datum		d = get(p.slot, rd.a_path, &isnull);

		if (!isnull)
			path = OutputFunctionCall(&rd.path_out, d);
	}
	probe_end(&p);
	return path;
}

/*
 * ltree's @> on the paths' text: a label never holds a dot, so a path
 * contains another exactly when it is empty, equal to it, or its text and a
 * dot begin the other's text.
 */
static bool
path_contains(const char *ancestor, const char *descendant)
{
	size_t		n = strlen(ancestor);

	return n == 0 || strcmp(ancestor, descendant) == 0 ||
		(strncmp(ancestor, descendant, n) == 0 && descendant[n] == '.');
}

static bool
is_carer(Snapshot snap, int64 resident_id, int64 worker_id)
{
	ScanKeyData keys[2];
	Probe		p;
	bool		found;

	key_int8(&keys[0], 1, resident_id);
	key_int8(&keys[1], 2, worker_id);
	probe_begin(&p, &rd.carer, AccessShareLock, snap, keys, 2);
	found = probe_next(&p, ForwardScanDirection);
	probe_end(&p);
	return found;
}

/* The worker: active, bound role, and whether they may visit this home. */
static void
read_worker(Snapshot snap, int64 worker_id, const EntryRow *row, const char *home_path,
			EntryWorker *worker)
{
	ScanKeyData key;
	Probe		p;
	bool		isnull;
	bool		leader = false;
	int64		area_id = 0;

	memset(worker, 0, sizeof(*worker));
	key_int8(&key, 1, worker_id);
	probe_begin(&p, &rd.worker, AccessShareLock, snap, &key, 1);
	if (!probe_next(&p, ForwardScanDirection))
	{
		probe_end(&p);
		return;
	}
	worker->active = DatumGetBool(get(p.slot, rd.w_active, &isnull)) && !isnull;
	{
		Datum		d = get(p.slot, rd.w_db_role, &isnull);

		worker->db_role = isnull ? NULL : pstrdup(NameStr(*DatumGetName(d)));
	}
	{
		Datum		d = get(p.slot, rd.w_role, &isnull);

		leader = !isnull && strcmp(TextDatumGetCString(d), "member") != 0;
	}
	area_id = DatumGetInt64(get(p.slot, rd.w_area, &isnull));
	probe_end(&p);

	if (is_carer(snap, row->resident_id, worker_id))
		worker->may_visit = true;
	else if (leader)
	{
		char	   *path = area_path(snap, area_id);

		worker->may_visit = path != NULL && path_contains(path, home_path);
		if (path == NULL)		/* no worker row joined without its area */
			worker->active = false;
	}
}

/* The visits of this scan: an earlier identical one, and one at this door within the repeat window. */
static void
read_own_visits(Snapshot snap, int64 worker_id, TimestampTz at, TimeOffset repeat_window, EntryRow *row)
{
	ScanKeyData keys[4];
	Probe		p;
	bool		isnull;

	key_int8(&keys[0], 1, row->resident_id);
	key_int8(&keys[1], 2, worker_id);
	key_time(&keys[2], 3, BTEqualStrategyNumber, at);
	probe_begin(&p, &rd.visit_scan, AccessShareLock, snap, keys, 3);
	row->earlier = probe_next(&p, ForwardScanDirection);
	if (row->earlier)
		row->earlier_visit_id = DatumGetInt64(get(p.slot, rd.v_id, &isnull));
	key_time(&keys[2], 3, BTGreaterEqualStrategyNumber, at - repeat_window);
	key_time(&keys[3], 3, BTLessStrategyNumber, at);
	index_rescan(p.scan, keys, 4, NULL, 0);
	row->repeat = probe_next(&p, ForwardScanDirection);
	probe_end(&p);
}

/* A resident's position, for the worker's previous door. */
static bool
resident_position(Snapshot snap, int64 resident_id, double *lat, double *lon)
{
	ScanKeyData key;
	Probe		p;
	bool		n1 = true,
				n2 = true;

	key_int8(&key, 1, resident_id);
	probe_begin(&p, &rd.resident, AccessShareLock, snap, &key, 1);
	if (probe_next(&p, ForwardScanDirection))
	{
		*lat = DatumGetFloat8(get(p.slot, rd.r_lat, &n1));
		*lon = DatumGetFloat8(get(p.slot, rd.r_lon, &n2));
	}
	probe_end(&p);
	return !n1 && !n2;
}

/* The worker's latest check-in at another door within a day before at, and that home's position. */
static void
read_previous_door(Snapshot snap, int64 worker_id, TimestampTz at, EntryRow *row)
{
	ScanKeyData keys[3];
	Probe		p;
	int64		there = 0;
	bool		isnull;

	key_int8(&keys[0], 1, worker_id);
	key_time(&keys[1], 2, BTLessEqualStrategyNumber, at);
	key_time(&keys[2], 2, BTGreaterEqualStrategyNumber, at - USECS_PER_DAY);
	probe_begin(&p, &rd.visit_worker, AccessShareLock, snap, keys, 3);
	row->has_prev = false;
	while (probe_next(&p, BackwardScanDirection))
	{
		int64		resident = DatumGetInt64(get(p.slot, rd.v_resident, &isnull));

		if (resident == row->resident_id)
			continue;
		row->has_prev = true;
		row->prev_at = DatumGetTimestampTz(get(p.slot, rd.v_at, &isnull));
		there = resident;
		break;
	}
	probe_end(&p);
	if (row->has_prev)
		row->has_positions = resident_position(snap, there, &row->prev_lat, &row->prev_lon) && row->has_positions;
	else
		row->has_positions = false;
}

/*
 * Everything check_in reads before it writes, as its entry query read it,
 * under one snapshot taken after what this transaction wrote before.
 */
EntryReadResult
sanse_check_in_read(const uint8 *nonce, int64 worker_id, TimestampTz at, TimeOffset repeat_window,
					EntryRow *row, EntryWorker *worker)
{
	Snapshot	snap;
	char	   *home_path;

	if (!lock_tables())
		return ENTRY_READ_UNAVAILABLE;
	memset(row, 0, sizeof(*row));
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	snap = GetActiveSnapshot();
	if (!read_token(snap, nonce, row) || !lock_resident(snap, row) ||
		(home_path = area_path(snap, row->area_id)) == NULL)
	{
		PopActiveSnapshot();
		return ENTRY_READ_NO_TOKEN;
	}
	read_worker(snap, worker_id, row, home_path, worker);
	read_own_visits(snap, worker_id, at, repeat_window, row);
	read_previous_door(snap, worker_id, at, row);
	PopActiveSnapshot();
	return ENTRY_READ_OK;
}
