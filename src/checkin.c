/*
 * checkin.c — sanse.check_in: a worker scans a resident's door QR code.
 *
 * One call, one transaction: verify the token (constant time, no table read
 * for a forged one), check the worker may visit this resident, flag what
 * looks like check-in for its own sake, store the visit, move the resident's
 * anchor forward (never back), and either hand overdue events to
 * sanse.close_overdue_events or, for a back-dated visit, re-derive the
 * resident's timeline.
 *
 * All SQL is constant text in saved SPI plans.  One library serves every
 * installed version of the extension's SQL: each version binds sanse.check_in
 * to a C symbol of its own (entry_points below), and the symbol decides which
 * plans run.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "checkin.h"
#include "checklist.h"
#include "door_token.h"
#include "sanse.h"
#include "trigger_guard.h"
#include "visit_flag.h"
#include "vocabulary.h"
#include "visit_window.h"

/* Visits may be back-dated (offline sync) but not sent from the future. */
#define CHECK_IN_FUTURE_TOLERANCE_USEC	(5 * USECS_PER_MINUTE)

/* Longest note kept (characters); a checklist item longer than any code is cut in messages. */
#define MAX_ITEM_IN_MESSAGE	32

typedef enum CheckInPlan
{
	PLAN_ENTRY,
	PLAN_ENTRY_TEXT_PATHS,
	PLAN_RECORD,
	PLAN_RECORD_TALLY,
	PLAN_RECORD_TALLY_PER_WORKER,
	PLAN_RETRY,
	PLAN_CLOSE,
	PLAN_REDERIVE,
	NUM_PLANS
} CheckInPlan;

static SPIPlanPtr plans[NUM_PLANS];

/*
 * A check-in reads once (PLAN_ENTRY) and writes once (PLAN_RECORD); a lost
 * race with a retry of the same scan reads the winner's visit (PLAN_RETRY),
 * and overdue events are handed on (PLAN_CLOSE, or PLAN_REDERIVE for a
 * back-dated visit) only when there is something to do.
 *
 * PLAN_ENTRY reads what a scan needs to start: the token's resident and
 * revocation, an earlier visit of the same (resident, worker, at), the
 * resident's window (row locked against sweeps and other scans), whether the
 * worker may check in here, and for the flags the worker's latest check-in
 * at another door within a day (with that home's position) and whether they
 * were at this door within the repeat window.
 *
 * Its columns, in the order of the SELECT list below (each line of which
 * names its column):
 */
typedef enum EntryColumn
{
	ENTRY_RESIDENT_ID = 1,
	ENTRY_REVOKED,
	ENTRY_EARLIER_VISIT_ID,		/* NULL unless this scan was recorded before */
	ENTRY_NEXT_VISIT,
	ENTRY_LAST_VISIT_AT,
	ENTRY_AREA_ID,
	ENTRY_WORKER_ACTIVE,
	ENTRY_WORKER_DB_ROLE,		/* the role the worker is bound to, or NULL */
	ENTRY_WORKER_MAY_VISIT,		/* a carer, or a leader whose area contains the home */
	ENTRY_PREV_AT,				/* the worker's latest check-in at another door */
	ENTRY_LAT,
	ENTRY_LON,
	ENTRY_PREV_LAT,
	ENTRY_PREV_LON,
	ENTRY_REPEAT,
	ENTRY_REGISTERED_AT,
	ENTRY_FORGOTTEN				/* as the row lock found it */
} EntryColumn;

#define ENTRY_NCOLUMNS	ENTRY_FORGOTTEN

/*
 * CONTAINS: whether the worker's area wa contains the resident's area ra;
 * FORGOTTEN: whether the resident r has been forgotten (false for a
 * database whose SQL predates forgotten_at)
 */
