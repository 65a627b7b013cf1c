/* csv_lines.c — the CSV loader's lines and fields: a file (raw or gzip)
 * read a line at a time, each line split in place into its fields. */
#include "csv.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* --------------------------------------------------------------- memory */

/* *p, holding `used` bytes, moves into a new zeroed block of `bytes`. */
int bp_csv_grow(void *p, size_t used, size_t bytes) {
    void **pp = p;
    void *q = bp_alloc(NULL, bytes);
    if (!q) return 0;
    if (used) memcpy(q, *pp, used);
    bp_free(NULL, *pp);
    *pp = q;
    return 1;
}

char *bp_csv_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = bp_alloc(NULL, n);
    if (d) memcpy(d, s, n);
    return d;
}

/* --------------------------------------------------------------- lines */

bpfree_status bp_csv_open(reader *r, const char *path, bpfree_error *err) {
    memset(r, 0, sizeof *r);
    r->path = path;
    bpfree_status s = bp_data_open(path, &r->g, NULL, err);
    if (s != BPFREE_OK) return s;
    r->cap = 4096;
    r->buf = bp_alloc(NULL, r->cap);
    if (!r->buf) return bp_fail(err, BPFREE_ENOMEM, "%s: out of memory for a line", path);
    return BPFREE_OK;
}

void bp_csv_close(reader *r) {
    if (r->g) gzclose(r->g);
    bp_free(NULL, r->buf);
    memset(r, 0, sizeof *r);
}

static bpfree_status rd_error(reader *r, bpfree_error *err) {
    int z = 0;
    const char *msg = gzerror(r->g, &z);
    if (z == Z_ERRNO)
        return bp_fail(err, BPFREE_EIO, "%s:%ld: read error: %s", r->path, r->line + 1,
                       strerror(errno));
    size_t n = strlen(r->path); /* zlib's message starts with the path */
    if (strncmp(msg, r->path, n) == 0 && strncmp(msg + n, ": ", 2) == 0) msg += n + 2;
    return bp_fail(err, BPFREE_EFORMAT, "%s:%ld: corrupt gzip data: %s", r->path, r->line + 1,
                   msg);
}

/* Next line into r->buf.  *got = 1, or 0 at the end of the file. */
bpfree_status bp_csv_next(reader *r, int *got, bpfree_error *err) {
    size_t len = 0;
    *got = 0;
    for (;;) {
        if (r->cap - len < 2) {
            if (r->cap > INT_MAX / 2 || !bp_csv_grow(&r->buf, len, 2 * r->cap))
                return bp_fail(err, BPFREE_ENOMEM, "%s:%ld: line too long (%zu bytes)",
                               r->path, r->line + 1, len);
            r->cap *= 2;
        }
        if (!gzgets(r->g, r->buf + len, (int)(r->cap - len))) {
            int z = 0;
            gzerror(r->g, &z);
            if (z != Z_OK) return rd_error(r, err);
            if (len == 0) return BPFREE_OK; /* end of file */
            break;
        }
        len += strlen(r->buf + len);
        if (len > 0 && r->buf[len - 1] == '\n') break;
    }
    while (len > 0 && (r->buf[len - 1] == '\n' || r->buf[len - 1] == '\r')) r->buf[--len] = 0;
    r->line++;
    *got = 1;
    return BPFREE_OK;
}

static int is_blank(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return *s == '\0';
}

/* Next non-blank line. */
bpfree_status bp_csv_data(reader *r, int *got, bpfree_error *err) {
    bpfree_status s;
    while ((s = bp_csv_next(r, got, err)) == BPFREE_OK && *got && is_blank(r->buf)) {}
    return s;
}

/* -------------------------------------------------------------- fields */

static bpfree_status push(fields *F, char *s, const reader *r, bpfree_error *err) {
    if (F->n == F->cap) {
        int cap = F->cap ? 2 * F->cap : 64;
        if (F->cap > INT_MAX / 4 || !bp_csv_grow(&F->f, (size_t)F->n * sizeof(char *),
                                                 (size_t)cap * sizeof(char *)))
            return bp_fail(err, BPFREE_ENOMEM, "%s:%ld: out of memory for %d fields", r->path,
                           r->line, cap);
        F->cap = cap;
    }
    F->f[F->n++] = s;
    return BPFREE_OK;
}

/* Runs of spaces and tabs separate fields. */
static bpfree_status split_blank(char *p, fields *F, const reader *r, bpfree_error *err) {
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return BPFREE_OK;
        char *start = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (*p) *p++ = '\0';
        bpfree_status s = push(F, start, r, err);
        if (s != BPFREE_OK) return s;
    }
}

/* A "quoted" field starting at *pp ("" stands for "), unquoted in place. */
static bpfree_status unquote(char **pp, const reader *r, bpfree_error *err) {
    char *p = *pp, *w = p;
    for (p++;; p++) {
        if (!*p)
            return bp_fail(err, BPFREE_EFORMAT, "%s:%ld: unterminated quote", r->path,
                           r->line);
        if (*p == '"' && p[1] != '"') break;
        if (*p == '"') p++;
        *w++ = *p;
    }
    for (p++; *p == ' ' || *p == '\t'; p++) {}
    if (*p && *p != ',')
        return bp_fail(err, BPFREE_EFORMAT, "%s:%ld: text after a closing quote: '%s'",
                       r->path, r->line, p);
    *w = '\0';
    *pp = p;
    return BPFREE_OK;
}

/* Commas separate fields, trimmed of blanks; a field may be "quoted". */
static bpfree_status split_comma(char *p, fields *F, const reader *r, bpfree_error *err) {
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *start = p, *end = NULL;
        bpfree_status s = BPFREE_OK;
        if (*p == '"') {
            s = unquote(&p, r, err); /* ends the field itself */
        } else {
            while (*p && *p != ',') p++;
            for (end = p; end > start && (end[-1] == ' ' || end[-1] == '\t');) end--;
        }
        char c = *p;
        if (end) *end = '\0';
        if (s == BPFREE_OK) s = push(F, start, r, err);
        if (s != BPFREE_OK || c != ',') return s;
        p++;
    }
}

bpfree_status bp_csv_split(char *line, char sep, fields *F, const reader *r,
                           bpfree_error *err) {
    F->n = 0;
    return sep == ',' ? split_comma(line, F, r, err) : split_blank(line, F, r, err);
}
