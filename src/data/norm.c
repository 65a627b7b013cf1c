/* norm.c — input standardisation with training-set statistics. */
#include "core/core.h"

#include <math.h>

void bpfree_data_stats(const bpfree_dataset *ds, float *mean, float *std) {
    size_t n = (size_t)ds->n * (size_t)ds->dim;
    double s = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++) s += ds->x[i];
    double mu = n ? s / (double)n : 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = ds->x[i] - mu;
        s2 += d * d;
    }
    double sd = n ? sqrt(s2 / (double)n) : 1.0;
    *mean = (float)mu;
    *std = (float)(sd > 1e-8 ? sd : 1e-8);
}

void bpfree_data_normalize(bpfree_dataset *ds, float mean, float std) {
    size_t n = (size_t)ds->n * (size_t)ds->dim;
    float inv = 1.0f / std;
    for (size_t i = 0; i < n; i++) ds->x[i] = (ds->x[i] - mean) * inv;
}
