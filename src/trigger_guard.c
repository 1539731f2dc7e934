/*
 * trigger_guard.c — sanse's C trigger functions check where they fire.
 *
 * A trigger function reads columns by name and trusts their types; fired on
 * some other table (a temp table of an attacker's, with a "factors" column of
 * another type) it would read garbage as pointers.  Each one therefore
 * refuses, before reading a single column, unless it fires on the sanse
 * table it was written for, and checks every column's type.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "trigger_guard.h"

/* OID of sanse.<relname>, or InvalidOid if it does not exist. */
Oid
sanse_relid(const char *relname)
{
	Oid			nsp = get_namespace_oid("sanse", true);

	return OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
}

/*
 * The trigger data of a call by the trigger manager on one of the named sanse
 * tables; 39P01 otherwise.
 */
TriggerData *
sanse_trigger_guard(FunctionCallInfo fcinfo, const char *funcname,
					const char *const *relnames, int nrelnames)
{
	TriggerData *trigdata;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a trigger", funcname)));
	trigdata = (TriggerData *) fcinfo->context;
	relid = RelationGetRelid(trigdata->tg_relation);
	for (int i = 0; i < nrelnames; i++)
		if (relid == sanse_relid(relnames[i]))
			return trigdata;
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("trigger function %s fired on table \"%s\"", funcname,
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("It only works as a trigger on sanse's own tables.")));
	return NULL;				/* keep compiler quiet */
}

/* Attribute number of a column that must exist with this type; 39P01 otherwise. */
int
sanse_column(TupleDesc desc, const char *relname, const char *colname, Oid typid)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), colname) != 0)
			continue;
		if (att->atttypid != typid)
			ereport(ERROR,
					(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
					 errmsg("column \"%s\" of sanse.%s has type %s, not %s", colname, relname,
							format_type_be(att->atttypid), format_type_be(typid))));
		return i + 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("sanse.%s has no column \"%s\"", relname, colname)));
	return 0;					/* keep compiler quiet */
}

/*
 * The attribute number of a column a later version added, or 0 where the
 * table is still at an earlier version's shape (one library serves every
 * version's SQL until ALTER EXTENSION UPDATE runs); its type is checked as
 * sanse_column does.
 */
int
sanse_column_if_present(TupleDesc desc, const char *relname, const char *colname, Oid typid)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), colname) == 0)
			return sanse_column(desc, relname, colname, typid);
	}
	return 0;
}
