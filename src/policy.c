/*
 * policy.c — each tier's cadence from sanse.tier_policy, cached per backend
 * (see cache.c for how the cache stays current), and window_after(tier,
 * anchor).
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "policy.h"
#include "sanse.h"

static Cadence policy_cadence[RISK_TIER_MAX + 1];
static bool policy_present[RISK_TIER_MAX + 1];

/* Parse every row before touching the cache, so a bad one changes nothing. */
static void
policy_load(SPITupleTable *rows, uint64 nrows)
{
	Cadence		parsed[RISK_TIER_MAX + 1];
	bool		present[RISK_TIER_MAX + 1];

	memset(parsed, 0, sizeof(parsed));
	memset(present, 0, sizeof(present));
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		RiskTier	tier = DatumGetRiskTier(SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull));
		char	   *cadence = SPI_getvalue(rows->vals[i], rows->tupdesc, 2);

		if (tier == RISK_TIER_INVALID || tier > RISK_TIER_MAX)
			elog(ERROR, "sanse.tier_policy holds an invalid tier");
		sanse_cadence_parse(cadence, &parsed[tier]);
		present[tier] = true;
	}

	memcpy(policy_cadence, parsed, sizeof(policy_cadence));
	memcpy(policy_present, present, sizeof(policy_present));
}

static SanseCache policy_cache = {.relname = "tier_policy",
	.query = "SELECT tier, cadence FROM sanse.tier_policy",
	.load = policy_load};

/*
 * The cadence of a tier.  Every tier has one (tier_policy refuses deletes),
 * so a missing row is a damaged installation: 55000, like a missing secret
 * (not P0002, which is PL/pgSQL's "query returned no rows").
 */
const Cadence *
sanse_policy_cadence(RiskTier tier)
{
	sanse_cache_ensure(&policy_cache);
	if (tier == RISK_TIER_INVALID || tier > RISK_TIER_MAX || !policy_present[tier])
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
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
