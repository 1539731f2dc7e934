/*
 * loop_path.c — the closed loop's hot path (issue 22): sanse.raise_event,
 * sanse.arrive and sanse.handle_event.
 *
 * Each takes the plain case — every check passes, it is no retry, no clock
 * lapsed, no step a sweep took is to be removed — in a few statements with
 * saved plans: raise_event reads once (the resident locked, the call's
 * values, a same call made before) and writes once (the event, its first
 * step and its transition in one statement); arrive and handle_event lock
 * the resident and the event in one statement (in the order
 * sanse.loop_event takes them),
 * read what the move needs once (its row of sanse.loop_move, the last step,
 * the worker's standing, the door token's row) and write once (the event
 * and its transition in one statement).
 *
 * Anything else — a refusal of any kind, a retry, a lapsed clock, steps to
 * remove, an event without a resident, a loop_move row of another shape — is
 * handed, before anything was written, to the PL/pgSQL path
 * (sanse.loop_raise, sanse.loop_transition), which does it all from the
 * start and raises its own errors: every check, message and SQLSTATE stays
 * in one place, and the hot path only ever does what that path would have
 * done.  The locks taken here are the ones that path takes first.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "door_token.h"
#include "sanse.h"
#include "vocabulary.h"

/* A transition may be dated at most this far ahead of the server clock (loop_time). */
#define LOOP_FUTURE_TOLERANCE_USEC	(5 * USECS_PER_MINUTE)
/* Near an edge of the allowed times the PL/pgSQL path decides. */
#define LOOP_EDGE_MARGIN_USEC		USECS_PER_SEC

typedef enum LoopPlan
{
	PLAN_RAISE_READ,
	PLAN_RAISE_WRITE,
	PLAN_RAISE_SLOW,
	PLAN_LOCK,
	PLAN_MOVE_READ,
	PLAN_ARRIVE_WRITE,
	PLAN_HANDLE_WRITE,
	PLAN_ARRIVE_SLOW,
	PLAN_HANDLE_SLOW,
	NUM_LOOP_PLANS
} LoopPlan;

typedef struct LoopQuery
{
	const char *sql;
	int			nargs;
	Oid			argtypes[8];
	int			ncolumns;
} LoopQuery;

/*
 * PLAN_RAISE_READ ($1 kind, $2 scale, $3 resident, $4 raised_by, $5 at,
 * $6 detail): the resident locked FOR SHARE inside the caller's care (as
 * raise_event locks it); whether it was forgotten, the kind exists, the
 * scale's start level, the caller may name raised_by, and the event a same
 * call made before.
 */
#define RAISE_READ_SQL \
	"SELECT r.forgotten_at IS NOT NULL, " \
	"       EXISTS (SELECT 1 FROM sanse.event_kind k WHERE k.value = $1), " \
	"       (SELECT s.start_level FROM sanse.event_scale s WHERE s.value = $2), " \
	"       $4 IS NULL OR sanse.acts_for($4), " \
	"       sanse.loop_same_call($1, r.id, NULL, $5, $4, $6) " \
	"  FROM sanse.resident r " \
	" WHERE r.id = $3 AND sanse.caller_sees(r.area_id, 'care') FOR SHARE OF r"

/*
 * PLAN_RAISE_WRITE ($1-$6 as above, $7 the start level): sanse.call_event's
 * three rows in one statement; no row when the same call made its event
 * meanwhile (event_call_once).
 */
