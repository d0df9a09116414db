#ifndef SHOAL_TIMEFMT_H
#define SHOAL_TIMEFMT_H

#include <stdint.h>
#include <stddef.h>

/*
 * Time: clocks, and the text forms the wire protocols use. Times are int64
 * milliseconds since the Unix epoch, UTC. Parsers take outside input and
 * return -ERR_INVALID on anything malformed or out of range (years
 * 1601..9999); they never read past a NUL.
 */

/* Wall clock, ms since the epoch. */
int64_t timefmt_now_ms(void);
/* Monotonic clock, ms; only differences mean anything. */
int64_t timefmt_mono_ms(void);

#define TIMEFMT_RFC1123_LEN 30 /* "Sun, 06 Nov 1994 08:49:37 GMT" + NUL */
#define TIMEFMT_ISO_LEN 40

/*
 * "Sun, 06 Nov 1994 08:49:37 GMT" (seconds; ms truncated). The formatters
 * clamp ms into years 1601..9999.
 */
void timefmt_rfc1123(int64_t ms, char out[TIMEFMT_RFC1123_LEN]);
/*
 * Parse RFC 1123 ("Sun, 06 Nov 1994 08:49:37 GMT"); also accepts RFC 850
 * and asctime forms as HTTP/1.1 requires. The weekday is not checked.
 */
int timefmt_parse_rfc1123(const char *s, int64_t *ms_out);

/*
 * ISO 8601 UTC: "2020-11-24T18:55:14Z" when frac_digits is 0, else with that
 * many fractional digits (1..7; digits beyond ms are zeros).
 */
void timefmt_iso8601(int64_t ms, int frac_digits, char out[TIMEFMT_ISO_LEN]);
/*
 * Parse ISO 8601: "YYYY-MM-DD", "YYYY-MM-DDThh:mm[:ss[.f+]]" followed by
 * "Z", "+hh:mm", "-hh:mm" or nothing (UTC). Fractions beyond ms are dropped.
 */
int timefmt_parse_iso8601(const char *s, int64_t *ms_out);

/*
 * ISO 8601 durations as Batch uses them: "PT15M", "P7D", "PT1H30M5.5S",
 * "P10675199DT2H48M5.4775807S" (the .NET TimeSpan.MaxValue, which maps to
 * TIMEFMT_DURATION_INF). Years and months are rejected. Negative: invalid.
 * Weeks, fractions on anything but seconds, and values beyond
 * TimeSpan.MaxValue are invalid too; the result is truncated to ms.
 */
#define TIMEFMT_DURATION_INF INT64_MAX
int timefmt_parse_duration(const char *s, int64_t *ms_out);
/* Render ms as "P1DT2H3M4.5S" style (zero is "PT0S", negatives render as
 * zero); TIMEFMT_DURATION_INF renders as the .NET max value string, as does
 * any value past TimeSpan.MaxValue. out must hold 48 bytes. */
void timefmt_duration(int64_t ms, char *out, size_t outlen);

#endif
