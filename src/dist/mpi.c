/* mpi.c — main() of bpfree-mpi: the bpfree command with data-parallel
 * or layer-parallel training over Open MPI (`mpirun -np N build/bpfree-mpi
 * train ... --dist data|layers`).  The library knows no MPI: it calls the
 * functions of a bpfree_dist, given here, which combine over MPI_COMM_WORLD
 * (data) or pass messages between neighbouring ranks (layers).  Rank 0 alone
 * writes the screen, the log and the model.  A rank that ends with an
 * error (die: a bad option, a missing file, a failed step) ends the whole
 * job through MPI_Abort, with a line naming the rank, instead of leaving the
 * others waiting in a collective. */
#include "cli/cli.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static struct {
    int rank, size, done;
    int *displs; /* (size) gather offsets */
} g;

/* counts above INT_MAX go in pieces (MPI counts are int) */
#define PIECE ((size_t)1 << 30)

static void sum_floats(void *ctx, float *buf, size_t n) {
    (void)ctx;
    for (size_t i = 0; i < n; i += PIECE) {
        const int k = (int)(n - i < PIECE ? n - i : PIECE);
        MPI_Allreduce(MPI_IN_PLACE, buf + i, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

static void sum_doubles(void *ctx, double *buf, size_t n) {
    (void)ctx;
    for (size_t i = 0; i < n; i += PIECE) {
        const int k = (int)(n - i < PIECE ? n - i : PIECE);
        MPI_Allreduce(MPI_IN_PLACE, buf + i, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
}

static void gather(void *ctx, void *buf, const int *bytes) {
    (void)ctx;
    for (int r = 0, at = 0; r < g.size; r++) {
        g.displs[r] = at;
        at += bytes[r];
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, bytes, g.displs, MPI_BYTE,
                   MPI_COMM_WORLD);
}

/* Layer-parallel messages: a few requests in flight (the engine keeps at
 * most two sends and two receives), numbered by their slot.  One tag: MPI
 * delivers the messages between two ranks in the order they were sent. */
#define NREQ 8
static MPI_Request reqs[NREQ];
static int req_used[NREQ];

static int slot(void) {
    for (int i = 0; i < NREQ; i++)
        if (!req_used[i]) return req_used[i] = 1, i;
    fprintf(stderr, "bpfree-mpi: rank %d: more than %d messages in flight\n", g.rank, NREQ);
    MPI_Abort(MPI_COMM_WORLD, 1);
    return -1;
}

static int count(size_t bytes) {
    if (bytes > (size_t)INT_MAX) {
        fprintf(stderr, "bpfree-mpi: rank %d: a message of %zu bytes (at most %d)\n", g.rank,
                bytes, INT_MAX);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return (int)bytes;
}

static int isend(void *ctx, int peer, const void *buf, size_t bytes) {
    (void)ctx;
    const int i = slot();
    MPI_Isend(buf, count(bytes), MPI_BYTE, peer, 1, MPI_COMM_WORLD, &reqs[i]);
    return i;
}

static int irecv(void *ctx, int peer, void *buf, size_t bytes) {
    (void)ctx;
    const int i = slot();
    MPI_Irecv(buf, count(bytes), MPI_BYTE, peer, 1, MPI_COMM_WORLD, &reqs[i]);
    return i;
}

static void wait_req(void *ctx, int i) {
    (void)ctx;
    MPI_Wait(&reqs[i], MPI_STATUS_IGNORE);
    req_used[i] = 0;
}

static bpfree_status attach(bpfree_model *m, int layers, bpfree_error *err) {
    const bpfree_dist d = {.rank = g.rank, .size = g.size, .sum_floats = sum_floats,
                           .sum_doubles = sum_doubles, .gather = gather,
                           .mode = layers ? BPFREE_DIST_LAYERS : BPFREE_DIST_DATA,
                           .isend = isend, .irecv = irecv, .wait = wait_req};
    return bpfree_model_set_dist(m, &d, err);
}

/* exit() before the end of main (die): this rank's error is on stderr;
 * end every rank now */
static void on_exit_early(void) {
    if (g.done) return;
    fprintf(stderr, "bpfree-mpi: rank %d of %d stopped with an error (above); ending the job\n",
            g.rank, g.size);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

int main(int argc, char **argv) {
    /* A rank that waits (for a message, a reduction) yields its core instead
     * of spinning, unless the user says otherwise: Open MPI spins by default
     * when it thinks each rank has a core, and on a machine shared with other
     * work a spinning rank takes the core its peer needs — 2-rank bp epochs
     * ran 2.5x slower (BENCHMARKS.md, "Layer-parallel training"). */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g.size);
    if (!(g.displs = malloc((size_t)g.size * sizeof *g.displs))) {
        fprintf(stderr, "bpfree-mpi: rank %d: out of memory\n", g.rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    atexit(on_exit_early);
    if (g.rank && !freopen("/dev/null", "w", stdout)) /* rank 0 alone prints */
        fprintf(stderr, "bpfree-mpi: rank %d: cannot silence its output\n", g.rank);
    static cli_dist hooks;
    hooks = (cli_dist){.rank = g.rank, .size = g.size, .attach = attach};
    cli_dist_hooks = &hooks;
    int rc = cli_main(argc, argv);
    fflush(stdout);
    g.done = 1;
    if (rc) {
        fprintf(stderr, "bpfree-mpi: rank %d of %d exited with status %d; ending the job\n",
                g.rank, g.size, rc);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
    free(g.displs);
    return 0;
}
