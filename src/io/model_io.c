/* model_io.c — model files.
 *
 * Layout (all integers little-endian):
 *   8 bytes   magic "BPFREE\x1a\n" (a binary file; \x1a and \n catch text-mode
 *             mangling, as PNG's magic does)
 *   u32       format version (2; version 1 files, without sections, still load)
 *   u32       header length H
 *   H bytes   header: "key=value\n" lines — the whole config, readable with
 *             `head -c` and extensible without a new version; data_* keys
 *             record the training data (bpfree_data_info)
 *   u64 u64   number of parameters P, of state floats S
 *   P floats  the parameter block; S floats the rule's fixed state
 *   u32       (version 2) number of sections K, then K times:
 *               u32 name length (1..63), the name, u64 byte count, the bytes
 *             A model file has "data.cols" (per-column mean then std) when the
 *             data was standardised per column; a checkpoint adds run.*,
 *             optim.*, rule.* (bp_run_sections), "rule.extra" (the rule's
 *             extra_save), "run.settings" (the settings a model file does not
 *             keep, as option=value lines) and "note" (the caller's text).
 *   u32       CRC-32 (zlib) of every byte before it
 * Every size is checked against what is left of the file before anything is
 * allocated.  Written to PATH.tmp.PID-XXXXXX (the writer's process id, so
 * that a later run can tell a dead writer's leftover from a live one's),
 * fsync'd, renamed over PATH, and the directory fsync'd.
 *
 * This file holds the header and the blocks; the sections are in
 * sections.c, the checkpoint loader in checkpoint.c (io.h: the order). */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* mkstemp makes the temporary file 0600; give the saved file the mode fopen
 * would: 0666 less the process's umask, read from /proc/self/status (calling
 * umask() to read it would change it for every thread for a moment); 022
 * where there is no "Umask:" line (Linux before 4.7, other systems). */
static void default_mode(int fd) {
    unsigned u = 022;
    char line[128];
    FILE *s = fopen("/proc/self/status", "r");
    while (s && fgets(line, sizeof line, s))
        if (sscanf(line, "Umask: %o", &u) == 1) break;
    if (s) fclose(s);
    (void)fchmod(fd, 0666 & ~(mode_t)u); /* if it fails the file stays 0600: private, still correct */
}

static const unsigned char MAGIC[8] = {'B', 'P', 'F', 'R', 'E', 'E', 0x1a, '\n'};
#define FORMAT_VERSION 2u
#define MAX_HEADER (1u << 16)
/* a model file's batch buffers may not ask for more than this (a file
 * claiming batch 10^9 is refused, not allocated) */
#define MAX_BATCH_BYTES (4.0 * 1073741824.0)

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
    if (put(h, cap, &n, "epochs_done=%d\n", m->epochs_done)) return 0;
    if (m->has_data) {
        const bpfree_data_info *d = &m->data;
        if (put(h, cap, &n,
                "data=%s\ndata_targets=%s\ndata_classify=%d\ndata_val=%d\n"
                "data_checksum=%016llx\ndata_classes=%d\ndata_cols=%d\ndata_tcols=%d\n",
                d->name, d->targets, d->classify, d->val, (unsigned long long)d->checksum,
                d->classes, d->n_cols, d->n_tcols))
            return 0;
        /* only when used: files of runs without it stay byte for byte as before */
        if (d->repeat > 1 && put(h, cap, &n, "data_repeat=%d\n", d->repeat)) return 0;
        if (d->pad > 0 && put(h, cap, &n, "data_pad=%d\n", d->pad)) return 0;
    }
    return n;
}

/* data_* keys into d; 1 if k is one of them (then *bad says whether v was read) */
static int data_key(bpfree_data_info *d, const char *k, const char *v, int *bad) {
    char *end = NULL;
    long x = 0;
    *bad = 0;
    if (!strcmp(k, "data")) {
        *bad = strlen(v) >= sizeof d->name;
        snprintf(d->name, sizeof d->name, "%s", v);
        return 1;
    }
    if (!strcmp(k, "data_targets")) {
        *bad = strlen(v) >= sizeof d->targets;
        snprintf(d->targets, sizeof d->targets, "%s", v);
        return 1;
    }
    if (!strcmp(k, "data_checksum")) {
        errno = 0;
        unsigned long long u = strtoull(v, &end, 16);
        *bad = end == v || *end || errno || v[0] == '-';
        d->checksum = (uint64_t)u;
        return 1;
    }
    int *f = !strcmp(k, "data_classify") ? &d->classify
             : !strcmp(k, "data_val")     ? &d->val
             : !strcmp(k, "data_classes") ? &d->classes
             : !strcmp(k, "data_cols")    ? &d->n_cols
             : !strcmp(k, "data_tcols")   ? &d->n_tcols
             : !strcmp(k, "data_repeat")  ? &d->repeat
             : !strcmp(k, "data_pad")     ? &d->pad
                                          : NULL;
    if (!f) return 0;
    errno = 0;
    x = strtol(v, &end, 10);
    *bad = end == v || *end || errno || x < 0 || x > INT_MAX;
    *f = (int)x;
    return 1;
}

