/* test_model_io.c — model files through the library API: a save/load round
 * trip for every rule (config, parameter and state blocks bit for bit, the
 * same predictions), rejection of truncated, corrupt, foreign and padded
 * files with the right code and message, and saves that never leave a
 * temporary file behind. */
#include "testutil.h"

#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define D 20 /* inputs */
#define C 4  /* classes */

static char tmp[256]; /* this run's scratch directory */
static char ctx[128]; /* what is being tried, printed with a failure */

/* ------------------------------------------------------------ helpers */

static void tpath(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmp, name);
}


static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint32_t rd32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static void wr32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* A small config for `rule` with several fields moved off their defaults,
 * so a field the file forgets shows up as a difference. */
static void small_config(bpfree_config *cfg, const char *rule) {
    const int hidden[] = {16, 8};
    *cfg = tu_default_config(rule, D, C, 2, hidden, 8);
    cfg->epochs = 3;
    cfg->seed = 0xFEDCBA9876543210ull; /* needs all 64 bits */
    cfg->act = BPFREE_ACT_TANH;
    cfg->init_std = 0.0123456789f;
    cfg->optim.lr = 0.000987654321f;
    cfg->optim.weight_decay = 1.5e-5f;
    cfg->optim.lr_min = 3.3e-7f;
    cfg->optim.step_epochs = 7;
    cfg->optim.gamma = 0.37f;
    cfg->norm = BPFREE_NORM_STANDARDIZE;
    cfg->norm_mean = 0.1307f;
    cfg->norm_std = 0.3081f;
}

/* A model for `rule`, trained one epoch on random data so that epochs_done
 * is 1 and the parameters are not just their initial values. */
static bpfree_model *small_model(const char *rule) {
    bpfree_config cfg;
    bpfree_error err;
    small_config(&cfg, rule);
    bpfree_model *m = NULL;
    bpfree_status s = bpfree_model_new(&cfg, &m, &err);
    if (s) print_message("  model_new(%s): %s\n", rule, err.msg);
    assert_int_equal(s, BPFREE_OK);
    bpfree_dataset ds;
    assert_int_equal(bpfree_data_alloc(&ds, 21, D, C, 0, &err), BPFREE_OK);
    bp_rng r;
    bp_rng_seed(&r, 7);
    tu_fill_uniform(&r, ds.x, (size_t)ds.n * D, 0.0f, 1.0f);
    for (int i = 0; i < ds.n; i++) ds.labels[i] = i % C;
    bpfree_epoch_stats st;
    s = bpfree_train_epoch(m, &ds, &st, &err);
    if (s) print_message("  train_epoch(%s): %s\n", rule, err.msg);
    assert_int_equal(s, BPFREE_OK);
    bpfree_data_free(&ds);
    assert_int_equal(bpfree_model_epochs_done(m), 1);
    return m;
}

/* Save a small `rule` model as tmp/name; return the file's bytes. */
static unsigned char *saved_file(const char *rule, const char *name, size_t *len,
                                 bpfree_model **keep) {
    char p[512];
    tpath(p, sizeof p, name);
    bpfree_model *m = small_model(rule);
    bpfree_error err;
    bpfree_status s = bpfree_model_save(m, p, &err);
    if (s) print_message("  save: %s\n", err.msg);
    assert_int_equal(s, BPFREE_OK);
    if (keep) *keep = m;
    else bpfree_model_free(m);
    return read_all(p, len);
}

/* Load `path`, expect `code` and every NULL-terminated key in the message,
 * and *out left NULL. */
static void expect_load_fails(const char *path, bpfree_status code, ...) {
    bpfree_error err = {0};
    bpfree_model *m = (bpfree_model *)&err; /* must be reset to NULL */
    bpfree_status s = bpfree_model_load(path, &m, &err);
    if (s != code)
        print_message("  %s%s: got status %d (%s): %s\n", ctx, path, s, bpfree_strerror(s),
                      err.msg);
    assert_int_equal(s, code);
    assert_null(m);
    assert_int_equal(err.code, code);
    va_list ap;
    va_start(ap, code);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
        if (!strstr(err.msg, k))
            print_message("  %smessage \"%s\" lacks \"%s\"\n", ctx, err.msg, k);
        assert_non_null(strstr(err.msg, k));
    }
    va_end(ap);
}

