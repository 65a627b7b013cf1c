/* test_data.c — IDX loading (raw and gzip), its error messages, directory
 * lookup, split and standardisation; the real MNIST / Fashion-MNIST if
 * scripts/fetch-data.sh has been run. */
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IMG 0x00000803u
#define LAB 0x00000801u

static char tmp[256]; /* this run's scratch directory */

/* A small fixture: 3 images of 2x2 pixels and their labels. */
static const unsigned char pixels[12] = {0, 255, 51, 102, 1, 2, 3, 4, 10, 20, 30, 40};
static const unsigned char labels3[3] = {3, 0, 7};
static const uint32_t img_dims[3] = {3, 2, 2};
static const uint32_t lab_dims[1] = {3};

/* ------------------------------------------------------------ helpers */

static void tpath(char *out, const char *name) {
    snprintf(out, 512, "%s/%s", tmp, name);
}

/* Write an IDX file: magic, nd big-endian dims, then len payload bytes;
 * through zlib if gz. */
static void write_idx(const char *path, uint32_t magic, const uint32_t *dims, int nd,
                      const unsigned char *data, size_t len, int gz) {
    unsigned char h[16];
    for (int i = 0; i <= nd; i++) {
        uint32_t v = i == 0 ? magic : dims[i - 1];
        h[4 * i] = (unsigned char)(v >> 24);
        h[4 * i + 1] = (unsigned char)(v >> 16);
        h[4 * i + 2] = (unsigned char)(v >> 8);
        h[4 * i + 3] = (unsigned char)v;
    }
    size_t hl = 4 + 4 * (size_t)nd;
    if (gz) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, h, (unsigned)hl), (int)hl);
        if (len) assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(h, 1, hl, f), hl);
        if (len) assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
}

/* The good fixture pair as tmp/<img> and tmp/<lab>; their paths in ip and
 * lp (512 bytes each) unless NULL. */
static void write_good(const char *img, int img_gz, const char *lab, int lab_gz, char *ip,
                       char *lp) {
    char p[512], q[512];
    if (!ip) ip = p;
    if (!lp) lp = q;
    tpath(ip, img);
    write_idx(ip, IMG, img_dims, 3, pixels, sizeof pixels, img_gz);
    tpath(lp, lab);
    write_idx(lp, LAB, lab_dims, 1, labels3, sizeof labels3, lab_gz);
}

static void tmkdir(const char *name) {
    char p[512];
    tpath(p, name);
    assert_int_equal(mkdir(p, 0700), 0);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}


static int setup(void **state) {
    *state = tmp; /* for tu_rm_scratch */
    return tu_mkdtemp(tmp, sizeof tmp, "data");
}

/* ------------------------------------------------------- good files */

static void check_fixture(const bpfree_dataset *ds, int classes) {
    float want[12];
    for (int i = 0; i < 12; i++) want[i] = (float)pixels[i] / 255.0f;
    assert_int_equal(ds->n, 3);
    assert_int_equal(ds->dim, 4);
    assert_int_equal(ds->classes, classes);
    assert_true(tu_close("x", ds->x, want, 12, 1e-7, 0.0));
    assert_true(ds->x[0] == 0.0f && ds->x[1] == 1.0f);
    assert_float_equal(ds->x[2], 0.2f, 1e-7);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ds->labels[i], labels3[i]);
        assert_int_equal(ds->index[i], i);
    }
    assert_null(ds->y);
}

static void test_load_raw(void **state) {
    (void)state;
    char ip[512], lp[512];
    write_good("raw-img", 0, "raw-lab", 0, ip, lp);
    bpfree_dataset ds;
    bpfree_error e = {0};
    assert_int_equal(bpfree_idx_load(ip, lp, &ds, &e), BPFREE_OK);
    check_fixture(&ds, 8); /* max label 7 + 1 */
    assert_string_equal(ds.name, strrchr(tmp, '/') + 1); /* the directory's name */
    bpfree_data_free(&ds);
    assert_null(ds.x);
}

