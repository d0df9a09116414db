/*
 * odata.c: the OData $filter and $select subset Batch list operations take.
 *
 * A $filter is parsed once per request into a struct odata_expr and then
 * evaluated against each listed entity (batch-wire.md section 2). The input
 * comes straight from the query string, so everything here is bounded:
 *
 *   - length: at most ODATA_MAX_LEN bytes (strnlen, so a longer string is
 *     refused without being read to its end);
 *   - nesting: "(" and "not" each open one level and the parser refuses
 *     level ODATA_MAX_DEPTH + 1. Those are the only two places the parser
 *     recurses, so its stack is bounded by the limit and not by the input:
 *     "not not not ..." x 100000 stops at the 65th "not". Chains of "and"
 *     and "or" are loops, not recursion;
 *   - size: at most ODATA_MAX_NODES nodes.
 *
 * Lexer. lex() reads one token starting at a byte offset: "(", ")", ",",
 * a name path (name ("/" name)*, no blanks inside, so executionInfo/exitCode
 * is one token), a 'string' ('' is an escaped quote; contents must be valid
 * UTF-8), an integer (optional '-', range-checked against int64 digit by
 * digit), or datetime'...' (parsed by timefmt_parse_iso8601 into ms). Blanks
 * (space, tab, CR, LF) separate tokens. Keywords are names the parser
 * compares ASCII case-insensitively; and, or, not and the six comparison
 * operators are reserved and cannot be used as property names. Every error
 * names the byte offset where it was found: "$filter: unexpected token at
 * offset 12".
 *
 * Tree. Nodes live in one array (struct odata_expr.nodes) and point at each
 * other by index, so growing the array never invalidates a link and
 * odata_free() is one loop with no recursion. "and" and "or" are n-ary: a
 * node holds its first child (kid) and each child its next sibling (next),
 * so a 500-byte "id eq 'a' or id eq 'b' or ..." chain is one OR node over a
 * flat list of comparisons. The tree therefore grows by at most two nodes
 * per nesting level (OR and AND inside "(", NOT for "not"), plus the leaf,
 * which bounds the recursion in eval too.
 * A comparison or startswith node carries its two operands inline; each
 * operand owns its text (the property path, or the unescaped string
 * literal) and odata_free() releases it.
 *
 *   OR/AND  kid -> child -> next -> child ...   (at least two children)
 *   NOT     kid -> child
 *   CMP     a op b          (operands: property or literal)
 *   PREFIX  startswith(a, b) (a: property, b: string literal)
 *
 * Evaluation. Children of "or" and "and" are evaluated left to right and
 * stop at the first true (or) or false (and) result, so a property in an
 * arm that is not reached is not looked up; odata_check() visits every
 * property when the caller wants unknown properties refused regardless of
 * the data. Comparison semantics: NULL equals only NULL (so "ne" is true
 * between NULL and a value, as in OData), ordered comparisons involving NULL
 * are false, values of different types compare false under every operator,
 * strings compare bytewise and case-sensitively, booleans support only eq
 * and ne.
 *
 * Ownership: a parsed expression belongs to the caller (odata_free). It is
 * never modified after parsing, so one expression may be evaluated from
 * several threads at once; the parser itself keeps no global state.
 * Allocation uses xmalloc: this file runs only in shoald.
 */
#include "batch/odata.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/timefmt.h"

#define ODATA_SVC "InvalidQueryParameterValue"

enum tok_type {
    TOK_END = 0,
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_COMMA,
    TOK_NAME, /* a name path: name ("/" name)* */
    TOK_STR,  /* 'text' with '' escapes; off/len include the quotes */
    TOK_INT,
    TOK_TIME, /* datetime'...' */
};

struct tok {
    enum tok_type type;
    size_t off; /* byte offset of the token's first byte */
    size_t len; /* bytes the token spans in the input */
    int64_t i;  /* TOK_INT value, TOK_TIME ms */
};

enum node_kind {
    NODE_OR = 0,
    NODE_AND,
    NODE_NOT,
    NODE_CMP,
    NODE_PREFIX,
};

enum cmp_op {
    CMP_EQ = 0,
    CMP_NE,
    CMP_GT,
    CMP_GE,
    CMP_LT,
    CMP_LE,
};

