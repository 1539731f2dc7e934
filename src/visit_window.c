/*
 * visit_window.c — the sanse.visit_window type: a fixed 16-byte half-open
 * span [opens, due) of two timestamptz, ordered by due then opens.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/sortsupport.h"
#include "utils/timestamp.h"

#include "input.h"
#include "visit_window.h"

StaticAssertDecl(sizeof(VisitWindow) == 16, "visit_window must be 16 bytes");

/* Build a window, rejecting empty, reversed or infinite spans. */
VisitWindow *
sanse_visit_window_make(TimestampTz opens, TimestampTz due)
{
	VisitWindow *w;

	if (TIMESTAMP_NOT_FINITE(opens) || TIMESTAMP_NOT_FINITE(due))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("visit_window bounds must be finite"),
				 errdetail("A visit window needs a real opening and due time.")));
	if (opens >= due)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("visit_window must open before it is due"),
				 errdetail("The opening time must be strictly earlier than the due time.")));

	w = (VisitWindow *) palloc0(sizeof(VisitWindow));
	w->opens = opens;
	w->due = due;
	return w;
}

static inline int
visit_window_cmp_internal(const VisitWindow *a, const VisitWindow *b)
{
	if (a->due != b->due)
		return a->due < b->due ? -1 : 1;
	if (a->opens != b->opens)
		return a->opens < b->opens ? -1 : 1;
	return 0;
}

/*
 * Read one side: either a double-quoted string (backslash escapes the next
 * character, so sides with commas can be written) or the text up to the
 * delimiter.  Returns the position after the side, NULL on bad syntax.
 */
static const char *
visit_window_read_side(const char *p, char delim, StringInfo out)
{
	while (*p && isspace((unsigned char) *p))
		p++;
	if (*p == '"')
	{
		p++;
		while (*p && *p != '"')
		{
			if (*p == '\\' && p[1])
				p++;
			appendStringInfoChar(out, *p++);
		}
		if (*p != '"')
			return NULL;
		p++;
		while (*p && isspace((unsigned char) *p))
			p++;
		return *p == delim ? p : NULL;
	}
	while (*p && *p != delim && *p != '"')
		appendStringInfoChar(out, *p++);
	return *p == delim && out->len > 0 ? p : NULL;
}

/*
 * Parse one side with core timestamptz input.  A side timestamptz rejects as
 * data makes the whole window malformed, 22P02, with core's message as detail.
 */
static TimestampTz
visit_window_side_in(const char *whole, const char *text)
{
	Datum		result;
	char	   *message;

	if (!sanse_try_input(timestamptz_in, text, &result, &message))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type visit_window: \"%s\"", whole),
				 errdetail("%s", message)));
	return DatumGetTimestampTz(result);
}

/* visit_window_in — '[opens,due)' with each side in any timestamptz form */
PG_FUNCTION_INFO_V1(visit_window_in);
Datum
visit_window_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	const char *p = str;
	StringInfoData opens;
	StringInfoData due;

	initStringInfo(&opens);
	initStringInfo(&due);

	while (*p && isspace((unsigned char) *p))
		p++;
	if (*p == '[')
		p = visit_window_read_side(p + 1, ',', &opens);
	else
		p = NULL;
	if (p)
		p = visit_window_read_side(p + 1, ')', &due);
	if (p)
	{
		p++;
		while (*p && isspace((unsigned char) *p))
			p++;
	}
	if (p == NULL || *p != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type visit_window: \"%s\"", str),
				 errdetail("A visit window is written [opens,due) with two timestamps."),
				 errhint("Double-quote a side that contains a comma.")));

	PG_RETURN_VISIT_WINDOW_P(sanse_visit_window_make(visit_window_side_in(str, opens.data),
													 visit_window_side_in(str, due.data)));
}

/* Append one side in the session's DateStyle, quoted only when it must be. */
static void
visit_window_side_out(StringInfo buf, TimestampTz t)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(timestamptz_out,
														TimestampTzGetDatum(t)));

	if (strpbrk(s, ",\"\\[])") == NULL)
		appendStringInfoString(buf, s);
	else
	{
		appendStringInfoChar(buf, '"');
		for (char *c = s; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				appendStringInfoChar(buf, '\\');
			appendStringInfoChar(buf, *c);
		}
		appendStringInfoChar(buf, '"');
	}
	pfree(s);
}