/* Offsets into a saved file (see model_io.c's layout comment). */
typedef struct layout {
    size_t hl;        /* header length */
    size_t sizes;     /* the two u64 sizes */
    size_t params;    /* parameter block */
    size_t state;     /* state block */
    size_t sections;  /* section count (version 2; 0 sections in these files) */
    size_t crc;       /* checksum */
    size_t np, ns;
} layout;

static layout file_layout(const unsigned char *b, size_t len, const bpfree_model *m) {
    layout L;
    L.hl = rd32(b + 12);
    L.sizes = 16 + L.hl;
    L.params = L.sizes + 16;
    L.np = m->n_params;
    L.ns = m->n_state;
    L.state = L.params + L.np * sizeof(float);
    L.sections = L.state + L.ns * sizeof(float);
    assert_int_equal(rd32(b + L.sections), 0);
    L.crc = L.sections + 4;
    assert_int_equal(L.crc + 4, len);
    return L;
}

/* Rewrite the file with its header replaced by `header` (and the CRC made
 * right again), so only the header's content is wrong. */
static void write_with_header(const char *path, const unsigned char *b, size_t len,
                              const char *header) {
    size_t hl = rd32(b + 12), nh = strlen(header);
    size_t tail = len - 16 - hl - 4; /* sizes + blocks */
    size_t n = 16 + nh + tail + 4;
    unsigned char *o = malloc(n);
    assert_non_null(o);
    memcpy(o, b, 12);
    wr32(o + 12, (uint32_t)nh);
    memcpy(o + 16, header, nh);
    memcpy(o + 16 + nh, b + 16 + hl, tail);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), o, (uInt)(n - 4));
    wr32(o + n - 4, (uint32_t)crc);
    write_bytes(path, o, n);
    free(o);
}

/* The saved header as a string, with `key=...\n` replaced by `key=value\n`. */
static char *header_with(const unsigned char *b, const char *key, const char *value) {
    size_t hl = rd32(b + 12);
    char *h = malloc(hl + 1), *out = malloc(hl + 256);
    assert_non_null(h);
    assert_non_null(out);
    memcpy(h, b + 16, hl);
    h[hl] = '\0';
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s=", key);
    char *at = strstr(h, pat);
    assert_non_null(at);
    at += strlen(pat);
    char *nl = strchr(at, '\n');
    assert_non_null(nl);
    snprintf(out, hl + 256, "%.*s%s%s", (int)(at - h), h, value, nl);
    free(h);
    return out;
}

static int setup(void **state) {
    *state = tmp; /* for tu_rm_scratch */
    return tu_mkdtemp(tmp, sizeof tmp, "model-io");
}

/* ------------------------------------------------------------ round trip */

static void check_config_equal(const bpfree_config *a, const bpfree_config *b) {
    assert_string_equal(a->rule, b->rule);
    assert_int_equal(a->inputs, b->inputs);
    assert_int_equal(a->outputs, b->outputs);
    assert_int_equal(a->n_hidden, b->n_hidden);
    for (int i = 0; i < a->n_hidden; i++) assert_int_equal(a->hidden[i], b->hidden[i]);
    assert_int_equal(a->act, b->act);
    assert_int_equal(a->loss, b->loss);
    assert_int_equal(a->init, b->init);
    assert_true(a->init_std == b->init_std);
    assert_int_equal(a->feedback_init, b->feedback_init);
    assert_int_equal(a->epochs, b->epochs);
    assert_int_equal(a->batch, b->batch);
    assert_true(a->seed == b->seed);
    assert_int_equal(a->threads, b->threads);
    const bpfree_optim_config *p = &a->optim, *q = &b->optim;
    assert_int_equal(p->kind, q->kind);
    assert_true(p->lr == q->lr);
    assert_true(p->momentum == q->momentum);
    assert_int_equal(p->nesterov, q->nesterov);
    assert_true(p->weight_decay == q->weight_decay);
    assert_int_equal(p->decoupled, q->decoupled);
    assert_true(p->beta1 == q->beta1);
    assert_true(p->beta2 == q->beta2);
    assert_true(p->eps == q->eps);
    assert_int_equal(p->sched, q->sched);
    assert_int_equal(p->step_epochs, q->step_epochs);
    assert_true(p->gamma == q->gamma);
    assert_true(p->cooldown == q->cooldown);
    assert_true(p->lr_min == q->lr_min);
    assert_int_equal(a->predict, b->predict);
    assert_int_equal(a->greedy_epochs, b->greedy_epochs);
    assert_int_equal(a->norm, b->norm);
    assert_true(a->norm_mean == b->norm_mean);
    assert_true(a->norm_std == b->norm_std);
}

