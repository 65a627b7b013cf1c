/* par.c — element-wise work on the BLAS's threads' cores.
 *
 * With --threads N > 1 the products run on N OpenBLAS threads, but the
 * optimizer step (a pass over every parameter, bound by memory traffic)
 * would run on one.  bp_par_for splits such a pass into N contiguous parts:
 * the caller does part 0, N-1 persistent workers do the others.  Element-wise
 * work gives the same numbers however it is split.
 *
 * The pool is process-wide, like OpenBLAS's own; it is resized by
 * bpfree_set_threads and must not be used from two threads at once (the
 * layer pipeline sets one thread while it runs). */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

#define PAR_MAX 16

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pthread_t tid[PAR_MAX];
    int workers;      /* started */
    int want;         /* threads asked for (caller included) */
    long gen;         /* job generation */
    int pending;      /* workers still on the job */
    int quit;
    void (*fn)(void *, size_t, size_t);
    void *ctx;
    size_t n, parts;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
          .go = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER,
          .want = 1};

static void part_range(size_t n, size_t parts, size_t k, size_t *a, size_t *b) {
    /* boundaries on multiples of 16 floats (64 bytes): whole cache lines */
    size_t per = (n / parts + 15) & ~(size_t)15;
    *a = k * per < n ? k * per : n;
    *b = (k + 1) * per < n && k + 1 < parts ? (k + 1) * per : n;
}

static void *worker(void *arg) {
    const size_t me = (size_t)arg; /* 1 .. workers */
    long seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.gen == seen && !pool.quit) pthread_cond_wait(&pool.go, &pool.mu);
        if (pool.quit) break;
        seen = pool.gen;
        if (me < pool.parts) {
            size_t a, b;
            part_range(pool.n, pool.parts, me, &a, &b);
            void (*fn)(void *, size_t, size_t) = pool.fn;
            void *ctx = pool.ctx;
            pthread_mutex_unlock(&pool.mu);
            if (a < b) fn(ctx, a, b);
            pthread_mutex_lock(&pool.mu);
        }
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    pthread_mutex_unlock(&pool.mu);
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
        if (pthread_create(&pool.tid[pool.workers], NULL, worker,
                           (void *)(size_t)(pool.workers + 1)))
            break; /* fewer workers: the caller does more */
        pool.workers++;
    }
    pthread_mutex_unlock(&pool.mu);
}

/* threads that take part: asked for, and started */
static int par_count(void) { return pool.want < pool.workers + 1 ? pool.want : pool.workers + 1; }

void bp_par_for(size_t n, size_t grain, void (*fn)(void *ctx, size_t a, size_t b), void *ctx) {
    size_t parts = (size_t)par_count();
    if (grain && n / grain < parts) parts = n / grain > 0 ? n / grain : 1;
    if (parts <= 1) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.parts = parts;
    pool.pending = pool.workers;
    pool.gen++;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    size_t a, b;
    part_range(n, parts, 0, &a, &b);
    fn(ctx, a, b);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
}

