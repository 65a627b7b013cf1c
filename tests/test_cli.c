/* test_cli.c — the bpfree command as a user meets it: every mistake exits
 * non-zero with one "bpfree: error:" line naming the problem; --help shows
 * every option with its default; `rules` lists every rule; if MNIST is
 * present, a short real run trains, logs, saves and evaluates to the same
 * accuracy; and --preset sets a paper's whole setup, overridden by the
 * options after it (on the small breast-cancer set).  The binary comes from
 * $BPFREE_BIN (else build/bpfree). */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp[256];         /* this run's scratch directory */
static char bin[PATH_MAX];    /* absolute path of the binary, "" if missing */
static char data_root[PATH_MAX]; /* a directory holding mnist/, "" if none */
/* from test_train_eval's log, for test_log_units: test_acc, layer_test_acc[0] */
static double log_test_acc = NAN, log_layer_acc = NAN;

/* ------------------------------------------------------------ helpers */


static char *slurp_fd(int fd) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    for (;;) {
        if (n + 1024 > cap) {
            cap *= 2;
            b = realloc(b, cap);
            assert_non_null(b);
        }
        ssize_t k = read(fd, b + n, cap - n - 1);
        if (k <= 0) break;
        n += (size_t)k;
    }
    b[n] = '\0';
    return b;
}

typedef struct run_result {
    int status; /* exit status; 128 + signal if killed */
    char *out;  /* stdout */
    char *err;  /* stderr */
} run_result;

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

/* Run the binary with argv (NULL-terminated, argv[0] excluded) in directory
 * `cwd` (NULL: ours) with $BPFREE_DATA set to `data` (NULL: unset), capturing
 * stdout and stderr.  The child is killed after 300 s so a hang fails. */
static run_result run_in(const char *cwd, const char *data, const char *const *args) {
    char so[300], se[300];
    snprintf(so, sizeof so, "%s/.stdout.XXXXXX", tmp);
    snprintf(se, sizeof se, "%s/.stderr.XXXXXX", tmp);
    int fo = mkstemp(so), fe = mkstemp(se);
    assert_true(fo >= 0 && fe >= 0);
    unlink(so);
    unlink(se);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    for (; args[n - 1] && n < 63; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0) _exit(126);
        if (data) setenv("BPFREE_DATA", data, 1);
        else unsetenv("BPFREE_DATA");
        dup2(fo, 1);
        dup2(fe, 2);
        alarm(300); /* survives exec */
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    run_result r;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + (WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    r.out = slurp_fd(fo);
    r.err = slurp_fd(fe);
    close(fo);
    close(fe);
    return r;
}

#define RUN(...) run_in(NULL, NULL, (const char *const[]){__VA_ARGS__, NULL})

static void need_bin(void) {
    if (!bin[0]) {
        print_message("  bpfree binary not found or not executable (set BPFREE_BIN)\n");
        skip();
    }
}

static void need_data(void) {
    need_bin();
    if (!data_root[0]) {
        print_message("  no MNIST in ./data/mnist or $BPFREE_DATA/mnist; "
                      "run scripts/fetch-data.sh\n");
        skip();
    }
}

static void show(const char *what, const run_result *r) {
    print_message("  %s: exit %d\n  stdout: %.2000s\n  stderr: %.2000s\n", what, r->status,
                  r->out, r->err);
}

/* Expect exit status != 0 and stderr to be one "bpfree: error: ..." line
 * holding every NULL-terminated key. */
static void expect_error(const char *what, run_result r, ...) {
    int ok = r.status != 0 && r.status < 128 && strncmp(r.err, "bpfree: error: ", 15) == 0;
    /* one line: the message, nothing after it */
    const char *nl = strchr(r.err, '\n');
    ok = ok && nl && nl[1] == '\0';
    va_list ap;
    va_start(ap, r);
    for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *))
        if (!strstr(r.err, k)) {
            print_message("  stderr lacks \"%s\"\n", k);
            ok = 0;
        }
    va_end(ap);
    if (!ok) show(what, &r);
    run_free(&r);
    assert_true(ok);
}

static int has_file(const char *dir, const char *name) {
    char p[PATH_MAX + 64];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (stat(p, &st) == 0) return 1;
    snprintf(p, sizeof p, "%s/%s.gz", dir, name);
    return stat(p, &st) == 0;
}

static int mnist_in(const char *root) {
    char d[PATH_MAX + 16];
    snprintf(d, sizeof d, "%s/mnist", root);
    return has_file(d, "train-images-idx3-ubyte") && has_file(d, "train-labels-idx1-ubyte") &&
           has_file(d, "t10k-images-idx3-ubyte") && has_file(d, "t10k-labels-idx1-ubyte");
}

/* p made absolute against the current directory (the runs change it). */
static int abs_path(const char *p, char *out, size_t cap) {
    char cwd[PATH_MAX];
    int k = p[0] == '/' ? snprintf(out, cap, "%s", p)
            : getcwd(cwd, sizeof cwd) ? snprintf(out, cap, "%s/%s", cwd, p)
                                      : -1;
    return k > 0 && (size_t)k < cap;
}

static int setup(void **state) {
    *state = tmp; /* for tu_rm_scratch */
    if (tu_mkdtemp(tmp, sizeof tmp, "cli")) return -1;
    const char *b = getenv("BPFREE_BIN");
    if (!b || !*b) b = "build/bpfree";
    bin[0] = '\0';
    if (access(b, X_OK) == 0) abs_path(b, bin, sizeof bin);
    const char *env = getenv("BPFREE_DATA");
    char r[PATH_MAX];
    data_root[0] = '\0';
    if (abs_path("data", r, sizeof r) && mnist_in(r))
        snprintf(data_root, sizeof data_root, "%s", r);
    else if (env && *env && abs_path(env, r, sizeof r) && mnist_in(r))
        snprintf(data_root, sizeof data_root, "%s", r);
    return 0;
}

/* ------------------------------------------------------------ mistakes */