static void roundtrip(const char *rule) {
    char p[512];
    tpath(p, sizeof p, rule);
    bpfree_model *a = small_model(rule), *b = NULL;
    bpfree_error err;
    bpfree_status s = bpfree_model_save(a, p, &err);
    if (s) print_message("  save: %s\n", err.msg);
    assert_int_equal(s, BPFREE_OK);
    s = bpfree_model_load(p, &b, &err);
    if (s) print_message("  load: %s\n", err.msg);
    assert_int_equal(s, BPFREE_OK);
    assert_non_null(b);

    check_config_equal(bpfree_model_config(a), bpfree_model_config(b));
    /* what small_config set must really be there (not just equal defaults) */
    assert_true(bpfree_model_config(b)->seed == 0xFEDCBA9876543210ull);
    assert_int_equal(bpfree_model_config(b)->hidden[1], 8);
    assert_int_equal(bpfree_model_epochs_done(b), 1);
    assert_string_equal(bpfree_model_rule(b)->name, rule);

    assert_true(a->n_params > 0);
    assert_int_equal(a->n_params, b->n_params);
    assert_int_equal(a->n_state, b->n_state);
    assert_int_equal(bpfree_model_param_count(a), bpfree_model_param_count(b));
    assert_true(tu_maxabs(a->params, a->n_params) > 0.0);
    assert_memory_equal(a->params, b->params, a->n_params * sizeof(float));
    if (strcmp(rule, "dfa") == 0) assert_true(a->n_state > 0); /* feedback matrices */
    if (a->n_state) {
        assert_true(tu_maxabs(a->state, a->n_state) > 0.0);
        assert_memory_equal(a->state, b->state, a->n_state * sizeof(float));
    }

    /* the same scores on random inputs, more rows than one batch */
    enum { N = 21 };
    float *x = malloc(sizeof(float) * N * D), *sa = malloc(sizeof(float) * N * C),
          *sb = malloc(sizeof(float) * N * C);
    assert_non_null(x);
    assert_non_null(sa);
    assert_non_null(sb);
    bp_rng r;
    bp_rng_seed(&r, 99);
    tu_fill_uniform(&r, x, (size_t)N * D, -1.0f, 2.0f);
    memset(sa, 0, sizeof(float) * N * C);
    memset(sb, 0xff, sizeof(float) * N * C);
    assert_int_equal(bpfree_predict(a, x, N, sa, &err), BPFREE_OK);
    assert_int_equal(bpfree_predict(b, x, N, sb, &err), BPFREE_OK);
    assert_true(tu_maxabs(sa, (size_t)N * C) > 0.0);
    assert_memory_equal(sa, sb, sizeof(float) * N * C);

    /* saving the loaded model gives the same bytes */
    char p2[600];
    snprintf(p2, sizeof p2, "%s.again", p);
    assert_int_equal(bpfree_model_save(b, p2, &err), BPFREE_OK);
    size_t l1, l2;
    unsigned char *f1 = read_all(p, &l1), *f2 = read_all(p2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(f1, f2, l1);
    free(f1);
    free(f2);

    free(x);
    free(sa);
    free(sb);
    bpfree_model_free(a);
    bpfree_model_free(b);
    assert_int_equal(tu_count_entries(tmp, ".tmp."), 0);
}

static void test_roundtrip_bp(void **state) { (void)state; roundtrip("bp"); }
static void test_roundtrip_mf(void **state) { (void)state; roundtrip("mf"); }
static void test_roundtrip_dfa(void **state) { (void)state; roundtrip("dfa"); }

/* Every rule the library knows survives a round trip (catches a new rule
 * whose state the file forgets). */
static void test_roundtrip_every_rule(void **state) {
    (void)state;
    assert_true(bpfree_rule_count() >= 3);
    for (int i = 0; i < bpfree_rule_count(); i++) roundtrip(bpfree_rule_at(i)->name);
}

/* ------------------------------------------------------------ rejections */

/* Cut the file at several lengths: inside the magic, the version, the
 * header, the sizes, the parameters, the state, just before the checksum
 * and inside it. */
static void test_truncated(void **state) {
    (void)state;
    const char *rules[] = {"dfa", "mf"};
    for (int r = 0; r < 2; r++) {
        size_t len;
        bpfree_model *m;
        unsigned char *b = saved_file(rules[r], "full", &len, &m);
        layout L = file_layout(b, len, m);
        size_t cuts[] = {0,
                         3,
                         7,
                         8,
                         12,
                         16,
                         16 + L.hl / 2,
                         L.sizes,
                         L.sizes + 9,
                         L.params,
                         L.params + 1,
                         L.params + L.np * 2,
                         L.state - 1,
                         L.state + (L.ns ? 2 * L.ns : 0),
                         L.crc,
                         L.crc + 1,
                         len - 1};
        char p[512];
        tpath(p, sizeof p, "cut");
        for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
            assert_true(cuts[i] < len);
            snprintf(ctx, sizeof ctx, "%s file cut at %zu of %zu bytes: ", rules[r], cuts[i],
                     len);
            write_bytes(p, b, cuts[i]);
            expect_load_fails(p, BPFREE_EFORMAT, "truncated", p, NULL);
        }
        bpfree_model_free(m);
        free(b);
    }
    ctx[0] = '\0';
}

