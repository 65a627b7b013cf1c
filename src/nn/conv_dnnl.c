/* conv_dnnl.c — the convolution block's fast path on the oneDNN build
 * (make BLAS=onednn, -DBPFREE_DNNL): oneDNN's convolution primitives for
 * the forward pass, the input gradient and the weight gradient, in the
 * layouts they choose (nChw16c maps, blocked kernels) with reorders from and
 * to bpfree's plain (B, C, H, W) maps and (oc, ic, K, K) kernels.  Measured
 * on 002's and 003's shapes, one thread: 80-170 GFLOP/s against 35-95 for
 * the same primitives on plain layouts (which oneDNN lowers to its own
 * im2col + sgemm) and ~65-110 for conv.c's im2col + dnnl_sgemm.
 *
 * conv.c's im2col path stays beside it: every other backend's, the
 * fallback when a primitive cannot be made or a buffer would not fit, and
 * the reference the tests compare this one with (bp_kind_conv_im2col).
 *
 * Primitives are made once per (geometry, samples) and kept in a
 * process-wide cache of immutable objects, as oneDNN's own primitive cache
 * does; memory objects are made per call, so no state is shared between
 * threads.  Every buffer — blocked maps, kernels, partial gradients,
 * scratchpads (user mode) — is a slice of the layer's workspace, so it is
 * counted, and shared between blocks when the engine shares workspaces.
 *
 * Threads: a batch is cut into P = L->ws_parts parts (the --threads the
 * model was built with; 1 when pipelined or with --threading blas), run over
 * bpfree's pool, each on one oneDNN thread with its own slices; a part's
 * forward also does its samples' activation and pooling.  The weight
 * gradient's parts write partial sums, added in part order afterwards: the
 * same thread count gives the same numbers.  With --threading blas the one
 * part runs on oneDNN's OpenMP team of --threads (bp_dnnl_threads_here). */
#include "nn/block.h"

#ifdef BPFREE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* the tensors of the three primitives: forward (src, dst, weights),
 * backward data (diff dst, weights, diff src), backward weights (src,
 * diff dst, diff weights) */
enum { S_F, D_F, W_F, DD_D, W_D, DS_D, S_W, DD_W, DW_W, NT };
/* which plain layout each is: 0 maps in (n, ic, ih, iw), 1 maps out
 * (n, oc, ch, cw), 2 kernels (oc, ic, k, k) */
static const int PLAIN_OF[NT] = {0, 1, 2, 1, 2, 0, 0, 1, 2};
static const int PRIM_OF[NT] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
/* outputs: their reorder goes from the primitive's layout to the plain one */
static const int IS_OUT[NT] = {0, 1, 0, 0, 0, 1, 0, 0, 1};
static const dnnl_query_t QUERY[NT] = {
    dnnl_query_src_md,      dnnl_query_dst_md,     dnnl_query_weights_md,
    dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md,
    dnnl_query_src_md,      dnnl_query_diff_dst_md, dnnl_query_diff_weights_md};

typedef struct dn_entry {
    bp_geom g;
    int n, ok;
    dnnl_primitive_t prim[3];
    dnnl_primitive_t re[NT]; /* NULL: the primitive takes the plain layout */
    dnnl_memory_desc_t md[NT], plain[3], bias;
    size_t bytes[NT], scratch; /* scratch: the largest scratchpad of all */
} dn_entry;

