/*
 * risk_tier.h — the 1-byte risk tier (blue < yellow < red).
 */
#ifndef SANSE_RISK_TIER_H
#define SANSE_RISK_TIER_H

#include "fmgr.h"

/* Codes are severity-ordered and never reused; 0 is never a valid tier. */
typedef uint8 RiskTier;

#define RISK_TIER_INVALID	0
#define RISK_TIER_BLUE		1
#define RISK_TIER_YELLOW	2
#define RISK_TIER_RED		3
#define RISK_TIER_MAX		RISK_TIER_RED

#define DatumGetRiskTier(X)		((RiskTier) DatumGetChar(X))
#define RiskTierGetDatum(X)		CharGetDatum((char) (X))
#define PG_GETARG_RISK_TIER(n)	DatumGetRiskTier(PG_GETARG_DATUM(n))
#define PG_RETURN_RISK_TIER(x)	return RiskTierGetDatum(x)

/* A tier's names and meaning (risk_tier.c: the one list, most severe first) */
typedef struct SanseTier
{
	RiskTier	tier;
	const char *name;			/* English, lower case: the output */
	const char *chinese;		/* the colour in UTF-8; with 色 also accepted */
	const char *meaning;
} SanseTier;

extern const SanseTier sanse_risk_tiers[];
extern const int sanse_risk_tier_count;

extern const char *sanse_risk_tier_name(RiskTier tier);
extern RiskTier sanse_risk_tier_parse(const char *str);

#endif							/* SANSE_RISK_TIER_H */
