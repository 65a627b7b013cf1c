/* test_workflow.c — the researcher's workflow through the command (issue
 * 18): config files (the shipped presets equal the preset table, --config
 * equals --preset to the last bit of the model file, --print-config reads
 * back, mistakes name file and line), `bpfree compare` end to end on the
 * small breast-cancer set (numbers identical to separate runs, mean ± std,
 * resume, grid selection by --val, plots or the message that gnuplot is
 * missing), and `export` / `predict`.  The binary comes from $BPFREE_BIN
 * (else build/bpfree); runs are in a scratch directory. */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];
static char bin[PATH_MAX];

/* Run a shell command; its stdout and stderr, and the exit status. */
static char *sh(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *sh(int *status, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *b = tu_xmalloc(cap);
    for (size_t k; (k = fread(b + n, 1, cap - n - 1, p)) > 0;) {
        n += k;
        if (n + 1 == cap) b = realloc(b, cap *= 2);
        assert_non_null(b);
    }
    b[n] = '\0';
    const int ws = pclose(p);
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128;
    return b;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = tu_xmalloc((size_t)n + 1);
    b[fread(b, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return b;
}

static int same_file(const char *a, const char *b) {
    int st;
    char *o = sh(&st, "cmp -s '%s' '%s'", a, b);
    free(o);
    return st == 0;
}

static int setup(void **state) {
    (void)state;
    const char *env = getenv("BPFREE_BIN");
    snprintf(bin, sizeof bin, "%s", env && *env ? env : "build/bpfree");
    if (access(bin, X_OK) != 0) bin[0] = '\0';
    snprintf(tmp, sizeof tmp, "/tmp/bpfree-workflow.XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void need(void) {
    if (!bin[0]) {
        print_message("  no bpfree binary (set BPFREE_BIN)\n");
        skip();
    }
    if (!tu_have_data("breast-cancer")) {
        print_message("  no data/breast-cancer (scripts/fetch-data.sh)\n");
        skip();
    }
}

#define TRAIN "%s train --data breast-cancer --threads 1 --quiet "

/* ------------------------------------------------------------- configs */

static void test_presets_are_the_table(void **state) {
    (void)state;
    need();
    assert_true(bpfree_preset_count() >= 2);
    for (int i = 0; bpfree_preset_at(i); i++) {
        const char *name = bpfree_preset_at(i)->name;
        char path[PATH_MAX], out[PATH_MAX];
        snprintf(path, sizeof path, "presets/%s.conf", name);
        snprintf(out, sizeof out, "%s/%s.conf", tmp, name);
        int st;
        free(sh(&st, "%s presets %s > %s", bin, name, out));
        assert_int_equal(st, 0);
        if (!same_file(path, out))
            print_message("  %s differs from `bpfree presets %s`: regenerate it\n", path, name);
        assert_true(same_file(path, out));
    }
}

static void test_config_equals_preset(void **state) {
    (void)state;
    need();
    /* the same model file, bit for bit: same config, same training */
    const char *cases[][2] = {
        {"hinton", "--layers 8,8 --epochs 2"},
        {"cff-paper", "--layers 8,8 --greedy 1 --batch 64 --val 50"},
    };
    for (int i = 0; i < 2; i++) {
        char a[PATH_MAX], b[PATH_MAX];
        snprintf(a, sizeof a, "%s/preset.bpf", tmp);
        snprintf(b, sizeof b, "%s/config.bpf", tmp);
        int s1, s2;
        char *o1 = sh(&s1, TRAIN "--preset %s %s --save %s", bin, cases[i][0], cases[i][1], a);
        char *o2 = sh(&s2, TRAIN "--config presets/%s.conf %s --save %s", bin, cases[i][0],
                      cases[i][1], b);
        if (s1 || s2) print_message("  %s\n  %s\n", o1, o2);
        assert_int_equal(s1, 0);
        assert_int_equal(s2, 0);
        assert_true(same_file(a, b));
        /* and it is the preset's model, not the defaults' */
        bpfree_model *m;
        bpfree_error e;
        assert_int_equal(bpfree_model_load(b, &m, &e), BPFREE_OK);
        assert_string_equal(bpfree_model_config(m)->rule, "ff");
        assert_int_equal(bpfree_model_config(m)->ff_label_max, i == 1);
        bpfree_model_free(m);
        free(o1);
        free(o2);
    }
}

static void test_print_config_reads_back(void **state) {
    (void)state;
    need();
    char c1[PATH_MAX], c2[PATH_MAX], m1[PATH_MAX], m2[PATH_MAX];
    snprintf(c1, sizeof c1, "%s/a.conf", tmp);
    snprintf(c2, sizeof c2, "%s/b.conf", tmp);
    snprintf(m1, sizeof m1, "%s/a.bpf", tmp);
    snprintf(m2, sizeof m2, "%s/b.bpf", tmp);
    int st;
    free(sh(&st, TRAIN "--rule dfa --layers 12 --lr 3e-3 --val 40 --epochs 2 --print-config > %s",
            bin, c1));
    assert_int_equal(st, 0);
    char *text = slurp(c1);
    assert_non_null(strstr(text, "rule = dfa\n"));
    assert_non_null(strstr(text, "layers = 12\n"));
    assert_non_null(strstr(text, "val = 40\n"));
    assert_non_null(strstr(text, "feedback-init = "));  /* every setting of the rule */
    assert_null(strstr(text, "ff-peer"));                 /* and none of another rule */
    free(text);
    free(sh(&st, "%s train --config %s --threads 1 --print-config > %s", bin, c1, c2));
    assert_int_equal(st, 0);
    assert_true(same_file(c1, c2));
    free(sh(&st, TRAIN "--rule dfa --layers 12 --lr 3e-3 --val 40 --epochs 2 --save %s", bin, m1));
    assert_int_equal(st, 0);
    free(sh(&st, "%s train --config %s --quiet --save %s", bin, c1, m2));
    assert_int_equal(st, 0);
    assert_true(same_file(m1, m2));
    /* the command line overrides the file, wherever --config stands */
    free(sh(&st, "%s train --epochs 1 --config %s --quiet --save %s", bin, c1, m2));
    assert_int_equal(st, 0);
    bpfree_model *m;
    bpfree_error e;
    assert_int_equal(bpfree_model_load(m2, &m, &e), BPFREE_OK);
    assert_int_equal(bpfree_model_epochs_done(m), 1);
    bpfree_model_free(m);
    /* a model file's header (after magic, version and length) is a config file too */
    FILE *f = fopen(m1, "rb"), *g = fopen(c2, "wb");
    unsigned char head[16];
    assert_true(f && g && fread(head, 1, 16, f) == 16);
    const size_t hlen = head[12] | head[13] << 8 | (size_t)head[14] << 16;
    char *hdr = tu_xmalloc(hlen);
    assert_int_equal(fread(hdr, 1, hlen, f), hlen);
    assert_int_equal(strncmp(hdr, "bpfree=", 7), 0);
    fwrite(hdr, 1, hlen, g);
    fclose(f);
    fclose(g);
    free(hdr);
    free(sh(&st, TRAIN "--config %s --val 40 --save %s", bin, c2, m2));
    assert_int_equal(st, 0);
    assert_true(same_file(m1, m2));
}

static void test_config_errors(void **state) {
    (void)state;
    need();
    char c[PATH_MAX];
    snprintf(c, sizeof c, "%s/bad.conf", tmp);
    const char *cases[][2] = {
        {"lr = 1e-3\\nbogus = 1\\n", "bad.conf:2: unknown key 'bogus'"},
        {"# a comment\\nlr = 1e-3\\nlr=2e-3\\n", "bad.conf:3: 'lr' is given twice"},
        {"lr 1e-3\\n", "bad.conf:1: 'lr 1e-3' is not 'key = value'"},
        {"log = x.jsonl\\n", "bad.conf:1: 'log' names an output"},
        {"lr = fast\\n", "--lr"},
        {"rule = bp\\nff-peer = 0.03\\n", "ff-peer does not apply to rule bp"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int st;
        free(sh(&st, "printf '%s' > %s", cases[i][0], c));
        char *o = sh(&st, TRAIN "--config %s --epochs 1", bin, c);
        if (!strstr(o, cases[i][1])) print_message("  expected '%s' in: %s\n", cases[i][1], o);
        assert_int_not_equal(st, 0);
        assert_non_null(strstr(o, "bpfree: error: "));
        assert_non_null(strstr(o, cases[i][1]));
        free(o);
    }
    int st;
    char *o = sh(&st, TRAIN "--config /nonexistent/x.conf", bin);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(o, "--config /nonexistent/x.conf: No such file"));
    free(o);
}

/* ------------------------------------------------------------- compare */

/* "final: R on D: test accuracy X% ..." — the first final line */
static double final_acc(const char *out) {
    const char *p = strstr(out, "test accuracy ");
    return p ? strtod(p + strlen("test accuracy "), NULL) : NAN;
}

/* field k (0-based) of a CSV line, numbers only */
static double csv_field(const char *line, int k) {
    for (int i = 0; i < k; i++) {
        line = strchr(line, ',');
        if (!line) return NAN;
        line++;
    }
    return strtod(line, NULL);
}

static void test_compare_end_to_end(void **state) {
    (void)state;
    need();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/cmp", tmp);
    const char *opts = "--layers 16 --epochs 3 --threads 1 --data breast-cancer";
    int st;
    char *o = sh(&st, "%s compare --rules bp,dfa --seeds 1,2 --out %s %s", bin, dir, opts);
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "4 runs (2 rules x 1 settings x 2 seeds), 0 already complete"));
    free(o);
    /* every run equals the same command run on its own */
    const char *rules[] = {"bp", "dfa"}, *seeds[] = {"1", "2"};
    double acc[2][2];
    for (int r = 0; r < 2; r++)
        for (int s = 0; s < 2; s++) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/runs/%s-s%s.out", dir, rules[r], seeds[s]);
            char *in_compare = slurp(path);
            assert_non_null(in_compare);
            char *alone = sh(&st, "%s train --rule %s --seed %s %s", bin, rules[r], seeds[s], opts);
            assert_int_equal(st, 0);
            const char *f1 = strstr(in_compare, "\nfinal: "), *f2 = strstr(alone, "\nfinal: ");
            assert_non_null(f1);
            assert_non_null(f2);
            const size_t n = strcspn(f1 + 1, "\n");
            if (strncmp(f1, f2, n + 1)) print_message("  %.*s\n  %.*s\n", (int)n, f1 + 1, (int)n, f2 + 1);
            assert_memory_equal(f1, f2, n + 1); /* accuracy and loss as printed */
            acc[r][s] = final_acc(f1);
            free(in_compare);
            free(alone);
        }
    /* the summary's mean and sample std are those of the runs */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    char *csv = slurp(path);
    assert_non_null(csv);
    for (int r = 0; r < 2; r++) {
        char key[16];
        snprintf(key, sizeof key, "\n%s,", rules[r]);
        const char *line = strstr(csv, key);
        assert_non_null(line);
        const double mean = (acc[r][0] + acc[r][1]) / 2, sd = fabs(acc[r][0] - acc[r][1]) / sqrt(2);
        assert_true(fabs(csv_field(line + 1, 3) - mean) < 0.006); /* the .out prints 2 decimals */
        assert_true(fabs(csv_field(line + 1, 4) - sd) < 0.01);
        assert_int_equal((int)csv_field(line + 1, 2), 2); /* seeds */
    }
    assert_non_null(strstr(csv, "bp,\"\",2,"));
    assert_non_null(strstr(csv, ",yes,yes,non-local,backward,")); /* bp's taxonomy */
    free(csv);
    snprintf(path, sizeof path, "%s/summary.md", dir);
    char *md = slurp(path);
    assert_non_null(md);
    assert_non_null(strstr(md, "| `dfa` | – | 2 | "));
    assert_non_null(strstr(md, "--rule dfa --seed 2 --layers 16")); /* the exact commands */
    /* the CPU the runs were timed on, from the logs' headers (all four on this one) */
    const char *cpu = strstr(md, "\nCPU: ");
    assert_non_null(cpu);
    assert_non_null(strstr(cpu, "(family "));
    assert_non_null(strstr(cpu, ": 4 runs."));
    assert_null(strstr(md, "different CPUs"));
    free(md);
    snprintf(path, sizeof path, "%s/runs.csv", dir);
    char *rcsv = slurp(path);
    assert_non_null(rcsv);
    assert_non_null(strstr(rcsv, ",peak_mib,cpu,command\n"));
    assert_non_null(strstr(rcsv, "(family "));
    free(rcsv);
    /* resume: nothing to do; then one run lost, one rerun */
    o = sh(&st, "%s compare --rules bp,dfa --seeds 1,2 --out %s %s", bin, dir, opts);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "4 already complete, 0 to run"));
    free(o);
    /* a run timed on another CPU (its log's header says so) is flagged */
    snprintf(path, sizeof path, "%s/runs/bp-s1.jsonl", dir);
    char *hl = slurp(path);
    assert_non_null(hl);
    char *name = strstr(hl, "\"cpu\": {\"name\": \"");
    assert_non_null(name);
    name += strlen("\"cpu\": {\"name\": \"");
    FILE *w = fopen(path, "w");
    assert_non_null(w);
    fprintf(w, "%.*sOther CPU%s", (int)(name - hl), hl, name + strcspn(name, "\""));
    assert_int_equal(fclose(w), 0);
    free(hl);
    o = sh(&st, "%s compare --rules bp,dfa --seeds 1,2 --out %s %s", bin, dir, opts);
    assert_int_equal(st, 0);
    free(o);
    snprintf(path, sizeof path, "%s/summary.md", dir);
    md = slurp(path);
    assert_non_null(md);
    assert_non_null(strstr(md, "\nCPU: Other CPU (family ")); /* bp-s1 is the first run */
    assert_non_null(strstr(md, ": 1 run; "));
    assert_non_null(strstr(md, ": 3 runs. The runs were timed on different CPUs"));
    free(md);
    /* compare reads only the logs: one whose final object is lost (a killed
     * run) is run again; the screen outputs (.out) are not read at all */
    snprintf(path, sizeof path, "%s/runs/bp-s2.out", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/runs/dfa-s1.jsonl", dir);
    char *lg = slurp(path);
    assert_non_null(lg);
    assert_non_null(strstr(lg, "\"argv\": [\"train\", \"--rule\", \"dfa\", \"--seed\", \"1\""));
    char *fin = strstr(lg, "\n{\"type\": \"final\"");
    assert_non_null(fin);
    assert_non_null(strstr(fin, "\"s_per_epoch\": "));
    assert_non_null(strstr(fin, "\"peak_model_bytes\": "));
    FILE *cut = fopen(path, "w");
    assert_non_null(cut);
    fwrite(lg, 1, (size_t)(fin - lg) + 1, cut);
    assert_int_equal(fclose(cut), 0);
    free(lg);
    o = sh(&st, "%s compare --rules bp,dfa --seeds 1,2 --out %s %s", bin, dir, opts);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "3 already complete, 1 to run"));
    assert_non_null(strstr(o, "start dfa-s1"));
    free(o);
    /* another option is another command: the runs are redone, not reused */
    o = sh(&st, "%s compare --rules bp --seeds 1 --out %s %s --batch 32", bin, dir, opts);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "0 already complete, 1 to run"));
    free(o);
    /* plots, or the message that says why there are none */
    int have_gnuplot = system("command -v gnuplot >/dev/null 2>&1") == 0;
    snprintf(path, sizeof path, "%s/test.svg", dir);
    if (have_gnuplot) {
        char *svg = slurp(path);
        assert_non_null(svg);
        assert_non_null(strstr(svg, "<svg"));
        free(svg);
        snprintf(path, sizeof path, "%s/test.png", dir);
        assert_int_equal(access(path, R_OK), 0);
    }
    o = sh(&st, "PATH=/nonexistent %s compare --rules bp --seeds 1 --out %s %s --batch 32", bin,
           dir, opts);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "gnuplot is not installed"));
    assert_non_null(strstr(o, "summary.md"));
    free(o);
}