static void test_load_gz(void **state) {
    (void)state;
    char ip[512], lp[512];
    write_good("gz-img", 1, "gz-lab", 1, ip, lp);
    FILE *f = fopen(ip, "rb"); /* really compressed: 1f 8b */
    assert_non_null(f);
    assert_int_equal(fgetc(f), 0x1f);
    assert_int_equal(fgetc(f), 0x8b);
    fclose(f);
    bpfree_dataset ds;
    bpfree_error e = {0};
    assert_int_equal(bpfree_idx_load(ip, lp, &ds, &e), BPFREE_OK);
    check_fixture(&ds, 8); /* max label 7 + 1 */
    bpfree_data_free(&ds);
    /* Mixed: raw images, gzip labels (detected by content, not name). */
    write_good("mix-img", 0, "mix-lab", 1, ip, lp);
    assert_int_equal(bpfree_idx_load(ip, lp, &ds, &e), BPFREE_OK);
    check_fixture(&ds, 8); /* max label 7 + 1 */
    bpfree_data_free(&ds);
}

/* ------------------------------------------------------- bad files */

static void test_truncated(void **state) {
    (void)state;
    char ip[512], lp[512];
    bpfree_dataset ds;
    bpfree_error e = {0};
    write_good("tr-img", 0, "tr-lab", 0, ip, lp);
    for (int gz = 0; gz < 2; gz++) {
        write_idx(ip, IMG, img_dims, 3, pixels, 10, gz); /* 12 declared, 10 there */
        tu_expect_error(bpfree_idx_load(ip, lp, &ds, &e), &e, BPFREE_EFORMAT, ip, "truncated",
                        "expected 12 bytes of pixels, found 10", NULL);
        assert_null(ds.x);
    }
    /* A gzip stream cut short. */
    unsigned char big[4096];
    uint32_t dims[3] = {4, 32, 32};
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 7919u >> 3);
    write_idx(ip, IMG, dims, 3, big, sizeof big, 1);
    struct stat st;
    assert_int_equal(stat(ip, &st), 0);
    assert_int_equal(truncate(ip, st.st_size / 2), 0);
    tu_expect_error(bpfree_idx_load(ip, lp, &ds, &e), &e, BPFREE_EFORMAT, ip, NULL);
    /* Header alone too short. */
    write_idx(ip, IMG, img_dims, 0, NULL, 0, 0);
    assert_int_equal(truncate(ip, 2), 0);
    tu_expect_error(bpfree_idx_load(ip, lp, &ds, &e), &e, BPFREE_EFORMAT, ip, "too short", NULL);
}

static void test_wrong_magic(void **state) {
    (void)state;
    char ip[512], lp[512];
    bpfree_dataset ds;
    bpfree_error e = {0};
    write_good("mg-img", 0, "mg-lab", 1, ip, lp);
    /* A labels file given as images. */
    tu_expect_error(bpfree_idx_load(lp, lp, &ds, &e), &e, BPFREE_EFORMAT, lp,
                    "bad magic 0x00000801, expected 0x00000803", "is this a labels file?", NULL);
    /* An images file given as labels. */
    tu_expect_error(bpfree_idx_load(ip, ip, &ds, &e), &e, BPFREE_EFORMAT, ip,
                    "bad magic 0x00000803, expected 0x00000801", "images file", NULL);
    /* Not IDX at all. */
    FILE *f = fopen(ip, "wb");
    assert_non_null(f);
    fputs("hello, world\n", f);
    fclose(f);
    tu_expect_error(bpfree_idx_load(ip, lp, &ds, &e), &e, BPFREE_EFORMAT, ip, "bad magic",
                    "not an unsigned-byte IDX file", NULL);
}

static void test_count_mismatch(void **state) {
    (void)state;
    char ip[512], lp[512];
    bpfree_dataset ds;
    bpfree_error e = {0};
    uint32_t two[1] = {2};
    tpath(ip, "cm-img");
    tpath(lp, "cm-lab");
    write_idx(ip, IMG, img_dims, 3, pixels, sizeof pixels, 0);
    write_idx(lp, LAB, two, 1, labels3, 2, 1);
    tu_expect_error(bpfree_idx_load(ip, lp, &ds, &e), &e, BPFREE_ESHAPE, ip, lp, "2 labels",
                    "3 images", NULL);
    assert_null(ds.x);
}

