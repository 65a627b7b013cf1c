/* layers.c — layer-parallel training (bpfree_dist mode BPFREE_DIST_LAYERS)
 * against one process, run under `mpirun -np N` by tests/mpi.sh (N = 1, 2,
 * 4).
 *
 * For every rule with a per-layer step (the update-unlocked ones that
 * --pipeline runs): a 72-32-24-16-12(-4) net on tu_prototype_data (520
 * samples in batches of 50: the epoch's last batch is short), 2 epochs,
 * trained once by this process alone (one BLAS thread), once by this process
 * with --pipeline N, and twice over the N ranks.  Checked:
 *   - every rank ends with the same parameters and state, bit for bit, and
 *     they are the one-process model's and the pipelined one's bit for bit
 *     (the schedule is the same: each layer sees the same batches, in order,
 *     with the same activations), and so are the test set's loss and
 *     accuracy every rank evaluates;
 *   - rank 0 holds the one-process run's per-sample state (F3's store);
 *   - the two layer-parallel runs are bit-identical (run to run).
 * Every other rule is refused with the taxonomy's reason (N >= 2).  The
 * verdicts are agreed over the ranks, so a failure never leaves a rank
 * waiting in a collective. */
#include "distutil.h"
#include "testutil.h"

#include <mpi.h>

enum { D = 72, C = 4, NTRAIN = 520, NTEST = 64, BATCH = 50, EPOCHS = 2, NREQ = 8 };

static int g_rank, g_size;
static bpfree_dataset g_tr, g_te;
static MPI_Request g_req[NREQ];
static int g_used[NREQ];