struct operand {
    bool is_prop;
    char *text;           /* owned: the property path, or the string literal */
    struct odata_value v; /* literal value (v.s == text for ODATA_STR) */
};

struct node {
    enum node_kind kind;
    enum cmp_op op;
    int kid;  /* first child (OR, AND, NOT), else -1 */
    int next; /* next sibling under the parent, else -1 */
    struct operand a, b;
};

struct odata_expr {
    struct node *nodes;
    size_t n;
    size_t alloc;
    int root;
};

struct parser {
    const char *s;
    size_t len;
    size_t pos;     /* offset just past the current token */
    struct tok tok; /* the current token */
    int depth;      /* open "(" and "not" levels */
    struct odata_expr *e;
    struct err *err;
};

static const struct {
    const char *name;
    enum cmp_op op;
} cmp_ops[] = {
    { "eq", CMP_EQ }, { "ne", CMP_NE }, { "gt", CMP_GT },
    { "ge", CMP_GE }, { "lt", CMP_LT }, { "le", CMP_LE },
};

/*
 * Fill err with ERR_INVALID, the given parameter name and a message of the
 * form "<param>: <what> at offset <off>". Returns -ERR_INVALID.
 */
static int fail_at(struct err *err, const char *param, size_t off,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(struct err *err, const char *param, size_t off,
                   const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    err_set(err, ERR_INVALID, ODATA_SVC, "%s: %s at offset %zu", param, what,
            off);
    err_add_detail(err, "QueryParameterName", param);
    return -ERR_INVALID;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || is_digit(c);
}

/* ASCII case-insensitive: is s[0..n) the keyword kw? */
static bool span_ieq(const char *s, size_t n, const char *kw)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];

        if (kw[i] == '\0')
            return false;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != kw[i])
            return false;
    }
    return kw[n] == '\0';
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most rem bytes), or 0
 * when it is not one: overlong forms, surrogates, and code points above
 * U+10FFFF are refused.
 */
static size_t utf8_seq(const unsigned char *s, size_t rem)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (rem < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return n;
}

/*
 * Scan a quoted string starting at off (s[off] == '\''). Stores the offset
 * just past the closing quote in *end_out.
 */
static int lex_string(struct parser *p, size_t off, size_t *end_out)
{
    const unsigned char *u = (const unsigned char *)p->s;
    size_t i = off + 1;

    for (;;) {
        size_t n;

        if (i >= p->len)
            return fail_at(p->err, "$filter", off, "unterminated string");
        if (u[i] == '\'') {
            if (i + 1 < p->len && u[i + 1] == '\'') {
                i += 2;
                continue;
            }
            *end_out = i + 1;
            return 0;
        }
        n = utf8_seq(u + i, p->len - i);
        if (n == 0)
            return fail_at(p->err, "$filter", i, "invalid utf-8 in string");
        i += n;
    }
}

/* Integer at off: '-'? digits, range-checked against int64. */
static int lex_int(struct parser *p, size_t off, struct tok *t)
{
    const char *s = p->s;
    size_t i = off;
    bool neg = false;
    uint64_t v = 0, limit = (uint64_t)INT64_MAX;

    if (s[i] == '-') {
        neg = true;
        limit = (uint64_t)INT64_MAX + 1;
        i++;
    }
    for (; i < p->len && is_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (v > (limit - d) / 10)
            return fail_at(p->err, "$filter", off, "integer out of range");
        v = v * 10 + d;
    }
    if (i < p->len && (is_name_char(s[i]) || s[i] == '.'))
        return fail_at(p->err, "$filter", off, "invalid number");
    t->type = TOK_INT;
    if (!neg)
        t->i = (int64_t)v;
    else if (v == (uint64_t)INT64_MAX + 1)
        t->i = INT64_MIN;
    else
        t->i = -(int64_t)v;
    t->len = i - off;
    return 0;
}

/* datetime'...' at off; quote is the offset of the opening quote. */
static int lex_time(struct parser *p, size_t off, size_t quote, struct tok *t)
{
    char iso[64];
    size_t end, n;
    int rc;

    rc = lex_string(p, quote, &end);
    if (rc < 0)
        return rc;
    n = end - quote - 2;
    if (n >= sizeof(iso))
        return fail_at(p->err, "$filter", off, "invalid datetime");
    memcpy(iso, p->s + quote + 1, n);
    iso[n] = '\0';
    if (timefmt_parse_iso8601(iso, &t->i) < 0)
        return fail_at(p->err, "$filter", off, "invalid datetime");
    t->type = TOK_TIME;
    t->len = end - off;
    return 0;
}

