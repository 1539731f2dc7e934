/*
 * secret.c — the installation secret (sanse.installation_secret, made at
 * install time), cached per backend and dropped on a relcache invalidation
 * of its table, and HMAC-SHA256 with core's pg_hmac.
 *
 * As for the rules (see rules.c): the row is read under a fresh catalog
 * snapshot, never the caller's possibly old one, and the cache is marked
 * "loading" first so that an invalidation arriving during the read, or a
 * read that fails, leaves it to be reloaded on next use.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/hmac.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "secret.h"

typedef enum SecretState
{
	SECRET_INVALID,				/* reload before use */
	SECRET_LOADING,				/* being read, or the read failed */
	SECRET_VALID				/* read, and no invalidation since */
} SecretState;

static uint8 *secret = NULL;	/* in TopMemoryContext */
static int	secret_len = 0;
static SecretState secret_state = SECRET_INVALID;
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

/* A replaced key is wiped at once rather than left in memory until next use. */
static void
secret_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == secret_relid)
	{
		secret_state = SECRET_INVALID;
		secret_forget();
	}
}

void
sanse_secret_init(void)
{
	CacheRegisterRelcacheCallback(secret_relcache_callback, (Datum) 0);
}

void
sanse_secret_invalidate(void)
{
	secret_state = SECRET_INVALID;
	secret_forget();
}

/* Read the secret; callers run as the extension owner (SECURITY DEFINER). */
static void
secret_load(void)
{
	bool		isnull;
	bytea	   *value;
	uint8	   *kept;
	int			len;
	int			ret;

	secret_relid = get_relname_relid("installation_secret", get_namespace_oid("sanse", false));
	if (!OidIsValid(secret_relid))
		elog(ERROR, "sanse.installation_secret is missing");

	/* before the snapshot: an invalidation from here on must not be lost */
	secret_state = SECRET_LOADING;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetCatalogSnapshot(secret_relid));
	ret = SPI_execute("SELECT secret FROM sanse.installation_secret WHERE id = 1", true, 1);
	PopActiveSnapshot();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read sanse.installation_secret: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sanse has no installation secret"),
				 errhint("Reinstall the extension or restore sanse.installation_secret.")));
	value = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	len = VARSIZE_ANY_EXHDR(value);
	kept = MemoryContextAlloc(TopMemoryContext, Max(len, 1));
	memcpy(kept, VARDATA_ANY(value), len);
	SPI_finish();

	secret_forget();
	secret = kept;
	secret_len = len;
	if (secret_state == SECRET_LOADING)
		secret_state = SECRET_VALID;
}

/*
 * HMAC-SHA256 under the installation secret of purpose || 0 || data; the
 * purpose string separates the uses of the one key.
 */
void
sanse_mac(const char *purpose, const uint8 *data, size_t len, uint8 mac[SANSE_MAC_LEN])
{
	pg_hmac_ctx *ctx;

	/* a replaced secret conflicts with no lock we hold: look for it each time */
	AcceptInvalidationMessages();
	if (secret_state != SECRET_VALID)
		secret_load();
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
