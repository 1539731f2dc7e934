/*
 * cadence.c — cadences ("rolling <interval>", "calendar day|week|month") and
 * sanse.window_after.  All calendar arithmetic is core's: timestamps are
 * moved into the zone's local time with timezone(), truncated and shifted
 * there, and moved back, so results never depend on the session TimeZone.
 */
#include "postgres.h"

#include "parser/scansup.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "cadence.h"
#include "input.h"
#include "sanse.h"

#define CADENCE_HINT \
	"A cadence is \"rolling <interval>\" (for example rolling 2 days) or \"calendar day\", \"calendar week\" or \"calendar month\"."

static void cadence_syntax_error(const char *text, const char *detail) pg_attribute_noreturn();

static void
cadence_syntax_error(const char *text, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid cadence: \"%s\"", text),
			 detail ? errdetail("%s", detail) : 0,
			 errhint(CADENCE_HINT)));
}

/* If str starts with keyword (any case) and then a blank, return what follows. */
static const char *
cadence_keyword(const char *str, const char *keyword)
{
	size_t		len = strlen(keyword);

	if (pg_strncasecmp(str, keyword, len) != 0 || !scanner_isspace(str[len]))
		return NULL;
	str += len;
	while (*str && scanner_isspace(*str))
		str++;
	return str;
}

/* Parse the interval of a rolling cadence with core interval input. */
static void
cadence_parse_interval(const char *whole, const char *text, Interval *step)
{
	Datum		result;
	char	   *message;
	Interval   *parsed;

	if (!sanse_try_input(interval_in, text, &result, &message))
		cadence_syntax_error(whole, message);
	parsed = DatumGetIntervalP(result);

	/* Every part must move forward, so the window is never empty. */
	if (parsed->month < 0 || parsed->day < 0 || parsed->time < 0 ||
		(parsed->month == 0 && parsed->day == 0 && parsed->time == 0))
		cadence_syntax_error(whole, "The interval of a rolling cadence must be positive.");
	*step = *parsed;
	pfree(parsed);
}

/* Parse a cadence; raises 22P02 on anything outside the grammar. */
void
sanse_cadence_parse(const char *text, Cadence *cadence)
{
	const char *p = text;
	const char *rest;

	memset(cadence, 0, sizeof(Cadence));
	while (*p && scanner_isspace(*p))
		p++;

	if ((rest = cadence_keyword(p, "rolling")) != NULL && *rest)
	{
		cadence->unit = CADENCE_ROLLING;
		cadence_parse_interval(text, rest, &cadence->step);
		return;
	}
	if ((rest = cadence_keyword(p, "calendar")) != NULL)
	{
		static const struct
		{
			const char *name;
			CadenceUnit unit;
		}			units[] = {
			{"day", CADENCE_DAY}, {"week", CADENCE_WEEK}, {"month", CADENCE_MONTH}
		};
		size_t		len = strlen(rest);

		while (len > 0 && scanner_isspace(rest[len - 1]))
			len--;
		for (int i = 0; i < lengthof(units); i++)
		{
			if (len == strlen(units[i].name) &&
				pg_strncasecmp(rest, units[i].name, len) == 0)
			{
				cadence->unit = units[i].unit;
				return;
			}
		}
		cadence_syntax_error(text, "A calendar cadence is day, week or month.");
	}
	cadence_syntax_error(text, NULL);
}

static Interval *
make_interval_parts(int32 month, int32 day, TimeOffset time)
{
	Interval   *i = (Interval *) palloc0(sizeof(Interval));

	i->month = month;
	i->day = day;
	i->time = time;
	return i;
}

/*
 * A zone as core's timezone() reads it.  For a full zone name we keep the
 * pg_tz and convert with core's timestamp2tm / DetermineTimeZoneOffset /
 * tm2timestamp exactly as timezone() does, resolving the name once per
 * call instead of at every conversion; abbreviations and unknown names go
 * through timezone() itself (which raises 22023 for an unknown one).
 */
typedef struct Zone
{
	text	   *name;
	pg_tz	   *tz;				/* NULL: use timezone() */
} Zone;

static void
zone_resolve(text *name, Zone *zone)
{
	char		tzname[TZ_STRLEN_MAX + 1];
	char	   *lowzone;
	int			offset;
	pg_tz	   *abbrev_tz;

	zone->name = name;
	zone->tz = NULL;
	text_to_cstring_buffer(name, tzname, sizeof(tzname));
	lowzone = downcase_truncate_identifier(tzname, strlen(tzname), false);
	if (DecodeTimezoneAbbrev(0, lowzone, &offset, &abbrev_tz) == UNKNOWN_FIELD)
		zone->tz = pg_tzset(tzname);
}

static void
zone_out_of_range(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("timestamp out of range")));
}

/* instant -> wall-clock time in zone */
static Timestamp
to_local(TimestampTz t, const Zone *zone)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	Timestamp	result;

	if (zone->tz == NULL)
		return DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
													 PointerGetDatum(zone->name),
													 TimestampTzGetDatum(t)));
	if (timestamp2tm(t, &tzoff, &tm, &fsec, NULL, zone->tz) != 0 ||
		tm2timestamp(&tm, fsec, NULL, &result) != 0)
		zone_out_of_range();
	return result;
}

/* wall-clock time in zone -> instant (core's rule for gaps and overlaps) */
static TimestampTz
from_local(Timestamp t, const Zone *zone)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	TimestampTz result;

	if (zone->tz == NULL)
		return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone,
													   PointerGetDatum(zone->name),
													   TimestampGetDatum(t)));
	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		zone_out_of_range();
	tzoff = DetermineTimeZoneOffset(&tm, zone->tz);
	if (tm2timestamp(&tm, fsec, &tzoff, &result) != 0)
		zone_out_of_range();
	return result;
}

