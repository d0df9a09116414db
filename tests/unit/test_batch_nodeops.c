/*
 * test_batch_nodeops.c: node operations and deallocation options
 * (src/batch/nodeops.c) on the model and scheduler, without HTTP: option
 * names, reboot (states, refusals, when "reboot" is due, requeue /
 * terminate / taskcompletion), disable and enable scheduling (offline once
 * the tasks end), removal, and the node and pool fields of this part
 * (remote, ip, pending reboot, join token hash, deallocation option)
 * through a save/load round trip.
 */
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch/model.h"
#include "batch/nodeops.h"
#include "batch/sched.h"
#include "batch/spec.h"
#include "batch/store.h"
#include "core/err.h"
#include "core/mem.h"
#include "db/db.h"

#include "batch_fx.h"

static int setup(void **state)
{
    struct batch_fx *f = batch_fx_new("nodeops", 0);

    pthread_mutex_lock(&f->m.mu);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct batch_fx *f = *state;

    pthread_mutex_unlock(&f->m.mu);
    batch_fx_free(f);
    return 0;
}

static struct mjob *job(struct batch_fx *f, const char *id, const char *pool_id)
{
    json_t *spec =
        json_pack("{s:s, s:{s:s}}", "id", id, "poolInfo", "poolId", pool_id);
    struct mjob *j = model_job_new(&f->m, "acct", id, spec, 1000);

    model_save_job(&f->m, j);
    return j;
}

static struct mtask *task(struct batch_fx *f, struct mjob *j, const char *id)
{
    char *spec = xasprintf("{\"id\":\"%s\",\"commandLine\":\"x\"}", id);
    struct mtask *t = model_task_new(&f->m, j, id, spec, NULL, 2000);

    model_save_task_spec(&f->m, t);
    sched_enqueue(&f->m, t);
    return t;
}

static size_t assign(struct batch_fx *f, struct mnode *n)
{
    struct mrun **runs = NULL;
    size_t nr = 0, cap = 0;

    sched_assign(&f->m, n, 1, SIZE_MAX, &runs, &nr, &cap, 3000);
    free(runs);
    return nr;
}

static void finish(struct batch_fx *f, struct mtask *t)
{
    struct sched_outcome o;

    memset(&o, 0, sizeof(o));
    o.ran = true;
    o.start_ms = 3000;
    o.end_ms = 4000;
    assert_non_null(t->run);
    sched_run_finished(&f->m, t->run, &o, 4000);
}

static void test_option_names(void **state)
{
    enum nodeops_option o = NODEOPS_TERMINATE;

    (void)state;
    assert_int_equal(nodeops_option_parse(NULL, &o), 0);
    assert_int_equal(o, NODEOPS_REQUEUE);
    assert_int_equal(nodeops_option_parse("", &o), 0);
    assert_int_equal(o, NODEOPS_REQUEUE);
    assert_int_equal(nodeops_option_parse("TaskCompletion", &o), 0);
    assert_int_equal(o, NODEOPS_TASKCOMPLETION);
    assert_int_equal(nodeops_option_parse("retaineddata", &o), 0);
    assert_int_equal(o, NODEOPS_RETAINEDDATA);
    assert_int_equal(nodeops_option_parse("terminate", &o), 0);
    assert_int_equal(o, NODEOPS_TERMINATE);
    assert_int_equal(nodeops_option_parse("wait", &o), -ERR_INVALID);
    assert_int_equal(nodeops_option_parse("requeue ", &o), -ERR_INVALID);
    assert_string_equal(nodeops_option_name(NODEOPS_TASKCOMPLETION),
                        "taskcompletion");
    assert_string_equal(nodeops_option_name((enum nodeops_option)99),
                        "requeue");
}

