/*
 * test_blob_lease.c: the lease state machine: every action from every
 * state, time passing (expiry, break periods), and the checks writes and
 * reads make against a lease.
 */
#include "unit.h"

#include <string.h>

#include "blob/blobint.h"
#include "core/err.h"

#define ID1 "11111111-1111-1111-1111-111111111111"
#define ID2 "22222222-2222-2222-2222-222222222222"
#define T0  1000000000LL

static int act(struct blob_lease *l, enum blob_lease_action a, const char *id,
               const char *proposed, int64_t dur, int64_t brk, int64_t now,
               struct err *e, int64_t *t_out)
{
    struct blob_lease_req rq;
    char out[40];
    int64_t t = -1;
    int rc;

    memset(&rq, 0, sizeof(rq));
    rq.action = a;
    rq.lease_id = id;
    rq.proposed_id = proposed;
    rq.duration_s = dur;
    if (brk >= 0) {
        rq.has_break_period = true;
        rq.break_period_s = brk;
    }
    rc = blob_lease_apply(l, &rq, now, out, &t, e);
    if (t_out)
        *t_out = t;
    return rc;
}

static void test_acquire_release(void **state)
{
    struct blob_lease l;
    struct err e = ERR_INIT;

    (void)state;
    memset(&l, 0, sizeof(l));
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, ID1, -1, -1, T0, &e, NULL), 0);
    assert_int_equal(blob_lease_effective(&l, T0 + 999999999),
                     BLOB_LEASE_LEASED);
    assert_string_equal(l.id, ID1);
    /* a second acquire with another id conflicts; with the same renews */
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, ID2, -1, -1, T0, &e, NULL),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseAlreadyPresent");
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, NULL, -1, -1, T0, &e, NULL),
        -ERR_CONFLICT);
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, ID1, 30, -1, T0, &e, NULL), 0);
    assert_int_equal(l.duration_s, 30);
    /* release needs the right id */
    assert_int_equal(
        act(&l, BLOB_LEASE_RELEASE, ID2, NULL, 0, -1, T0, &e, NULL),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseIdMismatchWithLeaseOperation");
    assert_int_equal(
        act(&l, BLOB_LEASE_RELEASE, NULL, NULL, 0, -1, T0, &e, NULL),
        -ERR_INVALID);
    assert_int_equal(
        act(&l, BLOB_LEASE_RELEASE, ID1, NULL, 0, -1, T0, &e, NULL), 0);
    assert_int_equal(blob_lease_effective(&l, T0), BLOB_LEASE_AVAILABLE);
    assert_int_equal(
        act(&l, BLOB_LEASE_RELEASE, ID1, NULL, 0, -1, T0, &e, NULL),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseNotPresentWithLeaseOperation");
    /* acquire without a proposed id makes one up */
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, NULL, 15, -1, T0, &e, NULL), 0);
    assert_true(blob_lease_id_ok(l.id));
}

static void test_expiry_renew(void **state)
{
    struct blob_lease l;
    struct err e = ERR_INIT;

    (void)state;
    memset(&l, 0, sizeof(l));
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, ID1, 15, -1, T0, &e, NULL), 0);
    assert_int_equal(blob_lease_effective(&l, T0 + 14999), BLOB_LEASE_LEASED);
    assert_int_equal(blob_lease_effective(&l, T0 + 15000), BLOB_LEASE_EXPIRED);
    /* renew brings an expired lease back, with its id */
    assert_int_equal(
        act(&l, BLOB_LEASE_RENEW, ID1, NULL, 0, -1, T0 + 20000, &e, NULL), 0);
    assert_int_equal(blob_lease_effective(&l, T0 + 34000), BLOB_LEASE_LEASED);
    assert_int_equal(blob_lease_effective(&l, T0 + 35000), BLOB_LEASE_EXPIRED);
    /* another client may take an expired lease */
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, ID2, -1, -1, T0 + 40000, &e, NULL),
        0);
    assert_int_equal(
        act(&l, BLOB_LEASE_RENEW, ID1, NULL, 0, -1, T0 + 40000, &e, NULL),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseIdMismatchWithLeaseOperation");
}

