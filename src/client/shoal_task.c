/*
 * shoal_task.c: single Batch tasks and their files.
 *
 * Requests (batch-wire.md §6):
 *   add        POST   /jobs/J/tasks               201
 *   get, list  GET    /jobs/J/tasks[/T]
 *   terminate  POST   /jobs/J/tasks/T/terminate   204
 *   delete     DELETE /jobs/J/tasks/T             200
 *   file get   GET    /jobs/J/tasks/T/files/PATH  (PATH one escaped segment:
 *                                                  '/' travels as %2F)
 *   file list  GET    /jobs/J/tasks/T/files?recursive=
 *
 * A task spec becomes a TaskAddParameter (shoal_task_spec_json, shared
 * with the collection adds in shoal_tasks.c). Output files map to
 * {filePattern, destination.container{containerUrl, path},
 * uploadOptions.uploadCondition}; the wall clock limit to an ISO 8601
 * duration.
 *
 * Thread-safe: all state is per call.
 */
#include "client/clientint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

static const char *cond_name(enum shoal_upload_condition c)
{
    switch (c) {
    case SHOAL_UPLOAD_TASK_FAILURE:
        return "taskfailure";
    case SHOAL_UPLOAD_TASK_COMPLETION:
        return "taskcompletion";
    case SHOAL_UPLOAD_TASK_SUCCESS:
    default:
        return "tasksuccess";
    }
}