#define ENTRY_SQL(CONTAINS, FORGOTTEN) \
	"SELECT t.resident_id, "						/* ENTRY_RESIDENT_ID */ \
	"       t.revoked_at IS NOT NULL, "				/* ENTRY_REVOKED */ \
	"       (SELECT v.id FROM sanse.visit v "		/* ENTRY_EARLIER_VISIT_ID */ \
	"         WHERE v.resident_id = t.resident_id AND v.worker_id = $2 AND v.at = $3), " \
	"       r.next_visit, "							/* ENTRY_NEXT_VISIT */ \
	"       r.last_visit_at, "						/* ENTRY_LAST_VISIT_AT */ \
	"       r.area_id, "							/* ENTRY_AREA_ID */ \
	"       coalesce(w.active, false), "			/* ENTRY_WORKER_ACTIVE */ \
	"       w.db_role::text, "						/* ENTRY_WORKER_DB_ROLE */ \
	"       coalesce(EXISTS (SELECT 1 FROM sanse.carer c WHERE c.resident_id = r.id AND c.worker_id = w.id) " \
	"                OR (w.role <> 'member' AND " CONTAINS "), false), "	/* ENTRY_WORKER_MAY_VISIT */ \
	"       p.at, "									/* ENTRY_PREV_AT */ \
	"       r.lat, "								/* ENTRY_LAT */ \
	"       r.lon, "								/* ENTRY_LON */ \
	"       there.lat, "							/* ENTRY_PREV_LAT */ \
	"       there.lon, "							/* ENTRY_PREV_LON */ \
	"       EXISTS (SELECT 1 FROM sanse.visit v "	/* ENTRY_REPEAT */ \
	"                WHERE v.resident_id = r.id AND v.worker_id = $2 " \
	"                  AND v.at >= $3 - $4 AND v.at < $3), " \
	"       r.registered_at, "						/* ENTRY_REGISTERED_AT */ \
	"       " FORGOTTEN " "							/* ENTRY_FORGOTTEN */ \
	"  FROM sanse.door_token t " \
	"  JOIN sanse.resident r ON r.id = t.resident_id " \
	"  JOIN sanse.area ra ON ra.id = r.area_id " \
	"  LEFT JOIN (sanse.worker w JOIN sanse.area wa ON wa.id = w.area_id) ON w.id = $2 " \
	"  LEFT JOIN LATERAL (SELECT v.at, v.resident_id FROM sanse.visit v " \
	"                      WHERE v.worker_id = $2 AND v.at <= $3 AND v.at >= $3 - interval '1 day' " \
	"                        AND v.resident_id <> r.id " \
	"                      ORDER BY v.at DESC LIMIT 1) p ON true " \
	"  LEFT JOIN sanse.resident there ON there.id = p.resident_id " \
	" WHERE t.nonce = $1 " \
	"   FOR NO KEY UPDATE OF r"

/* ltree's @>, bound to ltree when the extension's SQL was installed */
#define CONTAINS_PATH_CONTAINS	"sanse.path_contains(wa.path, ra.path)"

/*
 * For a database whose SQL predates sanse.path_contains (1.0 and 1.1, until
 * updated), the same test on the paths' text without naming ltree: a label
 * never holds a dot, so an ltree contains another exactly when it is empty,
 * equal to it, or its text followed by a dot begins the other's text.
 */
#define CONTAINS_TEXT_PATHS \
	"(wa.path::text = '' OR ra.path::text = wa.path::text " \
	" OR pg_catalog.starts_with(ra.path::text, wa.path::text || '.'))"

/*
 * PLAN_RECORD stores the visit and, if it is new, moves the resident's
 * anchor when the visit is the latest (the trigger re-derives next_visit).
 * A concurrent retry that won the race leaves it no row.  Its columns, and
 * PLAN_RETRY's single one:
 */
typedef enum RecordColumn
{
	RECORD_VISIT_ID = 1,
	RECORD_ANCHOR_MOVED,
	RECORD_HAS_OPEN_EVENTS
} RecordColumn;

#define RECORD_NCOLUMNS	RECORD_HAS_OPEN_EVENTS

#define RECORD_SQL(TALLY) \
	"WITH v AS (" \
	"  INSERT INTO sanse.visit (resident_id, worker_id, at, checklist, flags, note, area_id, window_due) " \
	"  VALUES ($1, $2, $3, $4, $5, $6, $7, $8) " \
	"  ON CONFLICT (resident_id, worker_id, at) DO NOTHING RETURNING id), " \
	"a AS (" \
	"  UPDATE sanse.resident SET last_visit_at = $3 " \
	"   WHERE id = $1 AND (last_visit_at IS NULL OR last_visit_at < $3) AND EXISTS (SELECT 1 FROM v) " \
	"  RETURNING 1) " \
	TALLY \
	"SELECT v.id, "									/* RECORD_VISIT_ID */ \
	"       EXISTS (SELECT 1 FROM a), "				/* RECORD_ANCHOR_MOVED */ \
	"       EXISTS (SELECT 1 FROM sanse.event e "	/* RECORD_HAS_OPEN_EVENTS */ \
	"                WHERE e.resident_id = $1 AND e.kind = 'overdue' AND e.status <> 'closed') " \
	"  FROM v"

/*
 * The tally, in the same statement as the visit so that no check-in is
 * counted twice or lost: the visit for the visitor and, if it met a window,
 * that window for each of the resident's carers, appended to
 * worker_month_pending (appending never waits for another check-in or a
 * sweep; the sweep folds the rows).  While worker_month_pending has a row
 * per group of carers (1.1):
 */