static void test_unknown_rule(void **state) {
    (void)state;
    need_bin();
    run_result r = RUN("train", "--rule", "nope");
    /* every rule the library knows is listed */
    int ok = 1;
    for (int i = 0; i < bpfree_rule_count(); i++) {
        char w[64];
        snprintf(w, sizeof w, "%s", bpfree_rule_at(i)->name);
        if (!strstr(r.err, w)) {
            print_message("  error does not list rule %s\n", w);
            ok = 0;
        }
    }
    expect_error("train --rule nope", r, "'nope'", "rule", "bp", "mf", "dfa", NULL);
    assert_true(ok);
}

static void test_unknown_option(void **state) {
    (void)state;
    need_bin();
    expect_error("train --bogus", RUN("train", "--bogus"), "unknown option", "--bogus", NULL);
    expect_error("train --bogus=3", RUN("train", "--bogus=3"), "unknown option", "--bogus",
                 NULL);
    expect_error("train -x", RUN("train", "-x"), "-x", NULL);
    expect_error("train --quiet=1", RUN("train", "--quiet=1"), "--quiet", NULL);
}

static void test_malformed_number(void **state) {
    (void)state;
    need_bin();
    expect_error("--lr 1e-3x", RUN("train", "--lr", "1e-3x"), "--lr", "1e-3x", NULL);
    expect_error("--lr=1e-3x", RUN("train", "--lr=1e-3x"), "--lr", "1e-3x", NULL);
    expect_error("--lr nan", RUN("train", "--lr", "nan"), "--lr", "nan", NULL);
    expect_error("--lr ''", RUN("train", "--lr", ""), "--lr", NULL);
    expect_error("--epochs ten", RUN("train", "--epochs", "ten"), "--epochs", "ten", NULL);
    expect_error("--epochs 2.5", RUN("train", "--epochs", "2.5"), "--epochs", "2.5", NULL);
    expect_error("--batch 99999999999", RUN("train", "--batch", "99999999999"), "--batch",
                 "99999999999", NULL);
    expect_error("--layers 100,x", RUN("train", "--layers", "100,x"), "--layers", "100,x",
                 NULL);
    expect_error("--epochs 0", RUN("train", "--epochs", "0"), "epochs", NULL);
    expect_error("--seed -1", RUN("train", "--seed", "-1"), "--seed", NULL);
}

static void test_missing_value(void **state) {
    (void)state;
    need_bin();
    expect_error("train --lr", RUN("train", "--lr"), "--lr", "value", NULL);
    expect_error("train --rule", RUN("train", "--rule"), "--rule", "value", NULL);
}

static void test_bad_enum(void **state) {
    (void)state;
    need_bin();
    expect_error("--act swish", RUN("train", "--act", "swish"), "--act", "'swish'", "relu",
                 "tanh", NULL);
    expect_error("--optim lbfgs", RUN("train", "--optim", "lbfgs"), "--optim", "lbfgs", "sgd",
                 "adam", NULL);
    expect_error("--loss hinge", RUN("train", "--loss", "hinge"), "--loss", "hinge", NULL);
    expect_error("--threading omp", RUN("train", "--threading", "omp"), "--threading", "'omp'",
                 "split", "blas", NULL);
}

static void test_missing_data(void **state) {
    (void)state;
    need_bin();
    expect_error("--data /nonexistent/dir",
                 RUN("train", "--layers", "8", "--data", "/nonexistent/dir"),
                 "/nonexistent/dir", NULL);
    /* a directory holding no IDX files: the first missing file is named */
    char empty[300];
    snprintf(empty, sizeof empty, "%s/empty-data", tmp);
    assert_int_equal(mkdir(empty, 0700), 0);
    expect_error("--data EMPTY", RUN("train", "--layers", "8", "--data", empty),
                 "train-images-idx3-ubyte", empty, NULL);
    /* the images are there, the labels are not */
    char p[400];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", empty);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fclose(f);
    expect_error("--data HALF", RUN("train", "--layers", "8", "--data", empty),
                 "train-labels-idx1-ubyte", NULL);
    rm_tree(empty);
    /* a dataset name that is not found anywhere */
    expect_error("--data nosuchset", RUN("train", "--layers", "8", "--data", "nosuchset"),
                 "nosuchset", NULL);
}

static void test_unknown_command(void **state) {
    (void)state;
    need_bin();
    expect_error("frobnicate", RUN("frobnicate"), "'frobnicate'", "train", NULL);
}

static void test_eval_errors(void **state) {
    (void)state;
    need_bin();
    expect_error("eval", RUN("eval"), "model", NULL);
    char p[300];
    snprintf(p, sizeof p, "%s/no-such-model.bin", tmp);
    expect_error("eval missing", RUN("eval", p), p, NULL);
    /* a text file */
    snprintf(p, sizeof p, "%s/notes.txt", tmp);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("These are my notes about training runs.\nlr=0.001 was best.\n", f);
    fclose(f);
    expect_error("eval text", RUN("eval", p), p, "not a bpfree model", NULL);
    /* an empty file */
    snprintf(p, sizeof p, "%s/empty.bin", tmp);
    f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    expect_error("eval empty", RUN("eval", p), p, NULL);
    unlink(p);
    snprintf(p, sizeof p, "%s/notes.txt", tmp);
    unlink(p);
}

/* A foreign file shorter than the 8-byte magic is "not a bpfree model", not
 * a truncated one. */
static void test_eval_short_foreign_file(void **state) {
    (void)state;
    need_bin();
    char p[300];
    snprintf(p, sizeof p, "%s/tiny.txt", tmp);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("hello\n", f);
    fclose(f);
    expect_error("eval tiny text", RUN("eval", p), p, "not a bpfree model", NULL);
    unlink(p);
}

/* ------------------------------------------------------------ help */