/* One "key=value" into the config.  Every key a setting has is read, also
 * one that does not apply to the rule (files before the settings table
 * carried every key); unknown keys are an error so that a newer file is not
 * silently misread, and so is a key given twice. */
/* What a header says beyond the config. */
typedef struct head_info {
    int epochs_done;
    bpfree_data_info data;
    int has_data;
    unsigned char seen_special[16]; /* bpfree, rule, epochs_done, data_* */
} head_info;

static const char *const SPECIAL[] = {"bpfree", "rule", "epochs_done", "data", "data_targets",
                                      "data_classify", "data_val", "data_checksum",
                                      "data_classes", "data_cols", "data_tcols", "data_repeat",
                                      "data_pad"};
#define N_SPECIAL ((int)(sizeof SPECIAL / sizeof *SPECIAL))

static bpfree_status parse_kv(bpfree_config *c, head_info *hi, const char *k, const char *v,
                              const char *path, unsigned char *seen, bpfree_error *err) {
    for (int i = 0; i < N_SPECIAL; i++)
        if (!strcmp(k, SPECIAL[i]) && hi->seen_special[i]++)
            return bp_fail(err, BPFREE_EFORMAT, "%s: header key '%s' is given twice", path, k);
    int bad;
    if (data_key(&hi->data, k, v, &bad)) {
        hi->has_data = 1;
        if (bad)
            return bp_fail(err, BPFREE_EFORMAT, "%s: bad value '%.64s' for header key '%s'", path,
                           v, k);
        return BPFREE_OK;
    }
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
        hi->epochs_done = (int)e;
        return BPFREE_OK;
    }
    const bpfree_setting *s = bpfree_setting_find(k);
    if (!s || !s->key || strcmp(s->key, k) != 0)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: unknown header key '%s' (file from a newer bpfree?)", path, k);
    int i = 0;
    while (bpfree_setting_at(i) != s) i++;
    if (i >= 1024)
        return bp_fail(err, BPFREE_EFORMAT, "%s: too many settings to check key '%s'", path, k);
    if (seen[i]++)
        return bp_fail(err, BPFREE_EFORMAT, "%s: header key '%s' is given twice", path, k);
    char who[600];
    snprintf(who, sizeof who, "%s: header key '%s'", path, k);
    if (bp_setting_read_as(bp_setting_row(s), c, v, who, err) == BPFREE_OK) return BPFREE_OK;
    if (err) err->code = BPFREE_EFORMAT; /* a corrupt file, not a bad argument */
    return BPFREE_EFORMAT;
}

static bpfree_status parse_header(char *h, bpfree_config *c, head_info *hi,
                                  const char *path, bpfree_error *err) {
    /* what older files do not carry: the table's defaults (the first rule
     * stands in until the header names the rule; every row gets its default) */
    if (bpfree_config_default(c, bpfree_rule_at(0)->name, 1, 1, err)) return BPFREE_EFORMAT;
    unsigned char seen[1024] = {0};
    for (char *line = h; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) return bp_fail(err, BPFREE_EFORMAT, "%s: header line not terminated", path);
        *nl = '\0';
        char *eq = strchr(line, '=');
        if (!eq) return bp_fail(err, BPFREE_EFORMAT, "%s: header line '%s' has no '='", path, line);
        *eq = '\0';
        bpfree_status st = parse_kv(c, hi, line, eq + 1, path, seen, err);
        if (st) return st;
        line = nl + 1;
    }
    return BPFREE_OK;
}

/* --------------------------------------------------------------- save */

/* fsync the directory that holds path, so that a rename survives a crash */
static int sync_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

/* Everything from the magic to the CRC to f; nonzero on a write error. */
static int write_body(FILE *f, const bpfree_model *m, const char *h, size_t hl,
                      const out_section *sec, int ns) {
    unsigned char b[16];
    uLong crc = crc32(0L, Z_NULL, 0);
    int bad = bp_io_write_all(f, MAGIC, 8, &crc);
    le32(b, FORMAT_VERSION);
    le32(b + 4, (uint32_t)hl);
    bad |= bp_io_write_all(f, b, 8, &crc);
    bad |= bp_io_write_all(f, h, hl, &crc);
    le64(b, m->n_params);
    le64(b + 8, m->n_state);
    bad |= bp_io_write_all(f, b, 16, &crc);
    bad |= bp_io_write_all(f, m->params, m->n_params * sizeof(float), &crc);
    bad |= bp_io_write_all(f, m->state, m->n_state * sizeof(float), &crc);
    bad |= bp_io_write_sections(f, sec, ns, &crc);
    le32(b, (uint32_t)crc);
    bad |= fwrite(b, 1, 4, f) != 4;
    return bad;
}