/* Name path at off: name ("/" name)*, then maybe datetime'...'. */
static int lex_name(struct parser *p, size_t off, struct tok *t)
{
    const char *s = p->s;
    size_t i = off;

    for (;;) {
        while (i < p->len && is_name_char(s[i]))
            i++;
        if (i >= p->len || s[i] != '/')
            break;
        if (i + 1 >= p->len || !is_name_start(s[i + 1]))
            return fail_at(p->err, "$filter", i, "invalid property path");
        i++;
    }
    if (i < p->len && s[i] == '\'' && span_ieq(s + off, i - off, "datetime"))
        return lex_time(p, off, i, t);
    t->type = TOK_NAME;
    t->len = i - off;
    return 0;
}

/* Read the token starting at or after offset pos into *t. */
static int lex(struct parser *p, size_t pos, struct tok *t)
{
    const char *s = p->s;
    size_t end;
    int rc;

    while (pos < p->len && is_blank(s[pos]))
        pos++;
    t->off = pos;
    t->len = 1;
    t->i = 0;
    if (pos >= p->len) {
        t->type = TOK_END;
        t->len = 0;
        return 0;
    }
    switch (s[pos]) {
    case '(':
        t->type = TOK_LPAREN;
        return 0;
    case ')':
        t->type = TOK_RPAREN;
        return 0;
    case ',':
        t->type = TOK_COMMA;
        return 0;
    case '\'':
        rc = lex_string(p, pos, &end);
        if (rc < 0)
            return rc;
        t->type = TOK_STR;
        t->len = end - pos;
        return 0;
    default:
        break;
    }
    if (is_digit(s[pos]) ||
        (s[pos] == '-' && pos + 1 < p->len && is_digit(s[pos + 1])))
        return lex_int(p, pos, t);
    if (is_name_start(s[pos]))
        return lex_name(p, pos, t);
    return fail_at(p->err, "$filter", pos, "unexpected character");
}

static int advance(struct parser *p)
{
    int rc = lex(p, p->pos, &p->tok);

    if (rc < 0)
        return rc;
    p->pos = p->tok.off + p->tok.len;
    return 0;
}

/* Is the current token the keyword kw? */
static bool at_kw(const struct parser *p, const char *kw)
{
    return p->tok.type == TOK_NAME &&
           span_ieq(p->s + p->tok.off, p->tok.len, kw);
}

static bool is_reserved(const struct parser *p)
{
    size_t i;

    if (at_kw(p, "and") || at_kw(p, "or") || at_kw(p, "not"))
        return true;
    for (i = 0; i < ARRAY_SIZE(cmp_ops); i++) {
        if (at_kw(p, cmp_ops[i].name))
            return true;
    }
    return false;
}

/* The current token is not what the grammar allows here. */
static int unexpected(struct parser *p)
{
    if (p->tok.type == TOK_END)
        return fail_at(p->err, "$filter", p->tok.off, "unexpected end");
    return fail_at(p->err, "$filter", p->tok.off, "unexpected token");
}

static int expect(struct parser *p, enum tok_type type)
{
    if (p->tok.type != type)
        return unexpected(p);
    return advance(p);
}

/* Append a node; its index goes to *idx_out. */
static int node_new(struct parser *p, enum node_kind kind, int *idx_out)
{
    struct odata_expr *e = p->e;
    struct node *nd;

    if (e->n >= ODATA_MAX_NODES)
        return fail_at(p->err, "$filter", p->tok.off, "more than %d nodes",
                       ODATA_MAX_NODES);
    if (e->n == e->alloc) {
        size_t alloc = e->alloc ? e->alloc * 2 : 16;
        size_t bytes;

        if (alloc > ODATA_MAX_NODES)
            alloc = ODATA_MAX_NODES;
        if (!size_mul(alloc, sizeof(*e->nodes), &bytes))
            return err_set(p->err, ERR_INTERNAL, "InternalError",
                           "$filter: node array too large");
        e->nodes = xrealloc(e->nodes, bytes);
        e->alloc = alloc;
    }
    nd = &e->nodes[e->n];
    memset(nd, 0, sizeof(*nd));
    nd->kind = kind;
    nd->kid = -1;
    nd->next = -1;
    nd->a.v.type = ODATA_NULL;
    nd->b.v.type = ODATA_NULL;
    *idx_out = (int)e->n++;
    return 0;
}

