/*
 * input.c — run a core input function (timestamptz_in, interval_in) on a
 * part of a sanse text form.  A data exception (bad format, out of range)
 * is caught and handed back, so the caller can report the whole value with
 * its own SQLSTATE; anything else is re-thrown.  Catching is safe here: the
 * input functions hold no resources when they raise.
 */
#include "postgres.h"

#include "input.h"

bool
sanse_try_input(PGFunction infunc, const char *text, Datum *result, char **message)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		*result = DirectFunctionCall3(infunc,
									  CStringGetDatum(text),
									  ObjectIdGetDatum(InvalidOid),
									  Int32GetDatum(-1));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
		{
			FreeErrorData(edata);
			PG_RE_THROW();
		}
		FlushErrorState();
		*message = edata->message;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}
