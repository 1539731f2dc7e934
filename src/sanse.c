/*
 * sanse.c — module magic, _PG_init and the extension's settings.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "input.h"
#include "resident_id.h"
#include "sanse.h"
#include "reading.h"
#include "trigger_guard.h"

PG_MODULE_MAGIC;

char	   *sanse_timezone = NULL;
int			sanse_quick_succession = 300;
int			sanse_repeat_window = 1800;
int			sanse_max_travel_speed = 60;
char	   *sanse_max_backdate_text = NULL;
char	   *sanse_retention_text = NULL;
char	   *sanse_reading_retention_text = NULL;
int			sanse_min_cell = 5;
int64		sanse_max_backdate = INT64CONST(30) * USECS_PER_DAY;

/* Accept only zones the server's tz database knows, so due dates never fail later. */
static bool
check_sanse_timezone(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || pg_tzset(*newval) == NULL)
	{
		GUC_check_errdetail("Time zone \"%s\" is not recognized.",
							*newval ? *newval : "");
		GUC_check_errhint("Use a full zone name such as Asia/Shanghai.");
		return false;
	}
	return true;
}

/*
 * sanse.max_backdate is an interval ('30 days', '10 years'); months count as
 * 30 days and years as 365.25, as interval comparison counts them.
 */
static bool
check_sanse_max_backdate(char **newval, void **extra, GucSource source)
{
	Datum		value;
	char	   *message = NULL;
	Interval   *span;
	int64	   *usec;

	if (*newval == NULL || !sanse_try_input(interval_in, *newval, &value, &message))
	{
		GUC_check_errdetail("\"%s\" is not an interval%s%s.", *newval ? *newval : "",
							message ? ": " : "", message ? message : "");
		return false;
	}
	span = DatumGetIntervalP(value);
	if (span->month < 0 || span->day < 0 || span->time < 0 ||
		span->month > 12 * 1000 || span->day > 366 * 1000)
	{
		GUC_check_errdetail("sanse.max_backdate must be between 0 and 1000 years.");
		return false;
	}
	usec = malloc(sizeof(int64));	/* GUC frees extra with free() */
	if (usec == NULL)
		return false;
	*usec = span->time + (int64) span->day * USECS_PER_DAY +
		(int64) span->month * (USECS_PER_DAY * DAYS_PER_MONTH);
	*extra = usec;
	return true;
}

/* sanse.retention: any non-negative interval (SQL reads it through sanse.retention()). */
static bool
check_sanse_retention(char **newval, void **extra, GucSource source)
{
	Datum		value;
	char	   *message = NULL;
	Interval   *span;

	if (*newval == NULL || !sanse_try_input(interval_in, *newval, &value, &message))
	{
		GUC_check_errdetail("\"%s\" is not an interval%s%s.", *newval ? *newval : "",
							message ? ": " : "", message ? message : "");
		return false;
	}
	span = DatumGetIntervalP(value);
	if (span->month < 0 || span->day < 0 || span->time < 0)
	{
		GUC_check_errdetail("sanse.retention must not be negative.");
		return false;
	}
	return true;
}

/* sanse.reading_retention: a positive interval (SQL reads it through sanse.reading_retention()). */
static bool
check_sanse_reading_retention(char **newval, void **extra, GucSource source)
{
	Datum		value;
	char	   *message = NULL;
	Interval   *span;

	if (*newval == NULL || !sanse_try_input(interval_in, *newval, &value, &message))
	{
		GUC_check_errdetail("\"%s\" is not an interval%s%s.", *newval ? *newval : "",
							message ? ": " : "", message ? message : "");
		return false;
	}
	span = DatumGetIntervalP(value);
	if (span->month < 0 || span->day < 0 || span->time < 0 ||
		(span->month == 0 && span->day == 0 && span->time < USECS_PER_DAY))
	{
		GUC_check_errdetail("sanse.reading_retention must be at least 1 day.");
		return false;
	}
	return true;
}

