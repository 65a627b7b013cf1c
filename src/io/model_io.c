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
#include "rules/rules.h"

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

static size_t write_header(const bpfree_model *m, char *h, size_t cap) {
    const bpfree_config *c = &m->cfg;
    const bpfree_optim_config *o = &c->optim;
    size_t n = 0;
    int bad = 0;
    bad |= put(h, cap, &n, "bpfree=%s\nrule=%s\ninputs=%d\noutputs=%d\nhidden=", BPFREE_VERSION,
               c->rule, c->inputs, c->outputs);
    for (int i = 0; i < c->n_hidden; i++) bad |= put(h, cap, &n, "%s%d", i ? "," : "", c->hidden[i]);
    bad |= put(h, cap, &n,
               "\nact=%s\nloss=%s\ninit=%s\ninit_std=%.9g\nfeedback_init=%s\nepochs=%d\n"
               "batch=%d\nseed=%llu\nthreads=%d\noptim=%s\nlr=%.9g\nmomentum=%.9g\n"
               "nesterov=%d\nweight_decay=%.9g\ndecoupled=%d\nbeta1=%.9g\nbeta2=%.9g\n"
               "eps=%.9g\nsched=%s\nstep_epochs=%d\ngamma=%.9g\ncooldown=%.9g\nlr_min=%.9g\n"
               "predict=%s\ngreedy_epochs=%d\nnorm=%s\nnorm_mean=%.9g\nnorm_std=%.9g\n"
               "f3_loss=%d\nf3_onehot=%d\nf3_softmax=%d\npepita_f=%.9g\n"
               "fb_lr=%.9g\nfb_optim=%d\nfb_wd=%.9g\n"
               "milestones=%d,%d,%d,%d\nepochs_done=%d\n",
               bpfree_act_name(c->act), bpfree_loss_name(c->loss), bpfree_init_name(c->init),
               (double)c->init_std, bpfree_init_name(c->feedback_init), c->epochs, c->batch,
               (unsigned long long)c->seed, c->threads, bpfree_optim_name(o->kind),
               (double)o->lr, (double)o->momentum, o->nesterov, (double)o->weight_decay,
               o->decoupled, (double)o->beta1, (double)o->beta2, (double)o->eps,
               bpfree_sched_name(o->sched), o->step_epochs, (double)o->gamma,
               (double)o->cooldown, (double)o->lr_min, bpfree_predict_name(c->predict),
               c->greedy_epochs, bpfree_norm_name(c->norm), (double)c->norm_mean,
               (double)c->norm_std, c->f3_loss, c->f3_onehot, c->f3_softmax,
               (double)c->pepita_f, (double)c->fb_lr, (int)c->fb_optim, (double)c->fb_wd,
               o->milestones[0], o->milestones[1], o->milestones[2],
               o->milestones[3], m->epochs_done);
    if (!bad) { /* the Forward-Forward keys (src/rules/ff.c) */
        int k = bp_ff_header_write(c, h + n, cap - n);
        if (k < 0) bad = 1;
        else n += (size_t)k;
    }
    return bad ? 0 : n;
}

/* Parse one "key=value" into the config; unknown keys are an error so a
 * newer file is not silently misread. */
