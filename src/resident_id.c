/*
 * resident_id.c — the resident ID card number (居民身份证号码, GB 11643) of a
 * department's feed row: checked here, turned into its keyed hash before the
 * row is stored, and kept out of the server log.
 *
 * A number is 18 characters: 17 digits and a check character, 0-9 or X,
 * by ISO 7064 MOD 11-2 (a lower-case x is read as X).  The BEFORE row
 * trigger on sanse.feed_inbox replaces the clear number by its HMAC-SHA256
 * under the installation secret (the same hash as sanse.id_number_hash() of
 * the normalized number, so feeds match residents registered by apps) and
 * sets the column to NULL; a malformed number is kept only as the row's
 * outcome ('rejected') and reason.  No message here ever carries the number.
 *
 * What PostgreSQL itself logs is covered by an emit_log_hook: COPY's CONTEXT
 * line for sanse.feed_inbox ("COPY feed_inbox, line 3: "...the whole line"")
 * loses its quoted text, any run of 14 or more digits (and the character
 * after it) in a message, detail, hint, context or query is masked, and a
 * statement carrying such a run is not printed (log_min_error_statement).
 * The hook is installed when the library is loaded; a BEFORE INSERT
 * statement trigger on sanse.feed_inbox loads it before COPY reads line 1.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "catalog/pg_class.h"

#include "resident_id.h"
#include "secret.h"
#include "trigger_guard.h"

#define ID_NUMBER_LEN 18
/* a run of this many digits in a log line is taken for an ID number */
#define MASK_MIN_DIGITS 14

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * The problem with a clear ID number, or NULL when it is well formed; then
 * canon holds its 18 characters, check character upper-case.  Blanks (space,
 * tab, CR, LF) around it are ignored.  Never reports the number itself.
 */
const char *
sanse_id_number_problem(const char *s, int len, char canon[ID_NUMBER_LEN + 1])
{
	static const int weight[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char check[11] = {'1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'};
	int			sum = 0;
	char		last;

	while (len > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	if (len == 0)
		return "no ID number";
	if (len != ID_NUMBER_LEN)
		return "an ID number has 18 characters";
	for (int i = 0; i < 17; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return "an ID number is 17 digits and a check character";
		sum += (s[i] - '0') * weight[i];
		canon[i] = s[i];
	}
	last = s[17] == 'x' ? 'X' : s[17];
	if (!((last >= '0' && last <= '9') || last == 'X'))
		return "an ID number is 17 digits and a check character";
	canon[17] = last;
	canon[ID_NUMBER_LEN] = '\0';
	if (check[sum % 11] != last)
		return "bad check character";
	return NULL;
}

/* sanse.id_number_problem(text): why a number is malformed, NULL when it is not */
PG_FUNCTION_INFO_V1(id_number_problem);
Datum
id_number_problem(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	char		canon[ID_NUMBER_LEN + 1];
	const char *problem = sanse_id_number_problem(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), canon);

	explicit_bzero(canon, sizeof(canon));
	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

/* ---------------------------------------------------------------------------
 * Who may load a department's feed (sanse.may_load_feed), asked once per
 * statement and department: a COPY of 100,000 rows asks once.
 */
#define MAY_LOAD_CACHE 8
static char *may_load_dept[MAY_LOAD_CACHE];
static bool may_load_ok[MAY_LOAD_CACHE];
static int	may_load_n = 0;
static Oid	may_load_user = InvalidOid;

static void
may_load_reset(void)
{
	for (int i = 0; i < may_load_n; i++)
		pfree(may_load_dept[i]);
	may_load_n = 0;
	may_load_user = InvalidOid;
}

static bool
may_load(const char *dept)
{
	Datum		arg;
	Oid			argtype = TEXTOID;
	bool		ok,
				isnull;
	int			rc;

	if (may_load_user != GetUserId())
		may_load_reset();
	may_load_user = GetUserId();
	for (int i = 0; i < may_load_n; i++)
		if (strcmp(may_load_dept[i], dept) == 0)
			return may_load_ok[i];

	SPI_connect();
	arg = CStringGetTextDatum(dept);
	rc = SPI_execute_with_args("SELECT sanse.may_load_feed($1, current_user)", 1, &argtype, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not ask sanse.may_load_feed");
	ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	ok = ok && !isnull;
	SPI_finish();

	if (may_load_n == MAY_LOAD_CACHE)
		may_load_reset(), may_load_user = GetUserId();
	may_load_dept[may_load_n] = MemoryContextStrdup(TopMemoryContext, dept);
	may_load_ok[may_load_n] = ok;
	may_load_n++;
	return ok;
}

static const char *const feed_inbox_table[] = {"feed_inbox"};

/* The owner of sanse.installation_secret (the extension's owner). */
static Oid
secret_owner(void)
{
	Oid			relid = sanse_relid("installation_secret");
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sanse has no installation secret")));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * feed_inbox_statement — BEFORE INSERT FOR EACH STATEMENT on sanse.feed_inbox:
 * being C, calling it loads sanse's library (and its log hook) before COPY
 * reads the first line; it forgets the previous statement's answers.
 */
PG_FUNCTION_INFO_V1(feed_inbox_statement);
Datum
feed_inbox_statement(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = sanse_trigger_guard(fcinfo, "feed_inbox_statement", feed_inbox_table, 1);

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("feed_inbox_statement must be a BEFORE statement trigger")));
	may_load_reset();
	return PointerGetDatum(NULL);
}

/*
 * On insert, the loader must hold a feed grant for the row's department
 * (42501, naming the department only); superusers load any.
 */
static void
feed_inbox_check_grant(HeapTuple tuple, TupleDesc desc, int col_dept)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, col_dept, desc, &isnull);

	if (!isnull && !superuser())
	{
		char	   *dept = TextDatumGetCString(d);

		if (!may_load(dept))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("this role may not load feeds of department \"%s\"", dept),
					 errhint("A row of sanse.feed_grant names the roles that load a department's feed.")));
	}
}

