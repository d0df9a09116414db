/*
 * test_batch_spec.c: Batch request body parsing and schema checks
 * (src/batch/spec.c), with a table of valid bodies and a table of hostile
 * ones (truncated, wrong types, duplicate keys, unknown properties, bad ids,
 * path escapes, out-of-range values, unsupported features, deep nesting,
 * NUL bytes, oversized collections), each with the exact Batch error code.
 */
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/spec.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

static int check(enum spec_kind kind, const char *body, bool strict,
                 json_t **out, struct err *e)
{
    json_t *in = NULL;
    int rc = spec_parse_body(body, strlen(body), false, &in, e);

    if (rc < 0)
        return rc;
    rc = spec_check(kind, in, strict, out, e);
    json_decref(in);
    return rc;
}

struct good_case {
    enum spec_kind kind;
    const char *body;
};

static const struct good_case goods[] = {
    { SPEC_TASK_ADD, "{\"id\":\"t1\",\"commandLine\":\"/bin/true\"}" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a-B_9\",\"commandLine\":\"x\",\"displayName\":\"héllo\","
      "\"resourceFiles\":[{\"httpUrl\":\"http://h/a?sig=x\",\"filePath\":"
      "\"in/a.txt\",\"fileMode\":\"0755\"},{\"storageContainerUrl\":"
      "\"http://h/c\",\"blobPrefix\":\"p/\"}],\"outputFiles\":[{"
      "\"filePattern\":\"**/*.txt\",\"destination\":{\"container\":{"
      "\"containerUrl\":\"http://h/o?sig=y\",\"path\":\"out\"}},"
      "\"uploadOptions\":{\"uploadCondition\":\"TaskSuccess\"}}],"
      "\"environmentSettings\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":"
      "\"B\"}],\"constraints\":{\"maxWallClockTime\":\"PT1H\","
      "\"retentionTime\":\"P1D\",\"maxTaskRetryCount\":-1},"
      "\"requiredSlots\":2,\"userIdentity\":{\"autoUser\":{\"scope\":"
      "\"task\",\"elevationLevel\":\"admin\"}},\"exitConditions\":null}" },
    { SPEC_TASK_COLLECTION,
      "{\"value\":[{\"id\":\"a\",\"commandLine\":\"x\"},{\"id\":\"b\","
      "\"commandLine\":\"y\"}]}" },
    { SPEC_JOB_ADD,
      "{\"id\":\"j\",\"poolInfo\":{\"poolId\":\"p\"},"
      "\"priority\":-1000,\"onAllTasksComplete\":\"TerminateJob\","
      "\"constraints\":{\"maxTaskRetryCount\":3},"
      "\"commonEnvironmentSettings\":[{\"name\":\"X\"}],"
      "\"metadata\":[{\"name\":\"k\",\"value\":\"v\"}]}" },
    { SPEC_POOL_ADD,
      "{\"id\":\"p\",\"vmSize\":\"STANDARD_D1\",\"targetDedicatedNodes\":2,"
      "\"taskSlotsPerNode\":4,\"enableAutoScale\":false,"
      "\"virtualMachineConfiguration\":{\"imageReference\":{\"publisher\":"
      "\"canonical\"},\"nodeAgentSKUId\":\"batch.node.ubuntu 20.04\"},"
      "\"startTask\":{\"commandLine\":\"x\",\"waitForSuccess\":true,"
      "\"maxTaskRetryCount\":1},\"resizeTimeout\":\"PT15M\"}" },
    { SPEC_POOL_RESIZE, "{\"targetDedicatedNodes\":0,"
                        "\"nodeDeallocationOption\":\"requeue\"}" },
    { SPEC_JOB_PATCH, "{\"priority\":5}" },
    { SPEC_JOB_UPDATE, "{\"poolInfo\":{\"poolId\":\"p\"}}" },
    { SPEC_JOB_TERMINATE, "{\"terminateReason\":\"because\"}" },
    { SPEC_JOB_DISABLE, "{\"disableTasks\":\"requeue\"}" },
    { SPEC_TASK_UPDATE, "{\"constraints\":{\"maxTaskRetryCount\":2}}" },
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(goods); i++) {
        struct err e = ERR_INIT;
        json_t *out = NULL;
        int rc = check(goods[i].kind, goods[i].body, true, &out, &e);
        if (rc != 0)
            fail_msg("case %zu: %s %s", i, e.svc, e.msg);
        assert_non_null(out);
        json_decref(out);
    }
}

