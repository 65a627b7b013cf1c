/* test_csv.c — CSV loading (raw and gzip), its error messages, targets,
 * class labels, split and per-column standardisation, bpfree_data_load; and
 * scikit-learn's diabetes and breast-cancer files if scripts/fetch-data.sh
 * has put them in $BPFREE_DATA or ./data. */
#include "testutil.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmp[256]; /* this run's scratch directory */

/* ------------------------------------------------------------ helpers */

static void tpath(char *out, const char *name) {
    snprintf(out, 512, "%s/%s", tmp, name);
}

/* tmp/name <- text (through zlib if gz); out gets the path. */
static void write_file(char *out, const char *name, const char *text, int gz) {
    tpath(out, name);
    size_t n = strlen(text);
    if (gz) {
        gzFile g = gzopen(out, "wb");
        assert_non_null(g);
        if (n) assert_int_equal(gzwrite(g, text, (unsigned)n), (int)n);
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(out, "wb");
        assert_non_null(f);
        if (n) assert_int_equal(fwrite(text, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

/* Options without standardisation (to see the file's own numbers). */
static bpfree_csv_options raw_opts(void) {
    bpfree_csv_options o;
    bpfree_csv_options_default(&o);
    o.standardize = 0;
    return o;
}

static bpfree_status load(const char *path, const bpfree_csv_options *o, bpfree_dataset *tr,
                          bpfree_dataset *te, bpfree_error *e) {
    bpfree_status s = bpfree_csv_load(path, o, tr, te, e);
    if (s) print_message("  %s\n", e->msg);
    return s;
}

/* Rows of train and test put back in file order by their index:
 * x (n, dim), y (n, outputs) and labels (n), whichever the sets have. */
static void gather(const bpfree_dataset *tr, const bpfree_dataset *te, int n, float *x,
                   float *y, int *lab) {
    assert_int_equal(tr->n + te->n, n);
    int seen[64] = {0};
    for (int h = 0; h < 2; h++) {
        const bpfree_dataset *d = h ? te : tr;
        for (int r = 0; r < d->n; r++) {
            int i = d->index[r];
            assert_in_range(i, 0, n - 1);
            seen[i]++;
            memcpy(x + (size_t)i * d->dim, d->x + (size_t)r * d->dim, d->dim * sizeof(float));
            if (y && d->y)
                memcpy(y + (size_t)i * d->outputs, d->y + (size_t)r * d->outputs,
                       d->outputs * sizeof(float));
            if (lab && d->labels) lab[i] = d->labels[r];
        }
    }
    for (int i = 0; i < n; i++) assert_int_equal(seen[i], 1);
}

static void free2(bpfree_dataset *a, bpfree_dataset *b) {
    bpfree_data_free(a);
    bpfree_data_free(b);
}

static int setup(void **state) {
    *state = tmp; /* for tu_rm_scratch */
    return tu_mkdtemp(tmp, sizeof tmp, "csv");
}

/* ------------------------------------------------------- good files */

/* 5 rows, 3 features and a target (the last column, by default). */
static const char *good_csv =
    "a, \"b c\" ,c,target\n"
    "1,2,3,10\n"
    "-1.5, 2e3 ,  -4.25E-2 ,11\r\n"
    "\n"
    "0,+7,1e+1,12.5\n"
    "3.25,-0,0.5,-13\n"
    "  8 ,9,10,1e-3";
static const float good_x[15] = {1, 2, 3, -1.5f, 2000, -0.0425f, 0, 7, 10,
                                  3.25f, -0.0f, 0.5f, 8, 9, 10};
static const float good_y[5] = {10, 11, 12.5f, -13, 1e-3f};

static void check_good(const char *path) {
    bpfree_csv_options o = raw_opts();
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    assert_int_equal(load(path, &o, &tr, &te, &e), BPFREE_OK);
    assert_int_equal(tr.n, 4); /* ceil(0.2 * 5) = 1 test row */
    assert_int_equal(te.n, 1);
    assert_int_equal(tr.dim, 3);
    assert_int_equal(tr.outputs, 1);
    assert_int_equal(tr.classes, 0);
    assert_null(tr.labels);
    assert_string_equal(tr.name, "good");
    assert_string_equal(te.name, "good");
    float x[15], y[5];
    gather(&tr, &te, 5, x, y, NULL);
    assert_true(tu_close("x", x, good_x, 15, 0, 1e-7));
    assert_true(tu_close("y", y, good_y, 5, 0, 1e-7));
    free2(&tr, &te);
}

static void test_parse(void **state) {
    (void)state;
    char p[512];
    write_file(p, "good.csv", good_csv, 0);
    check_good(p);
}

static void test_gz(void **state) {
    (void)state;
    char p[512];
    write_file(p, "good.csv.gz", good_csv, 1);
    check_good(p);
}

static void test_blank_separated(void **state) {
    (void)state;
    char p[512];
    write_file(p, "blank.txt", "a b\tc\n1  2\t3\n 4 5 6 \n7 8 9\n10 11 12\n13 14 15\n", 0);
    bpfree_csv_options o = raw_opts();
    o.targets = "0"; /* by index */
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    assert_int_equal(load(p, &o, &tr, &te, &e), BPFREE_OK);
    float x[10], y[5];
    gather(&tr, &te, 5, x, y, NULL);
    static const float wx[10] = {2, 3, 5, 6, 8, 9, 11, 12, 14, 15}, wy[5] = {1, 4, 7, 10, 13};
    assert_true(tu_close("x", x, wx, 10, 0, 0));
    assert_true(tu_close("y", y, wy, 5, 0, 0));
    free2(&tr, &te);
}

/* ------------------------------------------------------- bad files */

static void test_bad_number(void **state) {
    (void)state;
    char p[512];
    bpfree_csv_options o = raw_opts();
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    write_file(p, "bad.csv", "x,mean radius,y\n1,2,3\n\n4,abc,6\n", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "bad.csv:4: column 'mean radius' (1): 'abc' is not a number", NULL);
    assert_null(tr.x);
    assert_null(te.x);
    write_file(p, "bad2.csv", "x,y\n1,2\n,3\n", 0); /* an empty field */
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "bad2.csv:3: column 'x' (0): '' is not a number", NULL);
    write_file(p, "bad3.csv", "x,y\n1,2\n1e999,3\n", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "bad3.csv:3: column 'x' (0): '1e999' is not a finite float", NULL);
    write_file(p, "bad4.csv", "x,y\n1,nan\n2,3\n", 0); /* in the target too */
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "bad4.csv:2: column 'y' (1): 'nan' is not a finite float", NULL);
    o.header = 0; /* no names: numbers only */
    write_file(p, "bad5.csv.gz", "1 2\n3 4x\n", 1);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "bad5.csv.gz:2: column 1: '4x' is not a number", NULL);
}

static void test_ragged(void **state) {
    (void)state;
    char p[512];
    bpfree_csv_options o = raw_opts();
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    write_file(p, "ragged.csv", "a,b,c\n1,2,3\n4,5\n", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "ragged.csv:3: 2 fields, expected 3 (as on line 1)", NULL);
    write_file(p, "ragged2.csv", "a,b\n1,2\n3,4,\n", 0); /* a trailing comma */
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "ragged2.csv:3: 3 fields, expected 2", NULL);
    write_file(p, "quote.csv", "a,b\n1,\"2\n", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "quote.csv:2: unterminated quote", NULL);
}