static void test_flipped_param_byte(void **state) {
    (void)state;
    size_t len;
    bpfree_model *m;
    unsigned char *b = saved_file("bp", "flip", &len, &m);
    layout L = file_layout(b, len, m);
    char p[512];
    tpath(p, sizeof p, "flipped");
    size_t at[] = {L.params, L.params + L.np * 2 + 1, L.state - 1};
    for (size_t i = 0; i < 3; i++) {
        b[at[i]] ^= 0x10;
        write_bytes(p, b, len);
        expect_load_fails(p, BPFREE_EFORMAT, "checksum", NULL);
        b[at[i]] ^= 0x10;
    }
    /* the checksum itself */
    b[len - 2] ^= 0x01;
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "checksum", NULL);
    b[len - 2] ^= 0x01;
    /* unchanged bytes still load: the flips above were what failed */
    write_bytes(p, b, len);
    bpfree_error err;
    bpfree_model *ok = NULL;
    assert_int_equal(bpfree_model_load(p, &ok, &err), BPFREE_OK);
    bpfree_model_free(ok);
    bpfree_model_free(m);
    free(b);
}

/* The DFA feedback matrices are covered by the checksum too. */
static void test_flipped_state_byte(void **state) {
    (void)state;
    size_t len;
    bpfree_model *m;
    unsigned char *b = saved_file("dfa", "flips", &len, &m);
    layout L = file_layout(b, len, m);
    assert_true(L.ns > 0);
    b[L.state + L.ns] ^= 0x04;
    char p[512];
    tpath(p, sizeof p, "flipped-state");
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "checksum", NULL);
    bpfree_model_free(m);
    free(b);
}

/* A header value changed to another valid value is caught by the checksum. */
static void test_flipped_header_byte(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("mf", "fliph", &len, NULL);
    size_t hl = rd32(b + 12);
    char *h = malloc(hl + 1);
    memcpy(h, b + 16, hl);
    h[hl] = '\0';
    char *at = strstr(h, "\nepochs=3\n");
    assert_non_null(at);
    b[16 + (size_t)(at - h) + 8] = '4';
    free(h);
    char p[512];
    tpath(p, sizeof p, "flipped-header");
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "checksum", NULL);
    free(b);
}