static void test_help(void **state) {
    (void)state;
    need_bin();
    const char *forms[][3] = {{"--help", NULL}, {"help", NULL}, {"train", "--help"}};
    for (int i = 0; i < 3; i++) {
        run_result r = run_in(NULL, NULL, forms[i]);
        if (r.status != 0 || r.err[0]) show(forms[i][0], &r);
        assert_int_equal(r.status, 0);
        assert_string_equal(r.err, "");
        /* every option line "  --name ARG  help [default]" ends in a default */
        int n_opts = 0, bad = 0;
        for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
            if (strncmp(line, "  --", 4) != 0) continue;
            n_opts++;
            size_t len = strlen(line);
            const char *open = strrchr(line, '[');
            if (len < 3 || line[len - 1] != ']' || !open || open[-1] != ' ' ||
                open + 2 > line + len - 1) {
                print_message("  option line without a [default]: %s\n", line);
                bad++;
            }
        }
        run_free(&r);
        assert_int_equal(bad, 0);
        assert_true(n_opts >= 30);
    }
    run_result r = RUN("--help");
    const char *must[] = {"--rule ",  "--data ",    "--layers ", "--act ",   "--loss ",
                          "--epochs ", "--batch ",  "--optim ",  "--lr ",    "--sched ",
                          "--seed ",   "--threads ", "--log ",   "--save ",  "--quiet ",
                          "--val ",    "--init ",    "--predict ", "--greedy ", "--norm "};
    for (size_t i = 0; i < sizeof must / sizeof *must; i++) {
        if (!strstr(r.out, must[i])) print_message("  --help lacks %s\n", must[i]);
        assert_non_null(strstr(r.out, must[i]));
    }
    /* the generic defaults a user relies on */
    assert_non_null(strstr(r.out, "[mf]"));
    assert_non_null(strstr(r.out, "[mnist]"));
    /* rule-dependent defaults are listed per rule */
    assert_non_null(strstr(r.out, "[(rule)]"));
    assert_non_null(strstr(r.out, "mf           --layers 1000,1000 --act relu"));
    assert_non_null(strstr(r.out, "f3           --layers 500 --act tanh --loss bce"));
    run_free(&r);
    r = RUN("--version");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, BPFREE_VERSION));
    assert_non_null(strstr(r.out, bpfree_build_blas()));
    run_free(&r);
    /* no arguments: usage on stderr and a failure status */
    r = RUN(NULL);
    if (r.status == 0) show("(no arguments)", &r);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "usage"));
    run_free(&r);
}

static void test_rules(void **state) {
    (void)state;
    need_bin();
    run_result r = RUN("rules");
    if (r.status != 0) show("rules", &r);
    assert_int_equal(r.status, 0);
    const char *names[] = {"bp", "mf", "dfa"};
    for (int i = 0; i < 3; i++) {
        char w[16];
        snprintf(w, sizeof w, "\n%s ", names[i]);
        if (!strstr(r.out, w)) print_message("  `rules` does not list %s\n", names[i]);
        assert_non_null(strstr(r.out, w));
    }
    for (int i = 0; i < bpfree_rule_count(); i++) {
        char w[64];
        snprintf(w, sizeof w, "\n%s ", bpfree_rule_at(i)->name);
        assert_non_null(strstr(r.out, w));
        assert_non_null(strstr(r.out, bpfree_rule_at(i)->title));
    }
    run_free(&r);
}

/* ------------------------------------------------------------ a real run */

