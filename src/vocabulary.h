/*
 * vocabulary.h — the limit on free text, and what the vocabularies compiled
 * into the library share.
 *
 * The vocabularies C needs on hot paths (risk tiers, risk factors, checklist
 * items, area-grant accesses) are C arrays, each in one place (risk_tier.c,
 * rules.c, checklist.c, area_access.c); sanse.compiled_vocabulary() shows them to SQL, which copies
 * them into their lookup tables at install and upgrade.  Every other
 * vocabulary is a lookup table only (src/sql/02_vocabulary.sql).
 */
#ifndef SANSE_VOCABULARY_H
#define SANSE_VOCABULARY_H

/*
 * Longest free text sanse keeps (characters): notes, reasons, purposes.  The
 * one place the limit is written: C uses it directly, make writes it into
 * the SQL scripts where they name it between @ signs (the tables' CHECKs), and SQL
 * functions read it through sanse.free_text_max() and
 * sanse.check_free_text().  Keep the #define on one line: make reads it.
 */
#define SANSE_FREE_TEXT_MAX 2000

/* A value of a vocabulary and what it means, as the lookup table shows it. */
typedef struct SanseTerm
{
	const char *value;
	const char *meaning;
} SanseTerm;

/* area_access.c: the accesses of a grant row, level = index + 1 */
extern const SanseTerm sanse_grant_accesses[];
extern const int sanse_grant_access_count;

/* "<prefix>a, b, ... and z." for a hint that lists the valid values */
extern char *sanse_list_hint(const char *prefix, const char *const *values, int n);

#endif							/* SANSE_VOCABULARY_H */