static bpfree_status save_file(const bpfree_model *m, const char *path, int checkpoint,
                               const char *note, bpfree_error *err) {
    char hbuf[16384];
    size_t hl = write_header(m, hbuf, sizeof hbuf);
    if (!hl) return bp_fail(err, BPFREE_EINVAL, "model header too long");
    out_section sec[MAX_OUT];
    int ns = 0;
    bpfree_status st = bp_io_collect(m, checkpoint, note, sec, &ns, err);
    size_t plen = strlen(path);
    char *tmp = st ? NULL : bp_malloc(plen + 40);
    FILE *f = NULL;
    int fd = -1;
    if (st) goto done;
    if (!tmp) {
        st = bp_fail(err, BPFREE_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(tmp, plen + 40, "%s.tmp.%ld-XXXXXX", path, (long)getpid());
    if ((fd = mkstemp(tmp)) < 0) {
        st = bp_fail(err, BPFREE_EIO, "%s: cannot create a temporary file: %s", path,
                     strerror(errno));
        goto done;
    }
    default_mode(fd);
    if (!(f = fdopen(fd, "wb"))) {
        st = bp_fail(err, BPFREE_EIO, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        goto done;
    }
    int bad = write_body(f, m, hbuf, hl, sec, ns);
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        st = bp_fail(err, BPFREE_EIO, "%s: writing the %s failed: %s", path,
                     checkpoint ? "checkpoint" : "model", strerror(e));
        goto done;
    }
    (void)sync_dir(path); /* best effort: some file systems refuse it */
done:
    free(tmp);
    for (int i = 0; i < ns; i++)
        if (sec[i].own) free((void *)sec[i].p);
    return st;
}

bpfree_status bpfree_model_save(const bpfree_model *m, const char *path, bpfree_error *err) {
    return save_file(m, path, 0, NULL, err);
}

bpfree_status bpfree_checkpoint_save(const bpfree_model *m, const char *path, const char *note,
                                     bpfree_error *err) {
    return save_file(m, path, 1, note, err);
}

/* --------------------------------------------------------------- load */

/* Magic, version and header: the config, epochs done, data. */
static bpfree_status read_head(FILE *f, const char *path, uLong *crc, bpfree_config *cfg,
                               head_info *hi, uint32_t *version, bpfree_error *err) {
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
    if ((st = bp_io_read_exact(f, b, 8, crc, path, "version", err))) return st;
    uint32_t ver = rd32(b), hl = rd32(b + 4);
    if (ver != 1 && ver != FORMAT_VERSION)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: model format version %u, this bpfree reads versions 1 to %u", path,
                       ver, FORMAT_VERSION);
    *version = ver;
    if (hl == 0 || hl > MAX_HEADER)
        return bp_fail(err, BPFREE_EFORMAT, "%s: bad header length %u", path, hl);
    char *h = bp_malloc(hl + 1);
    if (!h) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
    if (!(st = bp_io_read_exact(f, h, hl, crc, path, "header", err))) {
        h[hl] = '\0';
        st = strlen(h) != hl ? bp_fail(err, BPFREE_EFORMAT, "%s: NUL byte in header", path)
                             : parse_header(h, cfg, hi, path, err);
    }
    free(h);
    return st;
}

/* The sizes np, ns against what is left of the file, before allocating. */
static bpfree_status check_sizes(FILE *f, const char *path, uint64_t np, uint64_t ns,
                                 bpfree_error *err) {
    uint64_t left = bp_io_bytes_left(f);
    if (np > left / sizeof(float) || ns > left / sizeof(float) ||
        (np + ns) * sizeof(float) + 4 > left)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: truncated model file: it announces %llu parameters and %llu state "
                       "values but only %llu bytes follow",
                       path, (unsigned long long)np, (unsigned long long)ns,
                       (unsigned long long)left);
    return BPFREE_OK;
}