/* "... test accuracy 94.10% ..." or "... accuracy 94.10% ..." -> "94.10" */
static int find_acc(const char *text, const char *key, char *out, size_t cap) {
    const char *p = strstr(text, key);
    if (!p) return 0;
    p += strlen(key);
    size_t n = strspn(p, "0123456789.");
    if (n == 0 || n >= cap || p[n] != '%') return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

/* The value after "\"key\": " in a JSON line, or NAN. */
static double json_num(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(line, k);
    if (!p) return NAN;
    p += strlen(k);
    if (*p == '[') p++;
    char *end;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

/* One epoch of 784-200 with the mf defaults (Adam 1e-3, lr cooling to 0
 * within the epoch), batch 128, seed 1: 93.73% (seeds 2-4: 93.45, 93.84,
 * 94.02; bp with the same settings 93.57%).  A broken rule lands far below. */
#define MIN_ACC 93.0

static void test_train_eval(void **state) {
    (void)state;
    need_data();
    char dir[300], log[400], model[400];
    snprintf(dir, sizeof dir, "%s/run", tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    snprintf(model, sizeof model, "%s/model.bin", dir);
    /* relative paths, resolved in the run directory; mnist found via $BPFREE_DATA */
    run_result r = run_in(dir, data_root,
                          (const char *const[]){"train", "--rule", "mf", "--layers", "200",
                                                "--epochs", "1", "--batch", "128", "--threads",
                                                "1", "--data", "mnist", "--log", "log.jsonl",
                                                "--save", "model.bin", NULL});
    if (r.status != 0) show("train", &r);
    assert_int_equal(r.status, 0);
    char acc[32];
    const char *fin = strstr(r.out, "final:");
    if (!fin || !find_acc(fin, "test accuracy ", acc, sizeof acc)) show("train", &r);
    assert_non_null(fin);
    assert_true(find_acc(fin, "test accuracy ", acc, sizeof acc));
    print_message("  mf 784-200, 1 epoch: test accuracy %s%%\n", acc);
    assert_true(atof(acc) >= MIN_ACC);
    assert_non_null(strstr(r.out, "saved model.bin"));
    run_free(&r);
    /* the log and the model have an ordinary new file's mode (0666 less the
     * umask), not the 0600 of the mkstemp temporary they were renamed from */
    const mode_t um = umask(0);
    umask(um);
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0666 & ~um);
    assert_int_equal(stat(model, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0666 & ~um);

    /* the log: a header object, then one JSON line per epoch with the
     * documented fields */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[8192];
    int lines = 0;
    double test_acc = NAN, layer_acc = NAN, epoch = NAN;
    assert_non_null(fgets(line, sizeof line, f));
    const char *hkeys[] = {"\"type\": \"header\"", "\"argv\": [\"train\", ", "\"bpfree\": \"" BPFREE_VERSION "\"",
                           "\"commit\"", "\"blas\"", "\"cpu\": {\"name\": ", "\"threads\": 1", "\"rule\": \"mf\"",
                           "\"seed\": 1", "\"name\": \"mnist\"", "\"checksum\"",
                           "\"shape\": [1, 28, 28]", "\"config\": {", "\"layers\": \"200\"",
                           "\"batch\": \"128\"", "\"resumed\": null"};
    for (size_t k = 0; k < sizeof hkeys / sizeof *hkeys; k++) {
        if (!strstr(line, hkeys[k])) print_message("  header lacks %s: %s", hkeys[k], line);
        assert_non_null(strstr(line, hkeys[k]));
    }
    int finals = 0;
    while (fgets(line, sizeof line, f)) {
        assert_non_null(strchr(line, '\n'));
        assert_int_equal(line[0], '{');
        if (!strncmp(line, "{\"type\": \"final\"", 16)) { /* the last line */
            finals++;
            assert_true(json_num(line, "test_acc") == test_acc);
            assert_true(json_num(line, "s_per_epoch") > 0);
            assert_true(json_num(line, "peak_model_bytes") > 0);
            continue;
        }
        assert_int_equal(finals, 0);
        lines++;
        const char *keys[] = {"\"epoch\"", "\"train_loss\"", "\"train_acc\"", "\"test_acc\"",
                              "\"seconds\"", "\"layer_test_acc\""};
        for (int k = 0; k < 6; k++) {
            if (!strstr(line, keys[k])) print_message("  log line lacks %s: %s", keys[k], line);
            assert_non_null(strstr(line, keys[k]));
        }
        epoch = json_num(line, "epoch");
        test_acc = json_num(line, "test_acc");
        layer_acc = json_num(line, "layer_test_acc");
    }
    fclose(f);
    assert_int_equal(lines, 1);
    assert_int_equal(finals, 1);
    assert_true(epoch == 1.0);
    /* test_acc is a fraction in the log, and it is the final accuracy */
    assert_true(fabs(100.0 * test_acc - atof(acc)) < 0.006);

    /* eval reproduces the accuracy to 2 decimals */
    r = run_in(dir, data_root,
               (const char *const[]){"eval", "model.bin", "--data", "mnist", NULL});
    if (r.status != 0) show("eval", &r);
    assert_int_equal(r.status, 0);
    char acc2[32];
    if (!find_acc(r.out, "accuracy ", acc2, sizeof acc2)) show("eval", &r);
    assert_true(find_acc(r.out, "accuracy ", acc2, sizeof acc2));
    assert_string_equal(acc, acc2);
    run_free(&r);

    assert_int_equal(tu_count_entries(dir, ".tmp."), 0);

    log_test_acc = test_acc;
    log_layer_acc = layer_acc;
    rm_tree(dir);
}

/* One Mono-Forward layer with FF prediction: that layer's head is the whole
 * prediction, so the log's layer_test_acc[0] equals its test_acc — in the
 * same unit (a fraction, like every other accuracy in the log). */
static void test_log_units(void **state) {
    (void)state;
    need_data();
    if (isnan(log_test_acc)) {
        print_message("  test_train_eval did not get as far as reading the log\n");
        fail();
    }
    if (!(fabs(log_layer_acc - log_test_acc) < 1e-9))
        print_message("  log: test_acc %g but layer_test_acc [%g] (percent vs fraction?)\n",
                      log_test_acc, log_layer_acc);
    assert_true(fabs(log_layer_acc - log_test_acc) < 1e-9);
}

/* --profile-shapes: a profile line and one line per product shape, most time
 * first, whose calls add up to the profile line's gemm_calls. */
static void test_profile_shapes(void **state) {
    (void)state;
    need_data();
    run_result r = run_in(tmp, data_root,
                          (const char *const[]){"train", "--rule", "bp", "--layers", "32",
                                                "--epochs", "1", "--batch", "500", "--threads",
                                                "1", "--data", "mnist", "--val", "50000",
                                                "--quiet", "--profile-shapes", NULL});
    if (r.status != 0) show("train --profile-shapes", &r);
    assert_int_equal(r.status, 0);
    const char *p = strstr(r.out, "profile: ");
    assert_non_null(p);
    const char *gc = strstr(p, "gemm_calls=");
    assert_non_null(gc);
    const long calls = atol(gc + strlen("gemm_calls="));
    long sum = 0;
    int lines = 0;
    double prev = INFINITY;
    const char *q = strstr(r.out, "profile-shape: ");
    for (; q; q = strstr(q + 1, "profile-shape: ")) {
        const char *c = strstr(q, " calls="), *sec = strstr(q, " seconds=");
        const char *al = strstr(q, " alone_seconds=");
        assert_true(c && sec && al && strstr(q, " M=") && strstr(q, " gflops="));
        sum += atol(c + strlen(" calls="));
        const double t = atof(sec + strlen(" seconds="));
        assert_true(t <= prev);
        assert_true(atof(al + strlen(" alone_seconds=")) > 0.0);
        prev = t;
        lines++;
    }
    if (lines == 0 || sum != calls) show("train --profile-shapes", &r);
    /* bp on 784-32-10: three products per step (forward, input signal, gradient) per layer */
    assert_true(lines >= 5);
    assert_int_equal(sum, calls);
    run_free(&r);
}

/* An unwritable --save or --log fails before any training is done, not after
 * the whole run. */
static void test_unwritable_outputs_fail_early(void **state) {
    (void)state;
    need_data();
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no-such-dir/out", tmp);
    const char *which[] = {"--log", "--save"};
    int late = 0;
    for (int i = 0; i < 2; i++) {
        run_result r = run_in(tmp, data_root,
                              (const char *const[]){"train", "--rule", "mf", "--layers", "16",
                                                    "--epochs", "1", "--threads", "1", "--data",
                                                    "mnist", which[i], bad, NULL});
        int trained = strstr(r.out, "epoch ") != NULL || strstr(r.out, "final:") != NULL;
        if (trained) {
            print_message("  %s %s: trained a whole run before failing\n", which[i], bad);
            late++;
        }
        expect_error(which[i], r, bad, NULL);
    }
    assert_int_equal(tu_count_entries(tmp, ".tmp."), 0);
    assert_int_equal(late, 0);
}


/* --------------------------------------------------- issue 17: outputs */

/* the first line of a file (static buffer) */
static const char *first_line(const char *path) {
    static char line[8192];
    line[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(line, sizeof line, f)) line[0] = '\0';
        fclose(f);
    }
    return line;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* D5: an existing directory as --save, --log or --checkpoint is an error
 * before any training. */
static void test_directory_outputs_fail_early(void **state) {
    (void)state;
    need_data();
    const char *which[] = {"--log", "--save", "--checkpoint"};
    for (int i = 0; i < 3; i++) {
        run_result r = run_in(tmp, data_root,
                              (const char *const[]){"train", "--rule", "bp", "--layers", "8",
                                                    "--epochs", "1", "--threads", "1", "--data",
                                                    "breast-cancer", which[i], tmp, NULL});
        if (strstr(r.out, "epoch ")) print_message("  %s DIR: trained first\n", which[i]);
        assert_null(strstr(r.out, "epoch "));
        expect_error(which[i], r, "is a directory", NULL);
    }
    assert_int_equal(tu_count_entries(tmp, ".tmp."), 0);
}

/* D2: a full disk (here: a file size limit, as `ulimit -f`) is an error
 * with a message, and an older log stays as it was. */
static void test_full_disk_keeps_old_log(void **state) {
    (void)state;
    need_data();
    char log[400], cmd[2048];
    snprintf(log, sizeof log, "%s/old.jsonl", tmp);
    write_text(log, "{\"type\": \"epoch\", \"epoch\": 1}\n");
    snprintf(cmd, sizeof cmd,
             "cd %s && BPFREE_DATA=%s sh -c 'ulimit -f 1; trap \"\" XFSZ; exec %s train --rule bp "
             "--layers 8 --epochs 1 --threads 1 --data breast-cancer --quiet --log old.jsonl' "
             ">%s/full.out 2>&1",
             tmp, data_root, bin, tmp);
    int rc = system(cmd);
    char out[400];
    snprintf(out, sizeof out, "%s/full.out", tmp);
    const char *msg = first_line(out);
    if (rc == 0 || !strstr(msg, "old.jsonl")) print_message("  rc %d: %s\n", rc, msg);
    assert_true(rc != 0);
    assert_non_null(strstr(msg, "bpfree: error: --log old.jsonl"));
    assert_string_equal(first_line(log), "{\"type\": \"epoch\", \"epoch\": 1}\n");
    unlink(out);
    unlink(log);
    assert_int_equal(tu_count_entries(tmp, ".tmp."), 0);
}

/* D6: a loss that grows a millionfold stops the run with the epoch and a
 * hint; --allow-divergence lets it go on.  D4: a run that fails mid-way
 * leaves its log complete under its name, ending in the error. */
static void test_divergence_and_failure_logs(void **state) {
    (void)state;
    need_data();
    run_result r = run_in(tmp, data_root,
                          (const char *const[]){"train", "--rule", "bp", "--layers", "16",
                                                "--lr", "1e6", "--epochs", "3", "--threads", "1",
                                                "--data", "breast-cancer", "--quiet", NULL});
    expect_error("--lr 1e6", r, "diverged at epoch 1", "--allow-divergence", NULL);
    r = run_in(tmp, data_root,
               (const char *const[]){"train", "--rule", "bp", "--layers", "16", "--lr", "1e6",
                                     "--epochs", "2", "--threads", "1", "--data", "breast-cancer",
                                     "--quiet", "--allow-divergence", NULL});
    if (r.status != 0) show("--allow-divergence", &r);
    assert_int_equal(r.status, 0);
    run_free(&r);
    char log[400];
    snprintf(log, sizeof log, "%s/nan.jsonl", tmp);
    r = run_in(tmp, data_root,
               (const char *const[]){"train", "--rule", "bp", "--layers", "16", "--lr", "1e30",
                                     "--epochs", "3", "--threads", "1", "--data", "breast-cancer",
                                     "--quiet", "--log", "nan.jsonl", NULL});
    expect_error("--lr 1e30", r, "NaN", NULL);
    assert_non_null(strstr(first_line(log), "\"type\": \"header\""));
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[8192], last[8192] = "";
    while (fgets(line, sizeof line, f)) snprintf(last, sizeof last, "%s", line);
    fclose(f);
    if (!strstr(last, "\"type\": \"error\"")) print_message("  last log line: %s", last);
    assert_non_null(strstr(last, "\"type\": \"error\""));
    unlink(log);
    assert_int_equal(tu_count_entries(tmp, ".tmp."), 0);
}

/* --diag-every 0 used to mean 1 silently; --log - writes JSON to stdout
 * and the screen lines to stderr. */
static void test_small_items(void **state) {
    (void)state;
    need_data();
    run_result r = RUN("train", "--rule", "dfa", "--diagnose", "alignment", "--diag-every", "0");
    expect_error("--diag-every 0", r, "--diag-every", NULL);
    r = run_in(tmp, data_root,
               (const char *const[]){"train", "--rule", "bp", "--layers", "8", "--epochs", "2",
                                     "--threads", "1", "--data", "breast-cancer", "--log", "-",
                                     NULL});
    if (r.status != 0) show("--log -", &r);
    assert_int_equal(r.status, 0);
    assert_true(strncmp(r.out, "{\"type\": \"header\"", 17) == 0);
    int objects = 0;
    for (const char *p = r.out; (p = strstr(p, "{\"type\": ")); p++) objects++;
    assert_int_equal(objects, 4); /* header, 2 epochs, final */
    assert_null(strstr(r.out, "final:"));
    assert_non_null(strstr(r.err, "final:"));
    assert_null(strchr(r.err, '\r')); /* no progress line when not on a terminal */
    run_free(&r);
    /* a killed run's temporary file (its process is gone) is removed by the
     * next run with the same path; a live process's is left alone */
    char stale[400], live[400];
    snprintf(stale, sizeof stale, "%s/out.bpf.tmp.2147483646-abcdef", tmp);
    snprintf(live, sizeof live, "%s/out.bpf.tmp.%ld-abcdef", tmp, (long)getpid());
    write_text(stale, "half a model");
    write_text(live, "being written");
    r = run_in(tmp, data_root,
               (const char *const[]){"train", "--rule", "bp", "--layers", "8", "--epochs", "1",
                                     "--threads", "1", "--data", "breast-cancer", "--quiet",
                                     "--save", "out.bpf", NULL});
    if (r.status != 0 || !strstr(r.err, "removed")) show("stale temp", &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "removed"));
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(live, F_OK), 0);
    run_free(&r);
    unlink(live);
    char out[400];
    snprintf(out, sizeof out, "%s/out.bpf", tmp);
    unlink(out);
    /* regression runs print no per-layer accuracy */
    r = run_in(tmp, data_root,
               (const char *const[]){"train", "--rule", "mf", "--layers", "8", "--epochs", "1",
                                     "--threads", "1", "--data", "diabetes", NULL});
    if (r.status != 0) show("mf diabetes", &r);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, "layers 0.00"));
    assert_null(strstr(r.out, "%"));
    run_free(&r);
}