#define TALLY_SQL \
	", t AS (" \
	"  INSERT INTO sanse.worker_month_pending (workers, month, windows_met, visits, flagged_visits, checklist_items) " \
	"  SELECT ARRAY[$2::bigint], sanse.month_of($3), 0, 1, ($5 <> '{}')::int, cardinality($4) FROM v " \
	"  UNION ALL " \
	"  SELECT ARRAY(SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = $1 ORDER BY c.worker_id), " \
	"         sanse.month_of($8), 1, 0, 0, 0 FROM v WHERE $8 IS NOT NULL) "

/* and once it has a row per worker (1.2), so a worker's tally is read through an index: */
#define TALLY_SQL_PER_WORKER \
	", t AS (" \
	"  INSERT INTO sanse.worker_month_pending (worker_id, month, windows_met, visits, flagged_visits, checklist_items) " \
	"  SELECT $2, sanse.month_of($3), 0, 1, ($5 <> '{}')::int, cardinality($4) FROM v " \
	"  UNION ALL " \
	"  SELECT c.worker_id, sanse.month_of($8), 1, 0, 0, 0 FROM v, unnest(sanse.carers_of($1)) c(worker_id) " \
	"   WHERE $8 IS NOT NULL) "

#define ENTRY_ARGTYPES	{BYTEAOID, INT8OID, TIMESTAMPTZOID, INTERVALOID}
#define RECORD_ARGTYPES \
	{INT8OID, INT8OID, TIMESTAMPTZOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, INT8OID, TIMESTAMPTZOID}

typedef struct CheckInQuery
{
	const char *sql;
	int			nargs;
	Oid			argtypes[8];
	int			ncolumns;
} CheckInQuery;

static const CheckInQuery queries[NUM_PLANS] = {
	[PLAN_ENTRY] = {ENTRY_SQL(CONTAINS_PATH_CONTAINS, "r.forgotten_at IS NOT NULL"), 4, ENTRY_ARGTYPES, ENTRY_NCOLUMNS},
	[PLAN_ENTRY_TEXT_PATHS] = {ENTRY_SQL(CONTAINS_TEXT_PATHS, "false"), 4, ENTRY_ARGTYPES, ENTRY_NCOLUMNS},
	[PLAN_RECORD] = {RECORD_SQL(""), 8, RECORD_ARGTYPES, RECORD_NCOLUMNS},
	[PLAN_RECORD_TALLY] = {RECORD_SQL(TALLY_SQL), 8, RECORD_ARGTYPES, RECORD_NCOLUMNS},
	[PLAN_RECORD_TALLY_PER_WORKER] = {RECORD_SQL(TALLY_SQL_PER_WORKER), 8, RECORD_ARGTYPES, RECORD_NCOLUMNS},
	[PLAN_RETRY] = {
		"SELECT id FROM sanse.visit WHERE resident_id = $1 AND worker_id = $2 AND at = $3",
		3, {INT8OID, INT8OID, TIMESTAMPTZOID}, 1
	},
	[PLAN_CLOSE] = {
		"SELECT sanse.close_overdue_events($1, $2, $3, $4, $5)",
		5, {INT8OID, INT8OID, TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID}, 1
	},
	[PLAN_REDERIVE] = {
		"SELECT sanse.rederive_after_visit($1, $2)",
		2, {INT8OID, INT8OID}, 1
	},
};

/* What one call checks in, once its arguments have passed validation. */
/*
 * Which SQL a check-in runs against.  Every version of the extension's SQL
 * binds sanse.check_in to a C symbol, and the symbol says which tables and
 * functions that SQL has (pgvector's and PostGIS's habit): a version that
 * changes what check-in reads or writes binds a new symbol, and the library
 * keeps serving the old ones for databases not yet updated.
 */
typedef enum SqlShape
{
	SHAPE_1_0,					/* paths as text, no tally, no re-derivation */
	SHAPE_1_1,					/* + worker_month_pending by group of carers */
	SHAPE_1_2,					/* path_contains, forgotten_at, tally per
								 * worker, re-derivation (1.2 to 1.4) */
	SHAPE_1_0_OR_1_2			/* the symbol check_in, which released scripts
								 * bind in 1.0, 1.2 and 1.3 alike */
} SqlShape;

typedef struct ShapePlans
{
	CheckInPlan entry;
	CheckInPlan record;
	bool		rederive;		/* re-derive the timeline after a back-dated visit */
} ShapePlans;

static const ShapePlans shape_plans[] = {
	[SHAPE_1_0] = {PLAN_ENTRY_TEXT_PATHS, PLAN_RECORD, false},
	[SHAPE_1_1] = {PLAN_ENTRY_TEXT_PATHS, PLAN_RECORD_TALLY, false},
	[SHAPE_1_2] = {PLAN_ENTRY, PLAN_RECORD_TALLY_PER_WORKER, true},
};