static void test_change(void **state)
{
    struct blob_lease l;
    struct err e = ERR_INIT;

    (void)state;
    memset(&l, 0, sizeof(l));
    act(&l, BLOB_LEASE_ACQUIRE, NULL, ID1, -1, -1, T0, &e, NULL);
    assert_int_equal(act(&l, BLOB_LEASE_CHANGE, ID1, NULL, 0, -1, T0, &e, NULL),
                     -ERR_INVALID);
    assert_int_equal(act(&l, BLOB_LEASE_CHANGE, ID2, ID2, 0, -1, T0, &e, NULL),
                     -ERR_CONFLICT);
    assert_int_equal(act(&l, BLOB_LEASE_CHANGE, ID1, ID2, 0, -1, T0, &e, NULL),
                     0);
    assert_string_equal(l.id, ID2);
    /* changing again to the id it already has is fine (idempotent) */
    assert_int_equal(act(&l, BLOB_LEASE_CHANGE, ID1, ID2, 0, -1, T0, &e, NULL),
                     0);
}

static void test_break(void **state)
{
    struct blob_lease l;
    struct err e = ERR_INIT;
    int64_t t;

    (void)state;
    memset(&l, 0, sizeof(l));
    assert_int_equal(act(&l, BLOB_LEASE_BREAK, NULL, NULL, 0, -1, T0, &e, &t),
                     -ERR_CONFLICT);
    /* infinite lease, no period: broken at once */
    act(&l, BLOB_LEASE_ACQUIRE, NULL, ID1, -1, -1, T0, &e, NULL);
    assert_int_equal(act(&l, BLOB_LEASE_BREAK, NULL, NULL, 0, -1, T0, &e, &t),
                     0);
    assert_int_equal(t, 0);
    assert_int_equal(blob_lease_effective(&l, T0), BLOB_LEASE_BROKEN);
    assert_int_equal(act(&l, BLOB_LEASE_RENEW, ID1, NULL, 0, -1, T0, &e, NULL),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseIsBrokenAndCannotBeRenewed");
    /* release a broken lease with its id */
    assert_int_equal(
        act(&l, BLOB_LEASE_RELEASE, ID1, NULL, 0, -1, T0, &e, NULL), 0);

    /* infinite lease, period 10: breaking for 10 s */
    act(&l, BLOB_LEASE_ACQUIRE, NULL, ID1, -1, -1, T0, &e, NULL);
    assert_int_equal(act(&l, BLOB_LEASE_BREAK, NULL, NULL, 0, 10, T0, &e, &t),
                     0);
    assert_int_equal(t, 10);
    assert_int_equal(blob_lease_effective(&l, T0 + 9999), BLOB_LEASE_BREAKING);
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, ID1, -1, -1, T0 + 1, &e, NULL),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseIsBreakingAndCannotBeAcquired");
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, ID2, -1, -1, T0 + 1, &e, NULL),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseAlreadyPresent");
    assert_int_equal(
        act(&l, BLOB_LEASE_RENEW, ID1, NULL, 0, -1, T0 + 1, &e, NULL),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseIsBreakingAndCannotBeRenewed");
    assert_int_equal(
        act(&l, BLOB_LEASE_CHANGE, ID1, ID2, 0, -1, T0 + 1, &e, NULL),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "LeaseIsBreakingAndCannotBeChanged");
    /* a shorter period shortens the break; a longer one does not */
    assert_int_equal(
        act(&l, BLOB_LEASE_BREAK, NULL, NULL, 0, 30, T0 + 1000, &e, &t), 0);
    assert_int_equal(t, 9);
    assert_int_equal(
        act(&l, BLOB_LEASE_BREAK, NULL, NULL, 0, 2, T0 + 1000, &e, &t), 0);
    assert_int_equal(t, 2);
    assert_int_equal(blob_lease_effective(&l, T0 + 3000), BLOB_LEASE_BROKEN);
    /* acquire after the break ends */
    assert_int_equal(
        act(&l, BLOB_LEASE_ACQUIRE, NULL, ID2, 20, -1, T0 + 3000, &e, NULL), 0);
    /* fixed lease: the break waits at most its remaining time */
    assert_int_equal(
        act(&l, BLOB_LEASE_BREAK, NULL, NULL, 0, 60, T0 + 13000, &e, &t), 0);
    assert_int_equal(t, 10);
    assert_int_equal(
        act(&l, BLOB_LEASE_BREAK, NULL, NULL, 0, -1, T0 + 13000, &e, &t), 0);
    assert_int_equal(t, 10);
}