#define RAISE_WRITE_SQL \
	"WITH ev AS ( " \
	"  INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since, " \
	"                           next_step_at, scale, parent_id, department, detail, raised_by, called_at, first_called_at) " \
	"  SELECT r.id, r.area_id, $1, 'called', r.tier, $7, sanse.leader_for(r.area_id, $7), $5, $5, " \
	"         CASE WHEN $7 < 4 THEN sanse.zone_add($5, sanse.step_interval($1, r.tier, 'called')) END, " \
	"         $2, NULL, NULL, $6, $4, $5, $5 " \
	"    FROM sanse.resident r WHERE r.id = $3 " \
	"  ON CONFLICT (kind, coalesce(resident_id, 0), (CASE WHEN resident_id IS NULL THEN area_id ELSE 0 END), " \
	"               first_called_at, coalesce(raised_by, 0), md5(detail)) " \
	"     WHERE parent_id IS NULL AND first_called_at IS NOT NULL DO NOTHING " \
	"  RETURNING event.id, event.level, event.assignee_id), " \
	"st AS ( " \
	"  INSERT INTO sanse.event_step (event_id, level, assignee_id, at) SELECT ev.id, ev.level, ev.assignee_id, $5 FROM ev), " \
	"tr AS ( " \
	"  INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) SELECT ev.id, 'called', $5, $4, $6 FROM ev) " \
	"SELECT ev.id FROM ev"

/*
 * PLAN_LOCK ($1 event): the event's resident locked FOR SHARE, then the
 * event FOR UPDATE — the order sanse.loop_event takes them in (the CTE's
 * lock is taken when the join first reads it, the event's by LockRows above
 * the join) — with whether the resident was forgotten and the event as the
 * lock found it.  No row: no such event the caller may see, an overdue
 * event, or none about a resident.
 */
typedef enum LockColumn
{
	EV_FORGOTTEN = 1,
	EV_STATUS,
	EV_RESIDENT_ID,
	EV_CALLED_AT,
	EV_ARRIVED_AT,
	EV_ARRIVED_BY,
	EV_HANDLED_AT,
	EV_HANDLED_BY,
	EV_NEXT_STEP_AT,
	EV_NCOLUMNS = EV_NEXT_STEP_AT
} LockColumn;

#define LOCK_SQL \
	"WITH r AS MATERIALIZED ( " \
	"  SELECT r.id, r.forgotten_at IS NOT NULL AS forgotten FROM sanse.resident r " \
	"   WHERE r.id = (SELECT e.resident_id FROM sanse.event e " \
	"                  WHERE e.id = $1 AND e.kind <> 'overdue' AND sanse.caller_sees(e.area_id, 'care')) " \
	"     FOR SHARE OF r) " \
	"SELECT r.forgotten, e.status, e.resident_id, e.called_at, e.arrived_at, e.arrived_by, e.handled_at, e.handled_by, " \
	"       e.next_step_at " \
	"  FROM r JOIN sanse.event e ON e.id = $1 AND e.resident_id = r.id FOR UPDATE OF e"

/*
 * PLAN_MOVE_READ ($1 event, $2 worker, $3 at, $4 since, $5 token nonce,
 * $6 stage, $7 status): under the event's lock, in a statement of its own
 * (so it sees what committed while it waited): the move and the stage, the
 * last step, whether a step is dated after the transition, may_act's
 * answer (sanse.loop_may_act, inlined into this plan), an
 * unhandled whistled child, and the resident of the door token (unless
 * revoked).  No row: no such move.
 */
typedef enum MoveColumn
{
	MV_TO_STATUS = 1,
	MV_NOT_BEFORE,
	MV_ENDS_CLOCK,
	MV_STARTS_CLOCK,
	MV_CLIMBS,
	MV_BY_WORKER,
	MV_NOTE_IS,
	MV_LEVEL,
	MV_ASSIGNEE,
	MV_LEVEL_AT,
	MV_LATER_STEP,
	MV_MAY_ACT,
	MV_OPEN_CHILD,
	MV_TOKEN_RESIDENT,
	MV_NCOLUMNS = MV_TOKEN_RESIDENT
} MoveColumn;

