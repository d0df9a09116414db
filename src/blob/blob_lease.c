/*
 * blob_lease.c: the lease state machine of blobs and containers.
 *
 * A lease is stored as a state plus the times that move it on by
 * themselves; blob_lease_effective() reads the state at a given moment,
 * so nothing has to wake up when a lease runs out:
 *
 *                 acquire                    break (period > 0)
 *   AVAILABLE ---------------> LEASED ---------------------> BREAKING
 *     ^  ^  ^   release          |   \  duration elapses        |
 *     |  |  +--------------------+    v                         | break
 *     |  |       release        EXPIRED                         | period
 *     |  |   <-------------------+    | break                   | elapses
 *     |  |                            v                         v
 *     |  +------ release ---------- BROKEN <--------------------+
 *     |                               ^     break (period 0)
 *     +-- acquire from EXPIRED/BROKEN starts a new LEASED --+
 *
 * LEASED and BREAKING are "locked": writes and deletes must carry the
 * lease id. EXPIRED and BROKEN behave like AVAILABLE for writes, but keep
 * the old id so renew (EXPIRED) and release still recognise it.
 *
 * Durations are -1 (infinite) or 15..60 s; break periods 0..60 s. Breaking
 * a fixed lease waits at most its remaining time; breaking an infinite one
 * without a period breaks it at once. The x-ms-lease-time returned by a
 * break is the remaining break time in whole seconds, rounded up.
 *
 * Pure functions over struct blob_lease; the stores persist the struct.
 */
#include "blob/blobint.h"

#include <string.h>

#include "core/crypto.h"
#include "core/err.h"

enum blob_lease_state blob_lease_effective(const struct blob_lease *l,
                                           int64_t now_ms)
{
    if (l->state == BLOB_LEASE_LEASED && l->duration_s > 0 &&
        now_ms >= l->expiry_ms)
        return BLOB_LEASE_EXPIRED;
    if (l->state == BLOB_LEASE_BREAKING && now_ms >= l->break_ms)
        return BLOB_LEASE_BROKEN;
    return l->state;
}

static bool hexdig(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

bool blob_lease_id_ok(const char *s)
{
    static const int groups[5] = { 8, 4, 4, 4, 12 };

    if (!s)
        return false;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++) {
            if (!hexdig(*s++))
                return false;
        }
        if (g < 4 && *s++ != '-')
            return false;
    }
    return *s == '\0';
}