static void test_check(void **state)
{
    struct blob_lease l;
    struct err e = ERR_INIT;

    (void)state;
    memset(&l, 0, sizeof(l));
    assert_int_equal(blob_lease_check(&l, NULL, true, false, T0, &e), 0);
    assert_int_equal(blob_lease_check(&l, ID1, true, false, T0, &e),
                     -ERR_PRECONDITION);
    assert_string_equal(e.svc, "LeaseNotPresentWithBlobOperation");
    assert_int_equal(blob_lease_check(&l, ID1, false, true, T0, &e),
                     -ERR_PRECONDITION);
    assert_string_equal(e.svc, "LeaseNotPresentWithContainerOperation");

    act(&l, BLOB_LEASE_ACQUIRE, NULL, ID1, 15, -1, T0, &e, NULL);
    assert_int_equal(blob_lease_check(&l, NULL, true, false, T0, &e),
                     -ERR_PRECONDITION);
    assert_string_equal(e.svc, "LeaseIdMissing");
    assert_int_equal(blob_lease_check(&l, ID2, true, false, T0, &e),
                     -ERR_PRECONDITION);
    assert_string_equal(e.svc, "LeaseIdMismatchWithBlobOperation");
    assert_int_equal(blob_lease_check(&l, ID1, true, false, T0, &e), 0);
    /* ids compare without case */
    {
        struct blob_lease m;

        memset(&m, 0, sizeof(m));
        act(&m, BLOB_LEASE_ACQUIRE, NULL,
            "abcdef01-2345-6789-abcd-ef0123456789", -1, -1, T0, &e, NULL);
        assert_int_equal(
            blob_lease_check(&m, "ABCDEF01-2345-6789-ABCD-EF0123456789", true,
                             false, T0, &e),
            0);
    }
    /* reads need no id, but a wrong one fails */
    assert_int_equal(blob_lease_check(&l, NULL, false, false, T0, &e), 0);
    assert_int_equal(blob_lease_check(&l, ID2, false, false, T0, &e),
                     -ERR_PRECONDITION);
    /* once expired, writes need no id */
    assert_int_equal(blob_lease_check(&l, NULL, true, false, T0 + 15000, &e),
                     0);
}

static void test_strings(void **state)
{
    struct blob_lease l;

    (void)state;
    memset(&l, 0, sizeof(l));
    l.duration_s = -1;
    assert_string_equal(blob_lease_state_str(BLOB_LEASE_LEASED), "leased");
    assert_string_equal(blob_lease_status_str(BLOB_LEASE_BREAKING), "locked");
    assert_string_equal(blob_lease_status_str(BLOB_LEASE_EXPIRED), "unlocked");
    assert_string_equal(blob_lease_duration_str(&l, BLOB_LEASE_LEASED),
                        "infinite");
    assert_null(blob_lease_duration_str(&l, BLOB_LEASE_BROKEN));
    l.duration_s = 15;
    assert_string_equal(blob_lease_duration_str(&l, BLOB_LEASE_LEASED),
                        "fixed");
    assert_true(blob_lease_id_ok(ID1));
    assert_true(blob_lease_id_ok("ABCDEF01-2345-6789-abcd-ef0123456789"));
    assert_false(blob_lease_id_ok("11111111-1111-1111-1111-11111111111"));
    assert_false(blob_lease_id_ok("11111111111111111111111111111111"));
    assert_false(blob_lease_id_ok("1111111g-1111-1111-1111-111111111111"));
    assert_false(blob_lease_id_ok(""));
    assert_false(blob_lease_id_ok(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_release),
        cmocka_unit_test(test_expiry_renew),
        cmocka_unit_test(test_change),
        cmocka_unit_test(test_break),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_strings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
