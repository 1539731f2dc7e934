/*
 * rules.h — risk factors and the cached classification rules.
 */
#ifndef SANSE_RULES_H
#define SANSE_RULES_H

#include "utils/array.h"
#include "risk_tier.h"

/* One bit per pinned factor name. */
typedef uint32 FactorMask;

extern FactorMask sanse_factor_mask(ArrayType *factors);
extern RiskTier sanse_classify_mask(FactorMask mask);

#endif							/* SANSE_RULES_H */