/* The model remembers its data: eval without --data uses it (CSV options
 * included), refuses data of another shape, and warns when the training
 * data's checksum differs. */
static void test_model_remembers_data(void **state) {
    (void)state;
    need_data();
    char csv[400];
    snprintf(csv, sizeof csv, "%s/t.csv", tmp);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "a,kind,b,c\n");
    for (int i = 0; i < 120; i++)
        fprintf(f, "%d,%s,%g,%g\n", i % 7, i % 3 ? "x" : "y", 100.0 + (i % 3) * 10 + i % 5,
                0.001 * (i % 11));
    fclose(f);
    char spec[450];
    snprintf(spec, sizeof spec, "csv:%s", csv);
    run_result r = run_in(tmp, data_root,
                          (const char *const[]){"train", "--rule", "bp", "--layers", "8",
                                                "--epochs", "3", "--threads", "1", "--data", spec,
                                                "--target", "kind", "--classify", "--save",
                                                "csv.bpf", NULL});
    if (r.status != 0) show("csv train", &r);
    assert_int_equal(r.status, 0);
    char acc[32], acc2[32];
    assert_true(find_acc(strstr(r.out, "final:"), "test accuracy ", acc, sizeof acc));
    run_free(&r);
    r = run_in(tmp, data_root, (const char *const[]){"eval", "csv.bpf", NULL});
    if (r.status != 0 || !find_acc(r.out, "accuracy ", acc2, sizeof acc2)) show("eval csv", &r);
    assert_int_equal(r.status, 0);
    assert_true(find_acc(r.out, "accuracy ", acc2, sizeof acc2));
    assert_string_equal(acc, acc2); /* same data, same standardisation, no options repeated */
    assert_null(strstr(r.err, "warning"));
    run_free(&r);
    r = run_in(tmp, data_root,
               (const char *const[]){"eval", "csv.bpf", "--data", "breast-cancer", NULL});
    expect_error("eval on other data", r, "30 input features", "expects 3", NULL);
    /* same shape, other contents: a warning naming the checksum */
    f = fopen(csv, "a");
    assert_non_null(f);
    fprintf(f, "1,x,2,3\n");
    fclose(f);
    r = run_in(tmp, data_root, (const char *const[]){"eval", "csv.bpf", NULL});
    if (!strstr(r.err, "warning") || !strstr(r.err, "checksum")) show("eval changed csv", &r);
    assert_non_null(strstr(r.err, "warning"));
    assert_non_null(strstr(r.err, "checksum"));
    run_free(&r);
    char p[400];
    snprintf(p, sizeof p, "%s/csv.bpf", tmp);
    unlink(p);
    unlink(csv);
}