typedef struct EntryPoint
{
	const char *symbol;
	SqlShape	shape;
} EntryPoint;

/* The symbols sanse.check_in has been bound to, and what each was written for. */
static const EntryPoint entry_points[] = {
	{"check_in_1_4", SHAPE_1_2},	/* src/sql/65_check_in.sql, from 1.4 on */
	{"check_in_1_1", SHAPE_1_1},	/* sanse--1.0--1.1.sql */
	{"check_in", SHAPE_1_0_OR_1_2}, /* sanse--1.0.sql, --1.1--1.2, --1.2--1.3 */
};

/*
 * The shape of the SQL written for an entry point.  Only the symbol the
 * frozen scripts of 1.0, 1.2 and 1.3 share needs a look at the catalog
 * (visit_withdrawn came with 1.2): a syscache lookup, no table read.
 */
static SqlShape
shape_of(const char *symbol)
{
	for (int i = 0; i < lengthof(entry_points); i++)
	{
		if (strcmp(entry_points[i].symbol, symbol) != 0)
			continue;
		if (entry_points[i].shape != SHAPE_1_0_OR_1_2)
			return entry_points[i].shape;
		return OidIsValid(sanse_relid("visit_withdrawn")) ? SHAPE_1_2 : SHAPE_1_0;
	}
	elog(ERROR, "sanse.check_in is bound to the unknown C symbol \"%s\"", symbol);
	pg_unreachable();
}

/*
 * The shape of the SQL sanse.check_in is bound to now, read again once the
 * resident's row lock is held: a check-in that waited out ALTER EXTENSION
 * UPDATE finishes under the new version's binding.  One syscache lookup of
 * the function's own row; the symbol it was called through otherwise.
 */
static SqlShape
shape_now(Oid fn_oid, const char *called, SqlShape called_shape)
{
	HeapTuple	tuple;
	bool		isnull;
	char	   *symbol;
	SqlShape	shape;

	if (!OidIsValid(fn_oid))
		return called_shape;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (!HeapTupleIsValid(tuple))
		return called_shape;	/* dropped meanwhile: the call goes on as it began */
	symbol = TextDatumGetCString(SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull));
	ReleaseSysCache(tuple);
	shape = (strcmp(symbol, called) == 0 && called_shape != SHAPE_1_0_OR_1_2) ? called_shape : shape_of(symbol);
	pfree(symbol);
	return shape;
}

/* What one call checks in, once its arguments have passed validation. */
typedef struct CheckInRequest
{
	uint8		nonce[DOOR_TOKEN_NONCE_LEN];	/* of a token whose signature holds */
	int64		worker_id;
	TimestampTz at;
	ArrayType  *checklist;		/* validated; empty for a NULL one */
	Datum		note;
	bool		note_isnull;
	Oid			fn_oid;			/* the sanse.check_in called */
	const char *symbol;			/* the entry point it was bound to */
	SqlShape	shape;			/* of the SQL written for that entry point */
} CheckInRequest;

static SPIPlanPtr
check_in_plan(CheckInPlan which)
{
	if (plans[which] == NULL)
	{
		const CheckInQuery *q = &queries[which];
		SPIPlanPtr	plan = SPI_prepare(q->sql, q->nargs, (Oid *) q->argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for check-in query %d: %s",
				 (int) which, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plans[which] = plan;
	}
	return plans[which];
}

static void
check_in_exec(CheckInPlan which, Datum *values, const char *nulls)
{
	/* never read-only: each query must see what this statement wrote before */
	int			ret = SPI_execute_plan(check_in_plan(which), values, nulls, false, 0);

	if (ret < 0)
		elog(ERROR, "check-in query %d failed: %s", (int) which, SPI_result_code_string(ret));
	/* the column constants are only as good as their SELECT lists */
	if (SPI_tuptable == NULL || SPI_tuptable->tupdesc->natts != queries[which].ncolumns)
		elog(ERROR, "check-in query %d returned %d columns, expected %d", (int) which,
			 SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0, queries[which].ncolumns);
}

/* A column of the first row of the last result. */
static Datum
result_datum(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/* A boolean column of the first row of the last result; NULL is false. */
static bool
result_bool(int col)
{
	bool		isnull;
	Datum		value = result_datum(col, &isnull);

	return !isnull && DatumGetBool(value);
}

/* A timestamptz column of the first row of the last result; false for NULL. */
static bool
result_timestamptz(int col, TimestampTz *value)
{
	bool		isnull;
	Datum		d = result_datum(col, &isnull);

	if (!isnull)
		*value = DatumGetTimestampTz(d);
	return !isnull;
}

static void
refuse_token(int64 worker_id, const char *why)
{
	sanse_door_token_refuse("check-in", worker_id, why);
}

/* Validate the checklist codes; a NULL checklist is an empty one. */
static ArrayType *
checklist_validate(ArrayType *checklist)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	uint32		seen = 0;

	if (ARR_NDIM(checklist) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("checklist must be a one-dimensional array")));

	deconstruct_array(checklist, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		int			known = -1;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("checklist must not contain NULL")));
		t = DatumGetTextPP(elems[i]);
		known = sanse_checklist_item(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (known < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown checklist item \"%s\"",
							text_to_cstring(DatumGetTextPP(DirectFunctionCall3(text_substr, PointerGetDatum(t),
																			   Int32GetDatum(1),
																			   Int32GetDatum(MAX_ITEM_IN_MESSAGE))))),
					 errhint("%s", sanse_checklist_hint())));
		/* a checklist counts each thing done once: nine asks of one kind are not a full visit */
		if (seen & (1U << known))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("checklist item \"%s\" is listed twice", sanse_checklist_items[known])));
		seen |= 1U << known;
	}
	return checklist;
}

