/* Small vector kernels shared by the rules.
 *
 * A plain `s += x[i] * x[i]` loop is never vectorised without -ffast-math
 * (reassociation would change the result), so reductions here keep VEC_LANES
 * independent partial sums — the compiler turns those into SIMD registers —
 * and add the lanes in a fixed order: fast, and the same bits on every run. */
#include "core/core.h"

#define VEC_LANES 16

double bp_sumsq(const float *x, int n) {
    float acc[VEC_LANES] = {0};
    int i = 0;
    for (; i + VEC_LANES <= n; i += VEC_LANES)
        for (int k = 0; k < VEC_LANES; k++) acc[k] += x[i + k] * x[i + k];
    double s = 0.0;
    for (int k = 0; k < VEC_LANES; k++) s += acc[k];
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

float bp_maxval(const float *x, int n) {
    float m = x[0];
    int i = 0;
    if (n >= VEC_LANES) {
        float acc[VEC_LANES];
        for (int k = 0; k < VEC_LANES; k++) acc[k] = x[k];
        for (i = VEC_LANES; i + VEC_LANES <= n; i += VEC_LANES)
            for (int k = 0; k < VEC_LANES; k++) acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
        for (int k = 0; k < VEC_LANES; k++) m = acc[k] > m ? acc[k] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}
