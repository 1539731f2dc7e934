/*
 * checklist.h — "knock three things" (敲门三件事): the pinned checklist items.
 */
#ifndef SANSE_CHECKLIST_H
#define SANSE_CHECKLIST_H

#define SANSE_CHECKLIST_ITEMS 9

extern const char *const sanse_checklist_items[SANSE_CHECKLIST_ITEMS];
extern int	sanse_checklist_item(const char *item, int len);
extern const char *sanse_checklist_meaning(int i);
extern const char *sanse_checklist_hint(void);

#endif							/* SANSE_CHECKLIST_H */