static dnnl_engine_t engine;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static void engine_make(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

/* one stream per thread, kept reachable in `streams` */
#define DN_STREAMS 64
static _Thread_local dnnl_stream_t stream_here;
static struct {
    pthread_mutex_t mu;
    dnnl_stream_t s[DN_STREAMS];
    int n;
    dn_entry *e[256];
    int ne;
} dn = {.mu = PTHREAD_MUTEX_INITIALIZER};

static dnnl_stream_t dn_stream(void) {
    if (stream_here) return stream_here;
    pthread_mutex_lock(&dn.mu);
    if (dn.n < DN_STREAMS &&
        dnnl_stream_create(&stream_here, engine, dnnl_stream_default_flags) == dnnl_success)
        dn.s[dn.n++] = stream_here;
    pthread_mutex_unlock(&dn.mu);
    return stream_here;
}

static size_t md_bytes(const dnnl_memory_desc_t *md) { return dnnl_memory_desc_get_size(md); }

static size_t scratch_of(const_dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? md_bytes(md) : 0;
}

/* the three descriptors with every layout left to oneDNN ("any") */
static int make_pds(dn_entry *e, dnnl_primitive_attr_t attr, dnnl_primitive_desc_t pd[3]) {
    const bp_geom *g = &e->g;
    dnnl_dims_t ds = {e->n, g->ic, g->ih, g->iw}, dd = {e->n, g->oc, g->ch, g->cw};
    dnnl_dims_t dw = {g->oc, g->ic, g->k, g->k}, db = {g->oc};
    dnnl_dims_t st = {g->stride, g->stride}, pl = {g->pad, g->pad};
    /* right padding: what the last output position needs, as conv.c */
    dnnl_dims_t pr = {(g->ch - 1) * g->stride + g->k - g->ih - g->pad,
                      (g->cw - 1) * g->stride + g->k - g->iw - g->pad};
    dnnl_memory_desc_t s, d, w;
    dnnl_convolution_desc_t cd[3];
    const dnnl_alg_kind_t alg = dnnl_convolution_direct;
    if (dnnl_memory_desc_init_by_tag(&s, 4, ds, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&d, 4, dd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&w, 4, dw, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&e->bias, 1, db, dnnl_f32, dnnl_x) ||
        dnnl_memory_desc_init_by_tag(&e->plain[0], 4, ds, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&e->plain[1], 4, dd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&e->plain[2], 4, dw, dnnl_f32, dnnl_oihw))
        return -1;
    if (dnnl_convolution_forward_desc_init(&cd[0], dnnl_forward_training, alg, &s, &w, &e->bias,
                                           &d, st, pl, pr) ||
        dnnl_convolution_backward_data_desc_init(&cd[1], alg, &s, &w, &d, st, pl, pr) ||
        dnnl_convolution_backward_weights_desc_init(&cd[2], alg, &s, &w, &e->bias, &d, st, pl,
                                                    pr))
        return -1;
    if (dnnl_primitive_desc_create(&pd[0], &cd[0], attr, engine, NULL)) return -1;
    if (dnnl_primitive_desc_create(&pd[1], &cd[1], attr, engine, pd[0])) return -1;
    if (dnnl_primitive_desc_create(&pd[2], &cd[2], attr, engine, pd[0])) return -1;
    return 0;
}

/* tensor t's layout, and its reorder when it is not the plain one */
static int make_reorder(dn_entry *e, int t, const_dnnl_primitive_desc_t pd,
                        dnnl_primitive_attr_t attr) {
    e->md[t] = *dnnl_primitive_desc_query_md(pd, QUERY[t], 0);
    e->bytes[t] = md_bytes(&e->md[t]);
    const dnnl_memory_desc_t *pl = &e->plain[PLAIN_OF[t]];
    if (dnnl_memory_desc_equal(&e->md[t], pl)) return 0;
    dnnl_primitive_desc_t rpd;
    const dnnl_memory_desc_t *from = IS_OUT[t] ? &e->md[t] : pl, *to = IS_OUT[t] ? pl : &e->md[t];
    if (dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, attr)) return -1;
    const size_t sc = scratch_of(rpd);
    e->scratch = sc > e->scratch ? sc : e->scratch;
    const int bad = dnnl_primitive_create(&e->re[t], rpd) != dnnl_success;
    dnnl_primitive_desc_destroy(rpd);
    return bad ? -1 : 0;
}

static int entry_make(dn_entry *e) {
    dnnl_primitive_attr_t attr;
    dnnl_primitive_desc_t pd[3] = {NULL, NULL, NULL};
    if (!engine || dnnl_primitive_attr_create(&attr)) return -1;
    int bad = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ||
              make_pds(e, attr, pd);
    for (int p = 0; p < 3 && !bad; p++) {
        const size_t sc = scratch_of(pd[p]);
        e->scratch = sc > e->scratch ? sc : e->scratch;
        bad = dnnl_primitive_create(&e->prim[p], pd[p]) != dnnl_success;
    }
    for (int t = 0; t < NT && !bad; t++) bad = make_reorder(e, t, pd[PRIM_OF[t]], attr);
    for (int p = 0; p < 3; p++)
        if (pd[p]) dnnl_primitive_desc_destroy(pd[p]);
    dnnl_primitive_attr_destroy(attr);
    return bad ? -1 : 0;
}