/* Copy the string literal token t, unescaping ''. */
static char *unquote(const struct parser *p, const struct tok *t)
{
    const char *s = p->s + t->off + 1;
    size_t n = t->len - 2, i, j = 0;
    char *out = xmalloc(n + 1);

    for (i = 0; i < n; i++) {
        out[j++] = s[i];
        if (s[i] == '\'')
            i++; /* the lexer guarantees quotes come in pairs here */
    }
    out[j] = '\0';
    return out;
}

/*
 * operand := prop | literal. Fills o (a slot inside a node: parsing an
 * operand never adds nodes, so the pointer stays valid) and advances.
 */
static int parse_operand(struct parser *p, struct operand *o)
{
    const struct tok *t = &p->tok;

    switch (t->type) {
    case TOK_STR:
        o->text = unquote(p, t);
        o->v.type = ODATA_STR;
        o->v.s = o->text;
        break;
    case TOK_INT:
        o->v.type = ODATA_INT;
        o->v.i = t->i;
        break;
    case TOK_TIME:
        o->v.type = ODATA_TIME;
        o->v.i = t->i;
        break;
    case TOK_NAME:
        if (at_kw(p, "true") || at_kw(p, "false")) {
            o->v.type = ODATA_BOOL;
            o->v.b = at_kw(p, "true");
        } else if (at_kw(p, "null")) {
            o->v.type = ODATA_NULL;
        } else if (is_reserved(p)) {
            return unexpected(p);
        } else {
            o->is_prop = true;
            o->text = xstrndup(p->s + t->off, t->len);
        }
        break;
    default:
        return unexpected(p);
    }
    return advance(p);
}

/* cmp := operand op operand */
static int parse_cmp(struct parser *p, int *idx_out)
{
    int idx, rc;
    size_t i;

    rc = node_new(p, NODE_CMP, &idx);
    if (rc < 0)
        return rc;
    rc = parse_operand(p, &p->e->nodes[idx].a);
    if (rc < 0)
        return rc;
    if (p->tok.type != TOK_NAME)
        return unexpected(p);
    for (i = 0; i < ARRAY_SIZE(cmp_ops); i++) {
        if (at_kw(p, cmp_ops[i].name))
            break;
    }
    if (i == ARRAY_SIZE(cmp_ops)) {
        /* Quote at most 32 bytes; a name token is ASCII letters only. */
        int n = p->tok.len > 32 ? 32 : (int)p->tok.len;

        return fail_at(p->err, "$filter", p->tok.off, "unknown operator '%.*s'",
                       n, p->s + p->tok.off);
    }
    p->e->nodes[idx].op = cmp_ops[i].op;
    rc = advance(p);
    if (rc < 0)
        return rc;
    rc = parse_operand(p, &p->e->nodes[idx].b);
    if (rc < 0)
        return rc;
    *idx_out = idx;
    return 0;
}

/* func := "startswith" "(" prop "," 'string' ")"; at "startswith". */
static int parse_prefix(struct parser *p, int *idx_out)
{
    int idx, rc;

    rc = node_new(p, NODE_PREFIX, &idx);
    if (rc < 0)
        return rc;
    rc = advance(p);
    if (rc < 0)
        return rc;
    rc = expect(p, TOK_LPAREN);
    if (rc < 0)
        return rc;
    if (p->tok.type != TOK_NAME || is_reserved(p) || at_kw(p, "true") ||
        at_kw(p, "false") || at_kw(p, "null"))
        return unexpected(p);
    rc = parse_operand(p, &p->e->nodes[idx].a);
    if (rc < 0)
        return rc;
    rc = expect(p, TOK_COMMA);
    if (rc < 0)
        return rc;
    if (p->tok.type != TOK_STR)
        return unexpected(p);
    rc = parse_operand(p, &p->e->nodes[idx].b);
    if (rc < 0)
        return rc;
    rc = expect(p, TOK_RPAREN);
    if (rc < 0)
        return rc;
    *idx_out = idx;
    return 0;
}