static void test_reboot_states(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct err e = ERR_INIT;

    assert_int_equal(nodeops_reboot(&f->m, n, NODEOPS_REQUEUE, 5000, &e), 0);
    assert_int_equal(n->state, NODE_REBOOTING);
    assert_string_equal(model_node_state_name(n->state), "rebooting");
    assert_true(nodeops_reboot_due(n));
    assert_false(sched_node_usable(n));
    /* Refused while rebooting. */
    assert_int_equal(nodeops_reboot(&f->m, n, NODEOPS_REQUEUE, 5000, &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "NodeBeingRebooted");
    /* Sent: not due again; the new boot ends it. */
    n->reboot_sent = true;
    assert_false(nodeops_reboot_due(n));
    nodeops_rebooted(n);
    assert_false(n->reboot_pending);
    assert_false(nodeops_reboot_due(n));
    /* Only idle or running nodes reboot. */
    n->state = NODE_UNUSABLE;
    memset(&e, 0, sizeof(e));
    assert_int_equal(nodeops_reboot(&f->m, n, NODEOPS_REQUEUE, 5000, &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "NodeStateUnusable");
    n->state = NODE_OFFLINE;
    memset(&e, 0, sizeof(e));
    assert_int_equal(nodeops_reboot(&f->m, n, NODEOPS_REQUEUE, 5000, &e),
                     -ERR_CONFLICT);
    assert_string_equal(e.svc, "OperationInvalidForCurrentState");
    n->state = NODE_STARTING;
    assert_int_equal(nodeops_reboot(&f->m, n, NODEOPS_REQUEUE, 5000, NULL),
                     -ERR_CONFLICT);
}

static void test_reboot_options(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", "p");
    struct mtask *a = task(f, j, "a");
    struct mtask *b;
    struct mrun *r;

    /* requeue: the attempt is cancelled, the task back in the queue. */
    assert_int_equal(assign(f, n), 1);
    r = a->run;
    assert_int_equal(nodeops_reboot(&f->m, n, NODEOPS_REQUEUE, 5000, NULL), 0);
    assert_int_equal(a->state, TASK_ACTIVE);
    assert_int_equal(a->requeue_count, 1);
    assert_int_equal(a->retry_count, 0);
    assert_null(a->run);
    assert_null(r->task);
    assert_true(r->cancel);
    assert_int_equal(n->slots_used, 1); /* until the agent confirms */
    assert_true(nodeops_drained(n));
    assert_true(nodeops_reboot_due(n));
    assert_int_equal(assign(f, n), 0); /* rebooting: no new task */
    /* The new boot frees the cancelled run; the node starts over. */
    sched_run_free(&f->m, r, 6000);
    nodeops_rebooted(n);
    n->state = NODE_IDLE;
    assert_int_equal(assign(f, n), 1);
    assert_ptr_equal(a->run->node, n);
    assert_int_equal(a->attempt, 2);

    /* terminate: completed with TaskEnded, a message naming the reboot. */
    assert_int_equal(nodeops_reboot(&f->m, n, NODEOPS_TERMINATE, 7000, NULL),
                     0);
    assert_int_equal(a->state, TASK_COMPLETED);
    assert_int_equal(a->result, RESULT_FAILURE);
    assert_string_equal(a->fail->code, "TaskEnded");
    assert_non_null(strstr(a->fail->message, "rebooted"));
    assert_int_equal(j->failed, 1);
    sched_run_free(&f->m, n->runs[0], 7000);
    nodeops_rebooted(n);
    n->state = NODE_IDLE;

    /* taskcompletion: the task runs on; the reboot waits for it. */
    b = task(f, j, "b");
    assert_int_equal(assign(f, n), 1);
    assert_int_equal(
        nodeops_reboot(&f->m, n, NODEOPS_TASKCOMPLETION, 8000, NULL), 0);
    assert_int_equal(b->state, TASK_RUNNING);
    assert_int_equal(n->state, NODE_REBOOTING);
    assert_false(nodeops_drained(n));
    assert_false(nodeops_reboot_due(n));
    finish(f, b);
    assert_int_equal(b->state, TASK_COMPLETED);
    assert_int_equal(b->result, RESULT_SUCCESS);
    assert_int_equal(b->requeue_count, 0);
    assert_int_equal(n->state, NODE_REBOOTING); /* not idle yet */
    assert_true(nodeops_reboot_due(n));
}

static void test_disable_enable(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 2);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mjob *j = job(f, "j", "p");
    struct mtask *a = task(f, j, "a"), *b;
    struct err e = ERR_INIT;

    /* Idle: offline at once; a second disable is refused. */
    assert_int_equal(
        nodeops_disable_scheduling(&f->m, n, NODEOPS_REQUEUE, 5000, &e), 0);
    assert_int_equal(n->state, NODE_OFFLINE);
    assert_false(n->sched_enabled);
    assert_int_equal(assign(f, n), 0);
    assert_int_equal(
        nodeops_disable_scheduling(&f->m, n, NODEOPS_REQUEUE, 5000, &e),
        -ERR_CONFLICT);
    assert_string_equal(e.svc, "NodeAlreadyInTargetSchedulingState");
    assert_int_equal(nodeops_enable_scheduling(&f->m, n, 5000, NULL), 0);
    assert_int_equal(n->state, NODE_IDLE);
    assert_int_equal(nodeops_enable_scheduling(&f->m, n, 5000, NULL),
                     -ERR_CONFLICT);

    /* taskcompletion: running until the task ends, then offline. */
    assert_int_equal(assign(f, n), 1);
    assert_int_equal(n->state, NODE_RUNNING);
    assert_int_equal(nodeops_disable_scheduling(
                         &f->m, n, NODEOPS_TASKCOMPLETION, 6000, NULL),
                     0);
    assert_int_equal(n->state, NODE_RUNNING);
    assert_int_equal(a->state, TASK_RUNNING);
    b = task(f, j, "b");
    assert_int_equal(assign(f, n), 0); /* a free slot, but disabled */
    finish(f, a);
    assert_int_equal(n->state, NODE_OFFLINE);
    assert_int_equal(b->state, TASK_ACTIVE);
    assert_int_equal(nodeops_enable_scheduling(&f->m, n, 7000, NULL), 0);
    assert_int_equal(assign(f, n), 1);

    /* terminate: b completes with TaskEnded; the node goes offline. */
    assert_int_equal(
        nodeops_disable_scheduling(&f->m, n, NODEOPS_TERMINATE, 8000, NULL), 0);
    assert_int_equal(b->state, TASK_COMPLETED);
    assert_string_equal(b->fail->code, "TaskEnded");
    assert_int_equal(n->state, NODE_OFFLINE);
}

static void test_remove(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "p", 1);
    struct mnode *n = batch_fx_node(f, p, "n1");
    struct mnode *n2 = batch_fx_node(f, p, "n2");
    struct mjob *j = job(f, "j", "p");
    struct mtask *a = task(f, j, "a"), *b = task(f, j, "b");

    assert_int_equal(assign(f, n), 1);
    assert_int_equal(assign(f, n2), 1);
    nodeops_remove(&f->m, n, NODEOPS_TASKCOMPLETION, 5000);
    assert_true(n->removing);
    assert_int_equal(n->state, NODE_LEAVING);
    assert_int_equal(a->state, TASK_RUNNING);
    assert_false(nodeops_drained(n));
    finish(f, a);
    assert_true(nodeops_drained(n));
    assert_int_equal(n->state, NODE_LEAVING);
    /* A second removal changes nothing. */
    nodeops_remove(&f->m, n, NODEOPS_REQUEUE, 6000);
    assert_int_equal(a->state, TASK_COMPLETED);

    nodeops_remove(&f->m, n2, NODEOPS_REQUEUE, 7000);
    assert_int_equal(b->state, TASK_ACTIVE);
    assert_int_equal(b->requeue_count, 1);
    assert_true(nodeops_drained(n2));
    assert_int_equal(assign(f, n2), 0); /* leaving: nothing new */
}

