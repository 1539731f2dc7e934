/*
 * input.h — calling core input functions on parts of our own text forms.
 */
#ifndef SANSE_INPUT_H
#define SANSE_INPUT_H

#include "fmgr.h"

extern bool sanse_try_input(PGFunction infunc, const char *text, Datum *result, char **message);

#endif							/* SANSE_INPUT_H */