static void test_wrong_magic(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("bp", "magic", &len, NULL);
    char p[512];
    tpath(p, sizeof p, "badmagic");
    b[0] = 'X';
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "not a bpfree model", NULL);
    b[0] = 'B';
    b[6] = '\n'; /* text-mode mangling of \x1a */
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "not a bpfree model", NULL);
    free(b);
    /* a text file */
    const char *text = "rule=bp\ninputs=20\noutputs=4\nthis is not a model, just some text\n";
    write_bytes(p, text, strlen(text));
    expect_load_fails(p, BPFREE_EFORMAT, "not a bpfree model", NULL);
}

/* A foreign file shorter than the magic is foreign, not a truncated model:
 * only a prefix of the magic means a cut bpfree file. */
static void test_short_foreign_file(void **state) {
    (void)state;
    char p[512];
    tpath(p, sizeof p, "short.txt");
    write_bytes(p, "hi\n", 3);
    expect_load_fails(p, BPFREE_EFORMAT, "not a bpfree model", NULL);
}

static void test_wrong_version(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("bp", "ver", &len, NULL);
    wr32(b + 8, 99);
    char p[512];
    tpath(p, sizeof p, "badver");
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "version", "99", NULL);
    free(b);
}

static void test_bad_header_length(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("bp", "hlen", &len, NULL);
    char p[512];
    tpath(p, sizeof p, "badhlen");
    wr32(b + 12, 0xFFFFFFFFu);
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "header length", NULL);
    wr32(b + 12, 0);
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "header length", NULL);
    free(b);
}

static void test_trailing_bytes(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("mf", "trail", &len, NULL);
    if (!b || len == 0 || len > (1u << 30)) {
        fail_msg("could not save a model to test trailing bytes");
        return;
    }
    unsigned char *t = malloc(len + 5);
    memcpy(t, b, len);
    memcpy(t + len, "junk\n", 5);
    char p[512];
    tpath(p, sizeof p, "trailing");
    for (size_t extra = 1; extra <= 5; extra += 4) {
        write_bytes(p, t, len + extra);
        expect_load_fails(p, BPFREE_EFORMAT, "after the checksum", NULL);
    }
    /* a file saved twice into one (cat a b > c) */
    unsigned char *two = malloc(2 * len);
    memcpy(two, b, len);
    memcpy(two + len, b, len);
    write_bytes(p, two, 2 * len);
    expect_load_fails(p, BPFREE_EFORMAT, "after the checksum", NULL);
    free(two);
    free(t);
    free(b);
}

/* The size fields disagree with what the header describes. */
static void test_size_mismatch(void **state) {
    (void)state;
    size_t len;
    bpfree_model *m;
    unsigned char *b = saved_file("bp", "sizes", &len, &m);
    layout L = file_layout(b, len, m);
    b[L.sizes] ^= 0x01; /* P off by one */
    char p[512];
    tpath(p, sizeof p, "badsizes");
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "parameters", NULL);
    b[L.sizes] ^= 0x01;
    b[L.sizes + 15] = 0x80; /* S enormous */
    write_bytes(p, b, len);
    expect_load_fails(p, BPFREE_EFORMAT, "state", NULL);
    bpfree_model_free(m);
    free(b);
}