static void test_empty(void **state) {
    (void)state;
    char p[512];
    bpfree_csv_options o = raw_opts();
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    write_file(p, "empty.csv", "", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT, p, "empty file",
                    NULL);
    write_file(p, "blank.csv", "\n  \n\n", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT, p, "empty file",
                    NULL);
    write_file(p, "head.csv", "a,b,c\n\n", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "no data rows after the header on line 1", NULL);
    write_file(p, "one.csv", "a,b\n1,2\n", 0); /* 1 row cannot be split */
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EINVAL, p, "1 data row cannot",
                    NULL);
    tpath(p, "no-such.csv");
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EIO, "cannot open", p,
                    NULL);
    tpath(p, "");
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EIO, "directory", NULL);
    /* A gzip stream cut short. */
    char big[8192];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = i % 8 == 7 ? '\n' : (char)('0' + i % 7);
    big[sizeof big - 1] = '\0';
    write_file(p, "cut.csv.gz", big, 1);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size / 2), 0);
    o.header = 0;
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "corrupt gzip data: unexpected end of file", NULL);
    assert_null(tr.x);
}

/* ------------------------------------------------- targets, labels */

static void test_targets(void **state) {
    (void)state;
    char p[512];
    bpfree_csv_options o = raw_opts();
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    write_file(p, "t.csv", "a,b,c,d\n1,2,3,4\n5,6,7,8\n9,10,11,12\n13,14,15,16\n", 0);
    o.targets = "d, b"; /* two targets, by name, in this order */
    assert_int_equal(load(p, &o, &tr, &te, &e), BPFREE_OK);
    assert_int_equal(tr.dim, 2);
    assert_int_equal(tr.outputs, 2);
    float x[8], y[8];
    gather(&tr, &te, 4, x, y, NULL);
    static const float wx[8] = {1, 3, 5, 7, 9, 11, 13, 15}, wy[8] = {4, 2, 8, 6, 12, 10, 16, 14};
    assert_true(tu_close("x", x, wx, 8, 0, 0));
    assert_true(tu_close("y", y, wy, 8, 0, 0));
    free2(&tr, &te);
    o.targets = "price";
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EINVAL, p,
                    "no target column 'price'", "'a', 'b', 'c', 'd'", NULL);
    o.targets = "4";
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EINVAL,
                    "no target column '4'", NULL);
    o.targets = "a,0";
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EINVAL, "named twice", NULL);
    o.targets = "a,b,c,d";
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EINVAL, "no features", NULL);
    o.targets = "a,b";
    o.classify = 1;
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EINVAL,
                    "classification takes one target column, 2 named", NULL);
}

