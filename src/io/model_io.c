/* model_io.c — model files.
 *
 * Layout (all integers little-endian):
 *   8 bytes   magic "BPFREE\x1a\n" (a binary file; \x1a and \n catch text-mode
 *             mangling, as PNG's magic does)
 *   u32       format version (1)
 *   u32       header length H
 *   H bytes   header: "key=value\n" lines — the whole config, readable with
 *             `head -c` and extensible without a new version
 *   u64 u64   number of parameters P, of state floats S
 *   P floats  the parameter block; S floats the rule's fixed state
 *   u32       CRC-32 (zlib) of every byte before it
 * Written to PATH.tmp.XXXXXX, fsync'd and renamed over PATH. */
#include "engine/engine.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static const unsigned char MAGIC[8] = {'B', 'P', 'F', 'R', 'E', 'E', 0x1a, '\n'};
#define FORMAT_VERSION 1u
#define MAX_HEADER (1u << 16)

/* ------------------------------------------------------------- header */

static int put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int put(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= cap - *len) return -1;
    *len += (size_t)k;
    return 0;
}

/* "bpfree=VERSION", "rule=NAME", then key=value for every setting that
 * applies to the rule and is saved (the settings table's keys and text
 * forms), then "epochs_done=N".  0 if cap is too small. */
static size_t write_header(const bpfree_model *m, char *h, size_t cap) {
    const bpfree_config *c = &m->cfg;
    size_t n = 0;
    if (put(h, cap, &n, "bpfree=%s\nrule=%s\n", BPFREE_VERSION, c->rule)) return 0;
    for (int i = 0; i < bpfree_setting_count(); i++) {
        const bpfree_setting *s = bpfree_setting_at(i);
        char v[512];
        if (!s->key || !bpfree_setting_applies(s, c->rule)) continue;
        if (bp_setting_write(bp_setting_row(s), c, v, sizeof v) < 0 ||
            put(h, cap, &n, "%s=%s\n", s->key, v))
            return 0;
    }
    return put(h, cap, &n, "epochs_done=%d\n", m->epochs_done) ? 0 : n;
}

/* One "key=value" into the config.  Every key a setting has is read, also
 * one that does not apply to the rule (files before the settings table
 * carried every key); unknown keys are an error so that a newer file is not
 * silently misread, and so is a key given twice. */
static bpfree_status parse_kv(bpfree_config *c, int *epochs_done, const char *k, const char *v,
                              const char *path, unsigned char *seen, bpfree_error *err) {
    if (strcmp(k, "bpfree") == 0) return BPFREE_OK;
    if (strcmp(k, "rule") == 0) {
        if (!bpfree_rule_find(v))
            return bp_fail(err, BPFREE_EFORMAT, "%s: unknown rule '%s' in the header", path, v);
        snprintf(c->rule, sizeof c->rule, "%s", v);
        return BPFREE_OK;
    }
    if (strcmp(k, "epochs_done") == 0) {
        char *end;
        long e = strtol(v, &end, 10);
        if (end == v || *end || e < 0 || e > INT_MAX)
            return bp_fail(err, BPFREE_EFORMAT, "%s: bad value '%s' for header key '%s'", path, v, k);
        *epochs_done = (int)e;
        return BPFREE_OK;
    }
    const bpfree_setting *s = bpfree_setting_find(k);
    if (!s || !s->key || strcmp(s->key, k) != 0)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: unknown header key '%s' (file from a newer bpfree?)", path, k);
    int i = 0;
    while (bpfree_setting_at(i) != s) i++;
    if (seen[i]++)
        return bp_fail(err, BPFREE_EFORMAT, "%s: header key '%s' is given twice", path, k);
    char who[600];
    snprintf(who, sizeof who, "%s: header key '%s'", path, k);
    if (bp_setting_read_as(bp_setting_row(s), c, v, who, err) == BPFREE_OK) return BPFREE_OK;
    if (err) err->code = BPFREE_EFORMAT; /* a corrupt file, not a bad argument */
    return BPFREE_EFORMAT;
}