static void test_trailing(void **state) {
    (void)state;
    char ip[512], lp[512];
    bpfree_dataset ds;
    bpfree_error e = {0};
    unsigned char more[17] = {0};
    memcpy(more, pixels, sizeof pixels);
    write_good("tb-img", 0, "tb-lab", 0, ip, lp);
    for (int gz = 0; gz < 2; gz++) {
        write_idx(ip, IMG, img_dims, 3, more, sizeof more, gz); /* 5 bytes too many */
        tu_expect_error(bpfree_idx_load(ip, lp, &ds, &e), &e, BPFREE_EFORMAT, ip, "trailing",
                        "12 bytes of pixels", NULL);
        write_idx(lp, LAB, lab_dims, 1, more, 4, gz); /* one label too many */
        write_idx(ip, IMG, img_dims, 3, pixels, sizeof pixels, gz);
        tu_expect_error(bpfree_idx_load(ip, lp, &ds, &e), &e, BPFREE_EFORMAT, lp, "trailing",
                        "3 bytes of labels", NULL);
        write_idx(lp, LAB, lab_dims, 1, labels3, sizeof labels3, gz);
    }
    assert_int_equal(bpfree_idx_load(ip, lp, &ds, &e), BPFREE_OK); /* and repaired */
    bpfree_data_free(&ds);
}

static void test_missing(void **state) {
    (void)state;
    char ip[512], lp[512], dir[512];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tpath(ip, "no-such-file");
    write_good("ms-img", 0, "ms-lab", 0, NULL, lp);
    tu_expect_error(bpfree_idx_load(ip, lp, &tr, &e), &e, BPFREE_EIO, ip, "cannot open", NULL);
    /* A directory with only the training half. */
    tmkdir("half");
    tpath(dir, "half");
    write_good("half/train-images-idx3-ubyte", 0, "half/train-labels-idx1-ubyte.gz", 1, NULL,
               NULL);
    tu_expect_error(bpfree_data_load_dir(dir, &tr, &te, &e), &e, BPFREE_EIO,
                    "no t10k-images-idx3-ubyte[.gz] in", dir, "scripts/fetch-data.sh", NULL);
    assert_null(tr.x);
    assert_null(te.x);
    tpath(dir, "nowhere");
    tu_expect_error(bpfree_data_load_dir(dir, &tr, &te, &e), &e, BPFREE_EIO, dir,
                    "fetch-data.sh", NULL);
}

/* ------------------------------------------------- directories, names */

static void test_load_dir(void **state) {
    (void)state;
    char dir[512], p[512];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tmkdir("set");
    tpath(dir, "set");
    write_good("set/train-images-idx3-ubyte.gz", 1, "set/train-labels-idx1-ubyte", 0, NULL,
               NULL);
    static const unsigned char tl[2] = {1, 9};
    uint32_t td[3] = {2, 2, 2}, tn[1] = {2};
    tpath(p, "set/t10k-images-idx3-ubyte");
    write_idx(p, IMG, td, 3, pixels + 4, 8, 0);
    tpath(p, "set/t10k-labels-idx1-ubyte.gz");
    write_idx(p, LAB, tn, 1, tl, 2, 1);
    strcat(dir, "/"); /* a trailing slash must not change the name */
    assert_int_equal(bpfree_data_load_dir(dir, &tr, &te, &e), BPFREE_OK);
    check_fixture(&tr, 10); /* both halves: max label 9 + 1 */
    assert_int_equal(te.n, 2);
    assert_int_equal(te.dim, 4);
    assert_int_equal(te.labels[1], 9);
    assert_float_equal(te.x[0], 1.0f / 255.0f, 1e-9);
    assert_int_equal(te.classes, 10);
    assert_string_equal(tr.name, "set");
    assert_string_equal(te.name, "set");
    bpfree_data_free(&tr);
    bpfree_data_free(&te);
}


/* Issue 17: test images of another shape with the same pixel count (1 x 4
 * against 2 x 2) are refused; a stray label (255 among small ones) does not
 * silently make 256 classes; the shape is recorded. */
