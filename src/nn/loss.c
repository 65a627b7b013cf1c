/* loss.c — losses on the network output.  All three give dL/dz = (p - y)/B:
 * softmax+CE and sigmoid+BCE by their canonical links, MSE (1/2 squared
 * error) directly. */
#include "nn/nn.h"

#include <math.h>

static double softmax_ce_row(const float *z, const float *y, int C, float *p) {
    float mx = z[0];
    for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
    double s = 0.0;
    for (int c = 0; c < C; c++) s += exp((double)(z[c] - mx));
    double lse = log(s) + mx, l = 0.0;
    for (int c = 0; c < C; c++) {
        if (y[c] != 0.0f) l -= (double)y[c] * ((double)z[c] - lse);
        if (p) p[c] = (float)exp((double)z[c] - lse);
    }
    return l;
}

/* log(1 + e^x) without overflow. */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

double bp_loss(bpfree_loss kind, const float *z, const float *y, int B, int C, float *dz) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *zb = z + (size_t)b * C, *yb = y + (size_t)b * C;
        float *db = dz ? dz + (size_t)b * C : NULL;
        switch (kind) {
        case BPFREE_LOSS_CE:
            total += softmax_ce_row(zb, yb, C, db);
            break;
        case BPFREE_LOSS_BCE:
            for (int c = 0; c < C; c++) {
                /* -[y log s(z) + (1-y) log(1 - s(z))] = softplus(z) - y z */
                total += softplus(zb[c]) - (double)yb[c] * zb[c];
                if (db) db[c] = 1.0f / (1.0f + expf(-zb[c]));
            }
            break;
        case BPFREE_LOSS_MSE:
        case BPFREE_LOSS_COUNT:
            for (int c = 0; c < C; c++) {
                double e = (double)zb[c] - yb[c];
                total += 0.5 * e * e;
                if (db) db[c] = zb[c];
            }
            break;
        }
        if (db) {
            float inv = 1.0f / (float)B;
            for (int c = 0; c < C; c++) db[c] = (db[c] - yb[c]) * inv;
        }
    }
    return total / B;
}

int bp_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

int bp_count_correct(const float *z, const int *labels, int B, int C) {
    int n = 0;
    for (int b = 0; b < B; b++) n += bp_argmax(z + (size_t)b * C, C) == labels[b];
    return n;
}
