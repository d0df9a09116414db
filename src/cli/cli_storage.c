/*
 * cli_storage.c: the container, blob, queue and sas commands.
 *
 * Each command is a row of cli_storage_cmds and a run function that calls
 * libshoal once or a few times and prints the result: a plain line per
 * item, or with --json one JSON document (an array for lists, an object
 * for single results). Listings print as they arrive in plain mode and
 * are gathered into an array with --json.
 *
 * Uploads and downloads show a progress bar per file on a terminal.
 * "shoal blob download C B -" writes the blob to stdout.
 *
 * Single-threaded.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_META 64

/* --meta k=v options (and k=v positionals) into pairs; -1 on a bad one. */
static int parse_meta(const char **in, int n, struct shoal_kv *out,
                      char **copies)
{
    int i;

    for (i = 0; i < n; i++) {
        char *eq;

        copies[i] = strdup(in[i]);
        if (!copies[i])
            return -1;
        eq = strchr(copies[i], '=');
        if (!eq || eq == copies[i])
            return -1;
        *eq = '\0';
        out[i].name = copies[i];
        out[i].value = eq + 1;
    }
    return 0;
}

static void free_copies(char **copies, int n)
{
    int i;

    for (i = 0; i < n; i++)
        free(copies[i]);
}

/* ---- container ---- */

static int container_create(struct cli *cli)
{
    bool created = false;
    int i;

    for (i = 0; i < cli->npos; i++) {
        if (shoal_container_create(cli->c, cli->pos[i],
                                   cli_flag(cli, "if-not-exists"),
                                   &created) < 0)
            return cli_out_fail(cli);
        if (cli->json)
            cli_out_json(json_pack("{s:s,s:b}", "name", cli->pos[i], "created",
                                   created));
        else if (!cli->quiet)
            printf("%s %s\n", created ? "created" : "exists", cli->pos[i]);
    }
    return CLI_OK;
}

static int container_delete(struct cli *cli)
{
    int i;

    for (i = 0; i < cli->npos; i++) {
        if (shoal_container_delete(cli->c, cli->pos[i]) < 0)
            return cli_out_fail(cli);
        if (!cli->quiet && !cli->json)
            printf("deleted %s\n", cli->pos[i]);
    }
    return CLI_OK;
}

struct list_ctx {
    struct cli *cli;
    json_t *arr;
};

static int on_container(const struct shoal_container_item *it, void *ud)
{
    struct list_ctx *lc = ud;

    if (!lc->cli->json) {
        printf("%s\n", it->name);
        return 0;
    }
    return json_array_append_new(
        lc->arr, json_pack("{s:s,s:o,s:o,s:o}", "name", it->name, "etag",
                           cli_out_str(it->etag), "lastModified",
                           cli_out_str(it->last_modified), "metadata",
                           cli_out_meta(it->meta, it->nmeta)));
}

static int container_list(struct cli *cli)
{
    struct list_ctx lc = { cli, json_array() };

    if (shoal_container_list(cli->c, cli_opt(cli, "prefix"), on_container,
                             &lc) < 0) {
        json_decref(lc.arr);
        return cli_out_fail(cli);
    }
    if (cli->json)
        return cli_out_json(lc.arr);
    json_decref(lc.arr);
    return CLI_OK;
}