static bpfree_status parse_header(char *h, bpfree_config *c, int *epochs_done,
                                  const char *path, bpfree_error *err) {
    /* what older files do not carry: the table's defaults (the first rule
     * stands in until the header names the rule; every row gets its default) */
    if (bpfree_config_default(c, bpfree_rule_at(0)->name, 1, 1, err)) return BPFREE_EFORMAT;
    unsigned char seen[256] = {0};
    for (char *line = h; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) return bp_fail(err, BPFREE_EFORMAT, "%s: header line not terminated", path);
        *nl = '\0';
        char *eq = strchr(line, '=');
        if (!eq) return bp_fail(err, BPFREE_EFORMAT, "%s: header line '%s' has no '='", path, line);
        *eq = '\0';
        bpfree_status st = parse_kv(c, epochs_done, line, eq + 1, path, seen, err);
        if (st) return st;
        line = nl + 1;
    }
    return BPFREE_OK;
}

/* --------------------------------------------------------------- save */

static int write_all(FILE *f, const void *p, size_t n, uLong *crc) {
    const unsigned char *b = p;
    for (size_t done = 0; done < n;) { /* crc32 takes uInt lengths */
        size_t k = n - done > (1u << 30) ? (1u << 30) : n - done;
        *crc = crc32(*crc, b + done, (uInt)k);
        done += k;
    }
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static void le32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void le64(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t rd32(const unsigned char *b) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | b[i];
    return v;
}
static uint64_t rd64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

bpfree_status bpfree_model_save(const bpfree_model *m, const char *path, bpfree_error *err) {
    char hbuf[8192];
    size_t hl = write_header(m, hbuf, sizeof hbuf);
    if (!hl) return bp_fail(err, BPFREE_EINVAL, "model header too long");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        bpfree_status st = bp_fail(err, BPFREE_EIO, "%s: cannot create a temporary file: %s",
                                   path, strerror(errno));
        free(tmp);
        return st;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return bp_fail(err, BPFREE_EIO, "%s: %s", path, strerror(errno));
    }
    unsigned char b[16];
    uLong crc = crc32(0L, Z_NULL, 0);
    int bad = write_all(f, MAGIC, 8, &crc);
    le32(b, FORMAT_VERSION);
    le32(b + 4, (uint32_t)hl);
    bad |= write_all(f, b, 8, &crc);
    bad |= write_all(f, hbuf, hl, &crc);
    le64(b, m->n_params);
    le64(b + 8, m->n_state);
    bad |= write_all(f, b, 16, &crc);
    bad |= write_all(f, m->params, m->n_params * sizeof(float), &crc);
    bad |= write_all(f, m->state, m->n_state * sizeof(float), &crc);
    le32(b, (uint32_t)crc);
    bad |= fwrite(b, 1, 4, f) != 4;
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return bp_fail(err, BPFREE_EIO, "%s: writing the model failed: %s", path, strerror(e));
    }
    free(tmp);
    return BPFREE_OK;
}

/* --------------------------------------------------------------- load */

static bpfree_status read_exact(FILE *f, void *p, size_t n, uLong *crc, const char *path,
                                const char *what, bpfree_error *err) {
    size_t got = fread(p, 1, n, f);
    if (got != n && ferror(f))
        return bp_fail(err, BPFREE_EIO, "%s: read error in the %s: %s", path, what,
                       strerror(errno));
    if (got != n)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: truncated model file: expected %zu bytes of %s, found %zu", path, n,
                       what, got);
    if (crc)
        for (size_t done = 0; done < n;) {
            size_t k = n - done > (1u << 30) ? (1u << 30) : n - done;
            *crc = crc32(*crc, (const unsigned char *)p + done, (uInt)k);
            done += k;
        }
    return BPFREE_OK;
}

