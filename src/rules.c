/*
 * rules.c — the pinned risk factors (listed once), the classification rules cached in
 * memory as bit masks (see cache.c for how the cache stays current), and
 * sanse.classify.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "cache.h"
#include "rules.h"

/*
 * The pinned risk factors, in bit order (a factor's bit is its index): the
 * one list of them.  sanse.compiled_vocabulary() fills the lookup table
 * sanse.risk_factor from it; the hint of a refusal lists it.
 */
const SanseTerm sanse_risk_factors[] = {
	{"sudden_illness", "a sudden illness (突发性疾病)"},
	{"no_caregiver", "nobody looks after them (缺乏照料)"},
	{"accident_risk", "an accident may happen at any time (随时可能发生意外)"},
	{"partial_care", "cared for, but not round the clock (虽有照料但无法全天候看护)"},
	{"unstable_chronic", "an unstable chronic disease (基础疾病不稳定)"},
	{"mobility_impaired", "limited mobility (行动不便)"},
	{"self_care_difficulty", "difficulty caring for themselves (生活自理存在困难)"},
	{"lives_alone", "lives alone (独居)"},
	{"disabled", "disabled (残疾)"},
	{"mental_disorder", "a mental disorder (精神障碍)"},
	{"recently_discharged", "recently discharged from hospital"},
};

#define SANSE_RISK_FACTORS ((int) lengthof(sanse_risk_factors))
const int	sanse_risk_factor_count = SANSE_RISK_FACTORS;

StaticAssertDecl(lengthof(sanse_risk_factors) <= sizeof(FactorMask) * 8, "one bit per factor");

/* "Valid factors are a, b, ... and z.", built once from the list */
static const char *
factor_hint(void)
{
	static char *hint = NULL;

	if (hint == NULL)
	{
		const char *names[lengthof(sanse_risk_factors)];
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		for (int i = 0; i < SANSE_RISK_FACTORS; i++)
			names[i] = sanse_risk_factors[i].value;
		hint = sanse_list_hint("Valid factors are ", names, SANSE_RISK_FACTORS);
		MemoryContextSwitchTo(old);
	}
	return hint;
}

typedef struct ClassificationRule
{
	FactorMask	all_of;
	RiskTier	tier;
} ClassificationRule;

static ClassificationRule *rules = NULL;	/* in TopMemoryContext */
static int	nrules = 0;

static int
factor_index(const char *name, int len)
{
	for (int i = 0; i < SANSE_RISK_FACTORS; i++)
		if (strncmp(sanse_risk_factors[i].value, name, len) == 0 && sanse_risk_factors[i].value[len] == '\0')
			return i;
	return -1;
}

/* Bit mask of a factor array; 22023 naming an unknown factor, 22004 for NULL. */
FactorMask
sanse_factor_mask(ArrayType *factors)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	FactorMask	mask = 0;

	if (ARR_NDIM(factors) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("factors must be a one-dimensional array")));
	deconstruct_array(factors, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		int			idx;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("factors must not contain NULL")));
		t = DatumGetTextPP(elems[i]);
		idx = factor_index(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		if (idx < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown risk factor \"%s\"", text_to_cstring(t)),
					 errhint("%s", factor_hint())));
		mask |= (FactorMask) 1 << idx;
	}
	pfree(elems);
	pfree(nulls);
	return mask;
}

/* Build in SPI's memory, so an error midway leaves the old rules whole. */
static void
rules_load(SPITupleTable *rows, uint64 nrows)
{
	int			n = (int) nrows;
	ClassificationRule *loaded = palloc(sizeof(ClassificationRule) * Max(n, 1));
	ClassificationRule *kept;

	for (int i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		tier = SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull);
		Datum		all_of = SPI_getbinval(rows->vals[i], rows->tupdesc, 2, &isnull);

		loaded[i].tier = DatumGetRiskTier(tier);
		loaded[i].all_of = sanse_factor_mask(DatumGetArrayTypeP(all_of));
	}

	kept = MemoryContextAlloc(TopMemoryContext, sizeof(ClassificationRule) * Max(n, 1));
	memcpy(kept, loaded, sizeof(ClassificationRule) * n);
	if (rules)
		pfree(rules);
	rules = kept;
	nrules = n;
}

static SanseCache rules_cache = {.relname = "classification_rule",
	.query = "SELECT tier, all_of FROM sanse.classification_rule WHERE enabled",
	.load = rules_load};

/* The most severe tier among rules whose factors are all present. */
RiskTier
sanse_classify_mask(FactorMask mask)
{
	RiskTier	best = RISK_TIER_INVALID;

	sanse_cache_ensure(&rules_cache);
	for (int i = 0; i < nrules; i++)
		if ((rules[i].all_of & ~mask) == 0 && rules[i].tier > best)
			best = rules[i].tier;
	return best;
}

/* classify — the tier the rules give these factors, NULL when none matches */
PG_FUNCTION_INFO_V1(classify);
Datum
classify(PG_FUNCTION_ARGS)
{
	RiskTier	tier = sanse_classify_mask(sanse_factor_mask(PG_GETARG_ARRAYTYPE_P(0)));

	if (tier == RISK_TIER_INVALID)
		PG_RETURN_NULL();
	PG_RETURN_RISK_TIER(tier);
}

/* factors_are_valid — true for known factors; 22023 naming the first unknown one */
PG_FUNCTION_INFO_V1(factors_are_valid);
Datum
factors_are_valid(PG_FUNCTION_ARGS)
{
	(void) sanse_factor_mask(PG_GETARG_ARRAYTYPE_P(0));
	PG_RETURN_BOOL(true);
}

/* factor_names — the pinned factor names, in bit order */
PG_FUNCTION_INFO_V1(factor_names);
Datum
factor_names(PG_FUNCTION_ARGS)
{
	Datum		elems[lengthof(sanse_risk_factors)];

	for (int i = 0; i < SANSE_RISK_FACTORS; i++)
		elems[i] = CStringGetTextDatum(sanse_risk_factors[i].value);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, SANSE_RISK_FACTORS, TEXTOID, -1, false, TYPALIGN_INT));
}
