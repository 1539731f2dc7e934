/*
 * rules.h — risk factors and the cached classification rules.
 */
#ifndef SANSE_RULES_H
#define SANSE_RULES_H

#include "utils/array.h"
#include "risk_tier.h"
#include "vocabulary.h"

/* One bit per pinned factor name. */
typedef uint32 FactorMask;

/* The pinned risk factors, in bit order (rules.c) */
extern const SanseTerm sanse_risk_factors[];
extern const int sanse_risk_factor_count;

extern FactorMask sanse_factor_mask(ArrayType *factors);
extern RiskTier sanse_classify_mask(FactorMask mask);

#endif							/* SANSE_RULES_H */