/* visit_window_out — '[opens,due)' in the session's DateStyle and TimeZone */
PG_FUNCTION_INFO_V1(visit_window_out);
Datum
visit_window_out(PG_FUNCTION_ARGS)
{
	VisitWindow *w = PG_GETARG_VISIT_WINDOW_P(0);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	visit_window_side_out(&buf, w->opens);
	appendStringInfoChar(&buf, ',');
	visit_window_side_out(&buf, w->due);
	appendStringInfoChar(&buf, ')');
	PG_RETURN_CSTRING(buf.data);
}

/* visit_window_recv — two int64 microsecond timestamps, checked like input */
PG_FUNCTION_INFO_V1(visit_window_recv);
Datum
visit_window_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	TimestampTz opens;
	TimestampTz due;

	/* a short value is bad data, not a protocol violation (pq_getmsgint64's 08P01) */
	if (buf->len - buf->cursor < 2 * (int) sizeof(int64))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external visit_window value: %d bytes",
						buf->len - buf->cursor),
				 errdetail("A visit_window is sent as two 8-byte timestamps.")));
	opens = (TimestampTz) pq_getmsgint64(buf);
	due = (TimestampTz) pq_getmsgint64(buf);

	if (!IS_VALID_TIMESTAMP(opens) || !IS_VALID_TIMESTAMP(due))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("visit_window bound out of range")));
	PG_RETURN_VISIT_WINDOW_P(sanse_visit_window_make(opens, due));
}

/* visit_window_send — two int64 microsecond timestamps */
PG_FUNCTION_INFO_V1(visit_window_send);
Datum
visit_window_send(PG_FUNCTION_ARGS)
{
	VisitWindow *w = PG_GETARG_VISIT_WINDOW_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, w->opens);
	pq_sendint64(&buf, w->due);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* visit_window — constructor from two timestamps */
PG_FUNCTION_INFO_V1(visit_window);
Datum
visit_window(PG_FUNCTION_ARGS)
{
	PG_RETURN_VISIT_WINDOW_P(sanse_visit_window_make(PG_GETARG_TIMESTAMPTZ(0),
													 PG_GETARG_TIMESTAMPTZ(1)));
}

/* opens_at — first instant of the window */
PG_FUNCTION_INFO_V1(opens_at);
Datum
opens_at(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(PG_GETARG_VISIT_WINDOW_P(0)->opens);
}

/* due_at — first instant after the window */
PG_FUNCTION_INFO_V1(due_at);
Datum
due_at(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(PG_GETARG_VISIT_WINDOW_P(0)->due);
}

/* visit_window_contains — window @> t: opens <= t < due */
PG_FUNCTION_INFO_V1(visit_window_contains);
Datum
visit_window_contains(PG_FUNCTION_ARGS)
{
	VisitWindow *w = PG_GETARG_VISIT_WINDOW_P(0);
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(1);

	PG_RETURN_BOOL(w->opens <= t && t < w->due);
}

/* visit_window_contained — t <@ window */
PG_FUNCTION_INFO_V1(visit_window_contained);
Datum
visit_window_contained(PG_FUNCTION_ARGS)
{
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(0);
	VisitWindow *w = PG_GETARG_VISIT_WINDOW_P(1);

	PG_RETURN_BOOL(w->opens <= t && t < w->due);
}

/* visit_window_overlaps — two half-open windows share an instant */
PG_FUNCTION_INFO_V1(visit_window_overlaps);
Datum
visit_window_overlaps(PG_FUNCTION_ARGS)
{
	VisitWindow *a = PG_GETARG_VISIT_WINDOW_P(0);
	VisitWindow *b = PG_GETARG_VISIT_WINDOW_P(1);

	PG_RETURN_BOOL(a->opens < b->due && b->opens < a->due);
}

/* is_overdue — t is at or after the due time */
PG_FUNCTION_INFO_V1(is_overdue);
Datum
is_overdue(PG_FUNCTION_ARGS)
{
	VisitWindow *w = PG_GETARG_VISIT_WINDOW_P(0);

	PG_RETURN_BOOL(PG_GETARG_TIMESTAMPTZ(1) >= w->due);
}

