/*
 * risk_tier.c — the sanse.risk_tier type: I/O and the few operators that
 * core's "char" functions cannot supply (comparison and hashing are bound
 * to core's "char" functions in the SQL script, as the codes are ordered).
 */
#include "postgres.h"

#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "risk_tier.h"

/*
 * The tiers, most severe first: the one list of their names.  Input takes
 * the English name in any case, the Chinese colour, or the colour with 色;
 * output gives the English name.  sanse.compiled_vocabulary() fills the
 * lookup table sanse.tier from it (what each tier means, from the paper).
 */
const SanseTier sanse_risk_tiers[] = {
	{RISK_TIER_RED, "red", "\xe7\xba\xa2",	/* 红 */
	"sudden illness, no care, an accident possible at any time (患有突发性疾病、缺乏照料、随时可能发生意外)"},
	{RISK_TIER_YELLOW, "yellow", "\xe9\xbb\x84",	/* 黄 */
	"some care but not round the clock, an unstable chronic disease or limited mobility (虽有照料但无法全天候看护、基础疾病不稳定或行动不便)"},
	{RISK_TIER_BLUE, "blue", "\xe8\x93\x9d",	/* 蓝 */
	"basic care, but needs regular attention (有基本照料、需常态关注)"},
};
const int	sanse_risk_tier_count = lengthof(sanse_risk_tiers);

StaticAssertDecl(lengthof(sanse_risk_tiers) == RISK_TIER_MAX, "one entry per tier code");

#define COLOUR_SUFFIX "\xe8\x89\xb2"	/* 色 */

/* Lower-case English name of a valid tier. */
const char *
sanse_risk_tier_name(RiskTier tier)
{
	for (int i = 0; i < lengthof(sanse_risk_tiers); i++)
		if (sanse_risk_tiers[i].tier == tier)
			return sanse_risk_tiers[i].name;
	elog(ERROR, "invalid risk tier code %d", (int) tier);
	return NULL;				/* keep compiler quiet */
}

/*
 * "Valid values are red, yellow and blue (any case), 红, 黄, 蓝, 红色, 黄色
 * and 蓝色." (the Chinese in UTF-8, as it always was).
 */
static char *
valid_tiers_hint(void)
{
	StringInfoData buf;
	int			n = lengthof(sanse_risk_tiers);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "Valid values are ");
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s", i == 0 ? "" : i == n - 1 ? " and " : ", ", sanse_risk_tiers[i].name);
	appendStringInfoString(&buf, " (any case)");
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, ", %s", sanse_risk_tiers[i].chinese);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s" COLOUR_SUFFIX, i == n - 1 ? " and " : ", ", sanse_risk_tiers[i].chinese);
	appendStringInfoChar(&buf, '.');
	return buf.data;
}

/*
 * Parse a tier name given in the server encoding; RISK_TIER_INVALID when it
 * names none.  The Chinese names are matched in UTF-8 whatever the database
 * encoding is.
 */
RiskTier
sanse_risk_tier_parse(const char *str)
{
	const char *start = str;
	const char *end;
	char	   *utf8;
	size_t		len;
	RiskTier	result = RISK_TIER_INVALID;

	while (*start && scanner_isspace(*start))
		start++;
	end = start + strlen(start);
	while (end > start && scanner_isspace(end[-1]))
		end--;
	len = end - start;

	utf8 = pg_server_to_any(start, len, PG_UTF8);
	if (utf8 != start)
		len = strlen(utf8);

	for (int i = 0; i < lengthof(sanse_risk_tiers) && result == RISK_TIER_INVALID; i++)
	{
		const SanseTier *t = &sanse_risk_tiers[i];
		size_t		zh = strlen(t->chinese);

		if ((strlen(t->name) == len && pg_strncasecmp(utf8, t->name, len) == 0) ||
			(zh == len && memcmp(utf8, t->chinese, len) == 0) ||
			(zh + strlen(COLOUR_SUFFIX) == len && memcmp(utf8, t->chinese, zh) == 0 &&
			 memcmp(utf8 + zh, COLOUR_SUFFIX, len - zh) == 0))
			result = t->tier;
	}
	if (utf8 != start)
		pfree(utf8);
	return result;
}

/* risk_tier_in — text to tier */
PG_FUNCTION_INFO_V1(risk_tier_in);
Datum
risk_tier_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	RiskTier	tier = sanse_risk_tier_parse(str);

	if (tier == RISK_TIER_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type risk_tier: \"%s\"", str),
				 errhint("%s", valid_tiers_hint())));
	PG_RETURN_RISK_TIER(tier);
}

/* risk_tier_out — tier to lower-case English */
PG_FUNCTION_INFO_V1(risk_tier_out);
Datum
risk_tier_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(pstrdup(sanse_risk_tier_name(PG_GETARG_RISK_TIER(0))));
}

/* risk_tier_recv — one byte on the wire, checked like text input */
PG_FUNCTION_INFO_V1(risk_tier_recv);
Datum
risk_tier_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			code;

	/* an empty value is bad data, not a protocol violation (pq_getmsgbyte's 08P01) */
	if (buf->cursor >= buf->len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external risk_tier value: no data"),
				 errdetail("A risk_tier is sent as one byte: 1 blue, 2 yellow, 3 red.")));
	code = pq_getmsgbyte(buf);
	if (code <= RISK_TIER_INVALID || code > RISK_TIER_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external risk_tier value %d", code),
				 errdetail("A risk_tier is sent as one byte: 1 blue, 2 yellow, 3 red.")));
	PG_RETURN_RISK_TIER((RiskTier) code);
}

/* risk_tier_send — one byte on the wire */
PG_FUNCTION_INFO_V1(risk_tier_send);
Datum
risk_tier_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, PG_GETARG_RISK_TIER(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* risk_tier_larger — the more severe of two tiers, for max() */
PG_FUNCTION_INFO_V1(risk_tier_larger);
Datum
risk_tier_larger(PG_FUNCTION_ARGS)
{
	RiskTier	a = PG_GETARG_RISK_TIER(0);
	RiskTier	b = PG_GETARG_RISK_TIER(1);

	PG_RETURN_RISK_TIER(a > b ? a : b);
}

/* risk_tier_smaller — the less severe of two tiers, for min() */
PG_FUNCTION_INFO_V1(risk_tier_smaller);
Datum
risk_tier_smaller(PG_FUNCTION_ARGS)
{
	RiskTier	a = PG_GETARG_RISK_TIER(0);
	RiskTier	b = PG_GETARG_RISK_TIER(1);

	PG_RETURN_RISK_TIER(a < b ? a : b);
}