/* ------------------------------------------------------------ presets */

/* Run the binary on the small breast-cancer set and load the model it
 * saves. */
static bpfree_model *cli_model(const char *args, const char *path, int expect_ok) {
    char cmd[2048 + PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "%s train --data breast-cancer --threads 1 --quiet %s --save %s >/dev/null 2>&1", bin,
             args, path);
    int rc = system(cmd);
    if (rc != 0) {
        if (expect_ok) printf("  failed (%d): %s\n", rc, cmd);
        return NULL;
    }
    bpfree_model *m = NULL;
    bpfree_error err;
    if (bpfree_model_load(path, &m, &err)) printf("  load: %s\n", err.msg);
    return m;
}

static void test_cli_presets(void **state) {
    (void)state;
    const char *env = getenv("BPFREE_BIN");
    if ((!env || !*env) && access("build/bpfree", X_OK) != 0) skip();
    if (!tu_have_data("breast-cancer")) {
        printf("  no data/breast-cancer: skipped\n");
        skip();
    }
    char path[300];
    snprintf(path, sizeof path, "%s/presets.model", tmp);
    /* the preset overrides what came before it; what follows overrides it */
    bpfree_model *m = cli_model("--ff-negatives random --layers 3 --preset hinton --layers 8,8 "
                                "--epochs 1", path, 1);
    assert_non_null(m);
    const bpfree_config *c = bpfree_model_config(m);
    assert_string_equal(c->rule, "ff");
    assert_int_equal(c->n_hidden, 2);
    assert_int_equal(c->hidden[0], 8);
    assert_int_equal(c->epochs, 1);
    assert_int_equal(c->ff_negatives, BPFREE_FF_NEG_HARD);
    assert_int_equal(c->ff_goodness, BPFREE_FF_SUM);
    assert_int_equal(c->ff_theta_width, 1);
    assert_true(c->ff_peer == 0.03f);
    assert_int_equal(c->ff_skip_first, 1);
    assert_int_equal(c->ff_head, 1); /* Hinton's code trains its softmax head */
    assert_int_equal(c->optim.kind, BPFREE_OPTIM_SGD);
    assert_true(c->optim.weight_decay > 0.0f && c->optim.momentum == 0.9f);
    assert_int_equal(c->optim.sched, BPFREE_SCHED_COOLDOWN);
    bpfree_model_free(m);
    /* a cff rule given before the preset stays */
    m = cli_model("--rule cff-adaptive --preset cff-paper --layers 8,8 --greedy 1 --batch 64 "
                  "--val 0 --cff-gamma-lr 0.02",
                  path, 1);
    assert_non_null(m);
    c = bpfree_model_config(m);
    assert_string_equal(c->rule, "cff-adaptive");
    assert_int_equal(c->ff_goodness, BPFREE_FF_MEAN);
    assert_int_equal(c->ff_norm, BPFREE_FF_L2);
    assert_int_equal(c->ff_theta_width, 0);
    assert_true(c->ff_theta == 2.0f);
    assert_int_equal(c->ff_label_max, 1);
    assert_int_equal(c->ff_negatives, BPFREE_FF_NEG_RANDOM);
    assert_int_equal(c->ff_head, 0); /* the PyTorch FF it builds on has none */
    assert_int_equal(c->optim.kind, BPFREE_OPTIM_ADAM);
    assert_true(c->optim.lr == 0.03f);
    assert_int_equal(c->greedy_epochs, 1);
    assert_int_equal(c->batch, 64);
    assert_int_equal(c->norm, BPFREE_NORM_STANDARDIZE);
    assert_true(c->cff_gamma_lr == 0.02f);
    assert_int_equal(bpfree_model_epochs_done(m), 2); /* 1 per layer */
    bpfree_model_free(m);
    assert_null(cli_model("--preset nope", path, 0));
    unlink(path);
}