static void
assign_sanse_max_backdate(const char *newval, void *extra)
{
	sanse_max_backdate = *(int64 *) extra;
}

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * Superuser-only: due dates are part of the care contract, so a client
	 * session must not be able to move them by changing a setting.
	 */
	DefineCustomStringVariable("sanse.timezone",
							   "Time zone in which visit windows are computed.",
							   "Calendar cadences (day, week, month) start at local midnight in this zone.",
							   &sanse_timezone,
							   "Asia/Shanghai",
							   PGC_SUSET,
							   0,
							   check_sanse_timezone, NULL, NULL);

	/* Flag thresholds are anti-fraud settings: superuser-only as well. */
	DefineCustomIntVariable("sanse.quick_succession",
							"A check-in this soon after the same worker's check-in at another door is flagged quick_succession.",
							NULL,
							&sanse_quick_succession,
							300, 0, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("sanse.repeat_window",
							"A check-in this soon after the same worker's check-in at the same door is flagged repeat_visit.",
							NULL,
							&sanse_repeat_window,
							1800, 0, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("sanse.max_travel_speed",
							"Travel faster than this (km/h) between two homes is flagged impossible_travel.",
							NULL,
							&sanse_max_travel_speed,
							60, 1, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	/*
	 * How far back a check-in may be dated (offline phones sync late).  A
	 * month covers a field team out of coverage for weeks; replays of older
	 * history raise it.  Superuser-only: an app must not widen it.
	 */
	DefineCustomStringVariable("sanse.max_backdate",
							   "A check-in may be dated at most this far before the server clock.",
							   "An interval; check-ins dated earlier are refused with SQLSTATE 22008.",
							   &sanse_max_backdate_text,
							   "30 days",
							   PGC_SUSET, 0,
							   check_sanse_max_backdate, assign_sanse_max_backdate, NULL);

	/*
	 * How long a resident who left the programme is kept before the sweep
	 * forgets them (PIPL: deletion once the purpose is achieved).
	 */
	DefineCustomStringVariable("sanse.retention",
							   "How long an inactive resident is kept before the sweep forgets them.",
							   "An interval; name, factors, ID hash, coordinates and door tokens are then erased.",
							   &sanse_retention_text,
							   "2 years",
							   PGC_SUSET, 0,
							   check_sanse_retention, NULL, NULL);

	/* How long readings are kept: the sweep drops older days' partitions. */
	DefineCustomStringVariable("sanse.reading_retention",
							   "How long sensor readings are kept before the sweep drops their day.",
							   "An interval of at least 1 day; a day's partition of sanse.reading goes once all of it is older.",
							   &sanse_reading_retention_text,
							   "30 days",
							   PGC_SUSET, 0,
							   check_sanse_reading_retention, NULL, NULL);

	/* Screen-view counts below this, for roles that see aggregates only, are shown as NULL. */
	DefineCustomIntVariable("sanse.min_cell",
							"Counts from 1 to this minus 1 are shown as NULL to roles that may read aggregates only.",
							"No small cell of a screen view identifies a household.",
							&sanse_min_cell,
							5, 1, 1000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("sanse");

	sanse_cache_init();
	sanse_area_access_init();
	sanse_resident_id_init();
	sanse_reading_init();
}

/*
 * cache_invalidate — statement trigger on the rule, policy, secret, grant,
 * area, force and worker_role tables: every backend drops its cached copy of
 * the table (this one at once, others at commit).
 */
PG_FUNCTION_INFO_V1(cache_invalidate);
Datum
cache_invalidate(PG_FUNCTION_ARGS)
{
	static const char *const cached_tables[] = {
		"classification_rule", "tier_policy", "installation_secret", "area_grant", "area",
		"force", "worker_role", "device", "device_rule"
	};
	TriggerData *trigdata = sanse_trigger_guard(fcinfo, "cache_invalidate",
												cached_tables, lengthof(cached_tables));
	Oid			relid = RelationGetRelid(trigdata->tg_relation);

	sanse_cache_invalidate(relid);
	CacheInvalidateRelcacheByRelid(relid);
	return PointerGetDatum(NULL);
}

/*
 * sanse.cell(n, exact) — a count as a role with aggregate access only sees
 * it: NULL from 1 to sanse.min_cell - 1 unless exact.  In C so that the
 * threshold is the library's superuser-only setting (a SQL function reading
 * current_setting() would read a placeholder any role may set before the
 * library is loaded in its session).
 */
PG_FUNCTION_INFO_V1(cell);
Datum
cell(PG_FUNCTION_ARGS)
{
	int64		n;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	n = PG_GETARG_INT64(0);
	if ((!PG_ARGISNULL(1) && PG_GETARG_BOOL(1)) || n == 0 || n >= sanse_min_cell)
		PG_RETURN_INT64(n);
	PG_RETURN_NULL();
}

/*
 * sanse.retention() — the setting sanse.retention as an interval, read in C
 * for the reason cell() is: never a placeholder set by a non-superuser.
 */
PG_FUNCTION_INFO_V1(retention);
Datum
retention(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall3(interval_in, CStringGetDatum(sanse_retention_text),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* sanse.reading_retention() — the setting sanse.reading_retention as an interval */
PG_FUNCTION_INFO_V1(reading_retention);
Datum
reading_retention(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall3(interval_in, CStringGetDatum(sanse_reading_retention_text),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* sanse.current_zone() — the zone sanse computes due dates in */
PG_FUNCTION_INFO_V1(current_zone);
Datum
current_zone(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(sanse_timezone));
}

/*
 * sanse.max_backdate() — the setting sanse.max_backdate as the interval
 * check_in bounds its times with (months as 30 days, as it counts them), read
 * in C for the reason cell() is: never a placeholder a non-superuser set.
 */
PG_FUNCTION_INFO_V1(max_backdate);
Datum
max_backdate(PG_FUNCTION_ARGS)
{
	Interval   *span = palloc0(sizeof(Interval));

	span->time = sanse_max_backdate;
	PG_RETURN_INTERVAL_P(span);
}

/*
 * sanse.acting_role() — the role acting in the session: SET ROLE's, else the
 * login (what caller_sees asks about), NULL if that role was dropped
 * meanwhile.  Inside a SECURITY DEFINER function current_user is the
 * function's owner, so the loop asks this instead.
 */
PG_FUNCTION_INFO_V1(acting_role);
Datum
acting_role(PG_FUNCTION_ARGS)
{
	Oid			acting = GetCurrentRoleId();
	char	   *name;

	if (!OidIsValid(acting))
		acting = GetSessionUserId();
	name = GetUserNameFromId(acting, true);
	if (name == NULL)			/* dropped by another session meanwhile */
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(name)));
}
