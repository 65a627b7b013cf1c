/* par.c — bpfree's own threads.
 *
 * bp_par_for splits work over [0, n) into N contiguous parts (N = --threads):
 * the caller does part 0, N-1 persistent workers do the others.  With split
 * threading (src/core/gemm.c) it carries the products and the layers'
 * element-wise work; with BLAS threading only the optimizer step (a pass
 * over every parameter, bound by memory traffic).  Element-wise work gives
 * the same numbers however it is split.
 *
 * The pool is process-wide, like OpenBLAS's own, and resized by
 * bpfree_set_threads (not while another thread trains).  One caller owns it
 * at a time: a call from inside a part, or from a second thread while the
 * pool is busy, runs inline (the layer pipeline sets one thread while it
 * runs). */
#include "core/core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define PAR_MAX 16

/* set on the pool's workers, and on the caller while it runs its part: a
 * bp_par_for from inside a part runs inline (the pool is not re-entrant) */
static _Thread_local int in_par;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_t tid[PAR_MAX];
    int workers;      /* started */
    int want;         /* threads asked for (caller included) */
    atomic_long gen;  /* job generation: bumped (under mu) to post a job */
    atomic_long pending; /* workers still on the job */
    atomic_flag busy;   /* a caller owns the pool; another caller runs inline */
    long gen0[PAR_MAX]; /* gen when worker k was started: its first "seen" */
    int quit;
    void (*fn)(void *, size_t, size_t);
    void *ctx;
    size_t n, parts;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
          .go = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER,
          .busy = ATOMIC_FLAG_INIT,
          .want = 1};

static void part_range(size_t n, size_t parts, size_t k, size_t *a, size_t *b) {
    /* boundaries on multiples of 16 floats (64 bytes): whole cache lines */
    size_t per = (n / parts + 15) & ~(size_t)15;
    *a = k * per < n ? k * per : n;
    *b = (k + 1) * per < n && k + 1 < parts ? (k + 1) * per : n;
}

/* Waiting: a worker spins for a while on the job counter before it sleeps
 * on the condition variable, and so does the caller on the pending count —
 * a training step posts a job every few hundred microseconds, and a wake-up
 * through the kernel costs tens of microseconds on a VM. */
#define SPIN_NS 200000L

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* spin until *x != v (if ne) or *x == v (if !ne), at most SPIN_NS; 1 if it happened */
static int spin_until(atomic_long *x, long v, int ne) {
    long t0 = 0;
    for (unsigned k = 0;; k++) {
        if ((atomic_load_explicit(x, memory_order_acquire) != v) == ne) return 1;
        if ((k & 255) == 0) {
            const long t = now_ns();
            if (!t0) t0 = t;
            else if (t - t0 > SPIN_NS) return 0;
        }
        cpu_relax();
    }
}

static void *worker(void *arg) {
    const size_t me = (size_t)arg; /* 1 .. workers */
    long seen = pool.gen0[me - 1];
    in_par = 1;
    for (;;) {
        if (!spin_until(&pool.gen, seen, 1)) {
            pthread_mutex_lock(&pool.mu);
            while (atomic_load(&pool.gen) == seen && !pool.quit)
                pthread_cond_wait(&pool.go, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
        }
        pthread_mutex_lock(&pool.mu); /* the job's fields, and quit */
        const int quit = pool.quit;
        seen = atomic_load(&pool.gen);
        void (*fn)(void *, size_t, size_t) = pool.fn;
        void *ctx = pool.ctx;
        const size_t n = pool.n, parts = pool.parts;
        pthread_mutex_unlock(&pool.mu);
        if (quit) break;
        if (me < parts) {
            size_t a, b;
            part_range(n, parts, me, &a, &b);
            if (a < b) fn(ctx, a, b);
        }
        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.mu);
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
    return NULL;
}

/* stop and join every worker (mutex held on entry and exit) */
static void stop_workers(void) {
    pool.quit = 1;
    pthread_cond_broadcast(&pool.go);
    const int w = pool.workers;
    pthread_mutex_unlock(&pool.mu);
    for (int k = 0; k < w; k++) pthread_join(pool.tid[k], NULL);
    pthread_mutex_lock(&pool.mu);
    pool.workers = 0;
    pool.quit = 0;
}

static void at_exit(void) {
    pthread_mutex_lock(&pool.mu);
    stop_workers();
    pthread_mutex_unlock(&pool.mu);
}

void bp_par_threads(int n) {
    static int registered;
    pthread_mutex_lock(&pool.mu);
    pool.want = n < 1 ? 1 : n > PAR_MAX ? PAR_MAX : n;
    if (pool.workers > pool.want - 1) stop_workers();
    if (pool.want > 1 && !registered) registered = atexit(at_exit) == 0;
    while (pool.workers < pool.want - 1) {
        pool.gen0[pool.workers] = atomic_load(&pool.gen);
        if (pthread_create(&pool.tid[pool.workers], NULL, worker,
                           (void *)(size_t)(pool.workers + 1)))
            break; /* fewer workers: the caller does more */
        pool.workers++;
    }
    pthread_mutex_unlock(&pool.mu);
}

/* threads that take part: asked for, and started */
static int par_count(void) { return pool.want < pool.workers + 1 ? pool.want : pool.workers + 1; }

int bp_par_width(void) {
    if (in_par) return 1;
    pthread_mutex_lock(&pool.mu);
    const int w = par_count();
    pthread_mutex_unlock(&pool.mu);
    return w;
}

void bp_par_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t a, size_t b), void *ctx) {
    size_t parts = in_par ? 1 : (size_t)par_count();
    if (grain && n / grain < parts) parts = n / grain > 0 ? n / grain : 1;
    /* one caller at a time: a second thread (two models trained or run at
     * once, a caller's own threads calling bpfree_gemm) does its work alone */
    if (parts <= 1 || atomic_flag_test_and_set_explicit(&pool.busy, memory_order_acquire)) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.parts = parts;
    atomic_store(&pool.pending, (long)pool.workers);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    size_t a, b;
    part_range(n, parts, 0, &a, &b);
    in_par = 1;
    fn(ctx, a, b);
    in_par = 0;
    if (!spin_until(&pool.pending, 0, 0)) {
        pthread_mutex_lock(&pool.mu);
        while (atomic_load(&pool.pending) > 0) pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
    atomic_flag_clear_explicit(&pool.busy, memory_order_release);
}