/*
 * What every row of one command needs, found at its first row: the table
 * checked to be sanse.feed_inbox, its columns, the owner of the secret.  A
 * command cannot alter a table it writes, so (transaction, command, table)
 * keys it; a COPY of 100,000 rows looks these up once, not per row.
 */
typedef struct FeedRowCache
{
	LocalTransactionId lxid;
	CommandId	cid;
	Oid			relid;
	Oid			secret_owner;
	int			col_dept,
				col_id,
				col_outcome,
				col_reason,
				col_hash,
				col_resident,
				col_withheld;
} FeedRowCache;

static FeedRowCache row_cache = {.lxid = InvalidLocalTransactionId};

static FeedRowCache *
feed_row_cache(FunctionCallInfo fcinfo)
{
	TriggerData *trigdata;
	TupleDesc	desc;
	CommandId	cid = GetCurrentCommandId(false);

	if (CALLED_AS_TRIGGER(fcinfo) && row_cache.lxid == MyProc->lxid && row_cache.cid == cid &&
		row_cache.relid == RelationGetRelid(((TriggerData *) fcinfo->context)->tg_relation))
		return &row_cache;
	row_cache.lxid = InvalidLocalTransactionId;
	trigdata = sanse_trigger_guard(fcinfo, "feed_inbox_row", feed_inbox_table, 1);
	desc = RelationGetDescr(trigdata->tg_relation);
	row_cache.col_dept = sanse_column(desc, "feed_inbox", "department", TEXTOID);
	row_cache.col_id = sanse_column(desc, "feed_inbox", "id_number", TEXTOID);
	row_cache.col_outcome = sanse_column(desc, "feed_inbox", "outcome", TEXTOID);
	row_cache.col_reason = sanse_column(desc, "feed_inbox", "reason", TEXTOID);
	row_cache.col_hash = sanse_column(desc, "feed_inbox", "id_number_hash", BYTEAOID);
	row_cache.col_resident = sanse_column(desc, "feed_inbox", "resident_id", INT8OID);
	/* 1.5's column: a database still at 1.4 loads its feeds with this library */
	row_cache.col_withheld = sanse_column_if_present(desc, "feed_inbox", "withheld", TEXTOID);
	row_cache.secret_owner = InvalidOid;	/* looked up at the first number hashed */
	row_cache.relid = RelationGetRelid(trigdata->tg_relation);
	row_cache.cid = cid;
	row_cache.lxid = MyProc->lxid;
	return &row_cache;
}

/*
 * The clear number d (a text datum): why it is malformed, or NULL and its
 * keyed hash in *hash.  The canonical copy and a detoasted copy are wiped.
 */