/* Enter one nesting level ("(" or "not") at the current token. */
static int nest(struct parser *p)
{
    if (p->depth >= ODATA_MAX_DEPTH)
        return fail_at(p->err, "$filter", p->tok.off, "nesting deeper than %d",
                       ODATA_MAX_DEPTH);
    p->depth++;
    return 0;
}

static int parse_or(struct parser *p, int *idx_out);

/* primary := "(" expr ")" | cmp | func */
static int parse_primary(struct parser *p, int *idx_out)
{
    struct tok next;
    int rc;

    if (p->tok.type == TOK_LPAREN) {
        rc = nest(p);
        if (rc < 0)
            return rc;
        rc = advance(p);
        if (rc < 0)
            return rc;
        rc = parse_or(p, idx_out);
        if (rc < 0)
            return rc;
        rc = expect(p, TOK_RPAREN);
        if (rc < 0)
            return rc;
        p->depth--;
        return 0;
    }
    if (at_kw(p, "startswith")) {
        /* One token of lookahead: "startswith" alone is a property. */
        rc = lex(p, p->pos, &next);
        if (rc < 0)
            return rc;
        if (next.type == TOK_LPAREN)
            return parse_prefix(p, idx_out);
    }
    return parse_cmp(p, idx_out);
}

/* unary := "not" unary | primary */
static int parse_unary(struct parser *p, int *idx_out)
{
    int idx, kid, rc;

    if (!at_kw(p, "not"))
        return parse_primary(p, idx_out);
    rc = nest(p);
    if (rc < 0)
        return rc;
    rc = node_new(p, NODE_NOT, &idx);
    if (rc < 0)
        return rc;
    rc = advance(p);
    if (rc < 0)
        return rc;
    rc = parse_unary(p, &kid);
    if (rc < 0)
        return rc;
    p->e->nodes[idx].kid = kid;
    p->depth--;
    *idx_out = idx;
    return 0;
}

/*
 * A left-associative chain of sub (joined by keyword kw) as one n-ary
 * node of the given kind; a chain of one is just that operand.
 */
static int parse_chain(struct parser *p, const char *kw, enum node_kind kind,
                       int (*sub)(struct parser *, int *), int *idx_out)
{
    int first, last, idx, kid, rc;

    rc = sub(p, &first);
    if (rc < 0)
        return rc;
    if (!at_kw(p, kw)) {
        *idx_out = first;
        return 0;
    }
    rc = node_new(p, kind, &idx);
    if (rc < 0)
        return rc;
    p->e->nodes[idx].kid = first;
    last = first;
    while (at_kw(p, kw)) {
        rc = advance(p);
        if (rc < 0)
            return rc;
        rc = sub(p, &kid);
        if (rc < 0)
            return rc;
        p->e->nodes[last].next = kid;
        last = kid;
    }
    *idx_out = idx;
    return 0;
}

static int parse_and(struct parser *p, int *idx_out)
{
    return parse_chain(p, "and", NODE_AND, parse_unary, idx_out);
}

static int parse_or(struct parser *p, int *idx_out)
{
    return parse_chain(p, "or", NODE_OR, parse_and, idx_out);
}

int odata_parse_filter(const char *text, struct odata_expr **out,
                       struct err *err)
{
    struct parser p;
    struct odata_expr *e = NULL;
    int rc;

    memset(&p, 0, sizeof(p));
    p.s = text ? text : "";
    p.len = strnlen(p.s, (size_t)ODATA_MAX_LEN + 1);
    p.err = err;
    if (p.len > ODATA_MAX_LEN) {
        rc = fail_at(err, "$filter", ODATA_MAX_LEN, "longer than %d bytes",
                     ODATA_MAX_LEN);
        goto out;
    }
    rc = advance(&p);
    if (rc < 0)
        goto out;
    if (p.tok.type == TOK_END) {
        *out = NULL; /* blank: matches everything */
        rc = 0;
        goto out;
    }
    e = xcalloc(1, sizeof(*e));
    p.e = e;
    rc = parse_or(&p, &e->root);
    if (rc < 0)
        goto out;
    if (p.tok.type != TOK_END) {
        rc = unexpected(&p);
        goto out;
    }
    *out = e;
    e = NULL; /* ownership moved to the caller */
    rc = 0;
out:
    odata_free(e);
    return rc;
}