static void test_shape_and_stray_label(void **state) {
    (void)state;
    char dir[512], p[512];
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tmkdir("shape");
    tpath(dir, "shape");
    write_good("shape/train-images-idx3-ubyte", 0, "shape/train-labels-idx1-ubyte", 0, NULL, NULL);
    static const unsigned char tl[2] = {1, 2};
    uint32_t td[3] = {2, 1, 4}, tn[1] = {2};
    tpath(p, "shape/t10k-images-idx3-ubyte");
    write_idx(p, IMG, td, 3, pixels, 8, 0);
    tpath(p, "shape/t10k-labels-idx1-ubyte");
    write_idx(p, LAB, tn, 1, tl, 2, 0);
    tu_expect_error(bpfree_data_load_dir(dir, &tr, &te, &e), &e, BPFREE_ESHAPE, "2 x 2", "1 x 4",
                    NULL);
    char ip[512], lp[512];
    write_good("s-img", 0, "s-lab", 0, ip, lp);
    assert_int_equal(bpfree_idx_load(ip, lp, &tr, &e), BPFREE_OK);
    assert_int_equal(tr.channels, 1);
    assert_int_equal(tr.height, 2);
    assert_int_equal(tr.width, 2);
    bpfree_data_free(&tr);
    static const unsigned char stray[3] = {1, 255, 0};
    write_idx(lp, LAB, lab_dims, 1, stray, 3, 0);
    tu_expect_error(bpfree_idx_load(ip, lp, &tr, &e), &e, BPFREE_EFORMAT, "255", "256 classes",
                    NULL);
}

static void test_resolve(void **state) {
    (void)state;
    char out[512], p[512], cwd[1024];
    bpfree_error e = {0};
    const char *old = getenv("BPFREE_DATA");
    char saved[1024] = "";
    if (old) snprintf(saved, sizeof saved, "%s", old);
    assert_non_null(getcwd(cwd, sizeof cwd));
    /* An existing directory is taken as it is. */
    assert_int_equal(bpfree_data_resolve(tmp, NULL, out, sizeof out, &e), BPFREE_OK);
    assert_string_equal(out, tmp);
    tu_expect_error(bpfree_data_resolve("nope", NULL, out, sizeof out, &e), &e, BPFREE_EINVAL,
                    "unknown dataset 'nope'", "known: mnist, fashion-mnist", NULL);
    tu_expect_error(bpfree_data_resolve(tmp, NULL, out, 4, &e), &e, BPFREE_EINVAL, "too long",
                    NULL);
    /* Names: $BPFREE_DATA, ./data, EXTRA/data.  Run from tmp, which has no data/. */
    assert_int_equal(chdir(tmp), 0);
    tmkdir("env");
    tpath(p, "env");
    setenv("BPFREE_DATA", p, 1);
    tpath(p, "root");
    tu_expect_error(bpfree_data_resolve("mnist", p, out, sizeof out, &e), &e, BPFREE_EIO,
                    "dataset 'mnist' not found", "env/mnist", "data/mnist", "root/data/mnist",
                    "scripts/fetch-data.sh", NULL);
    tmkdir("root");
    tmkdir("root/data");
    tmkdir("root/data/mnist");
    assert_int_equal(bpfree_data_resolve("mnist", p, out, sizeof out, &e), BPFREE_OK);
    assert_string_equal(out, strcat(p, "/data/mnist"));
    tmkdir("data"); /* ./data comes before EXTRA/data */
    tmkdir("data/mnist");
    tpath(p, "root");
    assert_int_equal(bpfree_data_resolve("mnist", p, out, sizeof out, &e), BPFREE_OK);
    assert_string_equal(out, "data/mnist");
    tmkdir("env/mnist"); /* and $BPFREE_DATA before both */
    tpath(p, "env/mnist");
    assert_int_equal(bpfree_data_resolve("mnist", NULL, out, sizeof out, &e), BPFREE_OK);
    assert_string_equal(out, p);
    int rc = chdir(cwd);
    if (old) setenv("BPFREE_DATA", saved, 1);
    else unsetenv("BPFREE_DATA");
    assert_int_equal(rc, 0);
}

/* --------------------------------------------------- alloc, split, std */

