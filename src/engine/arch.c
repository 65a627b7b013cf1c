/* arch.c — architectures in the papers' own notation (--arch).
 *
 * Tokens separated by '-', each a hidden layer (the rule adds its output
 * layer), as 002 writes its shallow CNN "15C5-P2-40C5-P2-128":
 *   N         a dense layer of N units (the --act activation)
 *   NcK       a convolution of N channels, K x K, stride 1, no padding
 *             ("valid"); NcKs pads to keep the size ("same", (K-1)/2 zeros
 *             on each side); NcK/S a stride of S.  'C' or 'c'.
 *   NlK       a locally connected layer (a kernel of its own at every
 *             output position), with the same suffixes; 'L' or 'l'
 *   PQ, AQ    max / average pooling Q x Q, stride Q, of the convolution
 *             before it (a pooling token belongs to that block)
 *   BN        batch normalisation of the layer before it (dense or
 *             convolution), between its product and its activation,
 *             before or after that layer's pooling token alike (nn/bn.c)
 * So 003's CNN on 32 x 32 inputs is "64C3s-A2-128C3s-A2-256C3s-A2-512C3s-A2".
 * A dense layer after convolutions reads their maps flattened (C, H, W). */
#include "engine/engine.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a number at *p (advanced past it), -1 if none or too large */
static long number(const char **p) {
    if (!isdigit((unsigned char)**p)) return -1;
    char *end;
    long v = strtol(*p, &end, 10);
    *p = end;
    return v > 1 << 20 ? -1 : v;
}

/* one token t[0..len) into spec s; 0, or -1 with why */
static int token(const char *t, size_t len, bp_arch_layer *s, char *why, size_t cap) {
    char buf[32];
    if (len == 0 || len >= sizeof buf) {
        snprintf(why, cap, "empty or overlong token");
        return -1;
    }
    memcpy(buf, t, len);
    buf[len] = '\0';
    const char *p = buf;
    memset(s, 0, sizeof *s);
    if (strcmp(p, "BN") == 0 || strcmp(p, "bn") == 0) {
        s->bn = 1;
        return 0;
    }
    if (*p == 'P' || *p == 'A') {
        s->pool = *p == 'P' ? BP_POOL_MAX : BP_POOL_AVG;
        p++;
        s->q = (int)number(&p);
        if (s->q < 1 || *p) goto bad;
        return 0;
    }
    long n = number(&p);
    if (n < 1) goto bad;
    s->units = (int)n;
    if (*p == '\0') return 0; /* dense */
    if (*p != 'C' && *p != 'c' && *p != 'L' && *p != 'l') goto bad;
    s->lc = *p == 'L' || *p == 'l';
    p++;
    s->conv = 1;
    s->k = (int)number(&p);
    s->stride = 1;
    if (s->k < 1) goto bad;
    if (*p == 's') s->same = 1, p++;
    else if (*p == 'v') p++;
    if (*p == '/') {
        p++;
        s->stride = (int)number(&p);
        if (s->stride < 1) goto bad;
    }
    if (*p) goto bad;
    return 0;
bad:
    snprintf(why, cap, "token '%s' is none of N (dense), NcK[s][/S] (convolution), NlK[s][/S] "
                       "(locally connected), PQ / AQ (max / average pooling), BN (batch normalisation)", buf);
    return -1;
}

int bp_arch_parse(const char *arch, bp_arch_layer *out, int max, char *why, size_t cap) {
    int n = 0, pos = 1;
    for (const char *p = arch; *p; pos++) {
        const char *e = strchr(p, '-');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bp_arch_layer s;
        char w[200];
        if (token(p, len, &s, w, sizeof w)) {
            snprintf(why, cap, "'%s': %s (token %d)", arch, w, pos);
            return -1;
        }
        if (s.bn) { /* belongs to the layer before it */
            if (n == 0 || out[n - 1].bn || out[n - 1].lc) {
                snprintf(why, cap, "'%s': token %d (BN) normalises the layer before it, but %s",
                         arch, pos, n == 0 ? "there is none" : out[n - 1].bn ? "that one has BN already"
                         : "a locally connected layer cannot have it (its units are positions)");
                return -1;
            }
            out[n - 1].bn = 1;
        } else if (s.pool) { /* belongs to the convolution before it */
            if (n == 0 || !out[n - 1].conv || out[n - 1].pool) {
                snprintf(why, cap, "'%s': token %d (%.*s) pools, but does not follow a "
                                   "convolution without pooling", arch, pos, (int)len, p);
                return -1;
            }
            out[n - 1].pool = s.pool;
            out[n - 1].q = s.q;
        } else {
            if (n >= max) {
                snprintf(why, cap, "'%s': more than %d layers", arch, max);
                return -1;
            }
            out[n++] = s;
        }
        p += len;
        if (*p == '-' && !*++p) {
            snprintf(why, cap, "'%s' ends with '-'", arch);
            return -1;
        }
    }
    if (n == 0) snprintf(why, cap, "'%s' has no layer", arch);
    return n > 0 ? n : -1;
}

int bp_arch_shapes(const bp_arch_layer *s, int n, int ic, int ih, int iw, bp_geom *g, int *out,
                   char *why, size_t cap) {
    int c = ic, h = ih, w = iw, flat = 0;
    for (int l = 0; l < n; l++) {
        if (!s[l].conv) {
            flat = 1;
            out[l] = s[l].units;
            c = s[l].units, h = w = 1;
            continue;
        }
        if (flat || h < 1 || c < 1) {
            snprintf(why, cap, "layer %d is a convolution after a dense layer%s", l + 1,
                     ic ? "" : " (or the data has no image shape)");
            return -1;
        }
        if (bp_geom_setup(&g[l], c, h, w, s[l].units, s[l].k, s[l].stride, s[l].same, s[l].pool,
                          s[l].q)) {
            snprintf(why, cap, "layer %d: a %dx%d kernel%s does not fit its %dx%dx%d input",
                     l + 1, s[l].k, s[l].k, s[l].pool ? " and its pooling" : "", c, h, w);
            return -1;
        }
        c = g[l].oc, h = g[l].oh, w = g[l].ow;
        out[l] = c * h * w;
    }
    return 0;
}