/* Labels of `text` (one feature, label last) in file order. */
static void labels_of(const char *name, const char *text, int n, int classes, const int *want) {
    char p[512];
    bpfree_csv_options o = raw_opts();
    o.classify = 1;
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    write_file(p, name, text, 0);
    assert_int_equal(load(p, &o, &tr, &te, &e), BPFREE_OK);
    assert_int_equal(tr.classes, classes);
    assert_int_equal(te.classes, classes);
    assert_null(tr.y);
    assert_int_equal(tr.outputs, 0);
    float x[16];
    int lab[16];
    gather(&tr, &te, n, x, NULL, lab);
    for (int i = 0; i < n; i++) {
        assert_int_equal(lab[i], want[i]);
        assert_float_equal(x[i], (float)i, 0);
    }
    free2(&tr, &te);
}

static void test_classify(void **state) {
    (void)state;
    /* Strings: classes in order of first appearance. */
    static const int w1[5] = {0, 1, 0, 2, 1};
    labels_of("s.csv", "x,animal\n0,cat\n1,dog\n2,cat\n3,\"bird, small\"\n4, dog \n", 5, 3, w1);
    /* Integers: classes in ascending order of value ("01" is 1). */
    static const int w2[5] = {2, 0, 1, 0, 1};
    labels_of("i.csv", "x,y\n0,7\n1,-3\n2,1\n3,-3\n4,01\n", 5, 3, w2);
    /* Integers and a string: all strings. */
    static const int w3[4] = {0, 1, 2, 0};
    labels_of("m.csv", "x,y\n0,1\n1,0\n2,n/a\n3,1\n", 4, 3, w3);
    char p[512];
    bpfree_csv_options o = raw_opts();
    o.classify = 1;
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    write_file(p, "one.csv", "x,y\n0,a\n1,a\n2,a\n", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT, p,
                    "one class only ('a')", NULL);
    write_file(p, "nolab.csv", "x,y\n0,a\n1,\n2,b\n", 0);
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "nolab.csv:3: column 'y' (1): '' is an empty class label", NULL);
}

/* ----------------------------------------------- split, standardise */

/* tmp/name: n rows "i, 2i+1, i*i % 7, 3i" with a header, target last. */
static void write_rows(char *p, const char *name, int n) {
    char text[4096] = "a,b,c,t\n";
    for (int i = 0; i < n; i++) {
        size_t u = strlen(text);
        snprintf(text + u, sizeof text - u, "%d,%d,%d,%d\n", i, 2 * i + 1, i * i % 7, 3 * i);
    }
    write_file(p, name, text, 0);
}