static void test_alloc(void **state) {
    (void)state;
    bpfree_dataset ds;
    bpfree_error e = {0};
    assert_int_equal(bpfree_data_alloc(&ds, 5, 3, 4, 2, &e), BPFREE_OK);
    assert_int_equal(ds.n, 5);
    assert_int_equal(ds.dim, 3);
    assert_int_equal(ds.classes, 4);
    assert_int_equal(ds.outputs, 2);
    assert_non_null(ds.labels);
    assert_non_null(ds.y);
    assert_true(tu_maxabs(ds.x, 15) == 0.0 && tu_maxabs(ds.y, 10) == 0.0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ds.index[i], i);
        assert_int_equal(ds.labels[i], 0);
    }
    bpfree_data_free(&ds);
    assert_int_equal(bpfree_data_alloc(&ds, 4, 2, 0, 0, &e), BPFREE_OK);
    assert_null(ds.labels); /* classes 0: no labels */
    bpfree_data_free(&ds);
    tu_expect_error(bpfree_data_alloc(&ds, 0, 3, 4, 0, &e), &e, BPFREE_EINVAL, "n=0", NULL);
    assert_null(ds.x);
}

/* n rows: x row i = (10 i, 10 i + 1, 10 i + 2), label i % 4, index 100 + i. */
static void make_rows(bpfree_dataset *ds, int n) {
    bpfree_error e = {0};
    assert_int_equal(bpfree_data_alloc(ds, n, 3, 4, 0, &e), BPFREE_OK);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 3; j++) ds->x[i * 3 + j] = (float)(10 * i + j);
        ds->labels[i] = i % 4;
        ds->index[i] = 100 + i;
    }
    snprintf(ds->name, sizeof ds->name, "rows");
}

/* Every row still belongs to its index. */
static void check_rows(const bpfree_dataset *ds, int *seen) {
    for (int r = 0; r < ds->n; r++) {
        int i = ds->index[r] - 100;
        assert_in_range(i, 0, 9);
        assert_float_equal(ds->x[r * 3], 10.0f * (float)i, 0.0f);
        assert_float_equal(ds->x[r * 3 + 2], 10.0f * (float)i + 2.0f, 0.0f);
        assert_int_equal(ds->labels[r], i % 4);
        seen[i]++;
    }
}

static void test_split(void **state) {
    (void)state;
    bpfree_dataset tr, va, tr2, va2;
    bpfree_error e = {0};
    make_rows(&tr, 10);
    assert_int_equal(bpfree_data_split(&tr, 3, 42, &va, &e), BPFREE_OK);
    assert_int_equal(tr.n, 7);
    assert_int_equal(va.n, 3);
    assert_int_equal(va.dim, 3);
    assert_int_equal(va.classes, 4);
    assert_string_equal(va.name, "rows");
    int seen[10] = {0};
    check_rows(&tr, seen);
    check_rows(&va, seen);
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1); /* each sample once */
    for (int r = 1; r < tr.n; r++) assert_true(tr.index[r] > tr.index[r - 1]); /* order kept */
    /* Same seed, same choice. */
    make_rows(&tr2, 10);
    assert_int_equal(bpfree_data_split(&tr2, 3, 42, &va2, &e), BPFREE_OK);
    assert_memory_equal(va.index, va2.index, 3 * sizeof(int));
    assert_memory_equal(tr.index, tr2.index, 7 * sizeof(int));
    bpfree_data_free(&tr2);
    bpfree_data_free(&va2);
    /* Bad sizes leave train untouched. */
    bpfree_data_free(&tr);
    bpfree_data_free(&va);
    make_rows(&tr, 10);
    tu_expect_error(bpfree_data_split(&tr, 0, 1, &va, &e), &e, BPFREE_EINVAL, "validation size 0",
                    NULL);
    tu_expect_error(bpfree_data_split(&tr, 10, 1, &va, &e), &e, BPFREE_EINVAL, "10 samples", NULL);
    assert_int_equal(tr.n, 10);
    assert_int_equal(tr.index[9], 109);
    bpfree_data_free(&tr);
}

static void moments(const float *x, size_t n, double *mean, double *std) {
    double s = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *std = sqrt(ss / (double)n);
}