/* ---- blob ---- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s && s[1] ? s + 1 : path;
}

static int blob_upload(struct cli *cli)
{
    const char *container = cli->pos[0];
    const char *name = cli_opt(cli, "name");
    const char *prefix = cli_opt(cli, "prefix");
    const char *metas[MAX_META];
    char *copies[MAX_META] = { NULL };
    struct shoal_kv meta[MAX_META];
    struct shoal_upload_opts o;
    json_t *arr = json_array();
    int nmeta, i, rc = CLI_OK;

    if (name && cli->npos != 2) {
        json_decref(arr);
        return cli_out_usage("--name needs exactly one FILE");
    }
    nmeta = cli_opt_all(cli, "meta", metas, MAX_META);
    if (parse_meta(metas, nmeta, meta, copies) < 0) {
        rc = cli_out_usage("--meta takes NAME=VALUE");
        goto out;
    }
    memset(&o, 0, sizeof(o));
    o.content_type = cli_opt(cli, "content-type");
    o.meta = meta;
    o.nmeta = (size_t)nmeta;
    o.no_overwrite = cli_flag(cli, "no-overwrite");
    for (i = 1; i < cli->npos; i++) {
        const char *file = cli->pos[i];
        char blob[2048];
        struct cli_bar bar;
        int r;

        snprintf(blob, sizeof(blob), "%s%s", prefix ? prefix : "",
                 name ? name : base_name(file));
        cli_out_bar_start(&bar, cli, blob);
        o.progress.fn = cli_out_bar_update;
        o.progress.ctx = &bar;
        r = shoal_blob_upload(cli->c, container, blob, file, &o);
        cli_out_bar_end(&bar);
        if (r < 0) {
            rc = cli_out_fail(cli);
            goto out;
        }
        if (cli->json)
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "container",
                                                 container, "name", blob,
                                                 "file", file));
        else if (!cli->quiet)
            printf("uploaded %s -> %s/%s\n", file, container, blob);
    }
    if (cli->json) {
        rc = cli_out_json(arr);
        arr = NULL;
    }
out:
    json_decref(arr);
    free_copies(copies, nmeta);
    return rc;
}

static int blob_download(struct cli *cli)
{
    const char *container = cli->pos[0];
    const char *blob = cli->pos[1];
    const char *file = cli->npos > 2 ? cli->pos[2] : base_name(blob);
    struct shoal_progress p;
    struct cli_bar bar;
    int rc;

    if (strcmp(file, "-") == 0) {
        char *data = NULL;
        size_t len = 0;

        if (shoal_blob_get(cli->c, container, blob, (size_t)256 << 20, &data,
                           &len) < 0)
            return cli_out_fail(cli);
        rc = fwrite(data, 1, len, stdout) == len ? CLI_OK
                                                 : cli_out_error("write error");
        shoal_free(data);
        return rc;
    }
    cli_out_bar_start(&bar, cli, blob);
    p.fn = cli_out_bar_update;
    p.ctx = &bar;
    rc = shoal_blob_download(cli->c, container, blob, file, &p);
    cli_out_bar_end(&bar);
    if (rc < 0)
        return cli_out_fail(cli);
    if (cli->json)
        return cli_out_json(json_pack("{s:s,s:s,s:s}", "container", container,
                                      "name", blob, "file", file));
    if (!cli->quiet)
        printf("downloaded %s/%s -> %s\n", container, blob, file);
    return CLI_OK;
}

static int on_blob(const struct shoal_blob_item *it, void *ud)
{
    struct list_ctx *lc = ud;

    if (!lc->cli->json) {
        if (it->is_prefix)
            printf("%12s  %s\n", "-", it->name);
        else
            printf("%12lld  %s\n", (long long)it->size, it->name);
        return 0;
    }
    if (it->is_prefix)
        return json_array_append_new(
            lc->arr, json_pack("{s:s,s:b}", "name", it->name, "isPrefix", 1));
    return json_array_append_new(
        lc->arr, json_pack("{s:s,s:b,s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "name",
                           it->name, "isPrefix", 0, "size",
                           (json_int_t)it->size, "etag", cli_out_str(it->etag),
                           "lastModified", cli_out_str(it->last_modified),
                           "contentType", cli_out_str(it->content_type),
                           "contentMD5", cli_out_str(it->content_md5),
                           "blobType", cli_out_str(it->blob_type), "metadata",
                           cli_out_meta(it->meta, it->nmeta)));
}

static int blob_list(struct cli *cli)
{
    struct list_ctx lc = { cli, json_array() };
    struct shoal_list_opts o;
    int64_t max = 0;

    memset(&o, 0, sizeof(o));
    o.prefix = cli_opt(cli, "prefix");
    o.delimiter = cli_opt(cli, "delimiter");
    o.include_metadata = true;
    if (cli_opt(cli, "page-size") &&
        !cli_out_parse_int(cli_opt(cli, "page-size"), 1, 5000, &max)) {
        json_decref(lc.arr);
        return cli_out_usage("--page-size takes 1..5000");
    }
    o.max_results = (int)max;
    if (shoal_blob_list(cli->c, cli->pos[0], &o, on_blob, &lc, NULL) < 0) {
        json_decref(lc.arr);
        return cli_out_fail(cli);
    }
    if (cli->json)
        return cli_out_json(lc.arr);
    json_decref(lc.arr);
    return CLI_OK;
}

static int blob_show(struct cli *cli)
{
    struct shoal_blob_props *p = NULL;
    json_t *j;
    size_t i;

    if (shoal_blob_properties(cli->c, cli->pos[0], cli->pos[1], &p) < 0)
        return cli_out_fail(cli);
    if (!cli->json) {
        printf("name: %s\nsize: %lld\ncontent-type: %s\netag: %s\n"
               "last-modified: %s\n",
               cli->pos[1], (long long)p->size,
               p->content_type ? p->content_type : "", p->etag ? p->etag : "",
               p->last_modified ? p->last_modified : "");
        for (i = 0; i < p->nmeta; i++)
            printf("meta %s: %s\n", p->meta[i].name, p->meta[i].value);
        shoal_blob_props_free(p);
        return CLI_OK;
    }
    j = json_pack(
        "{s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "container", cli->pos[0],
        "name", cli->pos[1], "size", (json_int_t)p->size, "etag",
        cli_out_str(p->etag), "lastModified", cli_out_str(p->last_modified),
        "creationTime", cli_out_str(p->creation_time), "contentType",
        cli_out_str(p->content_type), "contentMD5", cli_out_str(p->content_md5),
        "blobType", cli_out_str(p->blob_type), "metadata",
        cli_out_meta(p->meta, p->nmeta));
    shoal_blob_props_free(p);
    return cli_out_json(j);
}

static int blob_set_metadata(struct cli *cli)
{
    const char *in[MAX_META];
    char *copies[MAX_META] = { NULL };
    struct shoal_kv meta[MAX_META];
    int n = cli->npos - 2, i, rc = CLI_OK;

    if (n > MAX_META)
        return cli_out_usage("at most %d metadata pairs", MAX_META);
    for (i = 0; i < n; i++)
        in[i] = cli->pos[i + 2];
    if (parse_meta(in, n, meta, copies) < 0) {
        rc = cli_out_usage("metadata is NAME=VALUE");
        goto out;
    }
    if (shoal_blob_set_metadata(cli->c, cli->pos[0], cli->pos[1], meta,
                                (size_t)n) < 0)
        rc = cli_out_fail(cli);
out:
    free_copies(copies, n);
    return rc;
}

static int blob_delete(struct cli *cli)
{
    int i;

    for (i = 1; i < cli->npos; i++) {
        if (shoal_blob_delete(cli->c, cli->pos[0], cli->pos[i]) < 0)
            return cli_out_fail(cli);
        if (!cli->quiet && !cli->json)
            printf("deleted %s/%s\n", cli->pos[0], cli->pos[i]);
    }
    return CLI_OK;
}

/* ---- queue ---- */