static void sum_f(void *ctx, float *b, size_t n) {
    (void)ctx;
    MPI_Allreduce(MPI_IN_PLACE, b, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static void sum_d(void *ctx, double *b, size_t n) {
    (void)ctx;
    MPI_Allreduce(MPI_IN_PLACE, b, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}
static void gather(void *ctx, void *buf, const int *bytes) {
    (void)ctx;
    int displs[64];
    for (int r = 0, at = 0; r < g_size; r++, at += bytes[r - 1]) displs[r] = at;
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, bytes, displs, MPI_BYTE,
                   MPI_COMM_WORLD);
}
static int slot(void) {
    for (int i = 0; i < NREQ; i++)
        if (!g_used[i]) return g_used[i] = 1, i;
    MPI_Abort(MPI_COMM_WORLD, 3);
    return -1;
}
static int isend(void *ctx, int peer, const void *buf, size_t bytes) {
    (void)ctx;
    const int i = slot();
    MPI_Isend(buf, (int)bytes, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &g_req[i]);
    return i;
}
static int irecv(void *ctx, int peer, void *buf, size_t bytes) {
    (void)ctx;
    const int i = slot();
    MPI_Irecv(buf, (int)bytes, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &g_req[i]);
    return i;
}
static void wait_req(void *ctx, int i) {
    (void)ctx;
    MPI_Wait(&g_req[i], MPI_STATUS_IGNORE);
    g_used[i] = 0;
}

static const bpfree_dist g_dist_proto = {.sum_floats = sum_f, .sum_doubles = sum_d,
                                         .gather = gather, .mode = BPFREE_DIST_LAYERS,
                                         .isend = isend, .irecv = irecv, .wait = wait_req};

static bpfree_status config(const char *rule, bpfree_config *c, bpfree_error *e) {
    bpfree_status st = bpfree_config_default(c, rule, D, C, e);
    c->n_hidden = 4;
    c->hidden[0] = 32, c->hidden[1] = 24, c->hidden[2] = 16, c->hidden[3] = 12;
    c->batch = BATCH;
    c->epochs = EPOCHS;
    c->seed = 7;
    c->threads = 1;
    return st;
}

/* mode 0: alone; 1: --pipeline N alone; 2: over the ranks.  The trained
 * parameters, state, then test loss and accuracy, in a new buffer of *n
 * floats; *store: a copy of the per-sample state (rank 0's), or NULL. */
static float *train(const char *rule, int mode, size_t *n, float **store, size_t *ns, char *why) {
    bpfree_config c;
    bpfree_error e;
    bpfree_model *m = NULL;
    bpfree_eval ev = {0};
    why[0] = '\0';
    *store = NULL;
    *ns = 0;
    if (config(rule, &c, &e)) goto fail;
    if (mode == 1) c.pipeline = g_size;
    if (bpfree_model_new(&c, &m, &e)) goto fail;
    bpfree_dist d = g_dist_proto;
    d.rank = g_rank;
    d.size = g_size;
    if (mode == 2 && bpfree_model_set_dist(m, &d, &e)) goto fail;
    for (int ep = 0; ep < c.epochs; ep++)
        if (bpfree_train_epoch(m, &g_tr, NULL, &e)) goto fail;
    if (bpfree_evaluate(m, &g_te, &ev, &e)) goto fail;
    *n = m->n_params + m->n_state + 2;
    float *out = malloc(*n * sizeof(float));
    assert_non_null(out);
    memcpy(out, m->params, m->n_params * sizeof(float));
    memcpy(out + m->n_params, m->state, m->n_state * sizeof(float));
    out[*n - 2] = (float)ev.loss;
    out[*n - 1] = (float)ev.acc;
    size_t rows = 0, width = 0;
    const float *st = m->rule->sample_state ? m->rule->sample_state(m, &rows, &width) : NULL;
    if (st && (*store = malloc(rows * width * sizeof(float) + 1))) {
        memcpy(*store, st, rows * width * sizeof(float));
        *ns = rows * width;
    }
    bpfree_model_free(m);
    return out;
fail:
    snprintf(why, 512, "%s", e.msg);
    bpfree_model_free(m);
    *n = 0;
    return NULL;
}

static void test_rule(void **state) {
    const char *rule = *state;
    size_t n1 = 0, np = 0, na = 0, nb = 0, s1 = 0, sa = 0, sx = 0;
    char w1[512], wp[512] = "", wa[512], wb[512];
    float *st1 = NULL, *sta = NULL, *stx = NULL;
    float *one = train(rule, 0, &n1, &st1, &s1, w1);
    float *pip = g_size > 1 ? train(rule, 1, &np, &stx, &sx, wp) : NULL;
    free(stx);
    float *a = train(rule, 2, &na, &sta, &sa, wa);
    float *b = train(rule, 2, &nb, &stx, &sx, wb);
    free(stx);
    unsigned long long h = a ? fnv(a, na) : 0, lo = h, hi = h;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
    if (any(!one || !a || !b || (g_size > 1 && !pip))) fail_msg("%s: %s%s%s%s", rule, w1, wp, wa, wb);
    assert_true(!any(na != n1 || nb != n1 || (pip && np != n1)));
    assert_true(lo == hi);                                    /* ranks agree */
    assert_true(!any(memcmp(a, b, na * sizeof(float)) != 0)); /* run to run */
    const int exact = !any(memcmp(a, one, na * sizeof(float)) != 0);
    const int piped = !pip || !any(memcmp(pip, one, na * sizeof(float)) != 0);
    const int stored = !any(g_rank == 0 && (sa != s1 || (s1 && memcmp(sta, st1, s1 * sizeof(float)))));
    printf("  %-8s %d rank(s): digest %016llx, test accuracy %.4f: %s the one-process model%s%s\n",
           rule, g_size, lo, (double)a[na - 1], exact ? "bit for bit" : "NOT",
           pip ? (piped ? ", = --pipeline N" : ", != --pipeline N") : "",
           s1 ? (stored ? ", rank 0's sample store too" : ", sample store differs") : "");
    if (!exact) tu_close(rule, a, one, na, 0.0, 0.0); /* where */
    assert_true(exact && piped && stored);
    free(one), free(pip), free(a), free(b), free(st1), free(sta);
}

/* a rule without a per-layer step: refused, saying why */
static void test_refused(void **state) {
    const char *rule = *state;
    bpfree_config c;
    bpfree_error e;
    bpfree_model *m = NULL;
    assert_int_equal(config(rule, &c, &e), 0);
    assert_int_equal(bpfree_model_new(&c, &m, &e), 0);
    bpfree_dist d = g_dist_proto;
    d.rank = g_rank;
    d.size = g_size;
    const bpfree_status st = bpfree_model_set_dist(m, &d, &e);
    if (g_rank == 0) printf("  %-13s refused: %s\n", rule, e.msg);
    bpfree_model_free(m);
    assert_int_not_equal(st, 0);
    assert_true(strstr(e.msg, "locked") || strstr(e.msg, "per-layer step") ||
                strstr(e.msg, "random negatives") || strstr(e.msg, "hands state back"));
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (g_size > 64) MPI_Abort(MPI_COMM_WORLD, 1);
    if (g_rank && !freopen("/dev/null", "w", stdout)) MPI_Abort(MPI_COMM_WORLD, 1);
    bpfree_set_threads(1);
    tu_prototype_data(&g_tr, &g_te, D, C, NTRAIN, NTEST);
    const int nr = bpfree_rule_count();
    struct CMUnitTest *t = calloc((size_t)nr, sizeof *t);
    if (!t) MPI_Abort(MPI_COMM_WORLD, 1);
    int k = 0;
    for (int i = 0; i < nr; i++) {
        const char *name = bpfree_rule_at(i)->name, *only = argc > 1 ? argv[1] : NULL;
        if (only && strcmp(only, name)) continue;
        const bp_rule *r = bp_rule_lookup(name);
        if (r->pipe_layer && !r->pipe_handback)
            t[k++] = (struct CMUnitTest){name, test_rule, NULL, NULL, (void *)name};
        else if (g_size > 1) /* one rank: one process, nothing to refuse */
            t[k++] = (struct CMUnitTest){name, test_refused, NULL, NULL, (void *)name};
    }
    char group[64];
    snprintf(group, sizeof group, "layer-parallel, %d rank(s)", g_size);
    int rc = _cmocka_run_group_tests(group, t, (size_t)k, NULL, NULL);
    bpfree_data_free(&g_tr);
    bpfree_data_free(&g_te);
    free(t);
    MPI_Finalize();
    return rc;
}