/* A CIFAR-10 directory of n training and n/2 test records: channel c of
 * every image holds values near 40 + 80 c, so the channels' statistics
 * differ (labels cycle through the 10 classes). */
static void write_cifar_dir(const char *dir, int n) {
    assert_int_equal(mkdir(dir, 0777), 0);
    const char *names[2] = {"data_batch_1.bin", "test_batch.bin"};
    for (int f = 0; f < 2; f++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        FILE *o = fopen(path, "wb");
        assert_non_null(o);
        for (int r = 0; r < (f ? n / 2 : n); r++) {
            fputc(r % 10, o);
            for (int k = 0; k < 3072; k++) fputc(40 + 80 * (k / 1024) + (r * 7 + k * 13) % 31, o);
        }
        assert_int_equal(fclose(o), 0);
    }
}

/* Trains bp one epoch on a small synthetic CIFAR folder (tmp/SUB) with
 * --norm NORM, saved as MODEL; `eval MODEL` must give training's accuracy.
 * Returns the model file loaded (the caller frees it). */
static bpfree_model *train_then_eval(const char *sub, const char *norm, const char *model) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/%s", tmp, sub);
    write_cifar_dir(dir, 60);
    run_result r = run_in(tmp, data_root,
                          (const char *const[]){"train", "--rule", "bp", "--layers", "8",
                                                "--epochs", "1", "--threads", "1", "--data", dir,
                                                "--norm", norm, "--save", model, NULL});
    if (r.status != 0) show(norm, &r);
    assert_int_equal(r.status, 0);
    char acc[32], acc2[32];
    assert_true(find_acc(strstr(r.out, "final:"), "test accuracy ", acc, sizeof acc));
    run_free(&r);
    r = run_in(tmp, data_root, (const char *const[]){"eval", model, NULL});
    if (r.status != 0 || !find_acc(r.out, "accuracy ", acc2, sizeof acc2)) show(model, &r);
    assert_true(find_acc(r.out, "accuracy ", acc2, sizeof acc2));
    assert_string_equal(acc, acc2);
    run_free(&r);
    char path[500];
    snprintf(path, sizeof path, "%s/%s", tmp, model);
    bpfree_model *m;
    bpfree_error e;
    if (bpfree_model_load(path, &m, &e) != BPFREE_OK) fail_msg("%s: %s", path, e.msg);
    return m;
}

/* --norm channel: per image channel statistics of the training rows, kept
 * in the model's data record (one per column, each its channel's), applied
 * again by eval; data without channels is refused. */
static void test_norm_channel(void **state) {
    (void)state;
    bpfree_model *m = train_then_eval("cifar-syn", "channel", "ch.bpf");
    const bpfree_data_info *di = bpfree_model_data(m);
    assert_non_null(di);
    assert_int_equal(di->n_cols, 3072);
    for (int c = 0; c < 3; c++) { /* pixels / 255: channel c near (55 + 80 c) / 255 */
        const float want = (55.0f + 80.0f * c) / 255.0f;
        assert_true(fabsf(di->col_mean[c * 1024] - want) < 0.01f);
        assert_true(di->col_mean[c * 1024] == di->col_mean[c * 1024 + 1023]);
        assert_true(di->col_std[c * 1024] > 0.01f && di->col_std[c * 1024] < 0.1f);
    }
    bpfree_model_free(m);
    run_result r = RUN("train", "--rule", "bp", "--data", "breast-cancer", "--norm", "channel");
    expect_error("--norm channel on a table", r, "no image channels", NULL);
}

/* --norm symmetric: pixels into [-1, 1] by the fixed (x - 0.5) / 0.5, kept in
 * the model (eval gives training's accuracy); refused on a table. */