static void test_standardize(void **state) {
    (void)state;
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    assert_int_equal(bpfree_data_alloc(&tr, 50, 4, 2, 0, &e), BPFREE_OK);
    assert_int_equal(bpfree_data_alloc(&te, 5, 4, 2, 0, &e), BPFREE_OK);
    for (int i = 0; i < 200; i++) tr.x[i] = (float)((i * 37) % 101) / 255.0f;
    for (int i = 0; i < 20; i++) te.x[i] = (float)i / 20.0f;
    double m0, s0, m, s;
    moments(tr.x, 200, &m0, &s0);
    assert_true(fabs(m0) > 0.1 && fabs(s0 - 1.0) > 0.5); /* not already standard */
    float want[20];
    for (int i = 0; i < 20; i++) want[i] = (float)((te.x[i] - m0) / s0);
    bpfree_data_standardize(&tr, &te, NULL);
    moments(tr.x, 200, &m, &s);
    assert_true(fabs(m) < 1e-5);
    assert_true(fabs(s - 1.0) < 1e-5);
    assert_true(tu_close("test x", te.x, want, 20, 1e-5, 1e-5)); /* train's mean, std */
    /* Constant data: std 0 must not give NaN. */
    for (int i = 0; i < 200; i++) tr.x[i] = 0.5f;
    bpfree_data_standardize(&tr, NULL, NULL);
    for (int i = 0; i < 200; i++) assert_true(tr.x[i] == 0.0f);
    bpfree_data_free(&tr);
    bpfree_data_free(&te);
}

/* ---------------------------------------------------------- real data */

/* $BPFREE_DATA/name or ./data/name, if there. */
static int real_dir(const char *name, char *out, size_t cap) {
    const char *env = getenv("BPFREE_DATA");
    if (env && *env) {
        snprintf(out, cap, "%s/%s", env, name);
        if (is_dir(out)) return 1;
    }
    snprintf(out, cap, "data/%s", name);
    return is_dir(out);
}

static void check_real(const char *name, int first_train, int first_test) {
    char dir[1024];
    if (!real_dir(name, dir, sizeof dir)) {
        print_message("  %s not found in $BPFREE_DATA or ./data — run scripts/fetch-data.sh\n",
                      name);
        skip();
    }
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    bpfree_status s = bpfree_data_load_dir(dir, &tr, &te, &e);
    if (s) print_message("  %s\n", e.msg);
    assert_int_equal(s, BPFREE_OK);
    assert_int_equal(tr.n, 60000);
    assert_int_equal(te.n, 10000);
    assert_int_equal(tr.dim, 784);
    assert_int_equal(te.dim, 784);
    assert_int_equal(tr.classes, 10);
    assert_int_equal(tr.labels[0], first_train);
    assert_int_equal(te.labels[0], first_test);
    assert_string_equal(tr.name, name);
    double m, sd;
    moments(tr.x, (size_t)tr.n * 784, &m, &sd);
    print_message("  %s: train pixel mean %.4f std %.4f\n", name, m, sd);
    assert_true(tu_maxabs(tr.x, (size_t)tr.n * 784) == 1.0);
    assert_true(m > 0.1 && m < 0.4);
    bpfree_data_free(&tr);
    bpfree_data_free(&te);
}

/* bpfree_data_repeat: every row's inputs k times in a row, an image's
 * channels k times; k = 1 a no-op; k out of [1, 4096] refused */
static void test_repeat(void **state) {
    (void)state;
    bpfree_dataset ds = {0};
    bpfree_error err;
    assert_int_equal(bpfree_data_alloc(&ds, 3, 4, 2, 0, &err), BPFREE_OK);
    ds.channels = 1;
    ds.height = 2;
    ds.width = 2;
    for (int i = 0; i < 12; i++) ds.x[i] = (float)i;
    assert_int_equal(bpfree_data_repeat(&ds, 1, &err), BPFREE_OK);
    assert_int_equal(ds.dim, 4);
    assert_int_equal(bpfree_data_repeat(&ds, 3, &err), BPFREE_OK);
    assert_int_equal(ds.dim, 12);
    assert_int_equal(ds.channels, 3);
    assert_int_equal(ds.height, 2);
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < 4; j++)
                assert_true(ds.x[i * 12 + r * 4 + j] == (float)(i * 4 + j));
    assert_int_equal(bpfree_data_repeat(&ds, 0, &err), BPFREE_EINVAL);
    assert_int_equal(bpfree_data_repeat(&ds, 4097, &err), BPFREE_EINVAL);
    assert_int_equal(ds.dim, 12); /* a refused repeat changes nothing */
    bpfree_data_free(&ds);
}

/* bpfree_data_pad: every channel of every image framed by p zeros; the
 * shape grows by 2p; p = 0 a no-op; p out of [0, 64] and data without an
 * image shape refused.  A model that records the pad (and a repeat) applies
 * both to data as loaded (bpfree_data_prepare), in training's order. */