/* Great-circle distance in km between two points in degrees. */
static double
distance_km(double lat1, double lon1, double lat2, double lon2)
{
	const double r = 6371.0088;
	double		p1 = lat1 * M_PI / 180.0;
	double		p2 = lat2 * M_PI / 180.0;
	double		dp = (lat2 - lat1) * M_PI / 180.0;
	double		dl = (lon2 - lon1) * M_PI / 180.0;
	double		a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);

	return 2 * r * asin(Min(1.0, sqrt(a)));
}

static Interval *
seconds_interval(int seconds)
{
	Interval   *i = palloc0(sizeof(Interval));

	i->time = (TimeOffset) seconds * USECS_PER_SEC;
	return i;
}

/*
 * Whether the session may act for a worker bound to db_role (NULL: unbound):
 * its login is a member of the role (pg_has_role(session_user, db_role,
 * 'MEMBER'), superusers being members of every role), and a role that no
 * longer exists binds nobody.  Asked in C from the syscache, so the entry
 * query carries no sub-plan over pg_roles.
 */
static bool
session_acts_as(Datum db_role, bool isnull)
{
	char	   *name;
	Oid			role;

	if (isnull)
		return true;
	name = TextDatumGetCString(db_role);
	role = get_role_oid(name, true);
	pfree(name);
	return OidIsValid(role) && is_member_of_role(GetSessionUserId(), role);
}


/*
 * Step 2: which resident, an earlier identical scan, the window, the worker
 * (PLAN_ENTRY, which locks the resident's row); refuses an unknown or
 * revoked token.
 */