static void test_normalized(void **state)
{
    struct err e = ERR_INIT;
    json_t *out = NULL;

    (void)state;
    assert_int_equal(check(SPEC_TASK_ADD, goods[1].body, true, &out, &e), 0);
    /* enums lower-cased, nulls dropped */
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(
                json_array_get(json_object_get(out, "outputFiles"), 0),
                "uploadOptions"),
            "uploadCondition")),
        "tasksuccess");
    assert_null(json_object_get(out, "exitConditions"));
    assert_string_equal(json_string_value(json_object_get(out, "displayName")),
                        "h\xc3\xa9llo");
    json_decref(out);
    assert_int_equal(check(SPEC_JOB_ADD, goods[3].body, true, &out, &e), 0);
    assert_string_equal(
        json_string_value(json_object_get(out, "onAllTasksComplete")),
        "terminatejob");
    json_decref(out);
}

struct bad_case {
    enum spec_kind kind;
    const char *body;
    const char *svc;
    const char *detail; /* a value among err.details, or NULL */
};

static const struct bad_case bads[] = {
    /* syntax */
    { SPEC_TASK_ADD, "", "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "   ", "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "{", "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":\"x\"",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":\"x\"} {}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "[]", "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "\"x\"", "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "null", "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"id\":\"b\",\"commandLine\":\"x\"}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":\"\\ud800\"}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":\"\xff\xfe\"}",
      "InvalidRequestBody", NULL },
    /* types */
    { SPEC_TASK_ADD, "{\"id\":1,\"commandLine\":\"x\"}", "InvalidRequestBody",
      NULL },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":[\"x\"]}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"requiredSlots\":1.5}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"requiredSlots\":\"2\"}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":{}}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":[\"u\"]}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":\"x\",\"constraints\":[]}",
      "InvalidRequestBody", NULL },
    /* unknown properties (strict) */
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":\"x\",\"bogus\":1}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"constraints\":{\"maxRetries\":1}}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD, "{\"Id\":\"a\",\"commandLine\":\"x\"}",
      "InvalidRequestBody", NULL },
    /* required */
    { SPEC_TASK_ADD, "{}", "MissingRequiredProperty", "id" },
    { SPEC_TASK_ADD, "{\"id\":\"a\"}", "MissingRequiredProperty",
      "commandLine" },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":null}",
      "MissingRequiredProperty", "commandLine" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":[{\"httpUrl\":"
      "\"http://h/x\"}]}",
      "MissingRequiredProperty", "resourceFiles[0].filePath" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"outputFiles\":[{\"filePattern\":"
      "\"*\",\"destination\":{\"container\":{\"containerUrl\":\"u\"}}}]}",
      "MissingRequiredProperty", "outputFiles[0].uploadOptions" },
    { SPEC_JOB_ADD, "{\"id\":\"j\"}", "MissingRequiredProperty", "poolInfo" },
    { SPEC_JOB_ADD, "{\"id\":\"j\",\"poolInfo\":{}}", "MissingRequiredProperty",
      "poolInfo.poolId" },
    { SPEC_POOL_ADD, "{\"id\":\"p\"}", "MissingRequiredProperty", "vmSize" },
    { SPEC_POOL_PROPS, "{\"metadata\":[]}", "MissingRequiredProperty",
      "certificateReferences" },
    { SPEC_JOB_DISABLE, "{}", "MissingRequiredProperty", "disableTasks" },
    /* values */
    { SPEC_TASK_ADD, "{\"id\":\"\",\"commandLine\":\"x\"}",
      "InvalidPropertyValue", "id" },
    { SPEC_TASK_ADD, "{\"id\":\"a b\",\"commandLine\":\"x\"}",
      "InvalidPropertyValue", "id" },
    { SPEC_TASK_ADD, "{\"id\":\"../x\",\"commandLine\":\"x\"}",
      "InvalidPropertyValue", "id" },
    { SPEC_TASK_ADD, "{\"id\":\"a\\u0000b\",\"commandLine\":\"x\"}",
      "InvalidRequestBody", NULL },
    { SPEC_TASK_ADD,
      "{\"id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
      "\"commandLine\":\"x\"}",
      "InvalidPropertyValue", "id" },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":\"\"}",
      "InvalidPropertyValue", "commandLine" },
    { SPEC_TASK_ADD, "{\"id\":\"a\",\"commandLine\":\"x\",\"requiredSlots\":0}",
      "InvalidPropertyValue", "requiredSlots" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"constraints\":{"
      "\"maxWallClockTime\":\"1 hour\"}}",
      "InvalidPropertyValue", "constraints.maxWallClockTime" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"constraints\":{"
      "\"maxWallClockTime\":\"P1Y\"}}",
      "InvalidPropertyValue", "constraints.maxWallClockTime" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"constraints\":{"
      "\"maxTaskRetryCount\":-2}}",
      "InvalidPropertyValue", "constraints.maxTaskRetryCount" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":[{\"httpUrl\":"
      "\"u\",\"filePath\":\"../../etc/passwd\"}]}",
      "InvalidPropertyValue", "resourceFiles[0].filePath" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":[{\"httpUrl\":"
      "\"u\",\"filePath\":\"/etc/passwd\"}]}",
      "InvalidPropertyValue", "resourceFiles[0].filePath" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":[{\"httpUrl\":"
      "\"u\",\"filePath\":\"a\\\\..\\\\..\\\\b\"}]}",
      "InvalidPropertyValue", "resourceFiles[0].filePath" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":[{\"httpUrl\":"
      "\"u\",\"filePath\":\"f\",\"fileMode\":\"0999\"}]}",
      "InvalidPropertyValue", "resourceFiles[0].fileMode" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":[{\"httpUrl\":"
      "\"u\",\"storageContainerUrl\":\"v\",\"filePath\":\"f\"}]}",
      "InvalidPropertyValue", "resourceFiles[0]" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"resourceFiles\":[{}]}",
      "InvalidPropertyValue", "resourceFiles[0]" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"outputFiles\":[{\"filePattern\":"
      "\"*\",\"destination\":{\"container\":{\"containerUrl\":\"u\"}},"
      "\"uploadOptions\":{\"uploadCondition\":\"sometimes\"}}]}",
      "InvalidPropertyValue", "outputFiles[0].uploadOptions.uploadCondition" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"userIdentity\":{\"autoUser\":{"
      "\"elevationLevel\":\"root\"}}}",
      "InvalidPropertyValue", "userIdentity.autoUser.elevationLevel" },
    { SPEC_JOB_ADD,
      "{\"id\":\"j\",\"poolInfo\":{\"poolId\":\"p\"},"
      "\"priority\":1001}",
      "OutOfRangePriority", "priority" },
    { SPEC_JOB_ADD,
      "{\"id\":\"j\",\"poolInfo\":{\"poolId\":\"p\"},"
      "\"priority\":9999999999999}",
      "InvalidPropertyValue", "priority" },
    { SPEC_JOB_ADD,
      "{\"id\":\"j\",\"poolInfo\":{\"poolId\":\"p\"},"
      "\"maxParallelTasks\":0}",
      "InvalidPropertyValue", "maxParallelTasks" },
    { SPEC_POOL_ADD,
      "{\"id\":\"p\",\"vmSize\":\"x\",\"targetDedicatedNodes\":-1}",
      "InvalidPropertyValue", "targetDedicatedNodes" },
    { SPEC_POOL_ADD, "{\"id\":\"p\",\"vmSize\":\"x\",\"taskSlotsPerNode\":257}",
      "InvalidPropertyValue", "taskSlotsPerNode" },
    { SPEC_POOL_REMOVE_NODES, "{\"nodeList\":[]}", "InvalidPropertyValue",
      "nodeList" },
    /* features shoal does not run */
    { SPEC_POOL_ADD, "{\"id\":\"p\",\"vmSize\":\"x\",\"enableAutoScale\":true}",
      "NotImplemented", "enableAutoScale" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"containerSettings\":{"
      "\"imageName\":\"i\"}}",
      "NotImplemented", "containerSettings" },
    { SPEC_TASK_ADD,
      "{\"id\":\"a\",\"commandLine\":\"x\",\"dependsOn\":{\"taskIdRanges\":"
      "[{\"start\":2,\"end\":1}]}}",
      "InvalidPropertyValue", "dependsOn.taskIdRanges[0]" },
    { SPEC_JOB_ADD,
      "{\"id\":\"j\",\"poolInfo\":{\"autoPoolSpecification\":{"
      "\"poolLifetimeOption\":\"job\"}}}",
      "NotImplemented", "poolInfo.autoPoolSpecification" },
    { SPEC_JOB_ADD,
      "{\"id\":\"j\",\"poolInfo\":{\"poolId\":\"p\"},"
      "\"jobManagerTask\":{\"id\":\"m\"}}",
      "MissingRequiredProperty", "jobManagerTask.commandLine" },
    { SPEC_JOB_ADD,
      "{\"id\":\"j\",\"poolInfo\":{\"poolId\":\"p\"},"
      "\"jobManagerTask\":{\"id\":\"m\",\"commandLine\":\"x\","
      "\"authenticationTokenSettings\":{\"access\":[\"job\"]}}}",
      "NotImplemented", "jobManagerTask.authenticationTokenSettings" },
    { SPEC_JOB_ADD,
      "{\"id\":\"j\",\"poolInfo\":{\"poolId\":\"p\"},"
      "\"jobManagerTask\":{\"id\":\"m:1\",\"commandLine\":\"x\"}}",
      "InvalidPropertyValue", "jobManagerTask.id" },
    { SPEC_SCHEDULE_ADD,
      "{\"id\":\"s\",\"schedule\":{},\"jobSpecification\":{"
      "\"poolInfo\":{\"poolId\":\"p\"},\"jobManagerTask\":{"
      "\"id\":\"m\",\"commandLine\":\"x\",\"runExclusive\":1}}}",
      "InvalidRequestBody", NULL },
    /* collections */
    { SPEC_TASK_COLLECTION, "{}", "MissingRequiredProperty", "value" },
    { SPEC_TASK_COLLECTION, "{\"value\":[{\"id\":\"a\"}]}",
      "MissingRequiredProperty", "value[0].commandLine" },
    { SPEC_TASK_COLLECTION, "{\"value\":[1]}", "InvalidRequestBody", NULL },
};

