/* export.c — weights out, predictions out: `bpfree export MODEL --npy DIR`
 * (one .npy per tensor and an index.json of names and shapes) and
 * `bpfree predict MODEL [--data D] --out FILE.csv` (each test sample's class
 * scores and their argmax).  Every file is written to a temporary name and
 * renamed. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file written to PATH.tmp.XXXXXX, renamed to PATH by out_close. */
typedef struct outfile {
    FILE *f;
    char tmp[PATH_MAX + 4200];
    const char *path;
} outfile;

static FILE *out_open(outfile *o, const char *path) {
    o->path = path;
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp.XXXXXX", path);
    int fd = cli_mkstemp(o->tmp);
    if (fd < 0 || !(o->f = fdopen(fd, "wb"))) die("%s: cannot write: %s", path, strerror(errno));
    return o->f;
}

static void out_close(outfile *o) {
    const int bad = ferror(o->f) | (fclose(o->f) != 0);
    if (bad || rename(o->tmp, o->path) != 0) {
        unlink(o->tmp);
        die("%s: could not write: %s", o->path, strerror(errno));
    }
}

/* MODEL, then "--name value" pairs among `known` (NULL-terminated) */
static const char *parse_args(int argc, char **argv, const char *const *known, const char **val,
                              const char *usage) {
    const char *model = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (model) die("unexpected argument '%s' (usage: %s)", a, usage);
            model = a;
            continue;
        }
        int k = 0;
        while (known[k] && strcmp(known[k], a + 2)) k++;
        if (!known[k]) die("unknown option '%s' (usage: %s)", a, usage);
        if (i + 1 >= argc) die("%s needs a value (usage: %s)", a, usage);
        val[k] = argv[++i];
    }
    if (!model) die("a model file is needed (usage: %s)", usage);
    return model;
}

/* ------------------------------------------------------------- export */

/* NPY 1.0: magic, version, header length, a Python dict padded with spaces
 * to a multiple of 64 bytes, then the little-endian float32 data. */
static void write_npy(const char *path, const float *x, const bpfree_tensor_info *t) {
    char dict[128];
    int n = t->ndim == 2 ? snprintf(dict, sizeof dict,
                                    "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }",
                                    t->rows, t->cols)
                         : snprintf(dict, sizeof dict,
                                    "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu,), }",
                                    t->n);
    const int total = ((10 + n + 1 + 63) / 64) * 64; /* + '\n' */
    const int hlen = total - 10;
    outfile o;
    FILE *f = out_open(&o, path);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fprintf(f, "%s%*s\n", dict, hlen - n - 1, "");
    for (size_t i = 0; i < t->n; i++) { /* little-endian whatever the host */
        uint32_t u;
        memcpy(&u, &x[i], 4);
        const unsigned char b[4] = {u & 0xff, (u >> 8) & 0xff, (u >> 16) & 0xff, u >> 24};
        fwrite(b, 1, 4, f);
    }
    out_close(&o);
}

int cmd_export(int argc, char **argv) {
    const char *usage = "bpfree export MODEL --npy DIR";
    const char *known[] = {"npy", NULL}, *val[1] = {NULL};
    const char *path = parse_args(argc, argv, known, val, usage);
    const char *dir = val[0];
    if (!dir) die("export needs --npy DIR (usage: %s)", usage);
    bpfree_error e;
    bpfree_model *m;
    if (bpfree_model_load(path, &m, &e)) die_err(&e);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) die("--npy %s: %s", dir, strerror(errno));
    char file[PATH_MAX + 64], index[PATH_MAX + 64]; /* out_close renames to index */
    snprintf(index, sizeof index, "%s/index.json", dir);
    outfile oi;
    FILE *ix = out_open(&oi, index);
    const bpfree_config *c = bpfree_model_config(m);
    fprintf(ix, "{\"model\": ");
    cli_json_str(ix, path);
    fprintf(ix, ", \"rule\": \"%s\", \"epochs_done\": %d, \"tensors\": [", c->rule,
            bpfree_model_epochs_done(m));
    for (int i = 0; i < bpfree_model_tensor_count(m); i++) {
        bpfree_tensor_info t;
        const float *x = bpfree_model_tensor(m, i, &t);
        snprintf(file, sizeof file, "%s/%s.npy", dir, t.name);
        write_npy(file, x, &t);
        fprintf(ix, "%s\n  {\"name\": \"%s\", \"file\": \"%s.npy\", \"shape\": [", i ? "," : "",
                t.name, t.name);
        if (t.ndim == 2) fprintf(ix, "%d, %d]", t.rows, t.cols);
        else fprintf(ix, "%zu]", t.n);
        fprintf(ix, ", \"trainable\": %s}", t.trainable ? "true" : "false");
    }
    fprintf(ix, "\n]}\n");
    out_close(&oi);
    printf("exported %d tensors of %s to %s/ (index.json lists names and shapes)\n",
           bpfree_model_tensor_count(m), path, dir);
    bpfree_model_free(m);
    return 0;
}