/* A config's model against the file before building it: sizes and a cap. */
static bpfree_status check_model(const bpfree_config *cfg, uint64_t np, uint64_t ns,
                                 const char *path, bpfree_error *err) {
    size_t want_p, want_s;
    double batch_bytes;
    const bp_rule *r = bp_rule_lookup(cfg->rule);
    if (!r) return bp_fail(err, BPFREE_EFORMAT, "%s: unknown rule '%s'", path, cfg->rule);
    bpfree_status st = bp_model_count(r, cfg, &want_p, &want_s, &batch_bytes, err);
    if (st) return st;
    if (np != want_p || ns != want_s)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: holds %llu parameters and %llu state values, its header describes "
                       "%zu and %zu",
                       path, (unsigned long long)np, (unsigned long long)ns, want_p, want_s);
    if (batch_bytes > MAX_BATCH_BYTES)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: its header asks for %.1f GiB of batch buffers (batch %d); at most %.0f "
                       "GiB are allowed in a model file",
                       path, batch_bytes / 1073741824.0, cfg->batch, MAX_BATCH_BYTES / 1073741824.0);
    return BPFREE_OK;
}

static bpfree_status load_body(FILE *f, const char *path, loaded *L, bpfree_error *err) {
    unsigned char b[16];
    uLong crc = crc32(0L, Z_NULL, 0);
    bpfree_config cfg;
    head_info hi;
    memset(&hi, 0, sizeof hi);
    uint32_t version = 0;
    bpfree_status st = read_head(f, path, &crc, &cfg, &hi, &version, err);
    if (st || (st = bp_io_read_exact(f, b, 16, &crc, path, "sizes", err))) return st;
    const uint64_t np = rd64(b), ns = rd64(b + 8);
    if ((st = check_sizes(f, path, np, ns, err))) return st;
    bpfree_error ce;
    if (bpfree_config_check(&cfg, &ce))
        return bp_fail(err, BPFREE_EFORMAT, "%s: the header describes an invalid model: %s",
                       path, ce.msg);
    if ((st = check_model(&cfg, np, ns, path, err))) return st;
    /* the sections come after the blocks: skip to them, read them (sizes
     * checked), then come back for the blocks once the model exists */
    const long blocks_at = ftell(f);
    if (blocks_at < 0 || fseek(f, (long)((np + ns) * sizeof(float)), SEEK_CUR) != 0)
        return bp_fail(err, BPFREE_EIO, "%s: cannot seek", path);
    uLong crc_sec = crc32(0L, Z_NULL, 0); /* combined below */
    if (version >= 2 && (st = bp_io_read_sections(f, path, &crc_sec, L, err))) return st;
    const long tail_at = ftell(f);
    if (tail_at < 0 || fseek(f, blocks_at, SEEK_SET) != 0)
        return bp_fail(err, BPFREE_EIO, "%s: cannot seek", path);
    /* run.settings: the settings a model file does not keep */
    if (version >= 2 && (st = bp_io_apply_settings(&cfg, L, path, err))) return st;
    bpfree_model *m = NULL;
    if ((st = bpfree_model_new(&cfg, &m, err))) return st;
    L->m = m;
    if ((st = bp_io_read_exact(f, m->params, np * sizeof(float), &crc, path, "parameters", err)) ||
        (st = bp_io_read_exact(f, m->state, ns * sizeof(float), &crc, path, "state", err)))
        return st;
    if (version >= 2) { /* the sections' bytes follow the blocks in the CRC */
        if (fseek(f, tail_at, SEEK_SET) != 0) return bp_fail(err, BPFREE_EIO, "%s: cannot seek", path);
        long sec_len = tail_at - blocks_at - (long)((np + ns) * sizeof(float));
        crc = crc32_combine(crc, crc_sec, sec_len);
    }
    if ((st = bp_io_read_exact(f, b, 4, NULL, path, "checksum", err))) return st;
    if (rd32(b) != (uint32_t)crc)
        return bp_fail(err, BPFREE_EFORMAT, "%s: checksum mismatch — the file is corrupt", path);
    if (fgetc(f) != EOF)
        return bp_fail(err, BPFREE_EFORMAT, "%s: unexpected bytes after the checksum", path);
    m->epochs_done = hi.epochs_done;
    return bp_io_apply_data(m, hi.has_data ? &hi.data : NULL, L, path, err);
}

bpfree_status bp_io_load_file(const char *path, loaded *L, bpfree_error *err) {
    L->m = NULL;
    L->n_sec = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return bp_fail(err, BPFREE_EIO, "%s: cannot open: %s", path, strerror(errno));
    bpfree_status st = load_body(f, path, L, err);
    fclose(f);
    if (st) {
        bpfree_model_free(L->m);
        L->m = NULL;
        bp_io_loaded_free(L);
    }
    return st;
}

bpfree_status bpfree_model_load(const char *path, bpfree_model **out, bpfree_error *err) {
    *out = NULL;
    loaded *L = bp_malloc(sizeof *L);
    if (!L) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
    bpfree_status st = bp_io_load_file(path, L, err);
    if (!st) {
        *out = L->m;
        bp_io_loaded_free(L);
    }
    free(L);
    return st;
}
