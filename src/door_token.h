/*
 * door_token.h — opaque door QR tokens.
 */
#ifndef SANSE_DOOR_TOKEN_H
#define SANSE_DOOR_TOKEN_H

#include "c.h"

#define DOOR_TOKEN_NONCE_LEN 15

typedef enum DoorTokenCheck
{
	DOOR_TOKEN_OK,
	DOOR_TOKEN_MALFORMED,		/* not our format at all */
	DOOR_TOKEN_FORGED			/* our format, signature does not verify */
} DoorTokenCheck;

extern DoorTokenCheck sanse_door_token_open(const char *token, size_t len,
											uint8 nonce[DOOR_TOKEN_NONCE_LEN]);
extern void sanse_door_token_refuse(const char *act, int64 worker_id, const char *why) pg_attribute_noreturn();

#endif							/* SANSE_DOOR_TOKEN_H */