static int queue_create(struct cli *cli)
{
    bool created = false;

    if (shoal_queue_create(cli->c, cli->pos[0], NULL, 0, &created) < 0)
        return cli_out_fail(cli);
    if (cli->json)
        return cli_out_json(
            json_pack("{s:s,s:b}", "name", cli->pos[0], "created", created));
    if (!cli->quiet)
        printf("%s %s\n", created ? "created" : "exists", cli->pos[0]);
    return CLI_OK;
}

static int queue_delete(struct cli *cli)
{
    if (shoal_queue_delete(cli->c, cli->pos[0]) < 0)
        return cli_out_fail(cli);
    if (!cli->quiet && !cli->json)
        printf("deleted %s\n", cli->pos[0]);
    return CLI_OK;
}

static int on_queue(const char *name, const struct shoal_kv *meta, size_t nmeta,
                    void *ud)
{
    struct list_ctx *lc = ud;

    if (!lc->cli->json) {
        printf("%s\n", name);
        return 0;
    }
    return json_array_append_new(lc->arr, json_pack("{s:s,s:o}", "name", name,
                                                    "metadata",
                                                    cli_out_meta(meta, nmeta)));
}

static int queue_list(struct cli *cli)
{
    struct list_ctx lc = { cli, json_array() };

    if (shoal_queue_list(cli->c, cli_opt(cli, "prefix"), on_queue, &lc) < 0) {
        json_decref(lc.arr);
        return cli_out_fail(cli);
    }
    if (cli->json)
        return cli_out_json(lc.arr);
    json_decref(lc.arr);
    return CLI_OK;
}