static void test_hostile(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
        struct err e = ERR_INIT;
        json_t *out = NULL;
        int rc = check(bads[i].kind, bads[i].body, true, &out, &e);
        bool found = bads[i].detail == NULL;
        if (rc == 0)
            fail_msg("case %zu accepted: %s", i, bads[i].body);
        assert_null(out);
        if (strcmp(e.svc, bads[i].svc) != 0)
            fail_msg("case %zu: got %s (%s), want %s", i, e.svc, e.msg,
                     bads[i].svc);
        for (int d = 0; d < e.ndetails && !found; d++)
            found = strcmp(e.details[d].value, bads[i].detail) == 0;
        if (!found)
            fail_msg("case %zu: detail %s missing (%s)", i, bads[i].detail,
                     e.msg);
    }
}

static void test_lenient_unknown(void **state)
{
    struct err e = ERR_INIT;
    json_t *out = NULL;

    (void)state;
    assert_int_equal(check(SPEC_TASK_ADD,
                           "{\"id\":\"a\",\"commandLine\":\"x\",\"newThing\":"
                           "{\"deep\":[1,2]},\"constraints\":{\"other\":1}}",
                           false, &out, &e),
                     0);
    assert_null(json_object_get(out, "newThing"));
    assert_non_null(json_object_get(out, "constraints"));
    assert_null(json_object_get(json_object_get(out, "constraints"), "other"));
    json_decref(out);
}

