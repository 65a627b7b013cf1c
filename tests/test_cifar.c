/* test_cifar.c — the CIFAR-10/100 binary reader on small files the test
 * writes (shapes, labels, pixels, which files make the training and the test
 * set, where they are looked up; truncated, corrupt and misplaced files), the
 * per-channel standardisation, and the real CIFAR-10/100 if a user has put
 * them under $BPFREE_DATA or ./data. */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define PIX 3072
#define REC10 (1 + PIX)
#define REC100 (2 + PIX)

static char tmp[256]; /* this run's scratch directory */

/* ------------------------------------------------------------ helpers */

static void tpath(char *out, const char *name) {
    snprintf(out, 1024, "%s/%s", tmp, name);
}

static void tmkdir(const char *name) {
    char p[1024];
    tpath(p, name);
    assert_int_equal(mkdir(p, 0700), 0);
}

/* Pixel k (= c*1024 + h*32 + w) of the record with seed s: every record
 * differs, every channel differs, and seed 0 holds both 0 and 255. */
static unsigned char pix(int s, int k) {
    if (s == 0 && k == 0) return 0;
    if (s == 0 && k == PIX - 1) return 255;
    return (unsigned char)(s * 37 + k * 11 + (k / 1024) * 5 + 1);
}

/* Write tmp/name: n records with seeds s0, s0 + 1, ...; labels lab (n bytes
 * for CIFAR-10, n pairs coarse, fine for CIFAR-100); then cut `cut` bytes
 * off the end. */
static void write_cifar(const char *name, int version, int n, int s0, const unsigned char *lab,
                        size_t cut) {
    int lb = version == 10 ? 1 : 2;
    size_t rec = (size_t)lb + PIX, size = (size_t)n * rec;
    unsigned char *buf = tu_xmalloc(size);
    for (int r = 0; r < n; r++) {
        unsigned char *p = buf + (size_t)r * rec;
        memcpy(p, lab + r * lb, (size_t)lb);
        for (int k = 0; k < PIX; k++) p[lb + k] = pix(s0 + r, k);
    }
    char path[1024];
    tpath(path, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, size - cut, f), size - cut);
    assert_int_equal(fclose(f), 0);
    free(buf);
}

/* Row i of ds holds the record with seed s, scaled by 1/255 exactly. */
static void check_record(const bpfree_dataset *ds, int i, int s) {
    const float *x = ds->x + (size_t)i * PIX;
    for (int k = 0; k < PIX; k++)
        if (x[k] != (float)pix(s, k) / 255.0f) {
            print_message("  row %d pixel %d: %g, want %d/255\n", i, k, (double)x[k], pix(s, k));
            fail();
        }
}

static void check_shape(const bpfree_dataset *ds, int n, int classes, const char *name) {
    assert_int_equal(ds->n, n);
    assert_int_equal(ds->dim, PIX);
    assert_int_equal(ds->channels, 3);
    assert_int_equal(ds->height, 32);
    assert_int_equal(ds->width, 32);
    assert_int_equal(ds->classes, classes);
    assert_non_null(ds->labels);
    assert_null(ds->y);
    assert_string_equal(ds->name, name);
    for (int i = 0; i < n; i++) assert_int_equal(ds->index[i], i);
}

/* The small CIFAR-10 set in tmp/dir: data_batch_1..nb.bin with nrec[k]
 * records each (seeds 0, 1, ... across them), labels (seed * 3) % 10;
 * test_batch.bin with 2 records, seeds 100, 101, labels 3, 8. */
static int write_set10(const char *dir, int nb, const int *nrec) {
    char name[512];
    int s = 0;
    for (int b = 0; b < nb; b++) {
        unsigned char lab[16];
        for (int r = 0; r < nrec[b]; r++) lab[r] = (unsigned char)(((s + r) * 3) % 10);
        snprintf(name, sizeof name, "%s/data_batch_%d.bin", dir, b + 1);
        write_cifar(name, 10, nrec[b], s, lab, 0);
        s += nrec[b];
    }
    static const unsigned char tl[2] = {3, 8};
    snprintf(name, sizeof name, "%s/test_batch.bin", dir);
    write_cifar(name, 10, 2, 100, tl, 0);
    return s;
}