static int queue_show(struct cli *cli)
{
    int64_t n = 0;

    if (shoal_queue_count(cli->c, cli->pos[0], &n) < 0)
        return cli_out_fail(cli);
    if (cli->json)
        return cli_out_json(json_pack("{s:s,s:I}", "name", cli->pos[0],
                                      "approximateMessageCount",
                                      (json_int_t)n));
    printf("name: %s\napproximate-messages: %lld\n", cli->pos[0], (long long)n);
    return CLI_OK;
}

static json_t *message_json(const struct shoal_message *m)
{
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:I}", "id", cli_out_str(m->id),
                     "popReceipt", cli_out_str(m->pop_receipt), "text",
                     cli_out_str(m->text), "insertionTime",
                     cli_out_str(m->insertion_time), "expirationTime",
                     cli_out_str(m->expiration_time), "nextVisible",
                     cli_out_str(m->next_visible), "dequeueCount",
                     (json_int_t)m->dequeue_count);
}

static int print_messages(struct cli *cli, struct shoal_messages *m,
                          bool as_array)
{
    json_t *arr;
    size_t i;

    if (!cli->json) {
        for (i = 0; i < m->n; i++) {
            const struct shoal_message *x = &m->v[i];

            if (x->pop_receipt && !x->text)
                printf("%s\t%s\n", x->id ? x->id : "", x->pop_receipt);
            else if (x->pop_receipt)
                printf("%s\t%s\t%s\n", x->id ? x->id : "", x->pop_receipt,
                       x->text);
            else
                printf("%s\t%s\n", x->id ? x->id : "", x->text ? x->text : "");
        }
        shoal_messages_free(m);
        return CLI_OK;
    }
    if (!as_array && m->n == 1) {
        json_t *one = message_json(&m->v[0]);

        shoal_messages_free(m);
        return cli_out_json(one);
    }
    arr = json_array();
    for (i = 0; arr && i < m->n; i++)
        json_array_append_new(arr, message_json(&m->v[i]));
    shoal_messages_free(m);
    return cli_out_json(arr);
}

static bool opt_int(struct cli *cli, const char *name, int64_t min, int64_t max,
                    int64_t *out)
{
    const char *v = cli_opt(cli, name);

    if (!v)
        return true;
    return cli_out_parse_int(v, min, max, out);
}

static int queue_put(struct cli *cli)
{
    struct shoal_messages *m = NULL;
    int64_t vis = 0, ttl = 0;

    if (!opt_int(cli, "visibility", 0, 604800, &vis) ||
        !opt_int(cli, "ttl", -1, INT32_MAX, &ttl))
        return cli_out_usage("--visibility takes 0..604800 seconds, --ttl "
                             "seconds or -1");
    if (shoal_queue_put(cli->c, cli->pos[0], cli->pos[1], (int)vis, (int)ttl,
                        &m) < 0)
        return cli_out_fail(cli);
    if (!cli->json && cli->quiet) {
        shoal_messages_free(m);
        return CLI_OK;
    }
    return print_messages(cli, m, false);
}