void odata_free(struct odata_expr *e)
{
    size_t i;

    if (!e)
        return;
    for (i = 0; i < e->n; i++) {
        free(e->nodes[i].a.text);
        free(e->nodes[i].b.text);
    }
    free(e->nodes);
    free(e);
}

/* Call get for a property, turning its failure into a filled err. */
static int get_prop(const char *prop,
                    int (*get)(void *, const char *, struct odata_value *),
                    void *ctx, struct odata_value *v, struct err *err)
{
    int rc;

    memset(v, 0, sizeof(*v));
    v->type = ODATA_NULL;
    rc = get(ctx, prop, v);
    if (rc == -ERR_INVALID)
        return err_set(err, ERR_INVALID, ODATA_SVC,
                       "$filter: unknown property '%s'", prop);
    if (rc < 0)
        return err_set(err, (enum err_code)(-rc), "InternalError",
                       "$filter: cannot read property '%s'", prop);
    if (v->type == ODATA_STR && !v->s)
        v->type = ODATA_NULL;
    return 0;
}

static int operand_value(const struct operand *o,
                         int (*get)(void *, const char *, struct odata_value *),
                         void *ctx, struct odata_value *v, struct err *err)
{
    if (o->is_prop)
        return get_prop(o->text, get, ctx, v, err);
    *v = o->v;
    return 0;
}

static bool cmp_values(enum cmp_op op, const struct odata_value *a,
                       const struct odata_value *b)
{
    int c;

    if (a->type == ODATA_NULL || b->type == ODATA_NULL) {
        bool both = a->type == b->type;

        if (op == CMP_EQ)
            return both;
        if (op == CMP_NE)
            return !both;
        return false;
    }
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case ODATA_STR:
        c = strcmp(a->s, b->s);
        break;
    case ODATA_INT:
    case ODATA_TIME:
        c = (a->i > b->i) - (a->i < b->i);
        break;
    case ODATA_BOOL:
        if (op != CMP_EQ && op != CMP_NE)
            return false;
        c = a->b != b->b;
        break;
    default:
        return false;
    }
    switch (op) {
    case CMP_EQ:
        return c == 0;
    case CMP_NE:
        return c != 0;
    case CMP_GT:
        return c > 0;
    case CMP_GE:
        return c >= 0;
    case CMP_LT:
        return c < 0;
    case CMP_LE:
        return c <= 0;
    }
    return false;
}

/*
 * Evaluate node idx. Recursion follows the tree, whose depth the parser
 * bounded (see the note at the top).
 */
static int eval_node(const struct odata_expr *e, int idx,
                     int (*get)(void *, const char *, struct odata_value *),
                     void *ctx, bool *match_out, struct err *err)
{
    const struct node *nd = &e->nodes[idx];
    struct odata_value a, b;
    bool m = false;
    int kid, rc;

    switch (nd->kind) {
    case NODE_OR:
    case NODE_AND:
        /* or stops at the first true child, and at the first false one. */
        m = nd->kind == NODE_AND;
        for (kid = nd->kid; kid >= 0; kid = e->nodes[kid].next) {
            rc = eval_node(e, kid, get, ctx, &m, err);
            if (rc < 0)
                return rc;
            if (m == (nd->kind == NODE_OR))
                break;
        }
        break;
    case NODE_NOT:
        rc = eval_node(e, nd->kid, get, ctx, &m, err);
        if (rc < 0)
            return rc;
        m = !m;
        break;
    case NODE_CMP:
        rc = operand_value(&nd->a, get, ctx, &a, err);
        if (rc < 0)
            return rc;
        rc = operand_value(&nd->b, get, ctx, &b, err);
        if (rc < 0)
            return rc;
        m = cmp_values(nd->op, &a, &b);
        break;
    case NODE_PREFIX:
        rc = operand_value(&nd->a, get, ctx, &a, err);
        if (rc < 0)
            return rc;
        m = a.type == ODATA_STR &&
            strncmp(a.s, nd->b.v.s, strlen(nd->b.v.s)) == 0;
        break;
    }
    *match_out = m;
    return 0;
}

