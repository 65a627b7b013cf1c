/* distutil.h — what the MPI tests (agree.c, layers.c) share. */
#ifndef BPFREE_TESTS_DISTUTIL_H
#define BPFREE_TESTS_DISTUTIL_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 of n floats' bytes */
static inline uint64_t fnv(const float *v, size_t n) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)v;
    for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* 1 on every rank if any rank says 1 */
static inline int any(int bad) {
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return bad;
}

#endif
