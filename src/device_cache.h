/*
 * device_cache.h — the devices and their kinds' rules, cached per backend
 * for the write path of readings (reading.c).
 */
#ifndef SANSE_DEVICE_CACHE_H
#define SANSE_DEVICE_CACHE_H

/* a device as the write path needs it */
typedef struct DeviceEntry
{
	int64		id;				/* hash key */
	int			kind;			/* its kind's position in sanse.device_kind */
	bool		active;
} DeviceEntry;

/*
 * What a device kind's rules could raise at once, whatever the tier of the
 * device's resident: the write path hands a reading to SQL only when one of
 * these says it might raise a warning (SQL then picks the tier's rule).
 */
typedef struct DeviceKindRules
{
	bool		alarm;			/* some alarm rule */
	bool		above;			/* some above rule ... */
	double		above_min;		/* ... the lowest threshold among them */
	bool		below;			/* some below rule ... */
	double		below_max;		/* ... the highest threshold among them */
} DeviceKindRules;

extern void sanse_device_cache_ensure(void);
extern const DeviceEntry *sanse_device_lookup(int64 id);
extern const DeviceKindRules *sanse_device_kind_rules(int kind);

#endif							/* SANSE_DEVICE_CACHE_H */