#define MOVE_READ_SQL \
	"SELECT m.to_status, m.not_before, m.ends_clock, m.starts_clock, m.climbs, st.by_worker, st.note_is, " \
	"       l.level, l.assignee_id, l.at, " \
	"       EXISTS (SELECT 1 FROM sanse.event_step s WHERE s.event_id = $1 AND s.at > $3 AND s.at > $4), " \
	"       coalesce((SELECT a.may FROM sanse.loop_may_act($1, $2) a), false), " \
	"       EXISTS (SELECT 1 FROM sanse.event c WHERE c.parent_id = $1 AND c.status IN ('called', 'arrived')), " \
	"       (SELECT d.resident_id FROM sanse.door_token d WHERE d.nonce = $5 AND d.revoked_at IS NULL) " \
	"  FROM sanse.loop_stage st " \
	"  JOIN sanse.loop_move m ON m.stage = st.value AND m.from_status = $7 " \
	"  LEFT JOIN LATERAL (SELECT s.level, s.assignee_id, s.at FROM sanse.event_step s WHERE s.event_id = $1 " \
	"                      ORDER BY s.at DESC, s.level DESC LIMIT 1) l ON true " \
	" WHERE st.value = $6"

/*
 * The writes ($1 event, $2 worker, $3 at, $4 level, $5 assignee, $6 the
 * level's time, $7 the action): sanse.loop_move_event's UPDATE, with the
 * columns the move changes, and the transition, in one statement.
 */
#define ARRIVE_WRITE_SQL \
	"WITH u AS ( " \
	"  UPDATE sanse.event x " \
	"     SET status = 'arrived', level = $4, level_since = $6, assignee_id = $5, " \
	"         next_step_at = CASE WHEN $4 < 4 THEN sanse.zone_add($3, sanse.step_interval(x.kind, x.tier, 'arrived')) END, " \
	"         arrived_at = $3, arrived_by = $2 " \
	"   WHERE x.id = $1 RETURNING x.id) " \
	"INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) " \
	"SELECT u.id, 'arrived', $3, $2, NULL FROM u"

#define HANDLE_WRITE_SQL \
	"WITH u AS ( " \
	"  UPDATE sanse.event x " \
	"     SET status = 'handled', level = $4, level_since = $6, assignee_id = $5, next_step_at = NULL, " \
	"         handled_at = $3, handled_by = $2, action = $7 " \
	"   WHERE x.id = $1 RETURNING x.id) " \
	"INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note) " \
	"SELECT u.id, 'handled', $3, $2, $7 FROM u"

static const LoopQuery queries[NUM_LOOP_PLANS] = {
	[PLAN_RAISE_READ] = {RAISE_READ_SQL, 6, {TEXTOID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID}, 5},
	[PLAN_RAISE_WRITE] = {RAISE_WRITE_SQL, 7, {TEXTOID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID, INT2OID}, 1},
	[PLAN_RAISE_SLOW] = {"SELECT sanse.loop_raise($1, $3, $6, $2, $5, $4)", 6,
	{TEXTOID, TEXTOID, INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID}, 1},
	[PLAN_LOCK] = {LOCK_SQL, 1, {INT8OID}, EV_NCOLUMNS},
	[PLAN_MOVE_READ] = {MOVE_READ_SQL, 7, {INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, BYTEAOID, TEXTOID, TEXTOID},
	MV_NCOLUMNS},
	[PLAN_ARRIVE_WRITE] = {ARRIVE_WRITE_SQL, 6, {INT8OID, INT8OID, TIMESTAMPTZOID, INT2OID, INT8OID, TIMESTAMPTZOID}, 0},
	[PLAN_HANDLE_WRITE] = {HANDLE_WRITE_SQL, 7,
	{INT8OID, INT8OID, TIMESTAMPTZOID, INT2OID, INT8OID, TIMESTAMPTZOID, TEXTOID}, 0},
	[PLAN_ARRIVE_SLOW] = {"SELECT sanse.loop_transition($1, 'arrived', $2, $4, p_token => $3)", 4,
	{INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}, 1},
	[PLAN_HANDLE_SLOW] = {"SELECT sanse.loop_transition($1, 'handled', $2, $4, $3)", 4,
	{INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID}, 1},
};