static void check_set10(const bpfree_dataset *tr, const bpfree_dataset *te, int n) {
    check_shape(tr, n, 10, "cifar10");
    check_shape(te, 2, 10, "cifar10");
    for (int i = 0; i < n; i++) {
        assert_int_equal(tr->labels[i], (i * 3) % 10);
        check_record(tr, i, i);
    }
    assert_int_equal(te->labels[0], 3);
    assert_int_equal(te->labels[1], 8);
    check_record(te, 0, 100);
    check_record(te, 1, 101);
}

/* The small CIFAR-100 set in tmp/dir: train.bin with 4 records (seeds
 * 0..3; coarse 19, 0, 7, 11; fine 99, 0, 42, 17), test.bin with 2 (seeds
 * 50, 51; coarse 10, 3; fine 49, 30). */
static const unsigned char lab100[8] = {19, 99, 0, 0, 7, 42, 11, 17};
static const unsigned char lab100t[4] = {10, 49, 3, 30};

static void write_set100(const char *dir) {
    char name[512];
    snprintf(name, sizeof name, "%s/train.bin", dir);
    write_cifar(name, 100, 4, 0, lab100, 0);
    snprintf(name, sizeof name, "%s/test.bin", dir);
    write_cifar(name, 100, 2, 50, lab100t, 0);
}

static void check_set100(const bpfree_dataset *tr, const bpfree_dataset *te, int coarse) {
    int j = coarse ? 0 : 1;
    check_shape(tr, 4, coarse ? 20 : 100, "cifar100");
    check_shape(te, 2, coarse ? 20 : 100, "cifar100");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(tr->labels[i], lab100[2 * i + j]);
        check_record(tr, i, i);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(te->labels[i], lab100t[2 * i + j]);
        check_record(te, i, 50 + i);
    }
}

static void free2(bpfree_dataset *a, bpfree_dataset *b) {
    bpfree_data_free(a);
    bpfree_data_free(b);
}

/* A failed load leaves both sets empty. */
static void assert_empty(const bpfree_dataset *a, const bpfree_dataset *b) {
    assert_null(a->x);
    assert_null(b->x);
    assert_int_equal(a->n, 0);
    assert_int_equal(b->n, 0);
}

/* $BPFREE_DATA and the working directory, set by a test and put back. */
typedef struct env_saved {
    char data[1024], cwd[1024];
    int had;
} env_saved;

static void env_save(env_saved *s) {
    const char *v = getenv("BPFREE_DATA");
    s->had = v != NULL;
    snprintf(s->data, sizeof s->data, "%s", v ? v : "");
    assert_non_null(getcwd(s->cwd, sizeof s->cwd));
}

static void env_restore(const env_saved *s) {
    int rc = chdir(s->cwd);
    if (s->had) setenv("BPFREE_DATA", s->data, 1);
    else unsetenv("BPFREE_DATA");
    assert_int_equal(rc, 0);
}

static int setup(void **state) {
    *state = tmp; /* for tu_rm_scratch */
    return tu_mkdtemp(tmp, sizeof tmp, "cifar");
}

/* ------------------------------------------------------- good files */

/* Two data batches of 3 and 2 records and the test batch, directly in the
 * directory: every entry point reads the same thing. */
static void test_cifar10_two_batches(void **state) {
    (void)state;
    char dir[1024];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tmkdir("c10");
    tpath(dir, "c10");
    int n = write_set10("c10", 2, (const int[]){3, 2});
    assert_int_equal(n, 5);
    for (int version = 0; version <= 10; version += 10) {
        assert_int_equal(bpfree_cifar_load_dir(dir, version, 0, &tr, &te, &e), BPFREE_OK);
        check_set10(&tr, &te, 5);
        free2(&tr, &te);
    }
    /* The IDX entry point and --data DIR detect CIFAR by its file names. */
    assert_int_equal(bpfree_data_load_dir(dir, &tr, &te, &e), BPFREE_OK);
    check_set10(&tr, &te, 5);
    free2(&tr, &te);
    assert_int_equal(bpfree_data_load(dir, NULL, NULL, &tr, &te, &e), BPFREE_OK);
    check_set10(&tr, &te, 5);
    /* (C, H, W): channel 2 (blue), row 31, column 0 of sample 4. */
    assert_true(tr.x[4 * PIX + 2 * 1024 + 31 * 32] == (float)pix(4, 2 * 1024 + 31 * 32) / 255.f);
    assert_true(tr.x[0] == 0.0f && tr.x[PIX - 1] == 1.0f);
    free2(&tr, &te);
}