static void test_compare_grid_and_errors(void **state) {
    (void)state;
    need();
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/grid", tmp);
    int st;
    /* --lr a,b is a grid; --layers 8,8 is one value (two layers) */
    char *o = sh(&st, "%s compare --rules bp --seeds 1 --jobs 2 --out %s --data breast-cancer "
                      "--threads 1 --layers 8,8 --epochs 2 --lr 1e-4,1e-2 --val 60",
                 bin, dir);
    if (st) print_message("%s\n", o);
    assert_int_equal(st, 0);
    assert_non_null(strstr(o, "2 runs (1 rules x 2 settings x 1 seeds)"));
    assert_non_null(strstr(o, "--layers 8,8 --epochs 2 --lr 1e-4 --val 60"));
    assert_non_null(strstr(o, "selected for bp by validation: lr="));
    free(o);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/summary.md", dir);
    char *md = slurp(path);
    assert_non_null(strstr(md, "(selected)"));
    assert_non_null(strstr(md, "not the test score"));
    free(md);
    /* --diagnose alignment: the angle per layer, averaged over seeds, for the plot */
    o = sh(&st, "%s compare --rules dfa --seeds 1,2 --out %s/align --data breast-cancer "
                "--threads 1 --layers 8,8 --epochs 2 --diagnose alignment --diag-every 2",
           bin, tmp);
    assert_int_equal(st, 0);
    free(o);
    snprintf(path, sizeof path, "%s/align/alignment.titles", tmp);
    char *titles = slurp(path);
    assert_non_null(titles);
    assert_int_equal(strncmp(titles, "dfa L1\ndfa L2\n", 14), 0);
    free(titles);
    snprintf(path, sizeof path, "%s/align/alignment.dat", tmp);
    char *dat = slurp(path);
    assert_non_null(dat);
    const double ang = strtod(strstr(dat, "\n1 ") + 3, NULL); /* epoch 1, layer 1: mean angle */
    assert_true(ang > 10 && ang < 170);
    free(dat);
    /* what compare sets itself, and bad input */
    const char *bad[][2] = {{"--rules bp --seed 3", "--seed is set by compare"},
                            {"--rules bp --log x", "--log is set by compare"},
                            {"--rules nope", "unknown rule 'nope'"},
                            {"--seeds 1", "--rules R1,R2,... is needed"},
                            {"--rules bp --seeds x", "'x' is not a number"},
                            {"--rules bp --frobnicate 2", "unknown option '--frobnicate'"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o = sh(&st, "%s compare --out %s %s", bin, dir, bad[i][0]);
        if (!strstr(o, bad[i][1])) print_message("  expected '%s' in: %s\n", bad[i][1], o);
        assert_int_not_equal(st, 0);
        assert_non_null(strstr(o, bad[i][1]));
        free(o);
    }
    /* a failing run is reported, and the comparison fails */
    o = sh(&st, "%s compare --rules bp --out %s/fail --data breast-cancer --val 100000", bin, tmp);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(o, "bp-s1 failed"));
    assert_non_null(strstr(o, "validation size"));
    free(o);
}

