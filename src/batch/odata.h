#ifndef SHOAL_ODATA_H
#define SHOAL_ODATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

/*
 * OData $filter and $select for Batch list operations (private to batch/).
 *
 * Grammar (the subset the SDKs and samples send, batch-wire.md §2):
 *   expr    := or
 *   or      := and ("or" and)*
 *   and     := unary ("and" unary)*
 *   unary   := "not" unary | primary
 *   primary := "(" expr ")" | cmp | func
 *   cmp     := operand ("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand
 *   func    := "startswith(" prop "," literal ")"
 *   operand := prop | literal
 *   prop    := name ("/" name)*            e.g. executionInfo/exitCode
 *   literal := 'string' (with '' escape) | integer | true | false | null
 *              | datetime'2020-01-01T00:00:00Z'
 * Keywords are case-insensitive; whitespace between tokens. Input is
 * bounded (ODATA_MAX_LEN bytes, ODATA_MAX_DEPTH nesting, ODATA_MAX_NODES
 * nodes); anything else is -ERR_INVALID with svc "InvalidQueryParameterValue"
 * naming the position.
 */
#define ODATA_MAX_LEN 65536
#define ODATA_MAX_DEPTH 64
#define ODATA_MAX_NODES 4096
/*
 * At most this many distinct $select names (a Batch entity has about 30
 * top-level properties); more is -ERR_INVALID. Duplicates are dropped
 * before counting, empty items ("id,,state", "id,") and names that are not
 * [A-Za-z_][A-Za-z0-9_]* (so no "a/b") are -ERR_INVALID naming the offset.
 */
#define ODATA_MAX_SELECT 128

struct odata_expr;

enum odata_vtype {
    ODATA_NULL = 0,
    ODATA_STR,
    ODATA_INT,
    ODATA_BOOL,
    ODATA_TIME, /* i = ms since epoch */
};

struct odata_value {
    enum odata_vtype type;
    const char *s; /* ODATA_STR: borrowed for the duration of the call */
    int64_t i;
    bool b;
};

/* Parse a $filter; *out is NULL for an empty or all-blank filter. */
int odata_parse_filter(const char *text, struct odata_expr **out,
                       struct err *err);
void odata_free(struct odata_expr *e);

/*
 * Evaluate against one entity. get() looks a property path up
 * ("state", "executionInfo/exitCode") and fills *out (ODATA_NULL when the
 * entity has no such value); it returns 0, or -ERR_INVALID for a property
 * the entity type does not have (the list then fails with 400).
 * Comparisons: strings compare case-sensitively except enum-like values
 * (the caller lower-cases those); NULL equals only NULL; mismatched types
 * are false. A NULL expression matches everything.
 */
int odata_eval(const struct odata_expr *e,
               int (*get)(void *ctx, const char *prop, struct odata_value *out),
               void *ctx, bool *match_out, struct err *err);

/*
 * Check every property the expression names, whether or not evaluation
 * would reach it (odata_eval stops "or" at the first true arm and "and" at
 * the first false one, so an unknown property in an arm it skips goes
 * unnoticed). Calls get() once per property reference with any entity ctx
 * the getter accepts (values are ignored) and returns its first failure
 * as odata_eval would report it: -ERR_INVALID "unknown property 'x'" for
 * -ERR_INVALID. Lets a list refuse a bad $filter with 400 even when it has
 * no entities. A NULL expression checks nothing and returns 0.
 */
int odata_check(const struct odata_expr *e,
                int (*get)(void *ctx, const char *prop,
                           struct odata_value *out),
                void *ctx, struct err *err);

/*
 * Parse $select: a comma list of top-level property names, spaces allowed
 * ("id, executionInfo"). *fields_out is a malloc'd array of malloc'd names
 * (free with odata_free_select); empty input gives n 0.
 */
int odata_parse_select(const char *text, char ***fields_out, size_t *n_out,
                       struct err *err);
void odata_free_select(char **fields, size_t n);

#endif