static Timestamp
local_plus(Timestamp t, int32 month, int32 day)
{
	return DatumGetTimestamp(DirectFunctionCall2(timestamp_pl_interval,
												 TimestampGetDatum(t),
												 PointerGetDatum(make_interval_parts(month, day, 0))));
}

/*
 * anchor + step as core's timestamptz + interval computes it with TimeZone
 * set to zone: months on the local calendar, then days, then elapsed time.
 */
static TimestampTz
rolling_add(TimestampTz anchor, const Interval *step, const Zone *zone)
{
	TimestampTz t = anchor;

	if (step->month != 0)
		t = from_local(local_plus(to_local(t, zone), step->month, 0), zone);
	if (step->day != 0)
		t = from_local(local_plus(to_local(t, zone), 0, step->day), zone);
	if (step->time != 0)
		t = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(t),
													PointerGetDatum(make_interval_parts(0, 0, step->time))));
	return t;
}

/* The window in which the next visit after anchor is due. */
static VisitWindow *
window_after_in_zone(TimestampTz anchor, const Cadence *cadence, const Zone *zone)
{
	Timestamp	period_start;
	int32		month = 0;
	int32		day = 0;
	const char *field;

	if (TIMESTAMP_NOT_FINITE(anchor))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("visit window anchor must be finite")));

	switch (cadence->unit)
	{
		case CADENCE_ROLLING:
			return sanse_visit_window_make(anchor,
										   rolling_add(anchor, &cadence->step, zone));
		case CADENCE_DAY:
			field = "day";
			day = 1;
			break;
		case CADENCE_WEEK:
			field = "week";		/* date_trunc weeks start on Monday */
			day = 7;
			break;
		case CADENCE_MONTH:
			field = "month";
			month = 1;
			break;
		default:
			elog(ERROR, "unknown cadence unit %d", (int) cadence->unit);
			return NULL;
	}

	period_start = DatumGetTimestamp(DirectFunctionCall2(timestamp_trunc,
														 CStringGetTextDatum(field),
														 TimestampGetDatum(to_local(anchor, zone))));
	return sanse_visit_window_make(from_local(local_plus(period_start, month, day), zone),
								   from_local(local_plus(period_start, 2 * month, 2 * day), zone));
}

/* The window in which the next visit after anchor is due. */
VisitWindow *
sanse_window_after(TimestampTz anchor, const Cadence *cadence, text *zone_name)
{
	Zone		zone;

	zone_resolve(zone_name, &zone);
	return window_after_in_zone(anchor, cadence, &zone);
}

/*
 * Per-call-site cache for window_after(anchor, cadence, tz): a query usually
 * passes the same cadence and zone for every row, so parse and resolve them
 * once per query rather than once per row.
 */
typedef struct WindowAfterCache
{
	text	   *cadence_text;
	Cadence		cadence;
	text	   *zone_text;
	Zone		zone;
} WindowAfterCache;

static bool
same_text(const text *a, const text *b)
{
	return a != NULL && VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* window_after — window_after(anchor, cadence, zone) */
PG_FUNCTION_INFO_V1(window_after);
Datum
window_after(PG_FUNCTION_ARGS)
{
	TimestampTz anchor = PG_GETARG_TIMESTAMPTZ(0);
	text	   *cadence_text = PG_GETARG_TEXT_PP(1);
	text	   *zone_text = PG_GETARG_TEXT_PP(2);
	WindowAfterCache *cache = (WindowAfterCache *) fcinfo->flinfo->fn_extra;
	MemoryContext oldcxt;

	if (cache == NULL)
		cache = fcinfo->flinfo->fn_extra =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(WindowAfterCache));

	if (!same_text(cache->cadence_text, cadence_text))
	{
		Cadence		parsed;

		sanse_cadence_parse(text_to_cstring(cadence_text), &parsed);
		oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		if (cache->cadence_text)
			pfree(cache->cadence_text);
		cache->cadence_text = (text *) pg_detoast_datum_copy((struct varlena *) cadence_text);
		MemoryContextSwitchTo(oldcxt);
		cache->cadence = parsed;
	}
	if (!same_text(cache->zone_text, zone_text))
	{
		oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		if (cache->zone_text)
			pfree(cache->zone_text);
		cache->zone_text = (text *) pg_detoast_datum_copy((struct varlena *) zone_text);
		MemoryContextSwitchTo(oldcxt);
		zone_resolve(cache->zone_text, &cache->zone);
	}
	PG_RETURN_VISIT_WINDOW_P(window_after_in_zone(anchor, &cache->cadence, &cache->zone));
}

/* cadence_is_valid — true for a cadence in the grammar, 22P02 otherwise */
PG_FUNCTION_INFO_V1(cadence_is_valid);
Datum
cadence_is_valid(PG_FUNCTION_ARGS)
{
	Cadence		cadence;

	sanse_cadence_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &cadence);
	PG_RETURN_BOOL(true);
}

/* zone_add — t + i computed in zone sanse.timezone (escalation step times) */
PG_FUNCTION_INFO_V1(zone_add);
Datum
zone_add(PG_FUNCTION_ARGS)
{
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(0);
	Interval   *i = PG_GETARG_INTERVAL_P(1);

	Zone		zone;

	if (TIMESTAMP_NOT_FINITE(t))
		PG_RETURN_TIMESTAMPTZ(t);
	zone_resolve(cstring_to_text(sanse_timezone), &zone);
	PG_RETURN_TIMESTAMPTZ(rolling_add(t, i, &zone));
}