int odata_eval(const struct odata_expr *e,
               int (*get)(void *ctx, const char *prop, struct odata_value *out),
               void *ctx, bool *match_out, struct err *err)
{
    bool m = false;
    int rc;

    if (!e) {
        *match_out = true;
        return 0;
    }
    rc = eval_node(e, e->root, get, ctx, &m, err);
    if (rc < 0)
        return rc;
    *match_out = m;
    return 0;
}

int odata_check(const struct odata_expr *e,
                int (*get)(void *ctx, const char *prop,
                           struct odata_value *out),
                void *ctx, struct err *err)
{
    struct odata_value v;
    size_t i;
    int rc;

    if (!e)
        return 0;
    for (i = 0; i < e->n; i++) {
        const struct node *nd = &e->nodes[i];

        if (nd->a.is_prop) {
            rc = get_prop(nd->a.text, get, ctx, &v, err);
            if (rc < 0)
                return rc;
        }
        if (nd->b.is_prop) {
            rc = get_prop(nd->b.text, get, ctx, &v, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Is s[0..n) a property name (name := [A-Za-z_][A-Za-z0-9_]*)? */
static bool is_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || !is_name_start(s[0]))
        return false;
    for (i = 1; i < n; i++) {
        if (!is_name_char(s[i]))
            return false;
    }
    return true;
}

int odata_parse_select(const char *text, char ***fields_out, size_t *n_out,
                       struct err *err)
{
    const char *s = text ? text : "";
    char **fields = NULL;
    size_t len, pos = 0, n = 0, alloc = 0, i;
    int rc = -ERR_INVALID;

    len = strnlen(s, (size_t)ODATA_MAX_LEN + 1);
    if (len > ODATA_MAX_LEN) {
        fail_at(err, "$select", ODATA_MAX_LEN, "longer than %d bytes",
                ODATA_MAX_LEN);
        goto out;
    }
    while (pos < len && is_blank(s[pos]))
        pos++;
    if (pos == len)
        goto done; /* empty or blank: no projection */
    pos = 0;
    for (;;) {
        size_t start, end, next;
        bool dup = false;

        /* One item: blanks, a name, blanks, then ',' or the end. */
        while (pos < len && is_blank(s[pos]))
            pos++;
        start = pos;
        while (pos < len && s[pos] != ',' && !is_blank(s[pos]))
            pos++;
        end = pos;
        while (pos < len && is_blank(s[pos]))
            pos++;
        if (pos < len && s[pos] != ',') {
            fail_at(err, "$select", pos, "unexpected token");
            goto out;
        }
        next = pos + 1;
        if (start == end) {
            fail_at(err, "$select", start, "empty item");
            goto out;
        }
        if (!is_name(s + start, end - start)) {
            fail_at(err, "$select", start, "invalid property name");
            goto out;
        }
        for (i = 0; i < n && !dup; i++) {
            dup = strlen(fields[i]) == end - start &&
                  memcmp(fields[i], s + start, end - start) == 0;
        }
        if (!dup) {
            if (n == ODATA_MAX_SELECT) {
                fail_at(err, "$select", start, "more than %d properties",
                        ODATA_MAX_SELECT);
                goto out;
            }
            if (n == alloc) {
                size_t bytes;

                alloc = alloc ? alloc * 2 : 8;
                if (!size_mul(alloc, sizeof(*fields), &bytes)) {
                    err_set(err, ERR_INTERNAL, "InternalError",
                            "$select: item array too large");
                    rc = -ERR_INTERNAL;
                    goto out;
                }
                fields = xrealloc(fields, bytes);
            }
            fields[n++] = xstrndup(s + start, end - start);
        }
        if (pos >= len)
            break;
        pos = next;
    }
done:
    *fields_out = fields;
    *n_out = n;
    fields = NULL; /* ownership moved to the caller */
    n = 0;
    rc = 0;
out:
    odata_free_select(fields, n);
    return rc;
}

void odata_free_select(char **fields, size_t n)
{
    size_t i;

    if (!fields)
        return;
    for (i = 0; i < n; i++)
        free(fields[i]);
    free(fields);
}