/* All five data batches, in the archive's folder under $BPFREE_DATA/cifar10
 * and under the checkout's data/cifar10: train = batches 1..5 in order,
 * test = test_batch.bin. */
static void test_cifar10_named(void **state) {
    (void)state;
    char p[1024];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    env_saved saved;
    env_save(&saved);
    assert_int_equal(chdir(tmp), 0); /* no ./data here */
    tmkdir("env");
    tpath(p, "env");
    setenv("BPFREE_DATA", p, 1);
    tu_expect_error(bpfree_data_load("cifar10", NULL, NULL, &tr, &te, &e), &e, BPFREE_EIO,
                    "dataset 'cifar10' not found", "env/cifar10", "data/cifar10",
                    "cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar.html",
                    NULL);
    tmkdir("env/cifar10");
    tu_expect_error(bpfree_data_load("cifar10", NULL, NULL, &tr, &te, &e), &e, BPFREE_EIO,
                    "no CIFAR-10 files", "env/cifar10/cifar-10-batches-bin",
                    "cifar-10-binary.tar.gz", NULL);
    tmkdir("env/cifar10/cifar-10-batches-bin");
    int n = write_set10("env/cifar10/cifar-10-batches-bin", 5, (const int[]){2, 1, 3, 1, 2});
    assert_int_equal(n, 9);
    assert_int_equal(bpfree_data_load("cifar10", NULL, NULL, &tr, &te, &e), BPFREE_OK);
    check_set10(&tr, &te, 9);
    free2(&tr, &te);
    /* The checkout's data/ (the CLI's extra root), files directly there. */
    unsetenv("BPFREE_DATA");
    tmkdir("root");
    tmkdir("root/data");
    tmkdir("root/data/cifar10");
    write_set10("root/data/cifar10", 5, (const int[]){1, 1, 1, 1, 1});
    tpath(p, "root");
    assert_int_equal(bpfree_data_load("cifar10", p, NULL, &tr, &te, &e), BPFREE_OK);
    check_set10(&tr, &te, 5);
    free2(&tr, &te);
    env_restore(&saved);
}

/* Fewer batches: the unbroken run from data_batch_1.bin; a gap, a missing
 * first batch or test batch is refused. */
static void test_cifar10_missing(void **state) {
    (void)state;
    char dir[1024], p[1024];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tmkdir("gap");
    tpath(dir, "gap");
    write_set10("gap", 2, (const int[]){1, 1});
    assert_int_equal(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), BPFREE_OK);
    assert_int_equal(tr.n, 2); /* two batches: 2 training records */
    free2(&tr, &te);
    static const unsigned char l4[1] = {4};
    write_cifar("gap/data_batch_4.bin", 10, 1, 9, l4, 0);
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EIO,
                    "data_batch_3.bin is missing", "gap/data_batch_4.bin", NULL);
    assert_empty(&tr, &te);
    tpath(p, "gap/data_batch_1.bin");
    assert_int_equal(unlink(p), 0);
    tpath(p, "gap/data_batch_2.bin");
    assert_int_equal(unlink(p), 0);
    tpath(p, "gap/data_batch_4.bin");
    assert_int_equal(unlink(p), 0);
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EIO,
                    "no data_batch_1.bin in", dir, "cifar-10-binary.tar.gz", NULL);
    write_set10("gap", 1, (const int[]){1});
    tpath(p, "gap/test_batch.bin");
    assert_int_equal(unlink(p), 0);
    tu_expect_error(bpfree_cifar_load_dir(dir, 0, 0, &tr, &te, &e), &e, BPFREE_EIO,
                    "no test_batch.bin in", dir, NULL);
    assert_empty(&tr, &te);
    tpath(p, "nowhere");
    tu_expect_error(bpfree_cifar_load_dir(p, 0, 0, &tr, &te, &e), &e, BPFREE_EIO, p,
                    "no such directory", NULL);
    tpath(p, "gap/data_batch_1.bin"); /* an empty directory: neither version */
    assert_int_equal(unlink(p), 0);
    tu_expect_error(bpfree_cifar_load_dir(dir, 0, 0, &tr, &te, &e), &e, BPFREE_EIO,
                    "no CIFAR files in", dir, "cifar-10-batches-bin", "cifar-100-binary", NULL);
}

