/*
 * door_token.c — the text on a resident's door QR code.
 *
 * A token is base64url(format byte || random nonce || truncated HMAC), 43
 * characters.  The nonce names a row of sanse.door_token (resident, version,
 * revoked_at), so the token reveals no name, tier or sequence; the MAC lets a
 * forged token be refused without touching a table, compared in constant
 * time.  Revoking marks the row and issues a new nonce.
 */
#include "postgres.h"

#include "common/base64.h"
#include "utils/builtins.h"

#include "door_token.h"
#include "secret.h"

#define DOOR_TOKEN_FORMAT	1
#define DOOR_TOKEN_MAC_LEN	16
#define DOOR_TOKEN_RAW_LEN	(1 + DOOR_TOKEN_NONCE_LEN + DOOR_TOKEN_MAC_LEN)
#define DOOR_TOKEN_TEXT_LEN	43	/* base64url of 32 bytes, unpadded */
#define DOOR_TOKEN_PURPOSE	"sanse door token"

static void
door_token_mac(const uint8 *format_and_nonce, uint8 mac[SANSE_MAC_LEN])
{
	sanse_mac(DOOR_TOKEN_PURPOSE, format_and_nonce, 1 + DOOR_TOKEN_NONCE_LEN, mac);
}

/* Check a token's form and signature; on success return its nonce. */
DoorTokenCheck
sanse_door_token_open(const char *token, size_t len, uint8 nonce[DOOR_TOKEN_NONCE_LEN])
{
	char		b64[DOOR_TOKEN_TEXT_LEN + 1];
	uint8		raw[DOOR_TOKEN_RAW_LEN + 2];
	uint8		mac[SANSE_MAC_LEN];
	int			n;

	if (len != DOOR_TOKEN_TEXT_LEN)
		return DOOR_TOKEN_MALFORMED;
	/* back from the URL-safe alphabet to core's base64; 32 bytes need one '=' */
	for (size_t i = 0; i < len; i++)
	{
		char		c = token[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			return DOOR_TOKEN_MALFORMED;
		b64[i] = c;
	}
	b64[len] = '=';

	/*
	 * 43 characters carry 258 bits for 256: the last character's two low
	 * bits are padding and must be zero, so a token has one spelling only.
	 */
	{
		const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *pos = strchr(alphabet, b64[len - 1]);

		if (pos == NULL || b64[len - 1] == '\0' || ((pos - alphabet) & 3) != 0)
			return DOOR_TOKEN_MALFORMED;
	}
	n = pg_b64_decode(b64, len + 1, (char *) raw, sizeof(raw));
	if (n != DOOR_TOKEN_RAW_LEN || raw[0] != DOOR_TOKEN_FORMAT)
		return DOOR_TOKEN_MALFORMED;

	door_token_mac(raw, mac);
	if (timingsafe_bcmp(mac, raw + 1 + DOOR_TOKEN_NONCE_LEN, DOOR_TOKEN_MAC_LEN) != 0)
		return DOOR_TOKEN_FORGED;
	memcpy(nonce, raw + 1, DOOR_TOKEN_NONCE_LEN);
	return DOOR_TOKEN_OK;
}

/* door_token_sign — the token text for a nonce (internal; owner only) */
PG_FUNCTION_INFO_V1(door_token_sign);
Datum
door_token_sign(PG_FUNCTION_ARGS)
{
	bytea	   *nonce = PG_GETARG_BYTEA_PP(0);
	uint8		raw[DOOR_TOKEN_RAW_LEN];
	uint8		mac[SANSE_MAC_LEN];
	char		b64[64];
	int			n;

	if (VARSIZE_ANY_EXHDR(nonce) != DOOR_TOKEN_NONCE_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("door token nonce must be %d bytes", DOOR_TOKEN_NONCE_LEN)));
	raw[0] = DOOR_TOKEN_FORMAT;
	memcpy(raw + 1, VARDATA_ANY(nonce), DOOR_TOKEN_NONCE_LEN);
	door_token_mac(raw, mac);
	memcpy(raw + 1 + DOOR_TOKEN_NONCE_LEN, mac, DOOR_TOKEN_MAC_LEN);

	n = pg_b64_encode((const char *) raw, DOOR_TOKEN_RAW_LEN, b64, sizeof(b64));
	if (n < 0)
		elog(ERROR, "could not encode door token");
	/* URL-safe alphabet, no padding */
	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (int i = 0; i < n; i++)
	{
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(b64, n));
}

