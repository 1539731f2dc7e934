/*
 * secret.c — the installation secret (sanse.installation_secret, made at
 * install time), cached per backend (see cache.c for how the cache stays
 * current) and wiped as soon as its table is invalidated, and HMAC-SHA256
 * with core's pg_hmac.
 */
#include "postgres.h"

#include "common/hmac.h"
#include "utils/memutils.h"

#include "cache.h"
#include "secret.h"

static uint8 *secret = NULL;	/* in TopMemoryContext */
static int	secret_len = 0;

/* A replaced key is wiped at once rather than left in memory until next use. */
static void
secret_forget(void)
{
	if (secret)
	{
		explicit_bzero(secret, secret_len);
		pfree(secret);
	}
	secret = NULL;
	secret_len = 0;
}

static void
secret_load(SPITupleTable *rows, uint64 nrows)
{
	bool		isnull;
	bytea	   *value;
	uint8	   *kept;
	int			len;

	if (nrows != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sanse has no installation secret"),
				 errhint("Reinstall the extension or restore sanse.installation_secret.")));
	value = DatumGetByteaPP(SPI_getbinval(rows->vals[0], rows->tupdesc, 1, &isnull));
	len = VARSIZE_ANY_EXHDR(value);
	kept = MemoryContextAlloc(TopMemoryContext, Max(len, 1));
	memcpy(kept, VARDATA_ANY(value), len);

	/* the old key goes only once the new one is safely kept */
	secret_forget();
	secret = kept;
	secret_len = len;
}

/* Only the extension owner may read the table: sanse_mac's callers are SECURITY DEFINER. */
static SanseCache secret_cache = {.relname = "installation_secret",
	.query = "SELECT secret FROM sanse.installation_secret WHERE id = 1",
	.load = secret_load, .forget = secret_forget};

/*
 * HMAC-SHA256 under the installation secret of purpose || 0 || data; the
 * purpose string separates the uses of the one key.
 */
void
sanse_mac(const char *purpose, const uint8 *data, size_t len, uint8 mac[SANSE_MAC_LEN])
{
	pg_hmac_ctx *ctx;

	sanse_cache_ensure(&secret_cache);
	Assert(secret != NULL);
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, secret, secret_len) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) purpose, strlen(purpose) + 1) < 0 ||
		pg_hmac_update(ctx, data, len) < 0 ||
		pg_hmac_final(ctx, mac, SANSE_MAC_LEN) < 0)
		elog(ERROR, "could not compute HMAC: %s", ctx ? pg_hmac_error(ctx) : "out of memory");
	pg_hmac_free(ctx);
}

/*
 * HMAC-SHA256 of data alone under the installation secret: the keyed hash of
 * an ID card number, equal to sanse.id_number_hash() of the same normalized
 * text (pgcrypto's hmac(text, secret, 'sha256')), so numbers hashed in C
 * (resident_id.c) match those hashed in SQL.
 */
void
sanse_hmac_plain(const uint8 *data, size_t len, uint8 mac[SANSE_MAC_LEN])
{
	pg_hmac_ctx *ctx;

	sanse_cache_ensure(&secret_cache);
	Assert(secret != NULL);
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, secret, secret_len) < 0 ||
		pg_hmac_update(ctx, data, len) < 0 ||
		pg_hmac_final(ctx, mac, SANSE_MAC_LEN) < 0)
		elog(ERROR, "could not compute HMAC: %s", ctx ? pg_hmac_error(ctx) : "out of memory");
	pg_hmac_free(ctx);
}
