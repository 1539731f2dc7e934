/*
 * checklist.c — the pinned checklist items, in one place: check_in validates
 * against them, sanse.checklist_items() gives them to SQL (views count a
 * complete visit as all of them), sanse.compiled_vocabulary() fills the
 * lookup table sanse.checklist_item from them, and the hint of a refusal
 * lists them.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "checklist.h"
#include "vocabulary.h"

/*
 * Knock three things (敲门三件事): three asks on opening the door (开门三问),
 * three checks inside (进门三检), three clears on leaving (出门三清);
 * each code with its meaning.  Listed once, expanded twice below (check_in
 * and its callers index the codes alone).
 */
#define CHECKLIST(ITEM) \
	ITEM("ask_health", "ask about their health (询问健康状况)") \
	ITEM("ask_diet", "ask about their meals (饮食情况)") \
	ITEM("ask_family", "ask about their family (家庭近况)") \
	ITEM("check_water", "check the water is safe (检查水)") \
	ITEM("check_power", "check the power is safe (检查电)") \
	ITEM("check_gas", "check the gas is safe (检查气)") \
	ITEM("clear_clutter", "clear clutter (清理杂物)") \
	ITEM("clear_garbage", "clear garbage (清理垃圾)") \
	ITEM("clear_passage", "clear the passage (清理通道)")

#define CHECKLIST_CODE(code, meaning) code,
#define CHECKLIST_MEANING(code, meaning) meaning,

const char *const sanse_checklist_items[SANSE_CHECKLIST_ITEMS] = {CHECKLIST(CHECKLIST_CODE)};
static const char *const checklist_meanings[] = {CHECKLIST(CHECKLIST_MEANING)};

StaticAssertDecl(lengthof(checklist_meanings) == SANSE_CHECKLIST_ITEMS,
				 "SANSE_CHECKLIST_ITEMS must count the items of CHECKLIST");

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

/* What item i means (for the lookup table). */
const char *
sanse_checklist_meaning(int i)
{
	Assert(i >= 0 && i < SANSE_CHECKLIST_ITEMS);
	return checklist_meanings[i];
}

/* "Valid items are a, b, ... and z." */
const char *
sanse_checklist_hint(void)
{
	return sanse_list_hint("Valid items are ", sanse_checklist_items, SANSE_CHECKLIST_ITEMS);
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