static void test_norm_symmetric(void **state) {
    (void)state;
    bpfree_model *m = train_then_eval("cifar-sym", "symmetric", "sym.bpf");
    const bpfree_config *c = bpfree_model_config(m);
    float mean = 0, std = 0;
    assert_int_equal(c->norm, BPFREE_NORM_SYMMETRIC);
    assert_int_equal(bpfree_norm_affine(c, &mean, &std), 1);
    assert_true(mean == 0.5f && std == 0.5f);
    bpfree_model_free(m);
    bpfree_config s;
    bpfree_error e;
    assert_int_equal(bpfree_config_default(&s, "bp", 4, 2, &e), BPFREE_OK);
    assert_int_equal(bpfree_norm_affine(&s, &mean, &std), 0); /* scale: none */
    run_result r = RUN("train", "--rule", "bp", "--data", "breast-cancer", "--norm", "symmetric");
    expect_error("--norm symmetric on a table", r, "is a table", NULL);
}

/* 1 if the first 64 KiB of a (binary) file hold `needle` */
static int file_has(const char *path, const char *needle) {
    static char b[1 << 16];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    const size_t n = fread(b, 1, sizeof b, f), k = strlen(needle);
    fclose(f);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(b + i, needle, k)) return 1;
    return 0;
}

/* r: a finished train run that saved `model` (in tmp); frees r.  `bpfree
 * eval MODEL` prints the same test accuracy as the run's final line (the
 * model re-applies its input transform by itself), and the model file
 * holds the line `key` */
static void eval_matches_train(run_result *r, const char *model, const char *key) {
    char acc[32], acc2[32], path[400];
    assert_true(find_acc(strstr(r->out, "final:"), "test accuracy ", acc, sizeof acc));
    run_free(r);
    run_result e = run_in(tmp, data_root, (const char *const[]){"eval", model, NULL});
    if (e.status != 0 || !find_acc(e.out, "accuracy ", acc2, sizeof acc2)) show(model, &e);
    assert_int_equal(e.status, 0);
    assert_true(find_acc(e.out, "accuracy ", acc2, sizeof acc2));
    assert_string_equal(acc, acc2);
    run_free(&e);
    snprintf(path, sizeof path, "%s/%s", tmp, model);
    assert_true(file_has(path, key));
}

/* --input-repeat K: the model sees K copies of every input, records K, and
 * eval repeats the data as loaded by itself (same accuracy, no option);
 * bad values are refused; a model trained without it has no data_repeat key
 * (files of other runs stay byte for byte as before). */
static void test_input_repeat(void **state) {
    (void)state;
    need_data();
    run_result r = run_in(tmp, data_root,
                          (const char *const[]){"train", "--rule", "fg-a", "--layers", "8",
                                                "--epochs", "2", "--threads", "1", "--data",
                                                "breast-cancer", "--input-repeat", "3", "--save",
                                                "rep.bpf", NULL});
    if (r.status != 0) show("--input-repeat 3", &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "90 inputs") ? r.out : strstr(r.out, "90-8-2"));
    eval_matches_train(&r, "rep.bpf", "\ndata_repeat=3\n");
    char path[400];
    r = run_in(tmp, data_root,
               (const char *const[]){"train", "--rule", "fg-a", "--layers", "8", "--epochs", "1",
                                     "--threads", "1", "--data", "breast-cancer", "--save",
                                     "norep.bpf", "--quiet", NULL});
    assert_int_equal(r.status, 0);
    run_free(&r);
    snprintf(path, sizeof path, "%s/norep.bpf", tmp);
    assert_false(file_has(path, "data_repeat"));
    r = RUN("train", "--rule", "fg-a", "--input-repeat", "0");
    expect_error("--input-repeat 0", r, "--input-repeat", NULL);
    r = RUN("train", "--rule", "fg-a", "--data", "breast-cancer", "--input-repeat", "5000");
    expect_error("--input-repeat 5000", r, "4096", NULL);
}

/* --input-pad P: MNIST framed to 32 x 32 (the model's input shape says so),
 * recorded with the model, and eval pads the data as loaded by itself (same
 * accuracy); a bad pad and data without an image shape are refused */
static void test_input_pad(void **state) {
    (void)state;
    need_data();
    run_result r = run_in(tmp, data_root,
                          (const char *const[]){"train", "--rule", "bp", "--arch", "2C3s-A2-8",
                                                "--epochs", "1", "--val", "59000", "--threads",
                                                "1", "--input-pad", "2", "--save", "pad.bpf", NULL});
    if (r.status != 0) show("--input-pad 2", &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "1024-"));  /* 1 x 32 x 32 inputs */
    eval_matches_train(&r, "pad.bpf", "\ndata_pad=2\n");
    r = RUN("train", "--rule", "bp", "--input-pad", "65");
    expect_error("--input-pad 65", r, "--input-pad", NULL);
    r = RUN("train", "--rule", "bp", "--data", "breast-cancer", "--input-pad", "1");
    expect_error("--input-pad on tabular data", r, "no image shape", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_rule),
        cmocka_unit_test(test_unknown_option),
        cmocka_unit_test(test_malformed_number),
        cmocka_unit_test(test_missing_value),
        cmocka_unit_test(test_bad_enum),
        cmocka_unit_test(test_missing_data),
        cmocka_unit_test(test_unknown_command),
        cmocka_unit_test(test_eval_errors),
        cmocka_unit_test(test_eval_short_foreign_file),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_train_eval),
        cmocka_unit_test(test_log_units),
        cmocka_unit_test(test_profile_shapes),
        cmocka_unit_test(test_unwritable_outputs_fail_early),
        cmocka_unit_test(test_directory_outputs_fail_early),
        cmocka_unit_test(test_full_disk_keeps_old_log),
        cmocka_unit_test(test_divergence_and_failure_logs),
        cmocka_unit_test(test_small_items),
        cmocka_unit_test(test_model_remembers_data),
        cmocka_unit_test(test_cli_presets),
        cmocka_unit_test(test_input_repeat),
        cmocka_unit_test(test_input_pad),
        cmocka_unit_test(test_norm_channel),
        cmocka_unit_test(test_norm_symmetric),
    };
    return cmocka_run_group_tests(tests, setup, tu_rm_scratch);
}