static void test_split(void **state) {
    (void)state;
    char p[512];
    write_rows(p, "rows.csv", 10);
    bpfree_csv_options o = raw_opts();
    o.seed = 7;
    bpfree_dataset tr, te, tr2, te2;
    bpfree_error e = {0};
    assert_int_equal(load(p, &o, &tr, &te, &e), BPFREE_OK);
    assert_int_equal(tr.n, 8);
    assert_int_equal(te.n, 2);
    for (int h = 0; h < 2; h++) { /* every row still holds its own data */
        const bpfree_dataset *d = h ? &te : &tr;
        for (int r = 0; r < d->n; r++) {
            int i = d->index[r];
            assert_float_equal(d->x[r * 3], (float)i, 0);
            assert_float_equal(d->x[r * 3 + 1], (float)(2 * i + 1), 0);
            assert_float_equal(d->y[r], (float)(3 * i), 0);
        }
    }
    for (int r = 1; r < tr.n; r++) assert_true(tr.index[r] > tr.index[r - 1]); /* order kept */
    assert_int_equal(load(p, &o, &tr2, &te2, &e), BPFREE_OK); /* same seed, same split */
    assert_memory_equal(te.index, te2.index, 2 * sizeof(int));
    free2(&tr2, &te2);
    o.test_fraction = 0.5;
    assert_int_equal(load(p, &o, &tr2, &te2, &e), BPFREE_OK);
    assert_int_equal(te2.n, 5);
    free2(&tr2, &te2);
    int differs = 0; /* some other seed picks other rows */
    for (o.seed = 8, o.test_fraction = 0.2; o.seed < 12; o.seed++) {
        assert_int_equal(load(p, &o, &tr2, &te2, &e), BPFREE_OK);
        differs |= memcmp(te.index, te2.index, 2 * sizeof(int)) != 0;
        free2(&tr2, &te2);
    }
    assert_true(differs);
    o.test_fraction = 1.0;
    tu_expect_error(bpfree_csv_load(p, &o, &tr2, &te2, &e), &e, BPFREE_EINVAL, p,
                    "test fraction 1", NULL);
    free2(&tr, &te);
}

/* Per-column mean and population std of v (n, d), column j. */
static void col_moments(const float *v, int n, int d, int j, double *mean, double *std) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += v[i * d + j];
    *mean = s / n;
    for (int i = 0; i < n; i++) ss += (v[i * d + j] - *mean) * (v[i * d + j] - *mean);
    *std = sqrt(ss / n);
}

static void test_standardize(void **state) {
    (void)state;
    char p[512];
    write_rows(p, "std.csv", 40);
    bpfree_csv_options o = raw_opts();
    o.seed = 3;
    bpfree_dataset raw_tr, raw_te, tr, te;
    bpfree_error e = {0};
    assert_int_equal(load(p, &o, &raw_tr, &raw_te, &e), BPFREE_OK);
    o.standardize = o.standardize_targets = 1;
    assert_int_equal(load(p, &o, &tr, &te, &e), BPFREE_OK);
    assert_memory_equal(te.index, raw_te.index, (size_t)te.n * sizeof(int));
    for (int j = 0; j < 4; j++) {
        const float *v = j < 3 ? tr.x : tr.y, *rv = j < 3 ? raw_tr.x : raw_tr.y;
        const float *tv = j < 3 ? te.x : te.y, *rtv = j < 3 ? raw_te.x : raw_te.y;
        int d = j < 3 ? 3 : 1, c = j < 3 ? j : 0;
        double m, s, m0, s0;
        col_moments(v, tr.n, d, c, &m, &s);
        assert_true(fabs(m) < 1e-5 && fabs(s - 1) < 1e-5);
        col_moments(rv, raw_tr.n, d, c, &m0, &s0); /* test rows: train's statistics */
        for (int r = 0; r < te.n; r++)
            assert_float_equal(tv[r * d + c], (rtv[r * d + c] - m0) / s0, 1e-5);
    }
    free2(&tr, &te);
    free2(&raw_tr, &raw_te);
    /* A constant column is centred, not blown up. */
    float v[6] = {5, 1, 5, 2, 5, 3}, mean[2], std[2];
    bpfree_data_col_stats(v, 3, 2, mean, std);
    assert_float_equal(mean[0], 5, 0);
    assert_float_equal(std[0], 1, 0);
    assert_float_equal(std[1], sqrt(2.0 / 3.0), 1e-6);
    bpfree_data_col_normalize(v, 3, 2, mean, std);
    assert_true(v[0] == 0 && v[2] == 0 && v[4] == 0);
}

/* ------------------------------------------- layouts of sklearn's files */

