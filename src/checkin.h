/*
 * checkin.h — what sanse.check_in reads before it writes (checkin.c), and
 * the direct reads that fetch it without a query (checkin_read.c).
 */
#ifndef SANSE_CHECKIN_H
#define SANSE_CHECKIN_H

#include "datatype/timestamp.h"

#include "door_token.h"
#include "visit_window.h"

/* What a scan needs to start, by name (read by one query or by checkin_read.c). */
typedef struct EntryRow
{
	int64		resident_id;
	bool		revoked;
	bool		forgotten;
	bool		earlier;		/* this scan was recorded before, as earlier_visit_id */
	int64		earlier_visit_id;
	bool		worker_may_check_in;	/* active, the session may act for them, may visit */
	int64		area_id;
	TimestampTz registered_at;
	bool		has_window;		/* next_visit, unless NULL */
	VisitWindow next_visit;
	bool		has_last;
	TimestampTz last_visit_at;
	bool		has_prev;		/* the worker's latest check-in at another door */
	TimestampTz prev_at;
	bool		has_positions;	/* both homes' coordinates */
	double		lat,
				lon,
				prev_lat,
				prev_lon;
	bool		repeat;
} EntryRow;

/* The worker as the direct reads found them (worker_may_check_in is the caller's). */
typedef struct EntryWorker
{
	bool		active;			/* false for an unknown worker */
	bool		may_visit;		/* a carer, or a leader whose area contains the home */
	char	   *db_role;		/* the role the worker is bound to, or NULL */
} EntryWorker;

typedef enum EntryReadResult
{
	ENTRY_READ_UNAVAILABLE,		/* the tables are not as this code knows them: ask SPI */
	ENTRY_READ_NO_TOKEN,		/* no such token (or its resident is gone) */
	ENTRY_READ_OK
} EntryReadResult;

extern EntryReadResult sanse_check_in_read(const uint8 *nonce, int64 worker_id, TimestampTz at,
										   TimeOffset repeat_window, EntryRow *row,
										   EntryWorker *worker);

#endif							/* SANSE_CHECKIN_H */