/* the primitives for n samples of geometry g, made on first use; NULL if
 * they cannot be made (kept as failed, not retried) */
static const dn_entry *dn_get(const bp_geom *g, int n) {
    pthread_once(&engine_once, engine_make);
    bp_dnnl_threads_here(); /* making a primitive may run OpenMP regions too */
    const dn_entry *found = NULL;
    pthread_mutex_lock(&dn.mu);
    for (int i = 0; i < dn.ne && !found; i++)
        if (dn.e[i]->n == n && !memcmp(&dn.e[i]->g, g, sizeof *g)) found = dn.e[i];
    if (!found && dn.ne < (int)(sizeof dn.e / sizeof *dn.e)) {
        dn_entry *e = calloc(1, sizeof *e);
        if (e) {
            e->g = *g, e->n = n;
            e->ok = entry_make(e) == 0; /* a failed one keeps what it made: reachable */
            dn.e[dn.ne++] = e;
            found = e;
        }
    }
    pthread_mutex_unlock(&dn.mu);
    return found && found->ok ? found : NULL;
}

/* ------------------------------------------------------------- running */

typedef struct {
    int arg;
    const dnnl_memory_desc_t *md;
    const void *p;
} dn_arg;

/* one primitive on n arguments (+ the scratchpad); 0 on success */
static int dn_run(dnnl_primitive_t prim, const dn_arg *a, int n, void *scratch) {
    const_dnnl_primitive_desc_t pd;
    dnnl_exec_arg_t ea[8];
    int k = 0, ok = dnnl_primitive_get_primitive_desc(prim, &pd) == dnnl_success;
    const dnnl_memory_desc_t *smd = ok ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) : NULL;
    for (; ok && k < n; k++) {
        ea[k].arg = a[k].arg;
        ok = dnnl_memory_create(&ea[k].memory, a[k].md, engine, (void *)a[k].p) == dnnl_success;
    }
    if (ok && smd && md_bytes(smd) > 0) {
        ea[k].arg = DNNL_ARG_SCRATCHPAD;
        ok = dnnl_memory_create(&ea[k].memory, smd, engine, scratch) == dnnl_success;
        k++;
    }
    dnnl_stream_t s = ok ? dn_stream() : NULL;
    bp_dnnl_threads_here();
    ok = ok && s && dnnl_primitive_execute(prim, s, k, ea) == dnnl_success &&
         dnnl_stream_wait(s) == dnnl_success;
    for (int i = 0; i < k; i++)
        if (ea[i].memory) dnnl_memory_destroy(ea[i].memory);
    return ok ? 0 : -1;
}

/* tensor t between its plain data and buf in the primitive's layout: in
 * for an input (plain -> buf), out for an output (buf -> plain) */
static int dn_reorder(const dn_entry *e, int t, const float *plain, float *buf, void *scr) {
    const dnnl_memory_desc_t *pl = &e->plain[PLAIN_OF[t]];
    dn_arg a[2] = {{DNNL_ARG_FROM, IS_OUT[t] ? &e->md[t] : pl, IS_OUT[t] ? buf : plain},
                   {DNNL_ARG_TO, IS_OUT[t] ? pl : &e->md[t], IS_OUT[t] ? plain : buf}};
    return dn_run(e->re[t], a, 2, scr);
}

/* where the primitive reads input t: the plain data, or buf after a reorder */
static const float *dn_in(const dn_entry *e, int t, const float *plain, float *buf, void *scr,
                          atomic_int *bad) {
    if (!e->re[t]) return plain;
    if (dn_reorder(e, t, plain, buf, scr)) atomic_store(bad, 1);
    return buf;
}

/* ------------------------------------------------------- the workspace */

/* floats of each slice (rounded to 64 bytes): per part the maps in, the
 * maps out, the scratchpad and the partial weight gradient (+ biases); one
 * kernel buffer */
typedef struct {
    size_t in, out, scr, dw, w;
} dn_lay;

