/*
 * risk_tier.c — the sanse.risk_tier type: I/O and the few operators that
 * core's "char" functions cannot supply (comparison and hashing are bound
 * to core's "char" functions in the SQL script, as the codes are ordered).
 */
#include "postgres.h"

#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"
#include "utils/builtins.h"

#include "risk_tier.h"

#define VALID_TIERS_HINT \
	"Valid values are red, yellow and blue (any case), 红, 黄, 蓝, 红色, 黄色 and 蓝色."

typedef struct RiskTierName
{
	const char *name;			/* compared case-insensitively for ASCII, in UTF-8 */
	RiskTier	tier;
} RiskTierName;

static const RiskTierName risk_tier_names[] = {
	{"red", RISK_TIER_RED},
	{"yellow", RISK_TIER_YELLOW},
	{"blue", RISK_TIER_BLUE},
	{"\xe7\xba\xa2", RISK_TIER_RED},	/* 红 */
	{"\xe9\xbb\x84", RISK_TIER_YELLOW},	/* 黄 */
	{"\xe8\x93\x9d", RISK_TIER_BLUE},	/* 蓝 */
	{"\xe7\xba\xa2\xe8\x89\xb2", RISK_TIER_RED},	/* 红色 */
	{"\xe9\xbb\x84\xe8\x89\xb2", RISK_TIER_YELLOW},	/* 黄色 */
	{"\xe8\x93\x9d\xe8\x89\xb2", RISK_TIER_BLUE},	/* 蓝色 */
};

/* Lower-case English name of a valid tier. */
const char *
sanse_risk_tier_name(RiskTier tier)
{
	switch (tier)
	{
		case RISK_TIER_RED:
			return "red";
		case RISK_TIER_YELLOW:
			return "yellow";
		case RISK_TIER_BLUE:
			return "blue";
	}
	elog(ERROR, "invalid risk tier code %d", (int) tier);
	return NULL;				/* keep compiler quiet */
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

	for (int i = 0; i < lengthof(risk_tier_names); i++)
	{
		if (strlen(risk_tier_names[i].name) == len &&
			pg_strncasecmp(utf8, risk_tier_names[i].name, len) == 0)
		{
			result = risk_tier_names[i].tier;
			break;
		}
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
				 errhint(VALID_TIERS_HINT)));
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