static int queue_get(struct cli *cli, bool peek)
{
    struct shoal_messages *m = NULL;
    int64_t n = 1, vis = 0;
    int rc;

    if (!opt_int(cli, "count", 1, 32, &n) ||
        !opt_int(cli, "visibility", 0, 604800, &vis))
        return cli_out_usage("--count takes 1..32, --visibility seconds");
    if (peek)
        rc = shoal_queue_peek(cli->c, cli->pos[0], (int)n, &m);
    else
        rc = shoal_queue_get(cli->c, cli->pos[0], (int)n, (int)vis, &m);
    if (rc < 0)
        return cli_out_fail(cli);
    return print_messages(cli, m, true);
}

static int queue_get_cmd(struct cli *cli)
{
    return queue_get(cli, false);
}

static int queue_peek_cmd(struct cli *cli)
{
    return queue_get(cli, true);
}

static int queue_update(struct cli *cli)
{
    char *receipt = NULL;
    int64_t vis = 0;

    if (!opt_int(cli, "visibility", 0, 604800, &vis))
        return cli_out_usage("--visibility takes 0..604800 seconds");
    if (shoal_queue_update(cli->c, cli->pos[0], cli->pos[1], cli->pos[2],
                           cli_opt(cli, "text"), (int)vis, &receipt) < 0)
        return cli_out_fail(cli);
    if (cli->json)
        cli_out_json(
            json_pack("{s:s,s:s}", "id", cli->pos[1], "popReceipt", receipt));
    else
        printf("%s\n", receipt);
    shoal_free(receipt);
    return CLI_OK;
}

static int queue_delete_message(struct cli *cli)
{
    if (shoal_queue_delete_message(cli->c, cli->pos[0], cli->pos[1],
                                   cli->pos[2]) < 0)
        return cli_out_fail(cli);
    return CLI_OK;
}

static int queue_clear(struct cli *cli)
{
    if (shoal_queue_clear(cli->c, cli->pos[0]) < 0)
        return cli_out_fail(cli);
    return CLI_OK;
}

/* ---- sas ---- */

static int sas_common(struct cli *cli, int64_t *start, int64_t *expiry)
{
    const char *e = cli_opt(cli, "expiry");
    const char *s = cli_opt(cli, "start");

    *start = 0;
    *expiry = cli_out_parse_when(e ? e : "1h");
    if (*expiry < 0)
        return cli_out_usage("--expiry takes a duration (90s, 30m, 2h, 7d) "
                             "or an ISO 8601 time");
    if (s) {
        *start = cli_out_parse_when(s);
        if (*start < 0)
            return cli_out_usage("--start takes a duration or an ISO 8601 "
                                 "time");
    }
    return CLI_OK;
}

static int sas_print(struct cli *cli, char *token, char *url)
{
    if (cli->json)
        cli_out_json(
            json_pack("{s:s,s:o}", "token", token, "url", cli_out_str(url)));
    else
        printf("%s\n", url ? url : token);
    shoal_free(token);
    shoal_free(url);
    return CLI_OK;
}

static int sas_blobish(struct cli *cli, bool is_blob)
{
    const char *perms = cli_opt(cli, "perms");
    int64_t st, se;
    char *token = NULL, *url = NULL;
    int rc;

    rc = sas_common(cli, &st, &se);
    if (rc)
        return rc;
    if (is_blob)
        rc = shoal_sas_blob(cli->c, cli->pos[0], cli->pos[1],
                            perms ? perms : "r", st, se, &token);
    else
        rc = shoal_sas_container(cli->c, cli->pos[0], perms ? perms : "rl", st,
                                 se, &token);
    if (rc == 0 && (cli_flag(cli, "url") || cli->json))
        rc = shoal_blob_url(cli->c, cli->pos[0], is_blob ? cli->pos[1] : NULL,
                            token, &url);
    if (rc < 0) {
        shoal_free(token);
        return cli_out_fail(cli);
    }
    if (!cli_flag(cli, "url") && !cli->json) {
        shoal_free(url);
        url = NULL;
    }
    return sas_print(cli, token, url);
}

static int sas_container(struct cli *cli)
{
    return sas_blobish(cli, false);
}

static int sas_blob(struct cli *cli)
{
    return sas_blobish(cli, true);
}

