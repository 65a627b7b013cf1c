/* internal.h — everything the library's layers declare, for the tests and
 * benchmarks that reach inside.  Library files include only the header of
 * their own layer (core, nn, optim, engine, rules), so dependencies point
 * one way: core <- nn <- engine <- rules <- cli. */
#ifndef BPFREE_INTERNAL_H
#define BPFREE_INTERNAL_H

#include "rules/rules.h"

#endif /* BPFREE_INTERNAL_H */
