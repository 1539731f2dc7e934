/*
 * cadence.h — parsing cadences and computing the next visit window.
 */
#ifndef SANSE_CADENCE_H
#define SANSE_CADENCE_H

#include "datatype/timestamp.h"
#include "visit_window.h"

typedef enum CadenceUnit
{
	CADENCE_ROLLING,			/* [anchor, anchor + step) */
	CADENCE_DAY,				/* the local calendar period after the anchor's */
	CADENCE_WEEK,
	CADENCE_MONTH
} CadenceUnit;

typedef struct Cadence
{
	CadenceUnit unit;
	Interval	step;			/* only for CADENCE_ROLLING */
} Cadence;

extern void sanse_cadence_parse(const char *text, Cadence *cadence);
extern VisitWindow *sanse_window_after(TimestampTz anchor, const Cadence *cadence,
									   text *zone);

#endif							/* SANSE_CADENCE_H */