/* CIFAR-100: fine labels by default, coarse on request; through every way
 * of asking. */
static void test_cifar100(void **state) {
    (void)state;
    char dir[1024], p[1024];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tmkdir("c100");
    tmkdir("c100/cifar-100-binary"); /* the archive's own folder */
    tpath(dir, "c100");
    write_set100("c100/cifar-100-binary");
    for (int coarse = 0; coarse < 2; coarse++) {
        assert_int_equal(bpfree_cifar_load_dir(dir, 100, coarse, &tr, &te, &e), BPFREE_OK);
        check_set100(&tr, &te, coarse);
        free2(&tr, &te);
        assert_int_equal(bpfree_cifar_load_dir(dir, 0, coarse, &tr, &te, &e), BPFREE_OK);
        check_set100(&tr, &te, coarse);
        free2(&tr, &te);
    }
    assert_int_equal(bpfree_data_load(dir, NULL, NULL, &tr, &te, &e), BPFREE_OK);
    check_set100(&tr, &te, 0);
    free2(&tr, &te);
    snprintf(p, sizeof p, "%s:coarse", dir);
    assert_int_equal(bpfree_data_load(p, NULL, NULL, &tr, &te, &e), BPFREE_OK);
    check_set100(&tr, &te, 1);
    free2(&tr, &te);
    snprintf(p, sizeof p, "%s:fine", dir);
    assert_int_equal(bpfree_data_load(p, NULL, NULL, &tr, &te, &e), BPFREE_OK);
    check_set100(&tr, &te, 0);
    free2(&tr, &te);
    /* By name, under $BPFREE_DATA. */
    env_saved saved;
    env_save(&saved);
    assert_int_equal(chdir(tmp), 0);
    tmkdir("env100");
    tmkdir("env100/cifar100");
    write_set100("env100/cifar100");
    tpath(p, "env100");
    setenv("BPFREE_DATA", p, 1);
    assert_int_equal(bpfree_data_load("cifar100", NULL, NULL, &tr, &te, &e), BPFREE_OK);
    check_set100(&tr, &te, 0);
    free2(&tr, &te);
    assert_int_equal(bpfree_data_load("cifar100:coarse", NULL, NULL, &tr, &te, &e), BPFREE_OK);
    check_set100(&tr, &te, 1);
    free2(&tr, &te);
    /* CIFAR-10 has no coarse labels; a CIFAR-100 folder is no CIFAR-10. */
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 1, &tr, &te, &e), &e, BPFREE_EINVAL,
                    "CIFAR-10 has no coarse labels", NULL);
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EIO,
                    "no CIFAR-10 files", NULL);
    tmkdir("env100/cifar10");
    write_set100("env100/cifar10"); /* the wrong archive under the name */
    tu_expect_error(bpfree_data_load("cifar10", NULL, NULL, &tr, &te, &e), &e, BPFREE_EIO,
                    "no CIFAR-10 files", "env100/cifar10", NULL);
    tu_expect_error(bpfree_data_load("cifar10:coarse", NULL, NULL, &tr, &te, &e), &e,
                    BPFREE_EINVAL, "CIFAR-10 has no coarse labels", NULL);
    tu_expect_error(bpfree_data_load("cifar1000", NULL, NULL, &tr, &te, &e), &e, BPFREE_EINVAL,
                    "unknown dataset 'cifar1000'", "cifar10, cifar100, cifar100:coarse", NULL);
    tu_expect_error(bpfree_cifar_load_dir(dir, 7, 0, &tr, &te, &e), &e, BPFREE_EINVAL,
                    "version 7", NULL);
    assert_empty(&tr, &te);
    env_restore(&saved);
}