static bool same_id(const char *a, const char *b)
{
    /* GUIDs compare without regard to case. */
    size_t n;

    if (!a || !b)
        return false;
    n = strlen(a);
    if (n != strlen(b))
        return false;
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

static int conflict(struct err *err, const char *code, const char *msg)
{
    return err_set(err, ERR_CONFLICT, code, "%s", msg);
}

static void set_id(struct blob_lease *l, const char *id)
{
    size_t n = strlen(id);

    if (n >= sizeof(l->id))
        n = sizeof(l->id) - 1;
    memcpy(l->id, id, n);
    l->id[n] = '\0';
}

static int64_t ceil_s(int64_t ms)
{
    return ms <= 0 ? 0 : (ms + 999) / 1000;
}

static int do_acquire(struct blob_lease *l, const struct blob_lease_req *rq,
                      enum blob_lease_state eff, int64_t now_ms,
                      struct err *err)
{
    if (eff == BLOB_LEASE_LEASED) {
        if (!rq->proposed_id || !same_id(rq->proposed_id, l->id))
            return conflict(err, "LeaseAlreadyPresent",
                            "there is already a lease present");
    } else if (eff == BLOB_LEASE_BREAKING) {
        if (rq->proposed_id && same_id(rq->proposed_id, l->id))
            return conflict(err, "LeaseIsBreakingAndCannotBeAcquired",
                            "there is already a lease present and it is "
                            "breaking");
        return conflict(err, "LeaseAlreadyPresent",
                        "there is already a lease present");
    } else {
        char uuid[37];

        if (rq->proposed_id) {
            set_id(l, rq->proposed_id);
        } else {
            crypto_uuid(uuid);
            set_id(l, uuid);
        }
    }
    l->state = BLOB_LEASE_LEASED;
    l->duration_s = rq->duration_s;
    l->expiry_ms = rq->duration_s > 0 ? now_ms + rq->duration_s * 1000 : 0;
    l->break_ms = 0;
    return 0;
}

static int do_renew(struct blob_lease *l, const struct blob_lease_req *rq,
                    enum blob_lease_state eff, int64_t now_ms, struct err *err)
{
    if (eff == BLOB_LEASE_AVAILABLE)
        return conflict(err, "LeaseNotPresentWithLeaseOperation",
                        "there is currently no lease");
    if (!same_id(rq->lease_id, l->id))
        return conflict(err, "LeaseIdMismatchWithLeaseOperation",
                        "the lease id specified did not match the lease id "
                        "of the resource");
    if (eff == BLOB_LEASE_BREAKING)
        return conflict(err, "LeaseIsBreakingAndCannotBeRenewed",
                        "the lease is breaking and cannot be renewed");
    if (eff == BLOB_LEASE_BROKEN)
        return conflict(err, "LeaseIsBrokenAndCannotBeRenewed",
                        "the lease is broken and cannot be renewed");
    l->state = BLOB_LEASE_LEASED;
    l->expiry_ms = l->duration_s > 0 ? now_ms + l->duration_s * 1000 : 0;
    return 0;
}

static int do_change(struct blob_lease *l, const struct blob_lease_req *rq,
                     enum blob_lease_state eff, struct err *err)
{
    bool match =
        same_id(rq->lease_id, l->id) || same_id(rq->proposed_id, l->id);

    if (eff != BLOB_LEASE_LEASED && eff != BLOB_LEASE_BREAKING)
        return conflict(err, "LeaseNotPresentWithLeaseOperation",
                        "there is currently no lease");
    if (!match)
        return conflict(err, "LeaseIdMismatchWithLeaseOperation",
                        "the lease id specified did not match the lease id "
                        "of the resource");
    if (eff == BLOB_LEASE_BREAKING)
        return conflict(err, "LeaseIsBreakingAndCannotBeChanged",
                        "the lease is breaking and cannot be changed");
    set_id(l, rq->proposed_id);
    return 0;
}

static int do_release(struct blob_lease *l, const struct blob_lease_req *rq,
                      enum blob_lease_state eff, struct err *err)
{
    if (eff == BLOB_LEASE_AVAILABLE)
        return conflict(err, "LeaseNotPresentWithLeaseOperation",
                        "there is currently no lease");
    if (!same_id(rq->lease_id, l->id))
        return conflict(err, "LeaseIdMismatchWithLeaseOperation",
                        "the lease id specified did not match the lease id "
                        "of the resource");
    memset(l, 0, sizeof(*l));
    l->state = BLOB_LEASE_AVAILABLE;
    return 0;
}

static int do_break(struct blob_lease *l, const struct blob_lease_req *rq,
                    enum blob_lease_state eff, int64_t now_ms,
                    int64_t *time_out, struct err *err)
{
    int64_t left;
    int64_t brk;

    switch (eff) {
    case BLOB_LEASE_AVAILABLE:
        return conflict(err, "LeaseNotPresentWithLeaseOperation",
                        "there is currently no lease");
    case BLOB_LEASE_EXPIRED:
    case BLOB_LEASE_BROKEN:
        l->state = BLOB_LEASE_BROKEN;
        l->break_ms = 0;
        *time_out = 0;
        return 0;
    case BLOB_LEASE_LEASED:
        left = l->duration_s > 0 ? l->expiry_ms - now_ms : -1;
        if (rq->has_break_period) {
            brk = rq->break_period_s * 1000;
            if (left >= 0 && left < brk)
                brk = left;
        } else {
            brk = left >= 0 ? left : 0;
        }
        break;
    case BLOB_LEASE_BREAKING:
    default:
        left = l->break_ms - now_ms;
        brk = left;
        if (rq->has_break_period && rq->break_period_s * 1000 < brk)
            brk = rq->break_period_s * 1000;
        break;
    }
    if (brk <= 0) {
        l->state = BLOB_LEASE_BROKEN;
        l->break_ms = 0;
        *time_out = 0;
        return 0;
    }
    l->state = BLOB_LEASE_BREAKING;
    l->break_ms = now_ms + brk;
    *time_out = ceil_s(brk);
    return 0;
}

int blob_lease_apply(struct blob_lease *l, const struct blob_lease_req *rq,
                     int64_t now_ms, char id_out[40], int64_t *time_out,
                     struct err *err)
{
    enum blob_lease_state eff = blob_lease_effective(l, now_ms);
    struct blob_lease next = *l;
    int rc;

    id_out[0] = '\0';
    *time_out = 0;
    if (rq->action != BLOB_LEASE_ACQUIRE && rq->action != BLOB_LEASE_BREAK &&
        !rq->lease_id)
        return err_set(err, ERR_INVALID, "MissingRequiredHeader",
                       "header 'x-ms-lease-id' is required");
    if (rq->action == BLOB_LEASE_CHANGE && !rq->proposed_id)
        return err_set(err, ERR_INVALID, "MissingRequiredHeader",
                       "header 'x-ms-proposed-lease-id' is required");
    /* Normalise the stored state first, so transitions start from now. */
    if (eff == BLOB_LEASE_EXPIRED) {
        next.state = BLOB_LEASE_EXPIRED;
    } else if (eff == BLOB_LEASE_BROKEN) {
        next.state = BLOB_LEASE_BROKEN;
    }
    switch (rq->action) {
    case BLOB_LEASE_ACQUIRE:
        rc = do_acquire(&next, rq, eff, now_ms, err);
        break;
    case BLOB_LEASE_RENEW:
        rc = do_renew(&next, rq, eff, now_ms, err);
        break;
    case BLOB_LEASE_CHANGE:
        rc = do_change(&next, rq, eff, err);
        break;
    case BLOB_LEASE_RELEASE:
        rc = do_release(&next, rq, eff, err);
        break;
    case BLOB_LEASE_BREAK:
    default:
        rc = do_break(&next, rq, eff, now_ms, time_out, err);
        break;
    }
    if (rc < 0)
        return rc;
    *l = next;
    if (rq->action != BLOB_LEASE_RELEASE && rq->action != BLOB_LEASE_BREAK)
        memcpy(id_out, l->id, sizeof(l->id));
    return 0;
}

int blob_lease_check(const struct blob_lease *l, const char *lease_id,
                     bool is_write, bool is_container, int64_t now_ms,
                     struct err *err)
{
    enum blob_lease_state eff = blob_lease_effective(l, now_ms);
    bool locked = eff == BLOB_LEASE_LEASED || eff == BLOB_LEASE_BREAKING;

    if (locked) {
        if (!lease_id) {
            if (!is_write)
                return 0;
            return err_set(err, ERR_PRECONDITION, "LeaseIdMissing",
                           "there is currently a lease on the %s and no "
                           "lease id was specified in the request",
                           is_container ? "container" : "blob");
        }
        if (!same_id(lease_id, l->id))
            return err_set(err, ERR_PRECONDITION,
                           is_container
                               ? "LeaseIdMismatchWithContainerOperation"
                               : "LeaseIdMismatchWithBlobOperation",
                           "the lease id specified did not match the lease "
                           "id of the %s",
                           is_container ? "container" : "blob");
        return 0;
    }
    if (lease_id)
        return err_set(err, ERR_PRECONDITION,
                       is_container ? "LeaseNotPresentWithContainerOperation"
                                    : "LeaseNotPresentWithBlobOperation",
                       "there is currently no lease on the %s",
                       is_container ? "container" : "blob");
    return 0;
}

const char *blob_lease_state_str(enum blob_lease_state s)
{
    switch (s) {
    case BLOB_LEASE_LEASED:
        return "leased";
    case BLOB_LEASE_EXPIRED:
        return "expired";
    case BLOB_LEASE_BREAKING:
        return "breaking";
    case BLOB_LEASE_BROKEN:
        return "broken";
    case BLOB_LEASE_AVAILABLE:
    default:
        return "available";
    }
}

const char *blob_lease_status_str(enum blob_lease_state s)
{
    return s == BLOB_LEASE_LEASED || s == BLOB_LEASE_BREAKING ? "locked"
                                                              : "unlocked";
}

const char *blob_lease_duration_str(const struct blob_lease *l,
                                    enum blob_lease_state s)
{
    if (s != BLOB_LEASE_LEASED)
        return NULL;
    return l->duration_s < 0 ? "infinite" : "fixed";
}