static bpfree_status parse_kv(bpfree_config *c, int *epochs_done, const char *k, const char *v,
                              const char *path, bpfree_error *err) {
    bpfree_optim_config *o = &c->optim;
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    int num = end != v && *end == '\0' && errno == 0;
#define NUM(key, dst, T)                                                                  \
    if (strcmp(k, key) == 0) {                                                            \
        if (!num) goto bad;                                                               \
        if ((T)0.5 == 0 && !(d == floor(d) && d >= INT_MIN && d <= INT_MAX)) goto bad;    \
        dst = (T)d;                                                                       \
        return BPFREE_OK;                                                                 \
    }
#define ENUM(key, dst, T, fn)                                                             \
    if (strcmp(k, key) == 0) {                                                            \
        int e_ = fn(v);                                                                   \
        if (e_ < 0) goto bad;                                                             \
        dst = (T)e_;                                                                      \
        return BPFREE_OK;                                                                 \
    }
    if (strcmp(k, "bpfree") == 0) return BPFREE_OK;
    int ffk = bp_ff_header_parse(c, k, v);
    if (ffk > 0) return BPFREE_OK;
    if (ffk < 0) goto bad;
    if (strcmp(k, "rule") == 0) {
        if (!bpfree_rule_find(v)) goto bad;
        snprintf(c->rule, sizeof c->rule, "%s", v);
        return BPFREE_OK;
    }
    if (strcmp(k, "seed") == 0) {
        c->seed = strtoull(v, &end, 10);
        if (end == v || *end) goto bad;
        return BPFREE_OK;
    }
    if (strcmp(k, "hidden") == 0) {
        c->n_hidden = 0;
        const char *p = v;
        while (*p) {
            long w = strtol(p, &end, 10);
            if (end == p || w <= 0 || c->n_hidden >= BPFREE_MAX_LAYERS) goto bad;
            c->hidden[c->n_hidden++] = (int)w;
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') goto bad;
        }
        return BPFREE_OK;
    }
    if (strcmp(k, "milestones") == 0) {
        int *ms = c->optim.milestones, got = sscanf(v, "%d,%d,%d,%d", ms, ms + 1, ms + 2, ms + 3);
        if (got != 4) goto bad;
        return BPFREE_OK;
    }
    NUM("inputs", c->inputs, int)
    NUM("outputs", c->outputs, int)
    ENUM("act", c->act, bpfree_act, bpfree_act_parse)
    ENUM("loss", c->loss, bpfree_loss, bpfree_loss_parse)
    ENUM("init", c->init, bpfree_init, bpfree_init_parse)
    NUM("init_std", c->init_std, float)
    ENUM("feedback_init", c->feedback_init, bpfree_init, bpfree_init_parse)
    NUM("epochs", c->epochs, int)
    NUM("batch", c->batch, int)
    NUM("threads", c->threads, int)
    ENUM("optim", o->kind, bpfree_optim_kind, bpfree_optim_parse)
    NUM("lr", o->lr, float)
    NUM("momentum", o->momentum, float)
    NUM("nesterov", o->nesterov, int)
    NUM("weight_decay", o->weight_decay, float)
    NUM("decoupled", o->decoupled, int)
    NUM("beta1", o->beta1, float)
    NUM("beta2", o->beta2, float)
    NUM("eps", o->eps, float)
    ENUM("sched", o->sched, bpfree_sched, bpfree_sched_parse)
    NUM("step_epochs", o->step_epochs, int)
    NUM("gamma", o->gamma, float)
    NUM("cooldown", o->cooldown, float)
    NUM("lr_min", o->lr_min, float)
    ENUM("predict", c->predict, bpfree_predict_mode, bpfree_predict_parse)
    NUM("greedy_epochs", c->greedy_epochs, int)
    ENUM("norm", c->norm, bpfree_norm, bpfree_norm_parse)
    NUM("norm_mean", c->norm_mean, float)
    NUM("norm_std", c->norm_std, float)
    NUM("f3_loss", c->f3_loss, int)
    NUM("f3_onehot", c->f3_onehot, int)
    NUM("f3_softmax", c->f3_softmax, int)
    NUM("pepita_f", c->pepita_f, float)
    NUM("fb_lr", c->fb_lr, float)
    NUM("fb_optim", c->fb_optim, bpfree_fb_optim)
    NUM("fb_wd", c->fb_wd, float)
    NUM("epochs_done", *epochs_done, int)
    return bp_fail(err, BPFREE_EFORMAT, "%s: unknown header key '%s' (file from a newer bpfree?)",
                   path, k);
bad:
    return bp_fail(err, BPFREE_EFORMAT, "%s: bad value '%s' for header key '%s'", path, v, k);
#undef NUM
#undef ENUM
}

static bpfree_status parse_header(char *h, bpfree_config *c, int *epochs_done,
                                  const char *path, bpfree_error *err) {
    memset(c, 0, sizeof *c);
    c->norm_std = 1.0f;
    bp_ff_config_defaults(c); /* files from before the FF keys */
    for (char *line = h; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) return bp_fail(err, BPFREE_EFORMAT, "%s: header line not terminated", path);
        *nl = '\0';
        char *eq = strchr(line, '=');
        if (!eq) return bp_fail(err, BPFREE_EFORMAT, "%s: header line '%s' has no '='", path, line);
        *eq = '\0';
        bpfree_status st = parse_kv(c, epochs_done, line, eq + 1, path, err);
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

static bpfree_status load_body(FILE *f, const char *path, bpfree_model **out,
                               bpfree_error *err) {
    unsigned char b[16];
    uLong crc = crc32(0L, Z_NULL, 0);
    size_t got = fread(b, 1, 8, f);
    if (got != 8 && ferror(f))
        return bp_fail(err, BPFREE_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (memcmp(b, MAGIC, got) != 0)
        return bp_fail(err, BPFREE_EFORMAT, "%s: not a bpfree model file (bad magic)", path);
    if (got != 8)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: truncated model file: expected 8 bytes of magic, found %zu", path, got);
    crc = crc32(crc, b, 8);
    bpfree_status st;
    if ((st = read_exact(f, b, 8, &crc, path, "version", err))) return st;
    uint32_t ver = rd32(b), hl = rd32(b + 4);
    if (ver != FORMAT_VERSION)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: model format version %u, this bpfree reads version %u", path, ver,
                       FORMAT_VERSION);
    if (hl == 0 || hl > MAX_HEADER)
        return bp_fail(err, BPFREE_EFORMAT, "%s: bad header length %u", path, hl);
    char *h = malloc(hl + 1);
    if (!h) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
    bpfree_config cfg;
    int epochs_done = 0;
    if (!(st = read_exact(f, h, hl, &crc, path, "header", err))) {
        h[hl] = '\0';
        st = strlen(h) != hl ? bp_fail(err, BPFREE_EFORMAT, "%s: NUL byte in header", path)
                             : parse_header(h, &cfg, &epochs_done, path, err);
    }
    free(h);
    if (st || (st = read_exact(f, b, 16, &crc, path, "sizes", err))) return st;
    uint64_t np = rd64(b), ns = rd64(b + 8);
    /* check the sizes against what is left of the file before allocating */
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