/* door_token_nonce — a fresh random nonce for a new token */
PG_FUNCTION_INFO_V1(door_token_nonce);
Datum
door_token_nonce(PG_FUNCTION_ARGS)
{
	bytea	   *nonce = palloc(VARHDRSZ + DOOR_TOKEN_NONCE_LEN);

	SET_VARSIZE(nonce, VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
	if (!pg_strong_random(VARDATA(nonce), DOOR_TOKEN_NONCE_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random door token")));
	PG_RETURN_BYTEA_P(nonce);
}

/* door_token_open — the nonce of a valid token, NULL for a forged or malformed one */
PG_FUNCTION_INFO_V1(door_token_open);
Datum
door_token_open(PG_FUNCTION_ARGS)
{
	text	   *token = PG_GETARG_TEXT_PP(0);
	bytea	   *nonce = palloc(VARHDRSZ + DOOR_TOKEN_NONCE_LEN);

	SET_VARSIZE(nonce, VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
	if (sanse_door_token_open(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
							  (uint8 *) VARDATA(nonce)) != DOOR_TOKEN_OK)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(nonce);
}

/*
 * Refuse a door token: one short LOG line naming the worker and the act,
 * never the token, and 28000.  check_in and arrive refuse alike; neither the
 * LOG line nor the error carries the statement (the token may be a literal
 * in it).
 */
void
sanse_door_token_refuse(const char *act, int64 worker_id, const char *why)
{
	ereport(LOG,
			(errmsg("sanse: %s by worker " INT64_FORMAT " refused: %s door token", act, worker_id, why),
			 errhidestmt(true), errhidecontext(true)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("door token is not valid"),
			 errdetail("The token is %s.", why),
			 errhint("Scan the QR code on the resident's door again; a revoked code must be replaced."),
			 errhidestmt(true), errhidecontext(true)));
}

/*
 * door_token_verify(token, worker_id, act) — the nonce of a well-formed,
 * signed token; 28000 (and the LOG line) for a missing, malformed or forged
 * one.  The caller looks the nonce up and refuses an unknown or revoked one
 * with door_token_refuse.
 */
PG_FUNCTION_INFO_V1(door_token_verify);
Datum
door_token_verify(PG_FUNCTION_ARGS)
{
	int64		worker_id = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	const char *act = PG_ARGISNULL(2) ? "act" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	text	   *token;
	bytea	   *nonce = palloc(VARHDRSZ + DOOR_TOKEN_NONCE_LEN);

	if (PG_ARGISNULL(0))
		sanse_door_token_refuse(act, worker_id, "missing");
	token = PG_GETARG_TEXT_PP(0);
	SET_VARSIZE(nonce, VARHDRSZ + DOOR_TOKEN_NONCE_LEN);
	switch (sanse_door_token_open(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token), (uint8 *) VARDATA(nonce)))
	{
		case DOOR_TOKEN_OK:
			break;
		case DOOR_TOKEN_MALFORMED:
			sanse_door_token_refuse(act, worker_id, "malformed");
			break;
		case DOOR_TOKEN_FORGED:
			sanse_door_token_refuse(act, worker_id, "forged");
			break;
	}
	PG_RETURN_BYTEA_P(nonce);
}

/* door_token_refuse(worker_id, why, act) — raise 28000 with the LOG line */
PG_FUNCTION_INFO_V1(door_token_refuse);
Datum
door_token_refuse(PG_FUNCTION_ARGS)
{
	sanse_door_token_refuse(PG_ARGISNULL(2) ? "act" : text_to_cstring(PG_GETARG_TEXT_PP(2)),
							PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0),
							PG_ARGISNULL(1) ? "unknown" : text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
