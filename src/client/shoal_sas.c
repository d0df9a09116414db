/*
 * shoal_sas.c: shared access signatures made with the account key.
 *
 * Layouts for sv 2021-12-02 (storage-wire.md §4), '\n' between fields,
 * empty fields kept as empty lines:
 *
 *   blob, container (16 fields)
 *       sp st se /blob/ACCOUNT/CONTAINER[/BLOB] si sip spr sv sr
 *       snapshotTime ses rscc rscd rsce rscl rsct
 *   queue (8 fields)
 *       sp st se /queue/ACCOUNT/QUEUE si sip spr sv
 *   account (10 fields and a final '\n')
 *       ACCOUNT sp ss srt st se sip spr sv ses
 *
 * We never set si (stored policies), sip, spr, snapshots, encryption
 * scopes or response overrides, so those lines are empty. Names in the
 * canonical resource are the plain (unescaped) names. The token is
 * "sv=..&st=..&se=..&sr=..&sp=..&sig=.." with every value percent-encoded
 * (the signature's '+', '/' and '=' included); servers accept any order.
 *
 * Permission letters are validated against the kind's alphabet and
 * written in its canonical order (Python's), so "lr" and "rl" sign the
 * same string. Changing the version means checking every layout above
 * against the notes: the field lists changed in 2015-04-05, 2018-11-09 and
 * 2020-12-06.
 *
 * Reentrant; reads only the client's account and key.
 */
#include "client/clientint.h"

#include <stdlib.h>
#include <string.h>

#include "core/timefmt.h"

#define SAS_VERSION "2021-12-02"

static const char blob_perms[] = "racwdxytmei";
static const char container_perms[] = "racwdxyltfmei";
static const char queue_perms[] = "raup";
static const char account_perms[] = "rwdxylacupfti";

/* Letters of in, each in alphabet, written in alphabet's order. */
static int canon_letters(const char *in, const char *alphabet, char *out,
                         size_t outlen)
{
    size_t i, n = 0;

    if (!in || !*in)
        return SHOAL_ERR_INVALID;
    for (i = 0; in[i]; i++) {
        if (!strchr(alphabet, in[i]))
            return SHOAL_ERR_INVALID;
    }
    for (i = 0; alphabet[i]; i++) {
        if (strchr(in, alphabet[i])) {
            if (n + 1 >= outlen)
                return SHOAL_ERR_INVALID;
            out[n++] = alphabet[i];
        }
    }
    out[n] = '\0';
    return 0;
}

static int check_common(shoal_client *c, int64_t start_ms, int64_t expiry_ms)
{
    if (!c->key)
        return client_fail(c, SHOAL_ERR_INVALID, "a SAS needs the account key");
    if (expiry_ms <= 0 || (start_ms && expiry_ms <= start_ms))
        return client_fail(c, SHOAL_ERR_INVALID,
                           "SAS expiry must be after its start");
    return 0;
}

struct sas_fields {
    const char *sv, *st, *se, *sr, *sp, *ss, *srt;
};

/* Sign sts and render the token. */
static int finish(shoal_client *c, const struct buf *sts,
                  const struct sas_fields *f, char **token_out)
{
    struct buf sig = BUF_INIT;
    struct buf tok = BUF_INIT;
    int rc = SHOAL_ERR_NOMEM;
    bool first = true;

    if (sign_hmac(c->key, c->keylen, sts->data, sts->len, &sig) < 0)
        goto out;
#define ADD(name, val)                                         \
    do {                                                       \
        if ((val) && *(val)) {                                 \
            if (url_add_query(&tok, (name), (val), first) < 0) \
                goto out;                                      \
            first = false;                                     \
        }                                                      \
    } while (0)
    ADD("sv", f->sv);
    ADD("ss", f->ss);
    ADD("srt", f->srt);
    ADD("st", f->st);
    ADD("se", f->se);
    ADD("sr", f->sr);
    ADD("sp", f->sp);
    ADD("sig", sig.data);
#undef ADD
    /* url_add_query put a '?' first; a token has none. */
    *token_out = malloc(tok.len);
    if (!*token_out)
        goto out;
    memcpy(*token_out, tok.data + 1, tok.len);
    rc = 0;
out:
    if (rc < 0)
        client_fail(c, rc, "out of memory");
    buf_release(&sig);
    buf_release(&tok);
    return rc;
}

static void times(int64_t start_ms, int64_t expiry_ms, char st[TIMEFMT_ISO_LEN],
                  char se[TIMEFMT_ISO_LEN])
{
    st[0] = '\0';
    if (start_ms)
        timefmt_iso8601(start_ms, 0, st);
    timefmt_iso8601(expiry_ms, 0, se);
}

