/*
 * resident_id.h — resident ID card numbers (GB 11643) in feeds.
 */
#ifndef SANSE_RESIDENT_ID_H
#define SANSE_RESIDENT_ID_H

extern const char *sanse_id_number_problem(const char *s, int len, char canon[19]);
extern void sanse_resident_id_init(void);

#endif							/* SANSE_RESIDENT_ID_H */