static void test_round_trip(void **state)
{
    struct batch_fx *f = *state;
    struct mpool *p = batch_fx_pool(f, "jp", 1);
    struct mnode *n = batch_fx_node(f, p, "r1");
    struct mnode *l = batch_fx_node(f, p, "l1");
    struct err e = ERR_INIT;

    json_object_set_new(p->spec, "x-shoal-allocation",
                        json_string("jointoken"));
    model_pool_apply_spec(p);
    assert_true(p->join_mode);
    memset(p->join_hash, 'a', 64);
    p->join_hash[64] = '\0';
    p->join_ms = 1234;
    p->dealloc = NODEOPS_TASKCOMPLETION;
    model_save_pool(&f->m, p);
    n->remote = true;
    snprintf(n->ip, sizeof(n->ip), "10.1.2.3");
    assert_int_equal(nodeops_reboot(&f->m, n, NODEOPS_REQUEUE, 5000, NULL), 0);
    model_save_node(&f->m, n);
    (void)l;
    pthread_mutex_unlock(&f->m.mu);
    assert_int_equal(store_wait(f->st, store_last_ticket(f->st), &e), 0);
    batch_fx_close(f);
    batch_fx_open(f);
    pthread_mutex_lock(&f->m.mu);
    p = model_pool_find(&f->m, "acct", "jp");
    assert_non_null(p);
    assert_true(p->join_mode);
    assert_int_equal(strlen(p->join_hash), 64);
    assert_int_equal(p->join_ms, 1234);
    assert_int_equal(p->dealloc, NODEOPS_TASKCOMPLETION);
    n = model_node_find(&f->m, "r1");
    assert_non_null(n);
    assert_true(n->remote);
    assert_string_equal(n->ip, "10.1.2.3");
    assert_int_equal(n->state, NODE_REBOOTING);
    assert_true(n->reboot_pending); /* not sent yet: still to do */
    l = model_node_find(&f->m, "l1");
    assert_false(l->remote);
    assert_false(l->reboot_pending);
}