static int sas_blobish(shoal_client *c, const char *container, const char *blob,
                       const char *perms, const char *alphabet,
                       int64_t start_ms, int64_t expiry_ms, char **token_out)
{
    char sp[32], st[TIMEFMT_ISO_LEN], se[TIMEFMT_ISO_LEN];
    struct buf sts = BUF_INIT;
    struct sas_fields f;
    const char *sr = blob ? "b" : "c";
    int rc;

    rc = check_common(c, start_ms, expiry_ms);
    if (rc < 0)
        return rc;
    if (!container || !*container || (blob && !*blob))
        return client_fail(c, SHOAL_ERR_INVALID, "empty name");
    if (canon_letters(perms, alphabet, sp, sizeof(sp)) < 0)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "bad SAS permissions '%s' (allowed: %s)",
                           perms ? perms : "", alphabet);
    times(start_ms, expiry_ms, st, se);
    if (buf_addf(&sts, "%s\n%s\n%s\n/blob/%s/%s", sp, st, se, c->account,
                 container) < 0 ||
        (blob && buf_addf(&sts, "/%s", blob) < 0) ||
        /* si sip spr sv sr snapshotTime ses rscc rscd rsce rscl rsct */
        buf_addf(&sts, "\n\n\n\n%s\n%s\n\n\n\n\n\n\n", SAS_VERSION, sr) < 0) {
        buf_release(&sts);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    memset(&f, 0, sizeof(f));
    f.sv = SAS_VERSION;
    f.st = st;
    f.se = se;
    f.sr = sr;
    f.sp = sp;
    rc = finish(c, &sts, &f, token_out);
    buf_release(&sts);
    return rc;
}

int shoal_sas_blob(shoal_client *c, const char *container, const char *blob,
                   const char *perms, int64_t start_ms, int64_t expiry_ms,
                   char **token_out)
{
    if (!blob)
        return client_fail(c, SHOAL_ERR_INVALID, "empty blob name");
    return sas_blobish(c, container, blob, perms, blob_perms, start_ms,
                       expiry_ms, token_out);
}

int shoal_sas_container(shoal_client *c, const char *container,
                        const char *perms, int64_t start_ms, int64_t expiry_ms,
                        char **token_out)
{
    return sas_blobish(c, container, NULL, perms, container_perms, start_ms,
                       expiry_ms, token_out);
}

int shoal_sas_queue(shoal_client *c, const char *queue, const char *perms,
                    int64_t start_ms, int64_t expiry_ms, char **token_out)
{
    char sp[32], st[TIMEFMT_ISO_LEN], se[TIMEFMT_ISO_LEN];
    struct buf sts = BUF_INIT;
    struct sas_fields f;
    int rc;

    rc = check_common(c, start_ms, expiry_ms);
    if (rc < 0)
        return rc;
    if (!queue || !*queue)
        return client_fail(c, SHOAL_ERR_INVALID, "empty queue name");
    if (canon_letters(perms, queue_perms, sp, sizeof(sp)) < 0)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "bad SAS permissions '%s' (allowed: %s)",
                           perms ? perms : "", queue_perms);
    times(start_ms, expiry_ms, st, se);
    /* sp st se resource si sip spr sv */
    if (buf_addf(&sts, "%s\n%s\n%s\n/queue/%s/%s\n\n\n\n%s", sp, st, se,
                 c->account, queue, SAS_VERSION) < 0) {
        buf_release(&sts);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    memset(&f, 0, sizeof(f));
    f.sv = SAS_VERSION;
    f.st = st;
    f.se = se;
    f.sp = sp;
    rc = finish(c, &sts, &f, token_out);
    buf_release(&sts);
    return rc;
}

int shoal_sas_account(shoal_client *c, const char *services,
                      const char *resource_types, const char *perms,
                      int64_t start_ms, int64_t expiry_ms, char **token_out)
{
    char sp[32], ss[8], srt[8], st[TIMEFMT_ISO_LEN], se[TIMEFMT_ISO_LEN];
    struct buf sts = BUF_INIT;
    struct sas_fields f;
    int rc;

    rc = check_common(c, start_ms, expiry_ms);
    if (rc < 0)
        return rc;
    if (canon_letters(services, "bqf", ss, sizeof(ss)) < 0)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "bad SAS services '%s' (allowed: bqf)",
                           services ? services : "");
    if (canon_letters(resource_types, "sco", srt, sizeof(srt)) < 0)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "bad SAS resource types '%s' (allowed: sco)",
                           resource_types ? resource_types : "");
    if (canon_letters(perms, account_perms, sp, sizeof(sp)) < 0)
        return client_fail(c, SHOAL_ERR_INVALID,
                           "bad SAS permissions '%s' (allowed: %s)",
                           perms ? perms : "", account_perms);
    times(start_ms, expiry_ms, st, se);
    /* account sp ss srt st se sip spr sv ses, each line ending '\n' */
    if (buf_addf(&sts, "%s\n%s\n%s\n%s\n%s\n%s\n\n\n%s\n\n", c->account, sp, ss,
                 srt, st, se, SAS_VERSION) < 0) {
        buf_release(&sts);
        return client_fail(c, SHOAL_ERR_NOMEM, "out of memory");
    }
    memset(&f, 0, sizeof(f));
    f.sv = SAS_VERSION;
    f.ss = ss;
    f.srt = srt;
    f.st = st;
    f.se = se;
    f.sp = sp;
    rc = finish(c, &sts, &f, token_out);
    buf_release(&sts);
    return rc;
}
