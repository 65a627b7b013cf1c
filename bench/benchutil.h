/* benchutil.h — the small pieces every bench/ program needs. */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "64,256" -> {64, 256}; returns how many (at most cap) */
static inline int bench_split_ints(const char *s, int *out, int cap) {
    int n = 0;
    char *dup = strdup(s), *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save))
        out[n++] = atoi(t);
    free(dup);
    return n;
}

/* qsort comparator for doubles, ascending */
static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* monotonic wall clock, seconds */
static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
