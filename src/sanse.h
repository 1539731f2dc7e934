/*
 * sanse.h — settings shared by the sanse C modules.
 */
#ifndef SANSE_H
#define SANSE_H

/* sanse.timezone: the zone every due date is computed in. */
extern char *sanse_timezone;

#endif							/* SANSE_H */