static void
read_entry(const CheckInRequest *req, CheckInPlan plan, EntryRow *row)
{
	bytea	   *nonce = palloc(VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
	Datum		args[4];
	bool		isnull;
	bool		n1,
				n2,
				n3,
				n4;

	if (plan == PLAN_ENTRY)
	{
		EntryWorker worker;

		switch (sanse_check_in_read(req->nonce, req->worker_id, req->at,
									(TimeOffset) sanse_repeat_window * USECS_PER_SEC, row, &worker))
		{
			case ENTRY_READ_NO_TOKEN:
				refuse_token(req->worker_id, "unknown");
				break;
			case ENTRY_READ_OK:
				row->worker_may_check_in = worker.active && worker.may_visit &&
					session_acts_as(worker.db_role ? CStringGetTextDatum(worker.db_role) : (Datum) 0,
									worker.db_role == NULL);
				if (row->revoked)
					refuse_token(req->worker_id, "revoked");
				return;
			case ENTRY_READ_UNAVAILABLE:
				break;			/* the query below */
		}
	}

	SET_VARSIZE(nonce, VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
	memcpy(VARDATA(nonce), req->nonce, DOOR_TOKEN_NONCE_LEN);
	args[0] = PointerGetDatum(nonce);
	args[1] = Int64GetDatum(req->worker_id);
	args[2] = TimestampTzGetDatum(req->at);
	args[3] = PointerGetDatum(seconds_interval(sanse_repeat_window));
	check_in_exec(plan, args, NULL);
	if (SPI_processed == 0)
		refuse_token(req->worker_id, "unknown");

	row->resident_id = DatumGetInt64(result_datum(ENTRY_RESIDENT_ID, &isnull));
	row->revoked = result_bool(ENTRY_REVOKED);
	row->forgotten = result_bool(ENTRY_FORGOTTEN);
	row->earlier_visit_id = DatumGetInt64(result_datum(ENTRY_EARLIER_VISIT_ID, &isnull));
	row->earlier = !isnull;
	{
		Datum		db_role = result_datum(ENTRY_WORKER_DB_ROLE, &isnull);

		row->worker_may_check_in = result_bool(ENTRY_WORKER_ACTIVE) &&
			result_bool(ENTRY_WORKER_MAY_VISIT) && session_acts_as(db_role, isnull);
	}
	row->area_id = DatumGetInt64(result_datum(ENTRY_AREA_ID, &isnull));
	row->registered_at = DatumGetTimestampTz(result_datum(ENTRY_REGISTERED_AT, &isnull));
	{
		Datum		window = result_datum(ENTRY_NEXT_VISIT, &isnull);

		row->has_window = !isnull;
		if (row->has_window)
			row->next_visit = *DatumGetVisitWindowP(window);
	}
	row->has_last = result_timestamptz(ENTRY_LAST_VISIT_AT, &row->last_visit_at);
	row->has_prev = result_timestamptz(ENTRY_PREV_AT, &row->prev_at);
	row->lat = DatumGetFloat8(result_datum(ENTRY_LAT, &n1));
	row->lon = DatumGetFloat8(result_datum(ENTRY_LON, &n2));
	row->prev_lat = DatumGetFloat8(result_datum(ENTRY_PREV_LAT, &n3));
	row->prev_lon = DatumGetFloat8(result_datum(ENTRY_PREV_LON, &n4));
	row->has_positions = !n1 && !n2 && !n3 && !n4;
	row->repeat = result_bool(ENTRY_REPEAT);

	if (row->revoked)
		refuse_token(req->worker_id, "revoked");
}

/*
 * Steps 3 and 4, the refusals once the row is locked: a forgotten resident
 * (forgotten while this scan waited for the row lock: its token was read
 * before the forgetting committed), a worker who may not check in here, a
 * time before the resident was registered.
 */
static void
refuse_entry(const CheckInRequest *req, const EntryRow *row)
{
	if (row->forgotten)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the resident at this door has been forgotten"),
				 errdetail("No visit is recorded for a resident who has been forgotten.")));
	/* a mobile retry of the same scan gets the same visit back */
	if (row->earlier)
		return;
	if (!row->worker_may_check_in)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("worker " INT64_FORMAT " may not check in at this door", req->worker_id),
				 errdetail("Only an active carer of the resident, or an active leader or task force "
						   "whose area contains the resident, may check in.")));
	if (req->at < row->registered_at)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("check-in time is before the resident was registered")));
}

/* How the visit stands to the resident's window. */
typedef struct WindowOutcome
{
	bool		late;			/* at or after the due time */
	TimestampTz late_due;
	bool		meets_window;	/* inside the window: counted for check-in rates */
	TimestampTz window_due;
	bool		backdated;		/* before the latest visit: the timeline is re-derived */
} WindowOutcome;

/*
 * Only a visit newer than the last one moves the window, so only it can meet
 * the window or be late for it; one at the same instant as the last (several
 * carers together) is an ordinary visit, and an older one re-derives the
 * windows from its time on (where the SQL can).
 */
static WindowOutcome
window_outcome(const CheckInRequest *req, const EntryRow *row, bool rederive)
{
	WindowOutcome out = {0};
	bool		has_window = row->has_window;

	if (row->has_last && req->at <= row->last_visit_at)
	{
		out.backdated = req->at < row->last_visit_at && rederive;
		has_window = false;
	}
	if (has_window && req->at >= row->next_visit.due)
	{
		out.late = true;
		out.late_due = row->next_visit.due;
	}
	if (has_window && req->at >= row->next_visit.opens && req->at < row->next_visit.due)
	{
		out.meets_window = true;
		out.window_due = row->next_visit.due;
	}
	return out;
}

/*
 * Step 5: flags for supervisors (5.3.3: check-in for its own sake), from the
 * worker's latest check-in at another door of the last day: a day is enough
 * to cross any district, and quick_succession is at most a day.
 */
