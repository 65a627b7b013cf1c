/* norm.c — input standardisation with training-set statistics: one mean
 * and std over all of x (images), one per channel (colour images), or one
 * per column (tables, csv.c). */
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

/* Images: channel c of sample i is x[i*dim + c*plane .. + plane), plane =
 * dim / channels; a dataset without a shape is one channel. */
static int n_channels(const bpfree_dataset *ds) {
    return ds->channels > 0 && ds->dim % ds->channels == 0 ? ds->channels : 1;
}

void bpfree_data_channel_stats(const bpfree_dataset *ds, float *mean, float *std) {
    int C = n_channels(ds);
    size_t plane = (size_t)ds->dim / (size_t)C, count = (size_t)ds->n * plane;
    for (int c = 0; c < C; c++) {
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < ds->n; i++) {
            const float *p = ds->x + (size_t)i * (size_t)ds->dim + (size_t)c * plane;
            for (size_t k = 0; k < plane; k++) s += p[k];
        }
        double mu = count ? s / (double)count : 0.0;
        for (int i = 0; i < ds->n; i++) {
            const float *p = ds->x + (size_t)i * (size_t)ds->dim + (size_t)c * plane;
            for (size_t k = 0; k < plane; k++) {
                double d = p[k] - mu;
                s2 += d * d;
            }
        }
        double sd = count ? sqrt(s2 / (double)count) : 0.0;
        mean[c] = (float)mu;
        std[c] = sd > 1e-8 ? (float)sd : 1.0f; /* constant channel: only centred */
    }
}

void bpfree_data_channel_normalize(bpfree_dataset *ds, const float *mean, const float *std) {
    int C = n_channels(ds);
    size_t plane = (size_t)ds->dim / (size_t)C;
    for (int i = 0; i < ds->n; i++)
        for (int c = 0; c < C; c++) {
            float *p = ds->x + (size_t)i * (size_t)ds->dim + (size_t)c * plane;
            float m = mean[c], s = std[c];
            for (size_t k = 0; k < plane; k++) p[k] = (p[k] - m) / s;
        }
}
