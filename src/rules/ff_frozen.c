/* ff_frozen.c — a frozen first layer's products, kept (Forward-Forward
 * under --greedy; the algorithm: ff.c).
 *
 * Once the greedy schedule has moved past layer 1, W_1 and b_1 no longer
 * change, nor does a training sample's positive row (its own label): its
 * product x̂⁺ W_1^T + b_1 is computed once, in the training set's order and
 * in chunks of R as training computes it, and kept by dataset index; every
 * later batch reads it and adds the negative rows' label correction
 * (bp_dense_forward_grouped).  A layer-2 step of --preset cff-paper then
 * skips a 50,000 x 784 x 500 product (about a quarter of its work).  The
 * product is the same function of the same row whichever chunk the row is
 * in, so the numbers do not change (the golden digests of greedy ff and
 * CFF hold), and a resumed run rebuilds the same values.  It is rebuilt
 * when W_1, b_1 (kept in z1_wb) or the training set differ from those it
 * was computed from — the set by its size and a fingerprint of its inputs,
 * labels and indices, so that a set refilled in place, or new arrays at the
 * old addresses, are seen — and not built at all if it would take more
 * than FF_Z1_MAX bytes. */
#include "ff.h"

#include <stdint.h>
#include <string.h>

#define FF_Z1_MAX ((size_t)1 << 30)

/* n bytes hashed in four independent multiply-xor lanes of 64-bit words:
 * a fingerprint at memory speed (MNIST's inputs in a few milliseconds; a
 * byte-wise hash, as bpfree_data_checksum, takes a good part of a second) */
static uint64_t fingerprint(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t l[4] = {h, h ^ 0x9e3779b97f4a7c15ull, h + 1, h ^ 0xc2b2ae3d27d4eb4full};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, b + i + 8 * k, 8);
            l[k] = (l[k] ^ w) * 0x100000001b3ull;
        }
    for (; i < n; i++) l[0] = (l[0] ^ b[i]) * 0x100000001b3ull;
    return ((l[0] * 31 + l[1]) * 31 + l[2]) * 31 + l[3];
}

static uint64_t data_fingerprint(const bpfree_dataset *ds) {
    const size_t n = (size_t)ds->n;
    uint64_t h = fingerprint(0xcbf29ce484222325ull, ds->x, n * ds->dim * sizeof(float));
    h = fingerprint(h, ds->labels, n * sizeof(int));
    return ds->index ? fingerprint(h, ds->index, n * sizeof(int)) : h;
}

bpfree_status bp_ff_begin_epoch(bpfree_model *m, const bpfree_dataset *ds, bpfree_error *err) {
    ff_state *s = m->rs;
    const bpfree_config *c = &m->cfg;
    const bp_layer *L1 = &m->layers[0];
    const int D = c->inputs, O = L1->out;
    int first, last;
    bp_ff_trained_layers(m, s, &first, &last);
    s->z1_on = 0;
    if (first < 1 || !bp_ff_grouped(m, 0) || !ds->labels || c->pipeline >= 2 || m->dlay)
        return BPFREE_OK;
    const int need = bp_data_index_rows(ds, "ff", err);
    if (need < 0) return BPFREE_EINVAL;
    const size_t nw = (size_t)O * L1->in;
    if ((size_t)need * O * sizeof(float) > FF_Z1_MAX) return BPFREE_OK;
    const uint64_t sum = data_fingerprint(ds);
    if (s->z1 && s->z1_wb && s->z1_sum == sum && s->z1_n == ds->n && need <= s->n_z1 &&
        !memcmp(s->z1_wb, L1->W, nw * sizeof(float)) &&
        !memcmp(s->z1_wb + nw, L1->b, (size_t)O * sizeof(float))) {
        s->z1_on = 1;
        return BPFREE_OK;
    }
    if (need > s->n_z1) {
        bp_free(&m->mem, s->z1);
        s->n_z1 = 0;
        s->z1 = bp_alloc_floats(&m->mem, (size_t)need * O, "ff: layer 1's kept products", err);
        if (!s->z1) return BPFREE_ENOMEM;
        s->n_z1 = need;
    }
    if (!s->z1_wb && !(s->z1_wb = bp_alloc_floats(&m->mem, nw + O, "ff: layer 1's weights", err)))
        return BPFREE_ENOMEM;
    memcpy(s->z1_wb, L1->W, nw * sizeof(float));
    memcpy(s->z1_wb + nw, L1->b, (size_t)O * sizeof(float));
    float *z = s->h[0]; /* (R, O) workspace, free between batches */
    for (int i0 = 0; i0 < ds->n; i0 += s->R) {
        const int r = ds->n - i0 < s->R ? ds->n - i0 : s->R;
        for (int q = 0; q < r; q++) /* the positive rows, normalised as signed_pass does */
            bp_ff_embed(c, ds->x + (size_t)(i0 + q) * D, ds->labels[i0 + q], s->X + (size_t)q * D);
        bp_ff_normalize_grouped(c->ff_norm, s->X, r, 1, D);
        bp_dense_product(L1, s->X, z, r);
        for (int q = 0; q < r; q++) {
            const int k = ds->index ? ds->index[i0 + q] : i0 + q;
            memcpy(s->z1 + (size_t)k * O, z + (size_t)q * O, (size_t)O * sizeof(float));
        }
    }
    s->z1_sum = sum;
    s->z1_n = ds->n;
    s->z1_on = 1;
    return BPFREE_OK;
}