static const char *
feed_inbox_hash(Datum d, bytea **hash, Oid owner)
{
	text	   *clear = DatumGetTextPP(d);
	char		canon[ID_NUMBER_LEN + 1];
	const char *problem;

	problem = sanse_id_number_problem(VARDATA_ANY(clear), VARSIZE_ANY_EXHDR(clear), canon);
	if (problem == NULL)
	{
		Oid			save_userid;
		int			save_sec;

		*hash = (bytea *) palloc(VARHDRSZ + SANSE_MAC_LEN);
		SET_VARSIZE(*hash, VARHDRSZ + SANSE_MAC_LEN);
		/* the secret is read as its owner (the loader may not read it) */
		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		sanse_hmac_plain((const uint8 *) canon, ID_NUMBER_LEN, (uint8 *) VARDATA(*hash));
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	explicit_bzero(canon, sizeof(canon));
	/* the detoasted copy, if one was made, is wiped too */
	if ((Pointer) clear != DatumGetPointer(d))
		explicit_bzero(VARDATA_ANY(clear), VARSIZE_ANY_EXHDR(clear));
	return problem;
}

/*
 * feed_inbox_row — BEFORE INSERT OR UPDATE OF id_number FOR EACH ROW on
 * sanse.feed_inbox.  On insert: the loader must hold a feed grant for the
 * row's department (42501, naming the department only); what sanse derives
 * (outcome, reason, the hash, the resident, what is withheld) is cleared.  The clear number
 * becomes id_number_hash and id_number NULL; a malformed one leaves no hash,
 * only outcome 'rejected' and the reason.
 */
PG_FUNCTION_INFO_V1(feed_inbox_row);
Datum
feed_inbox_row(PG_FUNCTION_ARGS)
{
	FeedRowCache *c = feed_row_cache(fcinfo);
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	bool		insert = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	HeapTuple	tuple;
	int			cols[6];
	Datum		values[6];
	bool		nulls[6];
	int			n = 0;
	bool		isnull;
	Datum		d;
	const char *problem = NULL;
	bytea	   *hash = NULL;

	if (!TRIGGER_FIRED_BEFORE(trigdata->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(insert || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("feed_inbox_row must be a BEFORE INSERT OR UPDATE row trigger")));
	tuple = insert ? trigdata->tg_trigtuple : trigdata->tg_newtuple;

	if (insert)
		feed_inbox_check_grant(tuple, desc, c->col_dept);

	d = heap_getattr(tuple, c->col_id, desc, &isnull);
	if (isnull)
	{
		if (insert)
			problem = "no ID number";
		else
			return PointerGetDatum(tuple);	/* an update that clears nothing new */
	}
	else
	{
		if (!OidIsValid(c->secret_owner))
			c->secret_owner = secret_owner();
		problem = feed_inbox_hash(d, &hash, c->secret_owner);
	}

	cols[n] = c->col_id, values[n] = (Datum) 0, nulls[n] = true, n++;
	cols[n] = c->col_hash, values[n] = PointerGetDatum(hash), nulls[n] = (hash == NULL), n++;
	cols[n] = c->col_outcome, values[n] = problem ? CStringGetTextDatum("rejected") : (Datum) 0, nulls[n] = (problem == NULL), n++;
	cols[n] = c->col_reason, values[n] = problem ? CStringGetTextDatum(problem) : (Datum) 0, nulls[n] = (problem == NULL), n++;
	cols[n] = c->col_resident, values[n] = (Datum) 0, nulls[n] = true, n++;
	if (c->col_withheld > 0)
		cols[n] = c->col_withheld, values[n] = (Datum) 0, nulls[n] = true, n++;
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, n, cols, values, nulls));
}

/* ---------------------------------------------------------------------------
 * The log hook.
 */

/* Mask runs of MASK_MIN_DIGITS or more digits, and the character after one, in place. */
static bool
mask_digit_runs(char *s)
{
	bool		masked = false;

	if (s == NULL)
		return false;
	while (*s)
	{
		int			run = 0;

		while (s[run] >= '0' && s[run] <= '9')
			run++;
		if (run >= MASK_MIN_DIGITS)
		{
			memset(s, '*', run);
			if ((s[run] >= 'A' && s[run] <= 'Z') || (s[run] >= 'a' && s[run] <= 'z'))
				s[run++] = '*';
			masked = true;
		}
		s += run > 0 ? run : 1;
	}
	return masked;
}

static bool
has_digit_run(const char *s)
{
	int			run = 0;

	if (s == NULL)
		return false;
	for (; *s; s++)
	{
		run = (*s >= '0' && *s <= '9') ? run + 1 : 0;
		if (run >= MASK_MIN_DIGITS)
			return true;
	}
	return false;
}

/*
 * COPY's context line for feed_inbox quotes the line (or a column's value):
 * keep "COPY feed_inbox, line N[, column C]" and drop the quoted text.
 */
static char *
cut_copy_context(char *context)
{
	static const char tag[] = "COPY feed_inbox, line ";
	char	   *at = strstr(context, tag);
	char	   *end_of_line;
	char	   *quote;
	StringInfoData out;

	if (at == NULL)
		return context;
	end_of_line = strchr(at, '\n');
	if (end_of_line == NULL)
		end_of_line = at + strlen(at);
	quote = strstr(at, ": \"");
	if (quote == NULL || quote > end_of_line)
		return context;
	initStringInfo(&out);
	appendBinaryStringInfo(&out, context, quote - context);
	appendStringInfoString(&out, end_of_line);
	return out.data;
}

static void
sanse_emit_log_hook(ErrorData *edata)
{
	if (edata->context)
		edata->context = cut_copy_context(edata->context);
	mask_digit_runs(edata->message);
	mask_digit_runs(edata->detail);
	mask_digit_runs(edata->detail_log);
	mask_digit_runs(edata->hint);
	mask_digit_runs(edata->context);
	mask_digit_runs(edata->internalquery);
	/* the statement is printed from debug_query_string: not at all then */
	if (has_digit_run(debug_query_string))
		edata->hide_stmt = true;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

void
sanse_resident_id_init(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = sanse_emit_log_hook;
}
