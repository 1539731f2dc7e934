/*
 * policy.h — the cached sanse.tier_policy.
 */
#ifndef SANSE_POLICY_H
#define SANSE_POLICY_H

#include "cadence.h"
#include "risk_tier.h"

extern const Cadence *sanse_policy_cadence(RiskTier tier);
extern VisitWindow *sanse_window_after_tier(RiskTier tier, TimestampTz anchor);

#endif							/* SANSE_POLICY_H */