static size_t fl(size_t bytes) { return ((bytes + 63) / 64) * 16; }
static size_t max3(size_t a, size_t b, size_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

static void lay_of(const dn_entry *e, dn_lay *l) {
    l->in = fl(max3(e->bytes[S_F], e->bytes[DS_D], e->bytes[S_W]));
    l->out = fl(max3(e->bytes[D_F], e->bytes[DD_D], e->bytes[DD_W]));
    l->scr = fl(e->scratch);
    l->dw = fl(e->bytes[DW_W]) + fl((size_t)e->g.oc * sizeof(float));
    l->w = fl(max3(e->bytes[W_F], e->bytes[W_D], md_bytes(&e->plain[2])));
}

static int parts_of(const bp_layer *L) { return L->ws_parts > 1 ? L->ws_parts : 1; }
static int part_size(int B, int P) { return (B + P - 1) / P; }

size_t bp_conv_fast_ws(const bp_layer *L, int rows) {
    const int P = parts_of(L);
    const dn_entry *e = dn_get(&L->g, part_size(rows, P));
    if (!e) return 0;
    dn_lay l;
    lay_of(e, &l);
    return (size_t)P * (l.in + l.out + l.scr + l.dw) + l.w;
}

/* one call's plan: the batch's parts, their primitives and slices */
typedef struct dn_call {
    const bp_layer *L;
    int B, P, q;               /* samples, parts, samples per part (the last: fewer) */
    const dn_entry *full, *last;
    dn_lay lay;
    float *base;
    const float *x, *dz, *w;   /* w: the kernels in the primitive's layout */
    float *h, *dx;
    atomic_int bad;
} dn_call;

static float *sl_in(dn_call *c, int k) { return c->base + (size_t)k * c->lay.in; }
static float *sl_out(dn_call *c, int k) { return c->base + (size_t)c->P * c->lay.in + (size_t)k * c->lay.out; }
static void *sl_scr(dn_call *c, int k) {
    return c->base + (size_t)c->P * (c->lay.in + c->lay.out) + (size_t)k * c->lay.scr;
}
static float *sl_dw(dn_call *c, int k) {
    return c->base + (size_t)c->P * (c->lay.in + c->lay.out + c->lay.scr) + (size_t)k * c->lay.dw;
}
static float *sl_w(dn_call *c) {
    return c->base + (size_t)c->P * (c->lay.in + c->lay.out + c->lay.scr + c->lay.dw);
}
static int part_n(const dn_call *c, int k) {
    const int a = k * c->q, b = a + c->q < c->B ? a + c->q : c->B;
    return b > a ? b - a : 0;
}
static const dn_entry *part_e(const dn_call *c, int k) {
    return part_n(c, k) == c->q ? c->full : c->last;
}

/* the plan for B samples; 0 if the fast path cannot take this call */
static int dn_plan(dn_call *c, const bp_layer *L, int B) {
    memset(c, 0, sizeof *c);
    c->L = L, c->B = B, c->P = parts_of(L);
    c->q = part_size(B, c->P);
    const dn_entry *sized = dn_get(&L->g, part_size(L->ws_rows, c->P));
    if (B < 1 || B > L->ws_rows || !sized || !L->ws) return 0;
    lay_of(sized, &c->lay);
    c->full = dn_get(&L->g, c->q);
    const int nl = B - (B - 1) / c->q * c->q; /* the last non-empty part's samples */
    c->last = dn_get(&L->g, nl);
    if (!c->full || !c->last) return 0;
    for (int i = 0; i < 2; i++) { /* every slice must hold what the part puts there */
        dn_lay l;
        lay_of(i ? c->last : c->full, &l);
        if (l.in > c->lay.in || l.out > c->lay.out || l.scr > c->lay.scr || l.dw > c->lay.dw ||
            l.w > c->lay.w)
            return 0;
    }
    /* the parts share one kernel buffer: its layout must be theirs */
    if (!dnnl_memory_desc_equal(&c->full->md[W_F], &c->last->md[W_F]) ||
        !dnnl_memory_desc_equal(&c->full->md[W_D], &c->last->md[W_D]))
        return 0;
    c->base = bp_block_ws_tail(L);
    atomic_init(&c->bad, 0);
    return 1;
}

/* fn(c, k) for every part k, over bpfree's pool */
typedef struct {
    dn_call *c;
    void (*fn)(dn_call *c, int k);
} dn_job;

static void job_part(void *ctx, size_t a, size_t b) {
    const dn_job *j = ctx;
    for (size_t k = a / 16; k < b / 16; k++)
        if (part_n(j->c, (int)k) > 0) j->fn(j->c, (int)k);
}

static void dn_parts(dn_call *c, void (*fn)(dn_call *c, int k)) {
    dn_job j = {c, fn};
    bp_par_for((size_t)c->P * 16, 16, job_part, &j); /* part boundaries at multiples of 16 */
}

/* the kernels W (plain) where the primitive of tensor t reads them */
static int dn_kernels(dn_call *c, int t, const float *W) {
    c->w = c->full->re[t] ? sl_w(c) : W;
    return c->full->re[t] ? dn_reorder(c->full, t, W, sl_w(c), sl_scr(c, 0)) : 0;
}

/* ---------------------------------------------------- the three passes */

static void fwd_part(dn_call *c, int k) {
    const bp_layer *L = c->L;
    const dn_entry *e = part_e(c, k);
    const int a = k * c->q, n = part_n(c, k);
    float *z = L->g.pool ? bp_block_ws_a(L) + (size_t)a * L->zcols : c->h + (size_t)a * L->out;
    const float *src = dn_in(e, S_F, c->x + (size_t)a * L->in, sl_in(c, k), sl_scr(c, k), &c->bad);
    float *dst = e->re[D_F] ? sl_out(c, k) : z;
    dn_arg args[4] = {{DNNL_ARG_SRC, &e->md[S_F], src},
                      {DNNL_ARG_WEIGHTS, &e->md[W_F], c->w},
                      {DNNL_ARG_BIAS, &e->bias, L->b},
                      {DNNL_ARG_DST, &e->md[D_F], dst}};
    if (dn_run(e->prim[0], args, 4, sl_scr(c, k)) ||
        (e->re[D_F] && dn_reorder(e, D_F, z, dst, sl_scr(c, k)))) {
        atomic_store(&c->bad, 1);
        return;
    }
    if (L->bn) return; /* bp_block_finish, once every part's maps are there */
    /* the part's activation and pooling while its maps are in cache */
    bp_act_forward(L->act, z, (size_t)n * L->zcols);
    if (L->g.pool)
        for (int s = a; s < a + n; s++)
            bp_pool_fwd(&L->g, bp_block_ws_a(L) + (size_t)s * L->zcols, c->h + (size_t)s * L->out,
                        L->wsi ? L->wsi + (size_t)s * L->out : NULL);
}

/* 2 B oc (ic K K) (ch cw): the flops of one of the three products */
static double conv_flops(const bp_layer *L, int B) {
    return 2.0 * B * L->g.oc * (double)bp_ntaps(&L->g) * (double)bp_npos(&L->g);
}

int bp_conv_fast_forward(const bp_layer *L, const float *x, float *h, int B) {
    dn_call c;
    const double t0 = bp_profile_now();
    if (!dn_plan(&c, L, B) || dn_kernels(&c, W_F, L->W)) return 0;
    c.x = x, c.h = h;
    dn_parts(&c, fwd_part);
    if (atomic_load(&c.bad)) return 0;
    bp_profile_conv(conv_flops(L, B), t0);
    if (L->bn) bp_block_finish(L, h, B);
    return 1;
}

static void bwdd_part(dn_call *c, int k) {
    const bp_layer *L = c->L;
    const dn_entry *e = part_e(c, k);
    const int a = k * c->q;
    float *dx = c->dx + (size_t)a * L->in, *dsrc = e->re[DS_D] ? sl_in(c, k) : dx;
    const float *ddst = dn_in(e, DD_D, c->dz + (size_t)a * L->zcols, sl_out(c, k), sl_scr(c, k), &c->bad);
    dn_arg args[3] = {{DNNL_ARG_DIFF_DST, &e->md[DD_D], ddst},
                      {DNNL_ARG_WEIGHTS, &e->md[W_D], c->w},
                      {DNNL_ARG_DIFF_SRC, &e->md[DS_D], dsrc}};
    if (dn_run(e->prim[1], args, 3, sl_scr(c, k)) ||
        (e->re[DS_D] && dn_reorder(e, DS_D, dx, dsrc, sl_scr(c, k))))
        atomic_store(&c->bad, 1);
}

int bp_conv_fast_input_grad(const bp_layer *L, const float *W, const float *dz, float *dx, int B) {
    dn_call c;
    const double t0 = bp_profile_now();
    if (!dn_plan(&c, L, B) || dn_kernels(&c, W_D, W)) return 0;
    c.dz = dz, c.dx = dx;
    dn_parts(&c, bwdd_part);
    if (atomic_load(&c.bad)) return 0;
    bp_profile_conv(conv_flops(L, B), t0);
    return 1;
}

static void bwdw_part(dn_call *c, int k) {
    const bp_layer *L = c->L;
    const dn_entry *e = part_e(c, k);
    const int a = k * c->q;
    const float *src = dn_in(e, S_W, c->x + (size_t)a * L->in, sl_in(c, k), sl_scr(c, k), &c->bad);
    const float *ddst = dn_in(e, DD_W, c->dz + (size_t)a * L->zcols, sl_out(c, k), sl_scr(c, k), &c->bad);
    float *dw = sl_dw(c, k);
    dn_arg args[4] = {{DNNL_ARG_SRC, &e->md[S_W], src},
                      {DNNL_ARG_DIFF_DST, &e->md[DD_W], ddst},
                      {DNNL_ARG_DIFF_WEIGHTS, &e->md[DW_W], dw},
                      {DNNL_ARG_DIFF_BIAS, &e->bias, dw + fl(e->bytes[DW_W])}};
    if (dn_run(e->prim[2], args, 4, sl_scr(c, k))) atomic_store(&c->bad, 1);
}

/* gW, gb (+)= the parts' partial sums, in part order */
static int bwdw_sum(dn_call *c, float beta) {
    const bp_layer *L = c->L;
    const size_t nw = bp_layer_n_weights(L), oc = (size_t)L->units;
    for (int k = 0; k < c->P && part_n(c, k) > 0; k++) {
        const dn_entry *e = part_e(c, k);
        const float *dw = sl_dw(c, k), *db = dw + fl(e->bytes[DW_W]);
        if (e->re[DW_W]) {
            if (dn_reorder(e, DW_W, sl_w(c), sl_dw(c, k), sl_scr(c, 0))) return -1;
            dw = sl_w(c);
        }
        if (k == 0 && beta == 0.0f) {
            memcpy(L->gW, dw, nw * sizeof(float));
            memcpy(L->gb, db, oc * sizeof(float));
            continue;
        }
        for (size_t i = 0; i < nw; i++) L->gW[i] += dw[i];
        for (size_t i = 0; i < oc; i++) L->gb[i] += db[i];
    }
    return 0;
}

int bp_conv_fast_grad(const bp_layer *L, const float *x, const float *dz, int B, float beta) {
    dn_call c;
    const double t0 = bp_profile_now();
    if (!dn_plan(&c, L, B)) return 0;
    c.x = x, c.dz = dz;
    dn_parts(&c, bwdw_part);
    if (atomic_load(&c.bad) || bwdw_sum(&c, beta) != 0) return 0;
    bp_profile_conv(conv_flops(L, B), t0);
    return 1;
}

#else /* not the oneDNN build: no fast path, conv.c's im2col runs */

size_t bp_conv_fast_ws(const bp_layer *L, int rows) {
    (void)L, (void)rows;
    return 0;
}
int bp_conv_fast_forward(const bp_layer *L, const float *x, float *h, int B) {
    (void)L, (void)x, (void)h, (void)B;
    return 0;
}
int bp_conv_fast_input_grad(const bp_layer *L, const float *W, const float *dz, float *dx, int B) {
    (void)L, (void)W, (void)dz, (void)dx, (void)B;
    return 0;
}
int bp_conv_fast_grad(const bp_layer *L, const float *x, const float *dz, int B, float beta) {
    (void)L, (void)x, (void)dz, (void)B, (void)beta;
    return 0;
}
#endif