static void test_targets_file(void **state) {
    (void)state;
    char xp[512], yp[512];
    write_file(xp, "feat.csv.gz", "1 2\n3 4\n5 6\n7 8\n9 10\n", 1);
    write_file(yp, "targ.csv.gz", "1.0e+01\n2.0e+01\n3.0e+01\n4.0e+01\n5.0e+01\n", 1);
    bpfree_csv_options o = raw_opts();
    o.header = 0;
    o.targets_path = yp;
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    assert_int_equal(load(xp, &o, &tr, &te, &e), BPFREE_OK);
    assert_int_equal(tr.dim, 2); /* every column of the first file is a feature */
    assert_int_equal(tr.outputs, 1);
    float x[10], y[5];
    gather(&tr, &te, 5, x, y, NULL);
    static const float wx[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, wy[5] = {10, 20, 30, 40, 50};
    assert_true(tu_close("x", x, wx, 10, 0, 0));
    assert_true(tu_close("y", y, wy, 5, 0, 0));
    free2(&tr, &te);
    write_file(yp, "targ.csv.gz", "10\n20\n30\n40\n", 1);
    tu_expect_error(bpfree_csv_load(xp, &o, &tr, &te, &e), &e, BPFREE_ESHAPE, xp, yp,
                    "5 data rows", "has 4", NULL);
}

static void test_skip_lines(void **state) {
    (void)state;
    char p[512];
    write_file(p, "bc.csv", "6,2,malignant,benign\n1,2,0\n3,4,1\n5,6,1\n7,8,0\n9,1,1\n2,3,0\n", 0);
    bpfree_csv_options o = raw_opts();
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT,
                    "bc.csv:2: 3 fields, expected 4 (as on line 1)", NULL);
    o.header = 0;
    o.skip_lines = 1;
    o.classify = 1;
    assert_int_equal(load(p, &o, &tr, &te, &e), BPFREE_OK);
    assert_int_equal(tr.n + te.n, 6);
    assert_int_equal(tr.dim, 2);
    assert_int_equal(tr.classes, 2);
    float x[12];
    int lab[6];
    gather(&tr, &te, 6, x, NULL, lab);
    assert_int_equal(lab[0], 0);
    assert_int_equal(lab[4], 1);
    assert_float_equal(x[8], 9, 0);
    free2(&tr, &te);
    o.skip_lines = 9;
    tu_expect_error(bpfree_csv_load(p, &o, &tr, &te, &e), &e, BPFREE_EFORMAT, "empty file",
                    "9 skipped lines", NULL);
}

/* --------------------------------------------------- bpfree_data_load */

static void test_data_load(void **state) {
    (void)state;
    char p[512], spec[600];
    write_rows(p, "via.csv", 10);
    snprintf(spec, sizeof spec, "csv:%s", p);
    bpfree_data_options o;
    bpfree_data_options_default(&o);
    o.targets = "a";
    bpfree_dataset tr, te;
    bpfree_error e = {0};
    bpfree_status s = bpfree_data_load(spec, NULL, &o, &tr, &te, &e);
    if (s) print_message("  %s\n", e.msg);
    assert_int_equal(s, BPFREE_OK);
    assert_int_equal(tr.n, 8);
    assert_int_equal(tr.dim, 3);
    assert_string_equal(te.name, "via");
    double m, sd;
    col_moments(tr.y, tr.n, 1, 0, &m, &sd); /* regression target standardised too */
    assert_true(fabs(m) < 1e-5 && fabs(sd - 1) < 1e-5);
    free2(&tr, &te);
    tu_expect_error(bpfree_data_load("nope", NULL, NULL, &tr, &te, &e), &e, BPFREE_EINVAL,
                    "unknown dataset 'nope'", "diabetes", "breast-cancer", "csv:PATH", NULL);
    tu_expect_error(bpfree_data_load("csv:", NULL, NULL, &tr, &te, &e), &e, BPFREE_EINVAL,
                    "csv:PATH", NULL);
    /* Named tables are looked up like image sets. */
    char cwd[1024], saved[1024] = "";
    const char *old = getenv("BPFREE_DATA");
    if (old) snprintf(saved, sizeof saved, "%s", old);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmp), 0);
    setenv("BPFREE_DATA", tmp, 1);
    s = bpfree_data_load("diabetes", "/nowhere", NULL, &tr, &te, &e);
    int rc = chdir(cwd);
    if (old) setenv("BPFREE_DATA", saved, 1);
    else unsetenv("BPFREE_DATA");
    assert_int_equal(rc, 0);
    tu_expect_error(s, &e, BPFREE_EIO, "dataset 'diabetes' not found", "/diabetes, data/diabetes",
                    "/nowhere/data/diabetes", "scripts/fetch-data.sh diabetes", NULL);
}

/* ---------------------------------------------------------- real data */