/* Header content that is malformed, with a valid checksum. */
static void test_bad_header_values(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("bp", "hdr", &len, NULL);
    char p[512];
    tpath(p, sizeof p, "badheader");
    struct {
        const char *key, *value, *want;
    } cases[] = {
        {"act", "swish", "swish"},
        {"rule", "nope", "nope"},
        {"lr", "fast", "fast"},
        {"hidden", "16,x", "hidden"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *h = header_with(b, cases[i].key, cases[i].value);
        write_with_header(p, b, len, h);
        free(h);
        expect_load_fails(p, BPFREE_EFORMAT, cases[i].want, NULL);
    }
    /* an unknown key (a file from a newer bpfree) */
    char *h = header_with(b, "act", "tanh\nfuture_knob=1");
    write_with_header(p, b, len, h);
    free(h);
    expect_load_fails(p, BPFREE_EFORMAT, "future_knob", NULL);
    /* a line without '=' */
    h = header_with(b, "act", "tanh\ngarbage");
    write_with_header(p, b, len, h);
    free(h);
    expect_load_fails(p, BPFREE_EFORMAT, "garbage", NULL);
    free(b);
}

/* A header whose values parse but describe an impossible model is a corrupt
 * file (BPFREE_EFORMAT, "a file is corrupt, truncated or foreign"), not a bad
 * argument of the caller's (BPFREE_EINVAL); and an integer field given an
 * out-of-range number must be rejected, not converted (a double -> int
 * conversion out of range is undefined behaviour). */
static void test_header_impossible_values(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("bp", "hdr2", &len, NULL);
    char p[512];
    tpath(p, sizeof p, "impossible");
    struct {
        const char *key, *value;
    } cases[] = {
        {"epochs", "0"}, {"batch", "-8"}, {"epochs", "1e10"}, {"epochs", "2.5"},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *h = header_with(b, cases[i].key, cases[i].value);
        write_with_header(p, b, len, h);
        free(h);
        bpfree_error err = {0};
        bpfree_model *m = NULL;
        bpfree_status s = bpfree_model_load(p, &m, &err);
        if (s != BPFREE_EFORMAT || !strstr(err.msg, p)) {
            print_message("  header %s=%s: got status %d (%s): %s\n", cases[i].key,
                          cases[i].value, s, bpfree_strerror(s), s ? err.msg : "(loaded)");
            wrong++;
        }
        bpfree_model_free(m);
    }
    free(b);
    assert_int_equal(wrong, 0);
}


/* ------------------------------------------------------- issue 17 */

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* D1: a header describing a huge net over a small file is refused before
 * anything is allocated (the loader counts the parameters the header
 * implies first), and so is a header asking for huge batch buffers; a key
 * given twice (inputs twice made a 1.4 KB file take 2.3 GB) is refused. */
static void test_memory_bomb_refused(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("bp", "bomb", &len, NULL);
    char p[512];
    tpath(p, sizeof p, "bomb-out");
    const long rss0 = max_rss_kb();
    char *h = header_with(b, "hidden", "30000,30000,30000");
    write_with_header(p, b, len, h);
    free(h);
    expect_load_fails(p, BPFREE_EFORMAT, "header describes", NULL);
    h = header_with(b, "batch", "2000000000");
    write_with_header(p, b, len, h);
    free(h);
    expect_load_fails(p, BPFREE_EFORMAT, "batch", NULL);
    h = header_with(b, "act", "tanh\ninputs=100000000");
    write_with_header(p, b, len, h);
    free(h);
    expect_load_fails(p, BPFREE_EFORMAT, "'inputs' is given twice", NULL);
    h = header_with(b, "act", "tanh\nrule=bp");
    write_with_header(p, b, len, h);
    free(h);
    expect_load_fails(p, BPFREE_EFORMAT, "'rule' is given twice", NULL);
    const long grew_kb = max_rss_kb() - rss0;
    if (grew_kb > 50 * 1024) print_message("  peak memory grew by %ld KiB\n", grew_kb);
    assert_true(grew_kb <= 50 * 1024);
    free(b);
}

/* D3: values that would convert out of range are refused, not converted
 * (the SAN build checks float-cast-overflow too). */
static void test_out_of_range_values(void **state) {
    (void)state;
    size_t len;
    unsigned char *b = saved_file("fdfa", "d3", &len, NULL);
    char p[512];
    tpath(p, sizeof p, "d3-out");
    struct {
        const char *key, *value, *want;
    } cases[] = {{"fb_optim", "-10", "fb_optim"}, {"fb_optim", "99999999999", "fb_optim"},
                 {"lr", "1e300", "float"},       {"fb_lr", "-1e39", "fb_lr"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *h = header_with(b, cases[i].key, cases[i].value);
        write_with_header(p, b, len, h);
        free(h);
        expect_load_fails(p, BPFREE_EFORMAT, cases[i].want, NULL);
    }
    bpfree_config c;
    bpfree_error e;
    assert_int_equal(bpfree_config_default(&c, "bp", 4, 2, &e), 0);
    tu_expect_error(bpfree_config_set(&c, "lr", "1e39", &e), &e, BPFREE_EINVAL, "float", NULL);
    tu_expect_error(bpfree_config_set(&c, "diag-every", "0", &e), &e, BPFREE_EINVAL,
                    "diag-every", NULL);
    free(b);
}

/* The data record goes through a file; bpfree_data_prepare applies the
 * model's column statistics and refuses data of another shape or more
 * classes. */
static void test_data_record(void **state) {
    (void)state;
    bpfree_model *m = small_model("bp");
    bpfree_error e;
    float mean[D], sd[D];
    for (int j = 0; j < D; j++) mean[j] = 0.5f * j, sd[j] = 1.0f + j;
    bpfree_data_info di = {.classify = 1, .val = 3, .checksum = 0x0123456789abcdefull,
                           .classes = C, .n_cols = D, .col_mean = mean,
                           .col_std = sd};
    snprintf(di.name, sizeof di.name, "csv:some/where.csv");
    snprintf(di.targets, sizeof di.targets, "kind");
    assert_int_equal(bpfree_model_set_data(m, &di, &e), 0);
    char p[512];
    tpath(p, sizeof p, "record");
    assert_int_equal(bpfree_model_save(m, p, &e), 0);
    bpfree_model *m2;
    assert_int_equal(bpfree_model_load(p, &m2, &e), 0);
    const bpfree_data_info *d2 = bpfree_model_data(m2);
    assert_non_null(d2);
    assert_string_equal(d2->name, di.name);
    assert_string_equal(d2->targets, "kind");
    assert_true(d2->checksum == di.checksum);
    assert_int_equal(d2->classify, 1);
    assert_int_equal(d2->val, 3);
    assert_int_equal(d2->n_cols, D);
    assert_memory_equal(d2->col_std, sd, sizeof sd);
    bpfree_dataset ds;
    assert_int_equal(bpfree_data_alloc(&ds, 2, D, C, 0, &e), 0);
    for (int j = 0; j < D; j++) ds.x[j] = mean[j] + sd[j];
    assert_int_equal(bpfree_data_prepare(m2, &ds, &e), 0);
    /* then the config's scalar standardisation (small_config: STANDARDIZE) */
    const bpfree_config *c = bpfree_model_config(m2);
    assert_true(fabsf(ds.x[1] - (1.0f - c->norm_mean) / c->norm_std) < 1e-5f);
    ds.channels = 1; /* small_config's model is flat (no in_shape): shapes are not compared */
    ds.height = 2;
    ds.width = D / 2;
    assert_int_equal(bpfree_data_prepare(m2, &ds, &e), 0);
    ds.classes = C + 1;
    tu_expect_error(bpfree_data_prepare(m2, &ds, &e), &e, BPFREE_ESHAPE, "classes", NULL);
    bpfree_data_free(&ds);
    bpfree_model_free(m);
    bpfree_model_free(m2);
}

static void test_nonexistent_path(void **state) {
    (void)state;
    char p[512];
    tpath(p, sizeof p, "no-such-model.bin");
    expect_load_fails(p, BPFREE_EIO, "no-such-model.bin", NULL);
    tpath(p, sizeof p, "no-such-dir/model.bin");
    expect_load_fails(p, BPFREE_EIO, "model.bin", NULL);
}

/* A file that opens but cannot be read (a directory: read() fails with
 * EISDIR) is an I/O error, BPFREE_EIO, not a truncated model. */
static void test_unreadable_path(void **state) {
    (void)state;
    expect_load_fails(tmp, BPFREE_EIO, tmp, NULL);
}

/* ------------------------------------------------------------ saving */

static void test_save_leaves_no_temp(void **state) {
    (void)state;
    char dir[512], p[600];
    tpath(dir, sizeof dir, "savedir");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(p, sizeof p, "%s/model.bin", dir);
    bpfree_model *a = small_model("mf"), *b = small_model("dfa"), *l = NULL;
    bpfree_error err;
    assert_int_equal(bpfree_model_save(a, p, &err), BPFREE_OK);
    assert_int_equal(tu_count_entries(dir, ".tmp."), 0);
    assert_int_equal(tu_count_entries(dir, NULL), 1);
    /* overwriting replaces the file */
    assert_int_equal(bpfree_model_save(b, p, &err), BPFREE_OK);
    assert_int_equal(tu_count_entries(dir, ".tmp."), 0);
    assert_int_equal(tu_count_entries(dir, NULL), 1);
    assert_int_equal(bpfree_model_load(p, &l, &err), BPFREE_OK);
    assert_string_equal(bpfree_model_config(l)->rule, "dfa");
    bpfree_model_free(l);
    /* a failed save (the target is a directory) leaves no temporary file */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/occupied", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    bpfree_status s = bpfree_model_save(a, sub, &err);
    assert_int_equal(s, BPFREE_EIO);
    assert_non_null(strstr(err.msg, "occupied"));
    assert_int_equal(tu_count_entries(dir, ".tmp."), 0);
    assert_int_equal(tu_count_entries(dir, NULL), 2);
    rmdir(sub);
    bpfree_model_free(a);
    bpfree_model_free(b);
}

static void test_save_into_missing_dir(void **state) {
    (void)state;
    char p[512], missing[512];
    tpath(missing, sizeof missing, "missing-dir");
    tpath(p, sizeof p, "missing-dir/model.bin");
    int before = tu_count_entries(tmp, NULL);
    bpfree_model *m = small_model("bp");
    bpfree_error err = {0};
    bpfree_status s = bpfree_model_save(m, p, &err);
    if (s != BPFREE_EIO) print_message("  got %d: %s\n", s, err.msg);
    assert_int_equal(s, BPFREE_EIO);
    assert_int_equal(err.code, BPFREE_EIO);
    assert_non_null(strstr(err.msg, "model.bin"));
    struct stat st;
    assert_int_not_equal(stat(missing, &st), 0);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(tu_count_entries(tmp, NULL), before);
    assert_int_equal(tu_count_entries(tmp, ".tmp."), 0);
    bpfree_model_free(m);
}

/* A saved model file gets an ordinary new file's mode, 0666 less the umask,
 * not the 0600 of the mkstemp temporary it is renamed from. */
static void test_saved_file_mode(void **state) {
    (void)state;
    const mode_t masks[] = {022, 077, 002};
    bpfree_model *m = small_model("bp");
    for (size_t i = 0; i < sizeof masks / sizeof *masks; i++) {
        char p[512];
        tpath(p, sizeof p, "mode.bin");
        unlink(p);
        const mode_t old = umask(masks[i]);
        bpfree_error err;
        const bpfree_status s = bpfree_model_save(m, p, &err);
        umask(old);
        assert_int_equal(s, BPFREE_OK);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0666 & ~masks[i]);
    }
    bpfree_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_bp),
        cmocka_unit_test(test_roundtrip_mf),
        cmocka_unit_test(test_roundtrip_dfa),
        cmocka_unit_test(test_roundtrip_every_rule),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped_param_byte),
        cmocka_unit_test(test_flipped_state_byte),
        cmocka_unit_test(test_flipped_header_byte),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_short_foreign_file),
        cmocka_unit_test(test_wrong_version),
        cmocka_unit_test(test_bad_header_length),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_bad_header_values),
        cmocka_unit_test(test_header_impossible_values),
        cmocka_unit_test(test_memory_bomb_refused),
        cmocka_unit_test(test_out_of_range_values),
        cmocka_unit_test(test_data_record),
        cmocka_unit_test(test_nonexistent_path),
        cmocka_unit_test(test_unreadable_path),
        cmocka_unit_test(test_save_leaves_no_temp),
        cmocka_unit_test(test_save_into_missing_dir),
        cmocka_unit_test(test_saved_file_mode),
    };
    return cmocka_run_group_tests(tests, setup, tu_rm_scratch);
}
