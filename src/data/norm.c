/* norm.c — input standardisation with training-set statistics: one mean
 * and std over all of x (images), or one per column (tables, csv.c). */
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

void bpfree_data_col_stats(const float *v, int n, int d, float *mean, float *std) {
    for (int j = 0; j < d; j++) {
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < n; i++) s += v[(size_t)i * (size_t)d + (size_t)j];
        double mu = n > 0 ? s / n : 0.0;
        for (int i = 0; i < n; i++) {
            double e = v[(size_t)i * (size_t)d + (size_t)j] - mu;
            s2 += e * e;
        }
        double sd = n > 0 ? sqrt(s2 / n) : 0.0;
        mean[j] = (float)mu;
        std[j] = sd > 1e-8 ? (float)sd : 1.0f; /* constant column: only centred */
    }
}

void bpfree_data_col_normalize(float *v, int n, int d, const float *mean, const float *std) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            float *p = v + (size_t)i * (size_t)d + (size_t)j;
            *p = (*p - mean[j]) / std[j];
        }
}