static json_t *output_files(const struct shoal_output_file *of, size_t n)
{
    json_t *a = json_array();
    size_t i;

    if (!a)
        return NULL;
    for (i = 0; i < n; i++) {
        json_t *o =
            json_pack("{s:s?,s:{s:{s:s?,s:s?}},s:{s:s}}", "filePattern",
                      of[i].pattern, "destination", "container", "containerUrl",
                      of[i].container_url, "path", of[i].path, "uploadOptions",
                      "uploadCondition", cond_name(of[i].condition));

        if (!o || json_array_append_new(a, o) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *spec_json(const struct shoal_task_spec *s)
{
    json_t *o = json_object();
    json_t *cons = NULL;

    if (!o)
        return NULL;
    if (batchreq_set_str(o, "id", s->id) < 0 ||
        batchreq_set_str(o, "commandLine", s->command_line) < 0 ||
        batchreq_set_str(o, "displayName", s->display_name) < 0)
        goto fail;
    if (s->nresource_files &&
        json_object_set_new(
            o, "resourceFiles",
            batchreq_resource_files(s->resource_files, s->nresource_files)) < 0)
        goto fail;
    if (s->noutput_files &&
        json_object_set_new(o, "outputFiles",
                            output_files(s->output_files, s->noutput_files)) <
            0)
        goto fail;
    if (s->nenv && json_object_set_new(o, "environmentSettings",
                                       batchreq_env(s->env, s->nenv)) < 0)
        goto fail;
    if (s->max_retries || s->max_wall_clock_s > 0) {
        cons = json_object();
        if (!cons || json_object_set_new(o, "constraints", cons) < 0)
            goto fail;
        if (s->max_retries &&
            batchreq_set_int(cons, "maxTaskRetryCount", s->max_retries) < 0)
            goto fail;
        if (s->max_wall_clock_s > 0) {
            char dur[48];

            snprintf(dur, sizeof(dur), "PT%lldS",
                     (long long)s->max_wall_clock_s);
            if (batchreq_set_str(cons, "maxWallClockTime", dur) < 0)
                goto fail;
        }
    }
    if (s->required_slots > 0 &&
        batchreq_set_int(o, "requiredSlots", s->required_slots) < 0)
        goto fail;
    if (s->elevated) {
        json_t *ui = json_pack("{s:{s:s,s:s}}", "autoUser", "scope", "task",
                               "elevationLevel", "admin");

        if (!ui || json_object_set_new(o, "userIdentity", ui) < 0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

int shoal_task_spec_json(shoal_client *c, const struct shoal_task_spec *spec,
                         json_t **out)
{
    json_t *o;

    if (!spec)
        return client_fail(c, SHOAL_ERR_INVALID, "no task spec");
    if (spec->json)
        return batchreq_parse_user(c, spec->json, out);
    if (!spec->id || !*spec->id || !spec->command_line)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "a task needs an id and a command line");
    o = spec_json(spec);
    if (!o)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "task '%s': out of memory or text not UTF-8",
                           spec->id);
    *out = o;
    return 0;
}

int shoal_task_add(shoal_client *c, const char *job,
                   const struct shoal_task_spec *spec)
{
    json_t *body = NULL;
    int rc;

    rc = shoal_task_spec_json(c, spec, &body);
    if (rc < 0)
        return rc;
    rc = batchreq_call(c, "POST", "jobs", job ? job : "", "tasks", NULL, body,
                       NULL);
    json_decref(body);
    return rc;
}

int shoal_task_get(shoal_client *c, const char *job, const char *task,
                   const char *select, shoal_doc **out)
{
    return batchreq_get_path(c, "jobs", job ? job : "", "tasks",
                             task ? task : "", select, out);
}

int shoal_task_list(shoal_client *c, const char *job,
                    const struct shoal_query *q, shoal_doc **out)
{
    return batchreq_list_path(c, "jobs", job ? job : "", "tasks", NULL, q, out);
}

int shoal_task_terminate(shoal_client *c, const char *job, const char *task)
{
    struct req r;
    int rc;

    rc = batchreq_init(c, &r, "POST", "jobs", job ? job : "", "tasks",
                       task ? task : "");
    if (rc < 0)
        return rc;
    req_segment(&r, "terminate", false);
    rc = batchreq_send(c, &r, NULL, NULL);
    req_release(&r);
    return rc;
}

int shoal_task_delete(shoal_client *c, const char *job, const char *task)
{
    return batchreq_call(c, "DELETE", "jobs", job ? job : "", "tasks",
                         task ? task : "", NULL, NULL);
}

static int file_req(shoal_client *c, struct req *r, const char *job,
                    const char *task, const char *path)
{
    int rc;

    rc = batchreq_init(c, r, "GET", "jobs", job ? job : "", "tasks",
                       task ? task : "");
    if (rc < 0)
        return rc;
    req_segment(r, "files", false);
    if (path && req_segment(r, path, false) == SHOAL_ERR_INVALID) {
        req_release(r);
        return client_fail(c, SHOAL_ERR_INVALID, "empty file path");
    }
    req_query(r, "api-version", CLIENT_BATCH_VERSION);
    return 0;
}

int shoal_task_file_read(shoal_client *c, const char *job, const char *task,
                         const char *path, size_t max, char **data_out,
                         size_t *len_out)
{
    struct req r;
    size_t len;
    char *p;
    int rc;

    if (!path)
        return client_fail(c, SHOAL_ERR_INVALID, "empty file path");
    rc = file_req(c, &r, job, task, path);
    if (rc < 0)
        return rc;
    r.resp.max = max < CLIENT_MAX_REPLY ? max : CLIENT_MAX_REPLY;
    rc = transport_send(c, &r);
    if (rc == 0) {
        p = buf_detach(&r.resp, &len);
        if (!p) {
            rc = client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
        } else {
            *data_out = p;
            if (len_out)
                *len_out = len;
        }
    }
    req_release(&r);
    return rc;
}

int shoal_task_file_download(shoal_client *c, const char *job, const char *task,
                             const char *path, const char *dest)
{
    struct buf tmp = BUF_INIT;
    struct req r;
    bool have_req = false;
    int fd = -1;
    int rc;

    if (!path || !dest || !*dest)
        return client_fail(c, SHOAL_ERR_INVALID, "empty file path");
    if (buf_addf(&tmp, "%s.shoal-XXXXXX", dest) < 0)
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    fd = mkstemp(tmp.data);
    if (fd < 0) {
        rc = client_fail(c, SHOAL_ERR_IO, "create '%s': %s", tmp.data,
                         strerror(errno));
        buf_release(&tmp);
        return rc;
    }
    if (fchmod(fd, 0644) < 0) {
        rc =
            client_fail(c, SHOAL_ERR_IO, "'%s': %s", tmp.data, strerror(errno));
        goto out;
    }
    rc = file_req(c, &r, job, task, path);
    if (rc < 0)
        goto out;
    have_req = true;
    r.out_fd = fd;
    rc = transport_send(c, &r);
    if (rc < 0)
        goto out;
    if (close(fd) < 0) {
        fd = -1;
        rc = client_fail(c, SHOAL_ERR_IO, "close '%s': %s", tmp.data,
                         strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp.data, dest) < 0) {
        rc = client_fail(c, SHOAL_ERR_IO, "rename to '%s': %s", dest,
                         strerror(errno));
        goto out;
    }
    buf_reset(&tmp);
out:
    if (fd >= 0)
        close(fd);
    if (tmp.len)
        unlink(tmp.data);
    buf_release(&tmp);
    if (have_req)
        req_release(&r);
    return rc;
}

int shoal_task_file_list(shoal_client *c, const char *job, const char *task,
                         bool recursive, shoal_doc **out)
{
    struct req r;
    int rc;

    rc = file_req(c, &r, job, task, NULL);
    if (rc < 0)
        return rc;
    req_query(&r, "recursive", recursive ? "true" : "false");
    rc = batchreq_list(c, &r, NULL, out);
    req_release(&r);
    return rc;
}