/* ------------------------------------------------------- bad files */

static void test_cifar_truncated(void **state) {
    (void)state;
    char dir[1024], p[1024];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tmkdir("cut");
    tpath(dir, "cut");
    write_set10("cut", 2, (const int[]){3, 2});
    static const unsigned char l2[2] = {1, 2};
    write_cifar("cut/data_batch_2.bin", 10, 2, 3, l2, 100); /* 2 records less 100 bytes */
    tpath(p, "cut/data_batch_2.bin");
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "truncated", "6046 bytes are 1 whole CIFAR-10 records of 3073 bytes",
                    "2973 bytes more", "the record at byte offset 3073 is cut short", NULL);
    assert_empty(&tr, &te);
    /* The test batch cut short: the training set read is freed too. */
    write_cifar("cut/data_batch_2.bin", 10, 2, 3, l2, 0);
    write_cifar("cut/test_batch.bin", 10, 2, 100, l2, 1);
    tpath(p, "cut/test_batch.bin");
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "truncated", "byte offset 3073", NULL);
    assert_empty(&tr, &te);
    /* A CIFAR-100 record where CIFAR-10 ones belong: the size says so. */
    write_cifar("cut/test_batch.bin", 100, 1, 0, lab100, 0);
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "truncated", "is it a CIFAR-100 file?", NULL);
    /* Empty. */
    write_cifar("cut/test_batch.bin", 10, 0, 0, l2, 0);
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "empty", NULL);
    /* Still gzip-compressed. */
    gzFile g = gzopen(p, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, l2, 2), 2);
    assert_int_equal(gzclose(g), Z_OK);
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "gzip-compressed", NULL);
    /* A directory where a file belongs is not taken for one. */
    assert_int_equal(unlink(p), 0);
    tmkdir("cut/test_batch.bin");
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EIO,
                    "no test_batch.bin", NULL);
    assert_empty(&tr, &te);
}

static void test_cifar_bad_label(void **state) {
    (void)state;
    char dir[1024], p[1024];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tmkdir("lab");
    tpath(dir, "lab");
    write_set10("lab", 1, (const int[]){2});
    static const unsigned char bad10[3] = {9, 10, 0}; /* 10: one past CIFAR-10's classes */
    write_cifar("lab/test_batch.bin", 10, 3, 100, bad10, 0);
    tpath(p, "lab/test_batch.bin");
    tu_expect_error(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "record 1, byte offset 3073", "label 10 is out of range 0..9", NULL);
    assert_empty(&tr, &te);
    /* CIFAR-100: a fine label 100, then a coarse label 20. */
    tmkdir("lab100");
    tpath(dir, "lab100");
    write_set100("lab100");
    unsigned char bad[8];
    memcpy(bad, lab100, sizeof bad);
    bad[1] = 100; /* record 0's fine label */
    write_cifar("lab100/train.bin", 100, 4, 0, bad, 0);
    tpath(p, "lab100/train.bin");
    for (int coarse = 0; coarse < 2; coarse++) /* checked whichever is used */
        tu_expect_error(bpfree_cifar_load_dir(dir, 100, coarse, &tr, &te, &e), &e,
                        BPFREE_EFORMAT, p, "record 0, byte offset 1",
                        "fine label 100 is out of range 0..99", NULL);
    memcpy(bad, lab100, sizeof bad);
    bad[4] = 20; /* record 2's coarse label */
    write_cifar("lab100/train.bin", 100, 4, 0, bad, 0);
    tu_expect_error(bpfree_cifar_load_dir(dir, 100, 0, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "record 2, byte offset 6148", "coarse label 20 is out of range 0..19",
                    NULL);
    assert_empty(&tr, &te);
}

/* ------------------------------------------------ per-channel statistics */

/* Reference: mean and population std of channel c over all samples. */
static void ref_channel(const bpfree_dataset *ds, int c, double *mean, double *std) {
    size_t plane = (size_t)ds->dim / (size_t)(ds->channels ? ds->channels : 1);
    double s = 0.0, ss = 0.0;
    for (int i = 0; i < ds->n; i++)
        for (size_t k = 0; k < plane; k++) s += ds->x[(size_t)i * ds->dim + c * plane + k];
    *mean = s / ((double)ds->n * plane);
    for (int i = 0; i < ds->n; i++)
        for (size_t k = 0; k < plane; k++) {
            double d = ds->x[(size_t)i * ds->dim + c * plane + k] - *mean;
            ss += d * d;
        }
    *std = sqrt(ss / ((double)ds->n * plane));
}

/* A (3, 2, 2) image set: channel c of sample i holds values around
 * 0.2 + 0.3 c with a spread growing with c; channel 2 can be constant. */
static void make_images(bpfree_dataset *ds, int n, int constant_blue, uint64_t seed) {
    bpfree_error e = {0};
    assert_int_equal(bpfree_data_alloc(ds, n, 12, 2, 0, &e), BPFREE_OK);
    ds->channels = 3;
    ds->height = ds->width = 2;
    bp_rng r;
    bp_rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 4; k++)
                ds->x[i * 12 + c * 4 + k] =
                    constant_blue && c == 2 ? 0.75f
                                            : 0.2f + 0.3f * (float)c +
                                                  (0.05f + 0.1f * (float)c) * bp_rng_normal(&r);
}

