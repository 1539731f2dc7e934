/*
 * secret.h — the per-installation secret and MACs keyed with it.
 */
#ifndef SANSE_SECRET_H
#define SANSE_SECRET_H

#define SANSE_MAC_LEN 32		/* HMAC-SHA256 */

extern void sanse_mac(const char *purpose, const uint8 *data, size_t len,
					  uint8 mac[SANSE_MAC_LEN]);
extern void sanse_hmac_plain(const uint8 *data, size_t len, uint8 mac[SANSE_MAC_LEN]);

#endif							/* SANSE_SECRET_H */