/* lateness — how long after the due time t is; zero when not overdue */
PG_FUNCTION_INFO_V1(lateness);
Datum
lateness(PG_FUNCTION_ARGS)
{
	VisitWindow *w = PG_GETARG_VISIT_WINDOW_P(0);
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(1);

	if (t <= w->due)
	{
		Interval   *zero = (Interval *) palloc0(sizeof(Interval));

		PG_RETURN_INTERVAL_P(zero);
	}
	return DirectFunctionCall2(timestamp_mi,
							   TimestampTzGetDatum(t),
							   TimestampTzGetDatum(w->due));
}

/* visit_window_cmp — btree support: by due, then opens */
PG_FUNCTION_INFO_V1(visit_window_cmp);
Datum
visit_window_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(visit_window_cmp_internal(PG_GETARG_VISIT_WINDOW_P(0),
											  PG_GETARG_VISIT_WINDOW_P(1)));
}

#define VISIT_WINDOW_CMP_FUNC(name, op) \
PG_FUNCTION_INFO_V1(name); \
Datum \
name(PG_FUNCTION_ARGS) \
{ \
	PG_RETURN_BOOL(visit_window_cmp_internal(PG_GETARG_VISIT_WINDOW_P(0), \
											 PG_GETARG_VISIT_WINDOW_P(1)) op 0); \
}

/* visit_window_lt, _le, _eq, _ne, _ge, _gt — ordering by due, then opens */
VISIT_WINDOW_CMP_FUNC(visit_window_lt, <)
VISIT_WINDOW_CMP_FUNC(visit_window_le, <=)
VISIT_WINDOW_CMP_FUNC(visit_window_eq, ==)
VISIT_WINDOW_CMP_FUNC(visit_window_ne, !=)
VISIT_WINDOW_CMP_FUNC(visit_window_ge, >=)
VISIT_WINDOW_CMP_FUNC(visit_window_gt, >)

static int
visit_window_fastcmp(Datum x, Datum y, SortSupport ssup)
{
	return visit_window_cmp_internal(DatumGetVisitWindowP(x), DatumGetVisitWindowP(y));
}

/* visit_window_sortsupport — btree sort support, skipping fmgr per comparison */
PG_FUNCTION_INFO_V1(visit_window_sortsupport);
Datum
visit_window_sortsupport(PG_FUNCTION_ARGS)
{
	SortSupport ssup = (SortSupport) PG_GETARG_POINTER(0);

	ssup->comparator = visit_window_fastcmp;
	PG_RETURN_VOID();
}

/* visit_window_hash — hash support consistent with = (both bounds equal) */
PG_FUNCTION_INFO_V1(visit_window_hash);
Datum
visit_window_hash(PG_FUNCTION_ARGS)
{
	VisitWindow *w = PG_GETARG_VISIT_WINDOW_P(0);

	return hash_any((const unsigned char *) w, sizeof(VisitWindow));
}

/* visit_window_hash_extended — seeded hash support */
PG_FUNCTION_INFO_V1(visit_window_hash_extended);
Datum
visit_window_hash_extended(PG_FUNCTION_ARGS)
{
	VisitWindow *w = PG_GETARG_VISIT_WINDOW_P(0);

	return hash_any_extended((const unsigned char *) w, sizeof(VisitWindow),
							 PG_GETARG_INT64(1));
}

/* visit_window_larger — the later of two windows, for max() */
PG_FUNCTION_INFO_V1(visit_window_larger);
Datum
visit_window_larger(PG_FUNCTION_ARGS)
{
	VisitWindow *a = PG_GETARG_VISIT_WINDOW_P(0);
	VisitWindow *b = PG_GETARG_VISIT_WINDOW_P(1);

	PG_RETURN_VISIT_WINDOW_P(visit_window_cmp_internal(a, b) >= 0 ? a : b);
}

/* visit_window_smaller — the earlier of two windows, for min() */
PG_FUNCTION_INFO_V1(visit_window_smaller);
Datum
visit_window_smaller(PG_FUNCTION_ARGS)
{
	VisitWindow *a = PG_GETARG_VISIT_WINDOW_P(0);
	VisitWindow *b = PG_GETARG_VISIT_WINDOW_P(1);

	PG_RETURN_VISIT_WINDOW_P(visit_window_cmp_internal(a, b) <= 0 ? a : b);
}
