/*
 * policy.c — each tier's cadence from sanse.tier_policy, cached per backend
 * and reloaded after a relcache invalidation of the table (sent by a
 * statement trigger on it), and window_after(tier, anchor).
 *
 * As for the rules (see rules.c): the table is read under a fresh catalog
 * snapshot, never the caller's possibly old one, and the cache is marked
 * "loading" first so that an invalidation arriving during the read, or a
 * read that fails, leaves it to be reloaded on next use.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "policy.h"
#include "sanse.h"

typedef enum PolicyState
{
	POLICY_INVALID,				/* reload before use */
	POLICY_LOADING,				/* being read, or the read failed */
	POLICY_VALID				/* read, and no invalidation since */
} PolicyState;

static Cadence policy_cadence[RISK_TIER_MAX + 1];
static bool policy_present[RISK_TIER_MAX + 1];
static PolicyState policy_state = POLICY_INVALID;
static Oid	policy_relid = InvalidOid;

static void
policy_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == policy_relid)
		policy_state = POLICY_INVALID;
}

void
sanse_policy_init(void)
{
	CacheRegisterRelcacheCallback(policy_relcache_callback, (Datum) 0);
}

void
sanse_policy_invalidate(void)
{
	policy_state = POLICY_INVALID;
}

static void
policy_load(void)
{
	Cadence		parsed[RISK_TIER_MAX + 1];
	bool		present[RISK_TIER_MAX + 1];
	int			ret;

	memset(parsed, 0, sizeof(parsed));
	memset(present, 0, sizeof(present));

	policy_relid = get_relname_relid("tier_policy", get_namespace_oid("sanse", false));
	if (!OidIsValid(policy_relid))
		elog(ERROR, "sanse.tier_policy is missing");

	/* before the snapshot: an invalidation from here on must not be lost */
	policy_state = POLICY_LOADING;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetCatalogSnapshot(policy_relid));
	ret = SPI_execute("SELECT tier, cadence FROM sanse.tier_policy", true, 0);
	PopActiveSnapshot();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read sanse.tier_policy: %s", SPI_result_code_string(ret));

	/* parse every row before touching the cache, so a bad one changes nothing */
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		RiskTier	tier = DatumGetRiskTier(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));
		char	   *cadence = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (tier == RISK_TIER_INVALID || tier > RISK_TIER_MAX)
			elog(ERROR, "sanse.tier_policy holds an invalid tier");
		sanse_cadence_parse(cadence, &parsed[tier]);
		present[tier] = true;
	}
	SPI_finish();

	memcpy(policy_cadence, parsed, sizeof(policy_cadence));
	memcpy(policy_present, present, sizeof(policy_present));
	if (policy_state == POLICY_LOADING)
		policy_state = POLICY_VALID;
}

/* The cadence of a tier; every tier has one (tier_policy refuses deletes). */
const Cadence *
sanse_policy_cadence(RiskTier tier)
{
	/* policy edits conflict with no lock we hold: look for them each time */
	AcceptInvalidationMessages();
	if (policy_state != POLICY_VALID)
		policy_load();
	if (tier == RISK_TIER_INVALID || tier > RISK_TIER_MAX || !policy_present[tier])
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no tier_policy row for tier %s", sanse_risk_tier_name(tier))));
	return &policy_cadence[tier];
}

/* The next window for a tier, in zone sanse.timezone. */
VisitWindow *
sanse_window_after_tier(RiskTier tier, TimestampTz anchor)
{
	const Cadence *cadence = sanse_policy_cadence(tier);

	return sanse_window_after(anchor, cadence, cstring_to_text(sanse_timezone));
}

/* window_after_tier — window_after(tier, anchor) with the tier's policy */
PG_FUNCTION_INFO_V1(window_after_tier);
Datum
window_after_tier(PG_FUNCTION_ARGS)
{
	PG_RETURN_VISIT_WINDOW_P(sanse_window_after_tier(PG_GETARG_RISK_TIER(0),
													 PG_GETARG_TIMESTAMPTZ(1)));
}
