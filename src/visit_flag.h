/*
 * visit_flag.h — the flags a check-in sets on its visit, for supervisors
 * (5.3.3: check-in for its own sake).  The one place C names them; the
 * table sanse.visit_flag holds the same values with their meaning, in the
 * same order (test/pgtap/27_entry_points_and_flags.sql and
 * test/entry_points.sh check that they agree).
 */
#ifndef SANSE_VISIT_FLAG_H
#define SANSE_VISIT_FLAG_H

/* at another door within sanse.quick_succession of the worker's last check-in */
#define VISIT_FLAG_QUICK_SUCCESSION		"quick_succession"
/* farther from the worker's last door than sanse.max_travel_speed allows */
#define VISIT_FLAG_IMPOSSIBLE_TRAVEL	"impossible_travel"
/* at the same door within sanse.repeat_window */
#define VISIT_FLAG_REPEAT_VISIT			"repeat_visit"
/* at or after the due time of the resident's window */
#define VISIT_FLAG_LATE					"late"

#define VISIT_FLAG_COUNT	4

#endif							/* SANSE_VISIT_FLAG_H */