static void test_channel_stats(void **state) {
    (void)state;
    bpfree_dataset tr, te;
    make_images(&tr, 40, 0, 1);
    make_images(&te, 6, 0, 2);
    float mean[3], std[3];
    bpfree_data_channel_stats(&tr, mean, std);
    double m[3], s[3];
    for (int c = 0; c < 3; c++) {
        ref_channel(&tr, c, &m[c], &s[c]);
        assert_float_equal(mean[c], m[c], 1e-6);
        assert_float_equal(std[c], s[c], 1e-6);
        assert_float_equal(mean[c], 0.2 + 0.3 * c, 0.05); /* really per channel */
    }
    assert_true(std[2] > 2.0f * std[0]);
    float want[72];
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 4; k++) {
                int j = i * 12 + c * 4 + k;
                want[j] = (float)((te.x[j] - m[c]) / s[c]);
            }
    bpfree_data_channel_normalize(&tr, mean, std);
    bpfree_data_channel_normalize(&te, mean, std); /* with the training statistics */
    for (int c = 0; c < 3; c++) {
        double mc, sc;
        ref_channel(&tr, c, &mc, &sc);
        assert_true(fabs(mc) < 1e-6);
        assert_true(fabs(sc - 1.0) < 1e-5);
    }
    assert_true(tu_close("test x", te.x, want, 72, 1e-5, 1e-5));
    free2(&tr, &te);
    /* A constant channel is only centred (std 1), never divided by ~0. */
    make_images(&tr, 10, 1, 3);
    bpfree_data_channel_stats(&tr, mean, std);
    assert_float_equal(mean[2], 0.75f, 1e-7);
    assert_true(std[2] == 1.0f);
    bpfree_data_channel_normalize(&tr, mean, std);
    for (int i = 0; i < 10; i++)
        for (int k = 0; k < 4; k++) assert_true(tr.x[i * 12 + 8 + k] == 0.0f);
    bpfree_data_free(&tr);
    /* No shape: one channel, the statistics of the whole of x. */
    make_images(&tr, 10, 0, 4);
    tr.channels = tr.height = tr.width = 0;
    float m1, s1, m0, s0;
    bpfree_data_channel_stats(&tr, &m1, &s1);
    bpfree_data_stats(&tr, &m0, &s0);
    assert_float_equal(m1, m0, 1e-7);
    assert_float_equal(s1, s0, 1e-7);
    bpfree_data_free(&tr);
}

/* On a CIFAR set read from files: three different channels, each mean 0
 * and std 1 afterwards. */