static void test_collection_limit(void **state)
{
    struct buf b;
    struct err e = ERR_INIT;
    json_t *out = NULL;
    char *s;

    (void)state;
    buf_init(&b, (size_t)-1);
    buf_adds(&b, "{\"value\":[");
    for (int i = 0; i < 101; i++)
        buf_addf(&b, "%s{\"id\":\"t%d\",\"commandLine\":\"x\"}", i ? "," : "",
                 i);
    buf_adds(&b, "]}");
    s = buf_detach(&b, NULL);
    assert_int_equal(check(SPEC_TASK_COLLECTION, s, true, &out, &e),
                     -ERR_TOOBIG);
    assert_string_equal(e.svc, "RequestBodyTooLarge");
    free(s);
    /* exactly 100 is fine */
    buf_init(&b, (size_t)-1);
    buf_adds(&b, "{\"value\":[");
    for (int i = 0; i < 100; i++)
        buf_addf(&b, "%s{\"id\":\"t%d\",\"commandLine\":\"x\"}", i ? "," : "",
                 i);
    buf_adds(&b, "]}");
    s = buf_detach(&b, NULL);
    err_clear(&e);
    assert_int_equal(check(SPEC_TASK_COLLECTION, s, true, &out, &e), 0);
    assert_int_equal(json_array_size(json_object_get(out, "value")), 100);
    json_decref(out);
    free(s);
}

static void test_deep_nesting(void **state)
{
    struct buf b;
    struct err e = ERR_INIT;
    json_t *out = NULL;
    char *s;

    (void)state;
    /* A P_ANY property nested far too deep: jansson refuses it. */
    buf_init(&b, (size_t)-1);
    buf_adds(&b, "{\"id\":\"a\",\"commandLine\":\"x\",\"affinityInfo\":");
    for (int i = 0; i < 100000; i++)
        buf_addc(&b, '[');
    for (int i = 0; i < 100000; i++)
        buf_addc(&b, ']');
    buf_adds(&b, "}");
    s = buf_detach(&b, NULL);
    assert_int_equal(check(SPEC_TASK_ADD, s, true, &out, &e), -ERR_INVALID);
    assert_string_equal(e.svc, "InvalidRequestBody");
    free(s);
}

static void test_ids(void **state)
{
    (void)state;
    assert_true(spec_id_ok("a"));
    assert_true(spec_id_ok("A-z_09"));
    assert_false(spec_id_ok(""));
    assert_false(spec_id_ok(NULL));
    assert_false(spec_id_ok("a.b"));
    assert_false(spec_id_ok("a/b"));
    assert_false(spec_id_ok("é"));
    assert_true(spec_id_ok(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_false(spec_id_ok(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_normalized),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_lenient_unknown),
        cmocka_unit_test(test_collection_limit),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
