/*
 * reading.h — the write path of sensor readings (reading.c).
 */
#ifndef SANSE_READING_H
#define SANSE_READING_H

extern void sanse_reading_init(void);

#endif							/* SANSE_READING_H */
