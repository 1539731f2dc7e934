/*
 * rules.c — the pinned risk factors, the classification rules cached in
 * memory, and sanse.classify.
 *
 * Rules live in sanse.classification_rule; each backend keeps them as bit
 * masks and reloads them after a relcache invalidation of that table, which
 * a statement trigger on the table sends (DML alone sends none).
 *
 * The cache is shared by all the backend's transactions, so it must hold
 * what is committed, not what some transaction's snapshot happens to see:
 * the table is read the way core reads a catalog, under a fresh catalog
 * snapshot (the latest committed rows plus this transaction's own changes,
 * whatever the isolation level; unlike GetLatestSnapshot() it may be taken
 * in parallel mode, and classify is PARALLEL SAFE).  The cache is marked
 * "loading" before that snapshot is taken, and an invalidation arriving
 * meanwhile demotes it, so a load that an edit overtook is redone on next
 * use instead of being trusted; a load that fails leaves it "loading" too.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "rules.h"

static const char *const risk_factor_names[] = {
	"sudden_illness", "no_caregiver", "accident_risk", "partial_care",
	"unstable_chronic", "mobility_impaired", "self_care_difficulty",
	"lives_alone", "disabled", "mental_disorder", "recently_discharged"
};

#define FACTOR_HINT "Valid factors are sudden_illness, no_caregiver, accident_risk, partial_care, " \
	"unstable_chronic, mobility_impaired, self_care_difficulty, lives_alone, disabled, " \
	"mental_disorder and recently_discharged."

typedef struct ClassificationRule
{
	FactorMask	all_of;
	RiskTier	tier;
} ClassificationRule;

typedef enum RulesState
{
	RULES_INVALID,				/* reload before use */
	RULES_LOADING,				/* being read, or the read failed */
	RULES_VALID					/* read, and no invalidation since */
} RulesState;

static ClassificationRule *rules = NULL;	/* in TopMemoryContext */
static int	nrules = 0;
static RulesState rules_state = RULES_INVALID;
static Oid	rules_relid = InvalidOid;

/* Only flags the cache: the array stays until the next load replaces it. */
static void
rules_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rules_relid)
		rules_state = RULES_INVALID;
}

void
sanse_rules_init(void)
{
	CacheRegisterRelcacheCallback(rules_relcache_callback, (Datum) 0);
}

/* Forget the cached rules now (the relcache message reaches others at commit). */
void
sanse_rules_invalidate(void)
{
	rules_state = RULES_INVALID;
}

static int
factor_index(const char *name, int len)
{
	for (int i = 0; i < lengthof(risk_factor_names); i++)
		if (strncmp(risk_factor_names[i], name, len) == 0 && risk_factor_names[i][len] == '\0')
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
					 errhint(FACTOR_HINT)));
		mask |= (FactorMask) 1 << idx;
	}
	pfree(elems);
	pfree(nulls);
	return mask;
}

static void
rules_load(void)
{
	ClassificationRule *loaded;
	ClassificationRule *kept;
	int			ret;
	int			n;

	rules_relid = get_relname_relid("classification_rule", get_namespace_oid("sanse", false));
	if (!OidIsValid(rules_relid))
		elog(ERROR, "sanse.classification_rule is missing");

	/* before the snapshot: an invalidation from here on must not be lost */
	rules_state = RULES_LOADING;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetCatalogSnapshot(rules_relid));
	ret = SPI_execute("SELECT tier, all_of FROM sanse.classification_rule WHERE enabled",
					  true, 0);
	PopActiveSnapshot();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read sanse.classification_rule: %s", SPI_result_code_string(ret));

	/* build in SPI's memory, so an error midway leaves nothing behind */
	n = (int) SPI_processed;
	loaded = palloc(sizeof(ClassificationRule) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		tier = SPI_getbinval(tup, desc, 1, &isnull);
		Datum		all_of = SPI_getbinval(tup, desc, 2, &isnull);

		loaded[i].tier = DatumGetRiskTier(tier);
		loaded[i].all_of = sanse_factor_mask(DatumGetArrayTypeP(all_of));
	}

	kept = MemoryContextAlloc(TopMemoryContext, sizeof(ClassificationRule) * Max(n, 1));
	memcpy(kept, loaded, sizeof(ClassificationRule) * n);
	if (rules)
		pfree(rules);
	rules = kept;
	nrules = n;
	SPI_finish();

	if (rules_state == RULES_LOADING)
		rules_state = RULES_VALID;
}

/* The most severe tier among rules whose factors are all present. */
RiskTier
sanse_classify_mask(FactorMask mask)
{
	RiskTier	best = RISK_TIER_INVALID;

	/*
	 * Rule edits take no lock that conflicts with ours, so a transaction
	 * that already holds its locks would otherwise not hear of them until
	 * its next new lock; reading the queue is cheap when it is empty.
	 */
	AcceptInvalidationMessages();
	if (rules_state != RULES_VALID)
		rules_load();
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
	Datum		elems[lengthof(risk_factor_names)];

	for (int i = 0; i < lengthof(risk_factor_names); i++)
		elems[i] = CStringGetTextDatum(risk_factor_names[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, lengthof(risk_factor_names), TEXTOID, -1, false, TYPALIGN_INT));
}