static int sas_queue(struct cli *cli)
{
    const char *perms = cli_opt(cli, "perms");
    int64_t st, se;
    char *token = NULL, *url = NULL;
    int rc;

    rc = sas_common(cli, &st, &se);
    if (rc)
        return rc;
    rc = shoal_sas_queue(cli->c, cli->pos[0], perms ? perms : "r", st, se,
                         &token);
    if (rc == 0 && (cli_flag(cli, "url") || cli->json))
        rc = shoal_queue_url(cli->c, cli->pos[0], token, &url);
    if (rc < 0) {
        shoal_free(token);
        return cli_out_fail(cli);
    }
    if (!cli_flag(cli, "url") && !cli->json) {
        shoal_free(url);
        url = NULL;
    }
    return sas_print(cli, token, url);
}

static int sas_account(struct cli *cli)
{
    const char *perms = cli_opt(cli, "perms");
    const char *svc = cli_opt(cli, "services");
    const char *types = cli_opt(cli, "types");
    int64_t st, se;
    char *token = NULL;
    int rc;

    rc = sas_common(cli, &st, &se);
    if (rc)
        return rc;
    if (shoal_sas_account(cli->c, svc ? svc : "bq", types ? types : "sco",
                          perms ? perms : "rl", st, se, &token) < 0)
        return cli_out_fail(cli);
    return sas_print(cli, token, NULL);
}

/* ---- the table ---- */

