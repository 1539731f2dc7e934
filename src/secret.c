/*
 * secret.c — the installation secret (sanse.installation_secret, made at
 * install time), cached per backend and dropped on a relcache invalidation
 * of its table, and HMAC-SHA256 with core's pg_hmac.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/hmac.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "secret.h"

static uint8 *secret = NULL;
static int	secret_len = 0;
static Oid	secret_relid = InvalidOid;

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
secret_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == secret_relid)
		secret_forget();
}

void
sanse_secret_init(void)
{
	CacheRegisterRelcacheCallback(secret_relcache_callback, (Datum) 0);
}

void
sanse_secret_invalidate(void)
{
	secret_forget();
}

/* Read the secret; callers run as the extension owner (SECURITY DEFINER). */
static void
secret_load(void)
{
	bool		isnull;
	bytea	   *value;
	int			ret;

	secret_relid = get_relname_relid("installation_secret", get_namespace_oid("sanse", false));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute("SELECT secret FROM sanse.installation_secret WHERE id = 1", true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read sanse.installation_secret: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sanse has no installation secret"),
				 errhint("Reinstall the extension or restore sanse.installation_secret.")));
	value = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	secret = MemoryContextAlloc(TopMemoryContext, VARSIZE_ANY_EXHDR(value));
	memcpy(secret, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	secret_len = VARSIZE_ANY_EXHDR(value);
	SPI_finish();
}

/*
 * HMAC-SHA256 under the installation secret of purpose || 0 || data; the
 * purpose string separates the uses of the one key.
 */
void
sanse_mac(const char *purpose, const uint8 *data, size_t len, uint8 mac[SANSE_MAC_LEN])
{
	pg_hmac_ctx *ctx;

	if (secret == NULL)
		secret_load();
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL ||
		pg_hmac_init(ctx, secret, secret_len) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) purpose, strlen(purpose) + 1) < 0 ||
		pg_hmac_update(ctx, data, len) < 0 ||
		pg_hmac_final(ctx, mac, SANSE_MAC_LEN) < 0)
		elog(ERROR, "could not compute HMAC: %s", ctx ? pg_hmac_error(ctx) : "out of memory");
	pg_hmac_free(ctx);
}