static void test_channel_stats_cifar(void **state) {
    (void)state;
    char dir[1024];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tmkdir("cs");
    tpath(dir, "cs");
    write_set10("cs", 2, (const int[]){3, 3});
    assert_int_equal(bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e), BPFREE_OK);
    float mean[3], std[3];
    bpfree_data_channel_stats(&tr, mean, std);
    for (int c = 0; c < 3; c++) {
        double m, s;
        ref_channel(&tr, c, &m, &s);
        assert_float_equal(mean[c], m, 1e-6);
        assert_float_equal(std[c], s, 1e-6);
    }
    assert_true(mean[0] != mean[1] && mean[1] != mean[2]);
    bpfree_data_channel_normalize(&tr, mean, std);
    for (int c = 0; c < 3; c++) {
        double m, s;
        ref_channel(&tr, c, &m, &s);
        assert_true(fabs(m) < 1e-5 && fabs(s - 1.0) < 1e-5);
    }
    free2(&tr, &te);
}

/* ---------------------------------------------------------- real data */

/* $BPFREE_DATA/name or ./data/name, if there. */
static int real_dir(const char *name, char *out, size_t cap) {
    const char *env = getenv("BPFREE_DATA");
    struct stat st;
    if (env && *env) {
        snprintf(out, cap, "%s/%s", env, name);
        if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) return 1;
    }
    snprintf(out, cap, "data/%s", name);
    return stat(out, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_real_cifar10(void **state) {
    (void)state;
    char dir[1024];
    if (!real_dir("cifar10", dir, sizeof dir)) {
        print_message("  cifar10 not found in $BPFREE_DATA or ./data (see README, data)\n");
        skip();
    }
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    bpfree_status s = bpfree_cifar_load_dir(dir, 10, 0, &tr, &te, &e);
    if (s) print_message("  %s\n", e.msg);
    assert_int_equal(s, BPFREE_OK);
    check_shape(&tr, 50000, 10, "cifar10");
    check_shape(&te, 10000, 10, "cifar10");
    assert_int_equal(tr.labels[0], 6); /* a frog */
    assert_int_equal(te.labels[0], 3); /* a cat */
    float mean[3], std[3];
    bpfree_data_channel_stats(&tr, mean, std);
    print_message("  cifar10: channel means %.4f %.4f %.4f, stds %.4f %.4f %.4f\n", mean[0],
                  mean[1], mean[2], std[0], std[1], std[2]);
    /* the widely quoted (0.4914, 0.4822, 0.4465) and (0.2470, 0.2435, 0.2616) */
    static const float wm[3] = {0.4914f, 0.4822f, 0.4465f}, ws[3] = {0.2470f, 0.2435f, 0.2616f};
    for (int c = 0; c < 3; c++) {
        assert_float_equal(mean[c], wm[c], 2e-3);
        assert_float_equal(std[c], ws[c], 2e-3);
    }
    free2(&tr, &te);
}

static void test_real_cifar100(void **state) {
    (void)state;
    char dir[1024];
    if (!real_dir("cifar100", dir, sizeof dir)) {
        print_message("  cifar100 not found in $BPFREE_DATA or ./data (see README, data)\n");
        skip();
    }
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    for (int coarse = 0; coarse < 2; coarse++) {
        bpfree_status s = bpfree_cifar_load_dir(dir, 100, coarse, &tr, &te, &e);
        if (s) print_message("  %s\n", e.msg);
        assert_int_equal(s, BPFREE_OK);
        check_shape(&tr, 50000, coarse ? 20 : 100, "cifar100");
        check_shape(&te, 10000, coarse ? 20 : 100, "cifar100");
        int seen[100] = {0}; /* 500 training images per fine class, 2500 per coarse */
        for (int i = 0; i < tr.n; i++) seen[tr.labels[i]]++;
        for (int c = 0; c < tr.classes; c++) assert_int_equal(seen[c], coarse ? 2500 : 500);
        free2(&tr, &te);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar10_two_batches), cmocka_unit_test(test_cifar10_named),
        cmocka_unit_test(test_cifar10_missing),     cmocka_unit_test(test_cifar100),
        cmocka_unit_test(test_cifar_truncated),     cmocka_unit_test(test_cifar_bad_label),
        cmocka_unit_test(test_channel_stats),       cmocka_unit_test(test_channel_stats_cifar),
        cmocka_unit_test(test_real_cifar10),        cmocka_unit_test(test_real_cifar100),
    };
    return cmocka_run_group_tests_name("cifar", tests, setup, tu_rm_scratch);
}
