/*
 * trigger_guard.h — refuse a sanse trigger function fired where it was not
 * written to fire.
 */
#ifndef SANSE_TRIGGER_GUARD_H
#define SANSE_TRIGGER_GUARD_H

#include "commands/trigger.h"

extern Oid	sanse_relid(const char *relname);
extern TriggerData *sanse_trigger_guard(FunctionCallInfo fcinfo, const char *funcname,
										const char *const *relnames, int nrelnames);
extern int	sanse_column(TupleDesc desc, const char *relname, const char *colname, Oid typid);
extern int	sanse_column_if_present(TupleDesc desc, const char *relname, const char *colname, Oid typid);

#endif							/* SANSE_TRIGGER_GUARD_H */