/* $BPFREE_DATA/name or ./data/name holds `file`? */
static int real_file(const char *name, const char *file) {
    char p[1024];
    const char *env = getenv("BPFREE_DATA");
    struct stat st;
    if (env && *env) {
        snprintf(p, sizeof p, "%s/%s/%s", env, name, file);
        if (stat(p, &st) == 0) return 1;
    }
    snprintf(p, sizeof p, "data/%s/%s", name, file);
    return stat(p, &st) == 0;
}

static void load_real(const char *name, const char *file, bpfree_dataset *tr,
                      bpfree_dataset *te) {
    if (!real_file(name, file)) {
        print_message("  %s not found in $BPFREE_DATA or ./data — run scripts/fetch-data.sh\n",
                      name);
        skip();
    }
    bpfree_error e = {0};
    bpfree_status s = bpfree_data_load(name, NULL, NULL, tr, te, &e);
    if (s) print_message("  %s\n", e.msg);
    assert_int_equal(s, BPFREE_OK);
    assert_string_equal(tr->name, name);
    assert_string_equal(te->name, name);
}

static void test_real_diabetes(void **state) {
    (void)state;
    bpfree_dataset tr, te;
    load_real("diabetes", "diabetes_target.csv.gz", &tr, &te);
    assert_int_equal(tr.n, 353); /* 442 - ceil(0.2 * 442) */
    assert_int_equal(te.n, 89);
    assert_int_equal(tr.dim, 10);
    assert_int_equal(tr.outputs, 1);
    assert_int_equal(tr.classes, 0);
    assert_null(tr.labels);
    double m, s;
    for (int j = 0; j < 10; j++) {
        col_moments(tr.x, tr.n, 10, j, &m, &s);
        assert_true(fabs(m) < 1e-5 && fabs(s - 1) < 1e-4);
    }
    col_moments(tr.y, tr.n, 1, 0, &m, &s);
    assert_true(fabs(m) < 1e-5 && fabs(s - 1) < 1e-4);
    free2(&tr, &te);
    /* The file's own numbers: row 0 is "59 2 32.1 101.0 157 93.2 38.0 4.0 4.8598 87", 151. */
    bpfree_data_options o;
    bpfree_data_options_default(&o);
    o.standardize = 0;
    bpfree_error e = {0};
    assert_int_equal(bpfree_data_load("diabetes", NULL, &o, &tr, &te, &e), BPFREE_OK);
    const bpfree_dataset *d = tr.index[0] == 0 ? &tr : &te;
    int r = 0;
    while (d->index[r] != 0) r++;
    static const float row0[10] = {59, 2, 32.1f, 101, 157, 93.2f, 38, 4, 4.8598f, 87};
    assert_true(tu_close("row 0", d->x + r * 10, row0, 10, 0, 1e-7));
    assert_float_equal(d->y[r], 151, 0);
    free2(&tr, &te);
}

static void test_real_breast_cancer(void **state) {
    (void)state;
    bpfree_dataset tr, te;
    load_real("breast-cancer", "breast_cancer.csv", &tr, &te);
    assert_int_equal(tr.n, 455); /* 569 - ceil(0.2 * 569) */
    assert_int_equal(te.n, 114);
    assert_int_equal(tr.dim, 30);
    assert_int_equal(tr.classes, 2);
    assert_int_equal(te.classes, 2);
    assert_null(tr.y);
    int benign = 0;
    for (int i = 0; i < tr.n; i++) benign += tr.labels[i];
    for (int i = 0; i < te.n; i++) benign += te.labels[i];
    assert_int_equal(benign, 357); /* 212 malignant (0), 357 benign (1) */
    double m, s;
    for (int j = 0; j < 30; j++) {
        col_moments(tr.x, tr.n, 30, j, &m, &s);
        assert_true(fabs(m) < 1e-5 && fabs(s - 1) < 1e-4);
    }
    free2(&tr, &te);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),          cmocka_unit_test(test_gz),
        cmocka_unit_test(test_blank_separated), cmocka_unit_test(test_bad_number),
        cmocka_unit_test(test_ragged),         cmocka_unit_test(test_empty),
        cmocka_unit_test(test_targets),        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_split),          cmocka_unit_test(test_standardize),
        cmocka_unit_test(test_targets_file),   cmocka_unit_test(test_skip_lines),
        cmocka_unit_test(test_data_load),      cmocka_unit_test(test_real_diabetes),
        cmocka_unit_test(test_real_breast_cancer),
    };
    return cmocka_run_group_tests_name("csv", tests, setup, tu_rm_scratch);
}