static SPIPlanPtr plans[NUM_LOOP_PLANS];

static SPIPlanPtr
loop_plan(LoopPlan which)
{
	if (plans[which] == NULL)
	{
		const LoopQuery *q = &queries[which];
		SPIPlanPtr	plan = SPI_prepare(q->sql, q->nargs, (Oid *) q->argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for loop query %d: %s",
				 (int) which, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plans[which] = plan;
	}
	return plans[which];
}

/* Run a plan; the number of rows it returned (its columns checked). */
static uint64
loop_exec(LoopPlan which, Datum *values, const char *nulls)
{
	/* never read-only: each statement sees what committed before it and what the last one wrote */
	int			ret = SPI_execute_plan(loop_plan(which), values, nulls, false, 0);

	if (ret < 0)
		elog(ERROR, "loop query %d failed: %s", (int) which, SPI_result_code_string(ret));
	if (queries[which].ncolumns > 0 &&
		(SPI_tuptable == NULL || SPI_tuptable->tupdesc->natts != queries[which].ncolumns))
		elog(ERROR, "loop query %d returned %d columns, expected %d", (int) which,
			 SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0, queries[which].ncolumns);
	return SPI_processed;
}

static Datum
col(int c, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c, isnull);
}

static bool
col_true(int c)
{
	bool		isnull;
	Datum		d = col(c, &isnull);

	return !isnull && DatumGetBool(d);
}

static bool
col_is_null(int c)
{
	bool		isnull;

	(void) col(c, &isnull);
	return isnull;
}

/* A text column equals s (NULL equals only NULL s). */
static bool
col_text_is(int c, const char *s)
{
	bool		isnull;
	Datum		d = col(c, &isnull);

	if (isnull || s == NULL)
		return isnull && s == NULL;
	return strcmp(TextDatumGetCString(d), s) == 0;
}

/*
 * Is the transition's time one sanse.loop_time lets pass (given, finite,
 * at most 5 minutes ahead, at most sanse.max_backdate behind, not before
 * since), clear of the edges?
 */
static bool
loop_time_plain(TimestampTz at, bool since_null, TimestampTz since)
{
	TimestampTz now = GetCurrentTimestamp();

	if (TIMESTAMP_NOT_FINITE(at))
		return false;
	if (at > now + LOOP_FUTURE_TOLERANCE_USEC - LOOP_EDGE_MARGIN_USEC)
		return false;
	if (at < now - sanse_max_backdate + LOOP_EDGE_MARGIN_USEC)
		return false;
	return since_null || at >= since;
}

/* Free text within the limit (sanse.check_free_text lets it pass); NULL passes. */
static bool
free_text_plain(Datum value, bool isnull)
{
	return isnull || DatumGetInt32(DirectFunctionCall1(textlen, value)) <= SANSE_FREE_TEXT_MAX;
}

/* Hand the call to the PL/pgSQL path: its result, or NULL. */
static Datum
loop_slow(LoopPlan which, Datum *values, const char *nulls, bool *isnull)
{
	Datum		result;

	if (loop_exec(which, values, nulls) != 1)
		elog(ERROR, "loop query %d returned no row", (int) which);
	result = col(1, isnull);
	if (!*isnull)
		result = SPI_datumTransfer(result, true, 8);
	return result;
}

/*
 * raise_event(kind, resident_id, detail, scale, at, raised_by): the plain
 * call in two statements, anything else by sanse.loop_raise.
 */
