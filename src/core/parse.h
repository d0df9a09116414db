#ifndef SHOAL_PARSE_H
#define SHOAL_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Range-checked number parsing for outside input (banned.h forbids atoi).
 * The whole string must be the number: no sign for u64, optional '-' for i64,
 * decimal digits only, no spaces. Returns 0 or -ERR_INVALID (malformed, empty
 * or outside [min, max]); *out is set only on success.
 */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
/* "true"/"false" (case-insensitive). */
int parse_bool(const char *s, bool *out);

/* Case-insensitive ASCII equality and prefix tests. */
bool str_ieq(const char *a, const char *b);
bool str_iprefix(const char *s, const char *prefix);
bool str_prefix(const char *s, const char *prefix);

#endif