static ArrayType *
visit_flags(const CheckInRequest *req, const EntryRow *row, bool late)
{
	Datum		flags[VISIT_FLAG_COUNT];
	int			n = 0;

	if (row->has_prev && row->prev_at >= req->at - (TimeOffset) sanse_quick_succession * USECS_PER_SEC)
		flags[n++] = CStringGetTextDatum(VISIT_FLAG_QUICK_SUCCESSION);
	if (row->has_prev && row->prev_at > req->at - USECS_PER_DAY && row->has_positions)
	{
		double		km = distance_km(row->lat, row->lon, row->prev_lat, row->prev_lon);
		double		hours = (double) (req->at - row->prev_at) / USECS_PER_HOUR;

		if (km > 0.1 && (hours <= 0 || km / hours > sanse_max_travel_speed))
			flags[n++] = CStringGetTextDatum(VISIT_FLAG_IMPOSSIBLE_TRAVEL);
	}
	if (row->repeat)
		flags[n++] = CStringGetTextDatum(VISIT_FLAG_REPEAT_VISIT);
	if (late)
		flags[n++] = CStringGetTextDatum(VISIT_FLAG_LATE);
	return construct_array(flags, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/* What PLAN_RECORD wrote. */
typedef struct StoredVisit
{
	int64		visit_id;
	bool		anchor_moved;
	bool		has_open_events;
	bool		retried;		/* a concurrent retry stored it: nothing more to do */
} StoredVisit;

/*
 * Step 6: the visit, the anchor (never moved back) and, where the SQL has a
 * tally, the check-in rates of the visitor and of the resident's carers.  A
 * concurrent retry of the same scan that won the race gives its visit back.
 */
static StoredVisit
store_visit(const CheckInRequest *req, const EntryRow *row, const WindowOutcome *outcome,
			ArrayType *flags, CheckInPlan plan)
{
	StoredVisit stored = {0};
	Datum		args[8];
	char		nulls[8];
	bool		isnull;

	args[0] = Int64GetDatum(row->resident_id);
	args[1] = Int64GetDatum(req->worker_id);
	args[2] = TimestampTzGetDatum(req->at);
	args[3] = PointerGetDatum(req->checklist);
	args[4] = PointerGetDatum(flags);
	args[5] = req->note;
	args[6] = Int64GetDatum(row->area_id);
	args[7] = TimestampTzGetDatum(outcome->window_due);
	memset(nulls, ' ', sizeof(nulls));
	if (req->note_isnull)
		nulls[5] = 'n';
	if (!outcome->meets_window)
		nulls[7] = 'n';
	check_in_exec(plan, args, nulls);
	if (SPI_processed == 0)
	{
		check_in_exec(PLAN_RETRY, args, NULL);
		if (SPI_processed == 0)
			elog(ERROR, "visit vanished during check-in");
		stored.visit_id = DatumGetInt64(result_datum(1, &isnull));
		stored.retried = true;
		return stored;
	}
	stored.visit_id = DatumGetInt64(result_datum(RECORD_VISIT_ID, &isnull));
	stored.anchor_moved = result_bool(RECORD_ANCHOR_MOVED);
	stored.has_open_events = result_bool(RECORD_HAS_OPEN_EVENTS);
	return stored;
}

/*
 * Step 7, overdue events: a back-dated visit re-derives the resident's
 * timeline; one that moved the anchor creates-and-closes the window it came
 * late for and closes the open ones.
 */
static void
hand_on_overdue(const CheckInRequest *req, const EntryRow *row, const WindowOutcome *outcome,
				const StoredVisit *stored)
{
	Datum		args[5];
	char		nulls[5];

	args[0] = Int64GetDatum(row->resident_id);
	args[1] = Int64GetDatum(stored->visit_id);
	if (outcome->backdated)
	{
		check_in_exec(PLAN_REDERIVE, args, NULL);
		return;
	}
	if (!stored->anchor_moved || !(outcome->late || stored->has_open_events))
		return;
	args[2] = TimestampTzGetDatum(req->at);
	args[3] = Int64GetDatum(req->worker_id);
	args[4] = TimestampTzGetDatum(outcome->late_due);
	memset(nulls, ' ', sizeof(nulls));
	if (!outcome->late)
		nulls[4] = 'n';
	check_in_exec(PLAN_CLOSE, args, nulls);
}

/*
 * The work of one check-in, between SPI_connect and SPI_finish; returns the
 * visit's id (the same id for a retry).  The entry point's SQL decides what
 * is kept: what to read is known from the symbol called, what to write from
 * the symbol bound once PLAN_ENTRY holds the resident's lock (shape_now).
 */
static int64
record_visit(const CheckInRequest *req)
{
	EntryRow	row;
	const ShapePlans *shape;
	WindowOutcome outcome;
	StoredVisit stored;

	read_entry(req, shape_plans[req->shape].entry, &row);
	refuse_entry(req, &row);
	if (row.earlier)
		return row.earlier_visit_id;
	shape = &shape_plans[shape_now(req->fn_oid, req->symbol, req->shape)];
	outcome = window_outcome(req, &row, shape->rederive);
	stored = store_visit(req, &row, &outcome, visit_flags(req, &row, outcome.late), shape->record);
	if (!stored.retried)
		hand_on_overdue(req, &row, &outcome, &stored);
	return stored.visit_id;
}

/* Step 1: the arguments, and the token's format and signature, before any table is read. */
static void
validate_request(FunctionCallInfo fcinfo, CheckInRequest *req)
{
	text	   *token;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("worker_id must not be NULL")));
	req->worker_id = PG_GETARG_INT64(1);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("check-in time must not be NULL")));
	req->at = PG_GETARG_TIMESTAMPTZ(2);
	req->checklist = PG_ARGISNULL(3) ? construct_empty_array(TEXTOID)
		: checklist_validate(PG_GETARG_ARRAYTYPE_P(3));
	req->note_isnull = PG_ARGISNULL(4);
	req->note = req->note_isnull ? (Datum) 0 : PG_GETARG_DATUM(4);
	if (!req->note_isnull &&
		DatumGetInt32(DirectFunctionCall1(textlen, req->note)) > SANSE_FREE_TEXT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("check-in note is longer than %d characters", SANSE_FREE_TEXT_MAX)));

	if (PG_ARGISNULL(0))
		refuse_token(req->worker_id, "missing");
	token = PG_GETARG_TEXT_PP(0);
	switch (sanse_door_token_open(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), req->nonce))
	{
		case DOOR_TOKEN_OK:
			break;
		case DOOR_TOKEN_MALFORMED:
			refuse_token(req->worker_id, "malformed");
			break;
		case DOOR_TOKEN_FORGED:
			refuse_token(req->worker_id, "forged");
			break;
	}

	if (TIMESTAMP_NOT_FINITE(req->at) ||
		req->at > GetCurrentTimestamp() + CHECK_IN_FUTURE_TOLERANCE_USEC)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("check-in time is in the future"),
				 errdetail("A check-in may be at most 5 minutes ahead of the server clock.")));
	if (req->at < GetCurrentTimestamp() - sanse_max_backdate)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("check-in time is too far in the past"),
				 errdetail("A check-in may be dated at most sanse.max_backdate (%s) before the server clock.",
						   sanse_max_backdate_text)));
}

