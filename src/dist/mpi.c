/* mpi.c — main() of bpfree-mpi: the bpfree command with data-parallel
 * training over Open MPI (`mpirun -np N build/bpfree-mpi train ... --dist
 * data`).  The library knows no MPI: it calls the three functions of a
 * bpfree_dist, given here, which combine over MPI_COMM_WORLD.  Rank 0 alone
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

static bpfree_status attach(bpfree_model *m, bpfree_error *err) {
    const bpfree_dist d = {.rank = g.rank, .size = g.size, .sum_floats = sum_floats,
                           .sum_doubles = sum_doubles, .gather = gather};
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
