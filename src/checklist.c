/*
 * checklist.c — the pinned checklist items, in one place: check_in validates
 * against them, sanse.checklist_items() gives them to SQL (views count a
 * complete visit as all of them), and the hint of a refusal lists them.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "checklist.h"

/* three asks, three checks, three clears */
const char *const sanse_checklist_items[SANSE_CHECKLIST_ITEMS] = {
	"ask_health", "ask_diet", "ask_family",
	"check_water", "check_power", "check_gas",
	"clear_clutter", "clear_garbage", "clear_passage"
};

/* Index of an item given as (pointer, length), or -1 if unknown. */
int
sanse_checklist_item(const char *item, int len)
{
	for (int i = 0; i < SANSE_CHECKLIST_ITEMS; i++)
		if (strlen(sanse_checklist_items[i]) == len &&
			memcmp(sanse_checklist_items[i], item, len) == 0)
			return i;
	return -1;
}

/* "Valid items are a, b, ... and z." */
const char *
sanse_checklist_hint(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "Valid items are ");
	for (int i = 0; i < SANSE_CHECKLIST_ITEMS; i++)
		appendStringInfo(&buf, "%s%s", i == 0 ? "" : i == SANSE_CHECKLIST_ITEMS - 1 ? " and " : ", ",
						 sanse_checklist_items[i]);
	appendStringInfoChar(&buf, '.');
	return buf.data;
}

/* checklist_items() — the pinned checklist item codes, in order */
PG_FUNCTION_INFO_V1(checklist_items);
Datum
checklist_items(PG_FUNCTION_ARGS)
{
	Datum		elems[SANSE_CHECKLIST_ITEMS];

	for (int i = 0; i < SANSE_CHECKLIST_ITEMS; i++)
		elems[i] = CStringGetTextDatum(sanse_checklist_items[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, SANSE_CHECKLIST_ITEMS, TEXTOID, -1, false, TYPALIGN_INT));
}