PG_FUNCTION_INFO_V1(loop_raise_event);
Datum
loop_raise_event(PG_FUNCTION_ARGS)
{
	Datum		args[7];
	char		nulls[7];
	int			map[6] = {0, 3, 1, 5, 4, 2};	/* kind, scale, resident, raised_by, at, detail */
	bool		isnull;
	Datum		result = (Datum) 0;
	bool		plain;

	for (int i = 0; i < 6; i++)
	{
		nulls[i] = PG_ARGISNULL(map[i]) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(map[i]) ? (Datum) 0 : PG_GETARG_DATUM(map[i]);
	}
	nulls[6] = ' ';

	/* a call without a detail is matched by looking, not by event_call_once: the PL/pgSQL path */
	plain = nulls[0] == ' ' && nulls[1] == ' ' && nulls[2] == ' ' && nulls[4] == ' ' && nulls[5] == ' ' &&
		strcmp(TextDatumGetCString(args[0]), "overdue") != 0 &&
		loop_time_plain(DatumGetTimestampTz(args[4]), true, 0) &&
		free_text_plain(args[5], false);

	SPI_connect();
	if (plain && loop_exec(PLAN_RAISE_READ, args, nulls) == 1 &&
		!col_true(1) && col_true(2) && !col_is_null(3) && col_true(4) && col_is_null(5))
	{
		args[6] = col(3, &isnull);
		if (loop_exec(PLAN_RAISE_WRITE, args, nulls) == 1)
		{
			result = col(1, &isnull);
			SPI_finish();
			PG_RETURN_DATUM(result);
		}
	}
	result = loop_slow(PLAN_RAISE_SLOW, args, nulls, &isnull);
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* What an arrival or a handling carries. */
typedef struct LoopMove
{
	const char *stage;			/* arrived, handled */
	const char *not_before;		/* its sanse.loop_move row's */
	bool		starts_clock;
	const char *note_is;		/* its sanse.loop_stage row's */
	LoopPlan	write;
	LoopPlan	slow;
} LoopMove;

static const LoopMove arrival = {"arrived", "called", true, NULL, PLAN_ARRIVE_WRITE, PLAN_ARRIVE_SLOW};
static const LoopMove handling = {"handled", "arrived", false, "action", PLAN_HANDLE_WRITE, PLAN_HANDLE_SLOW};

/*
 * The plain move: the event locked and about a resident not forgotten, in
 * the status the move leaves; its loop_move and loop_stage rows as this
 * code knows them; no retry; its time plain; no clock lapsed and no later
 * step; the worker may act; for an arrival the token opens this door; for a
 * handling no whistled child open.  Then the write.  False when nothing was
 * written: the PL/pgSQL path decides.
 */
static bool
loop_move_plain(const LoopMove *mv, int64 event_id, int64 worker_id, TimestampTz at,
				Datum note, bool note_null, Datum token, bool token_null)
{
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		resident_id;
	bool		since_null;
	TimestampTz since = 0;
	Datum		d;
	bytea	   *nonce = NULL;
	bool		arriving = mv->write == PLAN_ARRIVE_WRITE;

	if (!free_text_plain(note, note_null))
		return false;
	if (arriving)
	{
		if (token_null)
			return false;
		nonce = palloc(VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
		SET_VARSIZE(nonce, VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
		if (sanse_door_token_open(VARDATA_ANY(DatumGetTextPP(token)), VARSIZE_ANY_EXHDR(DatumGetTextPP(token)),
								  (uint8 *) VARDATA(nonce)) != DOOR_TOKEN_OK)
			return false;
	}

	args[0] = Int64GetDatum(event_id);
	if (loop_exec(PLAN_LOCK, args, nulls) != 1 || col_true(EV_FORGOTTEN))
		return false;
	d = col(EV_RESIDENT_ID, &isnull);
	if (isnull || !col_text_is(EV_STATUS, mv->not_before))
		return false;
	resident_id = DatumGetInt64(d);
	/* a retry of the same transition (loop_done_already) */
	if (arriving)
	{
		d = col(EV_ARRIVED_AT, &isnull);
		if (!isnull && DatumGetTimestampTz(d) == at)
			return false;
	}
	else
	{
		d = col(EV_HANDLED_AT, &isnull);
		if (!isnull && DatumGetTimestampTz(d) == at)
			return false;
	}
	/* a lapsed clock: escalate_events first */
	d = col(EV_NEXT_STEP_AT, &isnull);
	if (!isnull && DatumGetTimestampTz(d) <= at)
		return false;
	d = col(arriving ? EV_CALLED_AT : EV_ARRIVED_AT, &since_null);
	if (!since_null)
		since = DatumGetTimestampTz(d);
	if (!loop_time_plain(at, since_null, since))
		return false;

	args[1] = Int64GetDatum(worker_id);
	args[2] = TimestampTzGetDatum(at);
	args[3] = TimestampTzGetDatum(since);
	nulls[3] = since_null ? 'n' : ' ';
	args[4] = PointerGetDatum(nonce);
	nulls[4] = nonce ? ' ' : 'n';
	args[5] = CStringGetTextDatum(mv->stage);
	args[6] = CStringGetTextDatum(mv->not_before);
	if (loop_exec(PLAN_MOVE_READ, args, nulls) != 1)
		return false;
	if (!col_text_is(MV_TO_STATUS, mv->stage) || !col_text_is(MV_NOT_BEFORE, mv->not_before) ||
		!col_true(MV_ENDS_CLOCK) || col_true(MV_STARTS_CLOCK) != mv->starts_clock || col_true(MV_CLIMBS) ||
		!col_true(MV_BY_WORKER) || !col_text_is(MV_NOTE_IS, mv->note_is))
		return false;
	if (col_is_null(MV_LEVEL) || col_true(MV_LATER_STEP) || !col_true(MV_MAY_ACT))
		return false;
	if (!arriving && col_true(MV_OPEN_CHILD))
		return false;
	if (arriving)
	{
		d = col(MV_TOKEN_RESIDENT, &isnull);
		if (isnull || DatumGetInt64(d) != resident_id)
			return false;
	}

	/* $4 level, $5 assignee, $6 the level's time, $7 the action */
	args[3] = col(MV_LEVEL, &isnull);
	args[4] = col(MV_ASSIGNEE, &isnull);
	nulls[4] = isnull ? 'n' : ' ';
	args[5] = col(MV_LEVEL_AT, &isnull);
	nulls[5] = isnull ? 'n' : ' ';
	nulls[3] = ' ';
	args[6] = note;
	nulls[6] = note_null ? 'n' : ' ';
	loop_exec(mv->write, args, nulls);
	if (SPI_processed != 1)
		elog(ERROR, "the %s transition of event " INT64_FORMAT " was not written", mv->stage, event_id);
	return true;
}

/* arrive and handle_event: (event_id, worker_id, token or action, at) */
static void
loop_move_call(const LoopMove *mv, FunctionCallInfo fcinfo)
{
	Datum		args[4];
	char		nulls[4];
	bool		isnull;

	for (int i = 0; i < 4; i++)
	{
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	SPI_connect();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3) ||
		!loop_move_plain(mv, PG_GETARG_INT64(0), PG_GETARG_INT64(1), PG_GETARG_TIMESTAMPTZ(3),
						 mv->write == PLAN_HANDLE_WRITE ? args[2] : (Datum) 0,
						 mv->write == PLAN_HANDLE_WRITE ? PG_ARGISNULL(2) : true,
						 args[2], PG_ARGISNULL(2)))
		(void) loop_slow(mv->slow, args, nulls, &isnull);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(loop_arrive);
Datum
loop_arrive(PG_FUNCTION_ARGS)
{
	loop_move_call(&arrival, fcinfo);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(loop_handle_event);
Datum
loop_handle_event(PG_FUNCTION_ARGS)
{
	loop_move_call(&handling, fcinfo);
	PG_RETURN_VOID();
}
