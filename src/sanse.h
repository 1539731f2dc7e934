/*
 * sanse.h — settings shared by the sanse C modules.
 */
#ifndef SANSE_H
#define SANSE_H

/* sanse.timezone: the zone every due date is computed in. */
extern char *sanse_timezone;

/* check-in flags: thresholds (seconds, km/h) */
extern int	sanse_quick_succession;
extern int	sanse_repeat_window;
extern int	sanse_max_travel_speed;

/* sanse.max_backdate: how far back a check-in may be dated (microseconds) */
extern int64 sanse_max_backdate;
extern char *sanse_max_backdate_text;

/* sanse.min_cell: smallest count shown to aggregate-only roles */
extern int	sanse_min_cell;

#endif							/* SANSE_H */