/* ------------------------------------------------------ export, predict */

static void test_export_and_predict(void **state) {
    (void)state;
    need();
    char model[PATH_MAX], dir[PATH_MAX], csv[PATH_MAX];
    snprintf(model, sizeof model, "%s/e.bpf", tmp);
    snprintf(dir, sizeof dir, "%s/npy", tmp);
    snprintf(csv, sizeof csv, "%s/p.csv", tmp);
    int st;
    free(sh(&st, TRAIN "--rule dfa --layers 12 --epochs 2 --save %s", bin, model));
    assert_int_equal(st, 0);
    char *o = sh(&st, "%s export %s --npy %s", bin, model, dir);
    assert_int_equal(st, 0);
    free(o);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/index.json", dir);
    char *ix = slurp(path);
    assert_non_null(ix);
    assert_non_null(strstr(ix, "{\"name\": \"W1\", \"file\": \"W1.npy\", \"shape\": [12, 30]"));
    assert_non_null(strstr(ix, "{\"name\": \"B1\", \"file\": \"B1.npy\", \"shape\": [2, 12], "
                               "\"trainable\": false}"));
    free(ix);
    /* NPY 1.0: magic, a 64-byte-aligned header, then 12 x 30 floats equal to the model's */
    snprintf(path, sizeof path, "%s/W1.npy", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char h[10];
    assert_int_equal(fread(h, 1, 10, f), 10);
    assert_memory_equal(h, "\x93NUMPY\x01\x00", 8);
    const int hlen = h[8] | h[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0);
    fseek(f, 10 + hlen, SEEK_SET);
    float w[360];
    assert_int_equal(fread(w, sizeof(float), 361, f), 360);
    fclose(f);
    bpfree_model *m;
    bpfree_error e;
    assert_int_equal(bpfree_model_load(model, &m, &e), BPFREE_OK);
    bpfree_tensor_info ti;
    const float *W1 = bpfree_model_tensor(m, 0, &ti);
    assert_string_equal(ti.name, "W1");
    assert_int_equal(ti.rows, 12);
    assert_int_equal(ti.cols, 30);
    assert_memory_equal(w, W1, sizeof w);
    assert_null(bpfree_model_tensor(m, bpfree_model_tensor_count(m), &ti));
    bpfree_model_free(m);
    /* predict: one line per test sample; its argmax accuracy is eval's */
    o = sh(&st, "%s predict %s --data breast-cancer --out %s", bin, model, csv);
    assert_int_equal(st, 0);
    char *ev = sh(&st, "%s eval %s --data breast-cancer", bin, model);
    assert_non_null(strstr(o, "accuracy "));
    assert_non_null(strstr(ev, "accuracy "));
    const double a1 = strtod(strstr(o, "accuracy ") + 9, NULL),
                 a2 = strtod(strstr(ev, "accuracy ") + 9, NULL);
    assert_false(isnan(a1));
    assert_true(a1 == a2);
    free(o);
    free(ev);
    char *text = slurp(csv);
    assert_non_null(text);
    assert_int_equal(strncmp(text, "index,label,pred,score0,score1\n", 31), 0);
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 1 + 114);
    free(text);
    o = sh(&st, "%s predict %s --data breast-cancer", bin, model);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(o, "predict needs --out FILE.csv"));
    free(o);
    o = sh(&st, "%s export %s", bin, model);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(o, "export needs --npy DIR"));
    free(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_are_the_table),
        cmocka_unit_test(test_config_equals_preset),
        cmocka_unit_test(test_print_config_reads_back),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_compare_end_to_end),
        cmocka_unit_test(test_compare_grid_and_errors),
        cmocka_unit_test(test_export_and_predict),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