static const struct cli_opt o_prefix[] = {
    { "prefix", "P", "only names starting with P" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_container_create[] = {
    { "if-not-exists", NULL, "an existing container is not an error" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_upload[] = {
    { "name", "NAME", "blob name (one FILE only; default: the file's name)" },
    { "prefix", "P", "prepend P to each blob name (e.g. dir/)" },
    { "content-type", "TYPE",
      "Content-Type (default application/octet-stream)" },
    { "meta", "NAME=VALUE", "metadata (repeatable)" },
    { "no-overwrite", NULL, "fail if the blob exists" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_blob_list[] = {
    { "prefix", "P", "only names starting with P" },
    { "delimiter", "D", "group names by D (e.g. /) into prefixes" },
    { "page-size", "N", "items per request (1..5000)" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_put[] = {
    { "visibility", "SECONDS", "hide the message this long first" },
    { "ttl", "SECONDS", "time to live (-1: never expires; default 7 days)" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_get[] = {
    { "count", "N", "up to N messages (1..32, default 1)" },
    { "visibility", "SECONDS", "hide them this long (default 30)" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_peek[] = {
    { "count", "N", "up to N messages (1..32, default 1)" },
    { NULL, NULL, NULL },
};

static const struct cli_opt o_update[] = {
    { "visibility", "SECONDS", "visible again after this long (default 0)" },
    { "text", "TEXT", "new message text" },
    { NULL, NULL, NULL },
};

#define SAS_TIME_OPTS                                         \
    { "expiry", "WHEN",                                       \
      "expiry: 90s, 30m, 2h, 7d from now, or ISO 8601 "       \
      "(default 1h)" },                                       \
        { "start", "WHEN", "start (default: at once)" },      \
    {                                                         \
        "url", NULL, "print the full URL, not just the token" \
    }

static const struct cli_opt o_sas_container[] = {
    { "perms", "LETTERS", "permissions from racwdxyltfmei (default rl)" },
    SAS_TIME_OPTS,
    { NULL, NULL, NULL },
};

static const struct cli_opt o_sas_blob[] = {
    { "perms", "LETTERS", "permissions from racwdxytmei (default r)" },
    SAS_TIME_OPTS,
    { NULL, NULL, NULL },
};

static const struct cli_opt o_sas_queue[] = {
    { "perms", "LETTERS", "permissions from raup (default r)" },
    SAS_TIME_OPTS,
    { NULL, NULL, NULL },
};

static const struct cli_opt o_sas_account[] = {
    { "services", "LETTERS", "services from bqf (default bq)" },
    { "types", "LETTERS", "resource types from sco (default sco)" },
    { "perms", "LETTERS", "permissions from rwdxylacupfti (default rl)" },
    { "expiry", "WHEN", "expiry (default 1h)" },
    { "start", "WHEN", "start (default: at once)" },
    { NULL, NULL, NULL },
};

const struct cli_cmd cli_storage_cmds[] = {
    { "container", "create", "NAME...", "create containers",
      "Fails with ContainerAlreadyExists when one exists, unless "
      "--if-not-exists.",
      o_container_create, 1, -1, false, container_create },
    { "container", "delete", "NAME...", "delete containers and their blobs",
      NULL, NULL, 1, -1, false, container_delete },
    { "container", "list", "", "list containers", NULL, o_prefix, 0, 0, false,
      container_list },

    { "blob", "upload", "CONTAINER FILE...", "upload files as block blobs",
      "Small files go in one request, large ones in parallel blocks. The blob "
      "name is\nthe file's name unless --name or --prefix say otherwise.",
      o_upload, 2, -1, false, blob_upload },
    { "blob", "download", "CONTAINER BLOB [FILE]", "download a blob",
      "FILE defaults to the blob's last path segment; '-' writes to stdout.\n"
      "Large blobs are fetched as parallel ranges; FILE appears only when "
      "complete.",
      NULL, 2, 3, false, blob_download },
    { "blob", "list", "CONTAINER", "list blobs (size and name)", NULL,
      o_blob_list, 1, 1, false, blob_list },
    { "blob", "show", "CONTAINER BLOB", "show a blob's properties and metadata",
      NULL, NULL, 2, 2, false, blob_show },
    { "blob", "set-metadata", "CONTAINER BLOB [NAME=VALUE...]",
      "replace a blob's metadata", NULL, NULL, 2, -1, false,
      blob_set_metadata },
    { "blob", "delete", "CONTAINER BLOB...", "delete blobs", NULL, NULL, 2, -1,
      false, blob_delete },

    { "queue", "create", "QUEUE", "create a queue", NULL, NULL, 1, 1, false,
      queue_create },
    { "queue", "delete", "QUEUE", "delete a queue", NULL, NULL, 1, 1, false,
      queue_delete },
    { "queue", "list", "", "list queues", NULL, o_prefix, 0, 0, false,
      queue_list },
    { "queue", "show", "QUEUE", "show a queue's approximate message count",
      NULL, NULL, 1, 1, false, queue_show },
    { "queue", "put", "QUEUE TEXT", "put a message",
      "Prints the message id and pop receipt.", o_put, 2, 2, false, queue_put },
    { "queue", "get", "QUEUE", "get (and hide) messages",
      "Prints one line per message: id, pop receipt, text (tab-separated).",
      o_get, 1, 1, false, queue_get_cmd },
    { "queue", "peek", "QUEUE", "look at messages without hiding them",
      "Prints one line per message: id, text (tab-separated).", o_peek, 1, 1,
      false, queue_peek_cmd },
    { "queue", "update", "QUEUE ID POPRECEIPT",
      "change a message's visibility (and text)", "Prints the new pop receipt.",
      o_update, 3, 3, false, queue_update },
    { "queue", "delete-message", "QUEUE ID POPRECEIPT", "delete a message",
      NULL, NULL, 3, 3, false, queue_delete_message },
    { "queue", "clear", "QUEUE", "delete every message of a queue", NULL, NULL,
      1, 1, false, queue_clear },

    { "sas", "container", "CONTAINER", "make a container SAS",
      "Prints the token (or, with --url, the container URL with it).",
      o_sas_container, 1, 1, false, sas_container },
    { "sas", "blob", "CONTAINER BLOB", "make a blob SAS",
      "Prints the token (or, with --url, the blob URL with it).", o_sas_blob, 2,
      2, false, sas_blob },
    { "sas", "queue", "QUEUE", "make a queue SAS",
      "Prints the token (or, with --url, the queue URL with it).", o_sas_queue,
      1, 1, false, sas_queue },
    { "sas", "account", "", "make an account SAS", "Prints the token.",
      o_sas_account, 0, 0, false, sas_account },
    { NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, false, NULL },
};
