/* optim.h — optimizers (SGD with momentum, Adam) and learning-rate
 * schedules, over flat blocks of parameters. */
#ifndef BPFREE_OPTIM_H
#define BPFREE_OPTIM_H

#include "core/core.h"

/* ----------------------------------------------------------- optimizer */

typedef struct bp_optim {
    bpfree_optim_config cfg;
    float lr;        /* in force for this step (schedule applied) */
    long t;          /* Adam: steps taken (incremented once per batch) */
    float bc1, bc2;  /* Adam: 1 - beta^t */
} bp_optim;

/* Begin a batch: t++ and the bias corrections. */
void bp_optim_begin_step(bp_optim *o, float lr);
/* One step over n parameters p with gradient g and state m, v (v unused by SGD). */
void bp_optim_step(const bp_optim *o, float *p, const float *g, float *m, float *v,
                   size_t n);
/* The same, and g is zeroed as it is read (see bp_layer.gzero). */
void bp_optim_step_consume(const bp_optim *o, float *p, float *g, float *m, float *v,
                           size_t n);
/* Learning rate of the schedule at fractional epoch `e` of `epochs`. */
float bp_sched_lr(const bpfree_optim_config *c, double e, int epochs);

#endif /* BPFREE_OPTIM_H */
