/*
 * visit_window.h — the half-open visit window [opens, due).
 */
#ifndef SANSE_VISIT_WINDOW_H
#define SANSE_VISIT_WINDOW_H

#include "fmgr.h"
#include "datatype/timestamp.h"

typedef struct VisitWindow
{
	TimestampTz opens;			/* first instant inside the window */
	TimestampTz due;			/* first instant after it; a visit at due is late */
} VisitWindow;

#define DatumGetVisitWindowP(X)		((VisitWindow *) DatumGetPointer(X))
#define VisitWindowPGetDatum(X)		PointerGetDatum(X)
#define PG_GETARG_VISIT_WINDOW_P(n)	DatumGetVisitWindowP(PG_GETARG_DATUM(n))
#define PG_RETURN_VISIT_WINDOW_P(x)	return VisitWindowPGetDatum(x)

extern VisitWindow *sanse_visit_window_make(TimestampTz opens, TimestampTz due);

#endif							/* SANSE_VISIT_WINDOW_H */