/* ------------------------------------------------------------ predict */

int cmd_predict(int argc, char **argv) {
    const char *usage = "bpfree predict MODEL [--data D] --out FILE.csv";
    const char *known[] = {"data", "out", NULL}, *val[2] = {NULL, NULL};
    const char *path = parse_args(argc, argv, known, val, usage);
    if (!val[1]) die("predict needs --out FILE.csv (usage: %s)", usage);
    bpfree_error e;
    bpfree_model *m;
    if (bpfree_model_load(path, &m, &e)) die_err(&e);
    const bpfree_config *c = bpfree_model_config(m);
    /* the data the model records (issue 17), unless --data names other data */
    const bpfree_data_info *di = bpfree_model_data(m);
    cli_run r = {.data = val[0] ? val[0] : di ? di->name : "mnist"};
    if (di && !strcmp(r.data, di->name)) {
        if (di->targets[0]) r.target = di->targets;
        r.classify = di->classify;
    }
    bpfree_dataset train = {0}, test = {0};
    cli_load_data(&r, di != NULL, &train, &test);
    bpfree_data_free(&train);
    if (di) { /* the input repeat, statistics and norm of training; checks the shape */
        if (bpfree_data_prepare(m, &test, &e)) die("%s: %s", path, e.msg);
    } else {
        if (test.dim != c->inputs)
            die("%s: the model takes %d inputs, %s has %d", path, c->inputs, r.data, test.dim);
        float mean, std;
        if (bpfree_norm_affine(c, &mean, &std)) bpfree_data_normalize(&test, mean, std);
    }
    const int C = c->outputs, regression = test.y != NULL;
    float *scores = malloc((size_t)test.n * C * sizeof *scores);
    if (!scores) die("out of memory");
    if (bpfree_predict(m, test.x, test.n, scores, &e)) die_err(&e);
    outfile o;
    FILE *f = out_open(&o, val[1]);
    fprintf(f, "index%s", regression ? "" : ",label,pred");
    for (int k = 0; k < C; k++) fprintf(f, ",%s%d", regression ? "out" : "score", k);
    fputc('\n', f);
    long correct = 0;
    for (int i = 0; i < test.n; i++) {
        const float *s = scores + (size_t)i * C;
        int best = 0;
        for (int k = 1; k < C; k++)
            if (s[k] > s[best]) best = k;
        fprintf(f, "%d", test.index ? test.index[i] : i);
        if (!regression) {
            fprintf(f, ",%d,%d", test.labels ? test.labels[i] : -1, best);
            correct += test.labels && test.labels[i] == best;
        }
        for (int k = 0; k < C; k++) fprintf(f, ",%.9g", (double)s[k]);
        fputc('\n', f);
    }
    out_close(&o);
    if (regression) printf("predicted %d samples of %s: %s\n", test.n, r.data, val[1]);
    else
        printf("predicted %d samples of %s: accuracy %.2f%% (argmax of the scores): %s\n", test.n,
               r.data, 100.0 * correct / test.n, val[1]);
    free(scores);
    bpfree_data_free(&test);
    bpfree_model_free(m);
    return 0;
}