/* The request bodies of the node operations and the pool extension. */
static void check_body(enum spec_kind kind, const char *body, int rc,
                       const char *svc, const char *key, const char *want)
{
    struct err e = ERR_INIT;
    json_t *in = json_loads(body, 0, NULL), *out = NULL;

    assert_non_null(in);
    assert_int_equal(spec_check(kind, in, true, &out, &e), rc);
    if (rc < 0) {
        assert_string_equal(e.svc, svc);
    } else if (key) {
        assert_string_equal(json_string_value(json_object_get(out, key)), want);
    }
    json_decref(in);
    json_decref(out);
}

static void test_bodies(void **state)
{
    (void)state;
    check_body(SPEC_NODE_REBOOT, "{}", 0, NULL, NULL, NULL);
    check_body(SPEC_NODE_REBOOT, "{\"nodeRebootOption\":\"RetainedData\"}", 0,
               NULL, "nodeRebootOption", "retaineddata");
    check_body(SPEC_NODE_REBOOT, "{\"nodeRebootOption\":\"wait\"}",
               -ERR_INVALID, "InvalidPropertyValue", NULL, NULL);
    check_body(SPEC_NODE_REBOOT, "{\"nodeRebootOption\":1}", -ERR_INVALID,
               "InvalidRequestBody", NULL, NULL);
    check_body(SPEC_NODE_REBOOT, "{\"other\":1}", -ERR_INVALID,
               "InvalidRequestBody", NULL, NULL);
    check_body(SPEC_NODE_DISABLE_SCHEDULING,
               "{\"nodeDisableSchedulingOption\":\"TaskCompletion\"}", 0, NULL,
               "nodeDisableSchedulingOption", "taskcompletion");
    /* retaineddata is not an option of disable scheduling */
    check_body(SPEC_NODE_DISABLE_SCHEDULING,
               "{\"nodeDisableSchedulingOption\":\"retaineddata\"}",
               -ERR_INVALID, "InvalidPropertyValue", NULL, NULL);
    check_body(SPEC_NODE_UPLOAD_LOGS,
               "{\"containerUrl\":\"http://h/c?sig=x\","
               "\"startTime\":\"2024-01-02T03:04:05.123Z\"}",
               0, NULL, "containerUrl", "http://h/c?sig=x");
    check_body(SPEC_NODE_UPLOAD_LOGS,
               "{\"startTime\":\"2024-01-02T00:00:00Z\"}", -ERR_INVALID,
               "MissingRequiredProperty", NULL, NULL);
    check_body(SPEC_NODE_UPLOAD_LOGS,
               "{\"containerUrl\":\"http://h/c\",\"startTime\":\"yesterday\"}",
               -ERR_INVALID, "InvalidPropertyValue", NULL, NULL);
    check_body(SPEC_NODE_UPLOAD_LOGS,
               "{\"containerUrl\":\"http://h/c\",\"startTime\":\"2024-01-02\","
               "\"endTime\":\"2024-13-40T99:00:00Z\"}",
               -ERR_INVALID, "InvalidPropertyValue", NULL, NULL);
    check_body(SPEC_NODE_UPLOAD_LOGS,
               "{\"containerUrl\":\"\",\"startTime\":\"2024-01-02\"}",
               -ERR_INVALID, "InvalidPropertyValue", NULL, NULL);
    check_body(SPEC_NODE_UPLOAD_LOGS,
               "{\"containerUrl\":\"http://h/c\",\"startTime\":\"2024-01-02\","
               "\"identityReference\":{\"resourceId\":\"x\"}}",
               -ERR_NOTIMPL, "NotImplemented", NULL, NULL);
    check_body(SPEC_POOL_ADD,
               "{\"id\":\"p\",\"vmSize\":\"x\",\"x-shoal-allocation\":"
               "\"JoinToken\"}",
               0, NULL, "x-shoal-allocation", "jointoken");
    check_body(SPEC_POOL_ADD,
               "{\"id\":\"p\",\"vmSize\":\"x\",\"x-shoal-allocation\":"
               "\"cloud\"}",
               -ERR_INVALID, "InvalidPropertyValue", NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_option_names),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test_setup_teardown(test_reboot_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reboot_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disable_enable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