/*
 * Validate the arguments and the token's signature without reading a table,
 * then record the visit inside one SPI connection.
 */
static Datum
check_in_internal(FunctionCallInfo fcinfo, const char *symbol)
{
	CheckInRequest req;
	int64		visit_id;

	validate_request(fcinfo, &req);
	req.fn_oid = fcinfo->flinfo ? fcinfo->flinfo->fn_oid : InvalidOid;
	req.symbol = symbol;
	req.shape = shape_of(symbol);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	visit_id = record_visit(&req);
	SPI_finish();

	PG_RETURN_INT64(visit_id);
}

/*
 * Refusals stay out of the server log but for one short line: the calling
 * statement may carry the door token as a literal, and a statement that
 * refuses a thousand check-ins must not write it a thousand times.
 */
static Datum
check_in_quietly(FunctionCallInfo fcinfo, const char *symbol)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	PG_TRY();
	{
		result = check_in_internal(fcinfo, symbol);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* token refusals wrote their LOG line already */
		if (edata->sqlerrcode != ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION &&
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_TO_CATEGORY(ERRCODE_T_R_SERIALIZATION_FAILURE) &&
			!PG_ARGISNULL(1))
			ereport(LOG,
					(errmsg("sanse: check-in by worker " INT64_FORMAT " refused: SQLSTATE %s",
							PG_GETARG_INT64(1), unpack_sql_state(edata->sqlerrcode)),
					 errhidestmt(true), errhidecontext(true)));
		edata->hide_stmt = true;
		edata->hide_ctx = true;
		ReThrowError(edata);
	}
	PG_END_TRY();
	return result;
}

/* sanse.check_in as src/sql/65_check_in.sql binds it, from 1.4 on */
PG_FUNCTION_INFO_V1(check_in_1_4);
Datum
check_in_1_4(PG_FUNCTION_ARGS)
{
	return check_in_quietly(fcinfo, "check_in_1_4");
}

/*
 * sanse.check_in as the released (so frozen) scripts bind it: check_in_1_1
 * by sanse--1.0--1.1.sql, check_in by sanse--1.0.sql and again by the 1.2
 * and 1.3 deltas.  Databases not yet updated call these with the new library.
 */
PG_FUNCTION_INFO_V1(check_in_1_1);
Datum
check_in_1_1(PG_FUNCTION_ARGS)
{
	return check_in_quietly(fcinfo, "check_in_1_1");
}

PG_FUNCTION_INFO_V1(check_in);
Datum
check_in(PG_FUNCTION_ARGS)
{
	return check_in_quietly(fcinfo, "check_in");
}