static void test_pad(void **state) {
    (void)state;
    bpfree_dataset ds = {0};
    bpfree_error err;
    assert_int_equal(bpfree_data_alloc(&ds, 2, 8, 2, 0, &err), BPFREE_OK);
    ds.channels = 2, ds.height = 2, ds.width = 2;
    for (int i = 0; i < 16; i++) ds.x[i] = (float)(i + 1);
    assert_int_equal(bpfree_data_pad(&ds, 0, &err), BPFREE_OK);
    assert_int_equal(ds.dim, 8);
    assert_int_equal(bpfree_data_pad(&ds, 1, &err), BPFREE_OK);
    assert_int_equal(ds.dim, 2 * 4 * 4);
    assert_int_equal(ds.height, 4);
    assert_int_equal(ds.width, 4);
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 2; c++)
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++) {
                    const int in = y >= 1 && y <= 2 && x >= 1 && x <= 2;
                    const float want = in ? (float)(((i * 2 + c) * 2 + y - 1) * 2 + x - 1 + 1) : 0.0f;
                    assert_true(ds.x[((i * 2 + c) * 4 + y) * 4 + x] == want);
                }
    assert_int_equal(bpfree_data_pad(&ds, 65, &err), BPFREE_EINVAL);
    assert_int_equal(bpfree_data_pad(&ds, -1, &err), BPFREE_EINVAL);
    assert_int_equal(ds.dim, 32); /* a refused pad changes nothing */
    ds.channels = ds.height = ds.width = 0;
    assert_int_equal(bpfree_data_pad(&ds, 1, &err), BPFREE_ESHAPE);
    bpfree_data_free(&ds);

    /* the model's record: 1 x 2 x 2 images, repeated twice, padded by 2 */
    bpfree_config c;
    assert_int_equal(bpfree_config_default(&c, "bp", 2 * 6 * 6, 2, &err), BPFREE_OK);
    c.in_channels = 2, c.in_height = 6, c.in_width = 6;
    c.n_hidden = 1, c.hidden[0] = 4, c.threads = 1;
    bpfree_model *m = NULL;
    assert_int_equal(bpfree_model_new(&c, &m, &err), BPFREE_OK);
    bpfree_data_info info = {0};
    snprintf(info.name, sizeof info.name, "tiny");
    info.repeat = 2, info.pad = 2;
    assert_int_equal(bpfree_model_set_data(m, &info, &err), BPFREE_OK);
    bpfree_dataset raw = {0}, ref = {0};
    for (int k = 0; k < 2; k++) {
        bpfree_dataset *d = k ? &ref : &raw;
        assert_int_equal(bpfree_data_alloc(d, 3, 4, 2, 0, &err), BPFREE_OK);
        d->channels = 1, d->height = 2, d->width = 2;
        for (int i = 0; i < 12; i++) d->x[i] = 0.1f * (float)i;
    }
    assert_int_equal(bpfree_data_repeat(&ref, 2, &err), BPFREE_OK);
    assert_int_equal(bpfree_data_pad(&ref, 2, &err), BPFREE_OK);
    assert_int_equal(bpfree_data_prepare(m, &raw, &err), BPFREE_OK);
    assert_int_equal(raw.dim, ref.dim);
    assert_true(tu_same(raw.x, ref.x, (size_t)raw.n * raw.dim));
    bpfree_data_free(&raw);
    bpfree_data_free(&ref);
    bpfree_model_free(m);
}

static void test_real_mnist(void **state) {
    (void)state;
    check_real("mnist", 5, 7);
}

static void test_real_fashion(void **state) {
    (void)state;
    check_real("fashion-mnist", 9, 9); /* ankle boot, ankle boot */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_raw),      cmocka_unit_test(test_load_gz),
        cmocka_unit_test(test_truncated),     cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_count_mismatch), cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_missing),       cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_resolve),       cmocka_unit_test(test_alloc),
        cmocka_unit_test(test_shape_and_stray_label),
        cmocka_unit_test(test_split),         cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_repeat),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_real_mnist),    cmocka_unit_test(test_real_fashion),
    };
    return cmocka_run_group_tests_name("data", tests, setup, tu_rm_scratch);
}