/* Magic, version and header: the config and the epochs done. */
static bpfree_status read_head(FILE *f, const char *path, uLong *crc, bpfree_config *cfg,
                               int *epochs_done, bpfree_error *err) {
    unsigned char b[8];
    size_t got = fread(b, 1, 8, f);
    if (got != 8 && ferror(f))
        return bp_fail(err, BPFREE_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (memcmp(b, MAGIC, got) != 0)
        return bp_fail(err, BPFREE_EFORMAT, "%s: not a bpfree model file (bad magic)", path);
    if (got != 8)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: truncated model file: expected 8 bytes of magic, found %zu", path, got);
    *crc = crc32(*crc, b, 8);
    bpfree_status st;
    if ((st = read_exact(f, b, 8, crc, path, "version", err))) return st;
    uint32_t ver = rd32(b), hl = rd32(b + 4);
    if (ver != FORMAT_VERSION)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: model format version %u, this bpfree reads version %u", path, ver,
                       FORMAT_VERSION);
    if (hl == 0 || hl > MAX_HEADER)
        return bp_fail(err, BPFREE_EFORMAT, "%s: bad header length %u", path, hl);
    char *h = malloc(hl + 1);
    if (!h) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
    if (!(st = read_exact(f, h, hl, crc, path, "header", err))) {
        h[hl] = '\0';
        st = strlen(h) != hl ? bp_fail(err, BPFREE_EFORMAT, "%s: NUL byte in header", path)
                             : parse_header(h, cfg, epochs_done, path, err);
    }
    free(h);
    return st;
}

/* The sizes np, ns against what is left of the file, before allocating. */
static bpfree_status check_sizes(FILE *f, const char *path, uint64_t np, uint64_t ns,
                                 bpfree_error *err) {
    long here = ftell(f);
    if (here >= 0 && fseek(f, 0, SEEK_END) == 0) {
        long end = ftell(f);
        if (fseek(f, here, SEEK_SET) != 0) return bp_fail(err, BPFREE_EIO, "%s: cannot seek", path);
        uint64_t left = end >= here ? (uint64_t)(end - here) : 0;
        if (np > left / sizeof(float) || ns > left / sizeof(float) ||
            (np + ns) * sizeof(float) + 4 > left)
            return bp_fail(err, BPFREE_EFORMAT,
                           "%s: truncated model file: it announces %llu parameters and %llu state "
                           "values but only %llu bytes follow",
                           path, (unsigned long long)np, (unsigned long long)ns,
                           (unsigned long long)left);
    }
    return BPFREE_OK;
}

static bpfree_status load_body(FILE *f, const char *path, bpfree_model **out,
                               bpfree_error *err) {
    unsigned char b[16];
    uLong crc = crc32(0L, Z_NULL, 0);
    bpfree_config cfg;
    int epochs_done = 0;
    bpfree_status st = read_head(f, path, &crc, &cfg, &epochs_done, err);
    if (st || (st = read_exact(f, b, 16, &crc, path, "sizes", err))) return st;
    const uint64_t np = rd64(b), ns = rd64(b + 8);
    if ((st = check_sizes(f, path, np, ns, err))) return st;
    bpfree_model *m = NULL;
    bpfree_error ce;
    if (bpfree_config_check(&cfg, &ce))
        return bp_fail(err, BPFREE_EFORMAT, "%s: the header describes an invalid model: %s",
                       path, ce.msg);
    if ((st = bpfree_model_new(&cfg, &m, err))) return st;
    if (np != m->n_params || ns != m->n_state) {
        size_t want_p = m->n_params, want_s = m->n_state;
        bpfree_model_free(m);
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: holds %llu parameters and %llu state values, its header describes "
                       "%zu and %zu",
                       path, (unsigned long long)np, (unsigned long long)ns, want_p, want_s);
    }
    if ((st = read_exact(f, m->params, np * sizeof(float), &crc, path, "parameters", err)) ||
        (st = read_exact(f, m->state, ns * sizeof(float), &crc, path, "state", err)) ||
        (st = read_exact(f, b, 4, NULL, path, "checksum", err))) {
        bpfree_model_free(m);
        return st;
    }
    if (rd32(b) != (uint32_t)crc) {
        bpfree_model_free(m);
        return bp_fail(err, BPFREE_EFORMAT, "%s: checksum mismatch — the file is corrupt", path);
    }
    if (fgetc(f) != EOF) {
        bpfree_model_free(m);
        return bp_fail(err, BPFREE_EFORMAT, "%s: unexpected bytes after the checksum", path);
    }
    m->epochs_done = epochs_done;
    *out = m;
    return BPFREE_OK;
}

bpfree_status bpfree_model_load(const char *path, bpfree_model **out, bpfree_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return bp_fail(err, BPFREE_EIO, "%s: cannot open: %s", path, strerror(errno));
    bpfree_status st = load_body(f, path, out, err);
    fclose(f);
    return st;
}
