/* build.c — what a run's log header says about the binary: the git commit
 * it was built from (the Makefile writes it to $(BUILD)/gen/commit.h only
 * when it changes, so a commit does not rebuild the library) and the BLAS. */
#include "core/core.h"

#if defined(__has_include)
#if __has_include("gen/commit.h")
#include "gen/commit.h"
#endif
#endif
#ifndef BPFREE_GIT_COMMIT
#define BPFREE_GIT_COMMIT "unknown"
#endif

const char *bpfree_build_commit(void) { return BPFREE_GIT_COMMIT; }

const char *bpfree_build_blas(void) {
#if defined(BPFREE_DNNL)
    return "onednn";
#elif defined(BPFREE_BLIS)
    return "blis";
#else
    return "openblas";
#endif
}
