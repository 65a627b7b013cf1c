/* error.c — status codes and messages.  The library never prints or exits:
 * it fills a caller-owned bpfree_error and returns the code. */
#include "core/core.h"

#include <stdio.h>

const char *bpfree_strerror(bpfree_status code) {
    switch (code) {
    case BPFREE_OK: return "ok";
    case BPFREE_ENOMEM: return "out of memory";
    case BPFREE_EIO: return "input/output error";
    case BPFREE_EFORMAT: return "bad file format";
    case BPFREE_ESHAPE: return "shape mismatch";
    case BPFREE_EINVAL: return "invalid argument";
    case BPFREE_ENAN: return "non-finite value during training";
    case BPFREE_EUNSUPPORTED: return "not supported";
    case BPFREE_EINTR: return "stopped on request";
    }
    return "unknown error";
}

bpfree_status bp_fail(bpfree_error *err, bpfree_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
