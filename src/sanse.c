/*
 * sanse.c — module magic, _PG_init and the extension's settings.
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/rel.h"

#include "policy.h"
#include "rules.h"
#include "sanse.h"

PG_MODULE_MAGIC;

char	   *sanse_timezone = NULL;

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

	MarkGUCPrefixReserved("sanse");

	sanse_rules_init();
	sanse_policy_init();
}

/*
 * cache_invalidate — statement trigger on the rule and policy tables: every
 * backend drops its cached copy (this one at once, others at commit).
 */
PG_FUNCTION_INFO_V1(cache_invalidate);
Datum
cache_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "cache_invalidate: not called by trigger manager");

	sanse_rules_invalidate();
	sanse_policy_invalidate();
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/* sanse.current_zone() — the zone sanse computes due dates in */
PG_FUNCTION_INFO_V1(current_zone);
Datum
current_zone(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(sanse_timezone));
}
