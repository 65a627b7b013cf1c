/* report.c — what `bpfree train` prints and logs: the per-epoch line, the
 * JSON log, the final summary and the product profile.  Heads (per-layer
 * scores, FF's goodness and one-pass predictions) are named by the library,
 * so nothing here knows a rule. */
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- log */

/* `, "key": [v, ...]` for n > 0 values; NaN becomes null (JSON has no NaN). */
static void log_array(FILE *f, const char *key, const double *v, int n) {
    for (int l = 0; l < n; l++) {
        fprintf(f, l ? ", " : ", \"%s\": [", key);
        if (isnan(v[l])) fputs("null", f);
        else fprintf(f, "%.4g", v[l]);
    }
    if (n) fputs("]", f);
}

/* ------------------------------------------------------------- heads */

/* The named heads come first (bpfree_model_head_name), then the layers'. */
static int named_heads(const bpfree_model *m, const bpfree_eval *ev) {
    int n = 0;
    while (n < ev->n_heads && bpfree_model_head_name(m, n)) n++;
    return n;
}

/* JSON: `, "NAME_test_acc": x` per named head ('-' dropped from the name),
 * `, "layer_test_acc": [...]` for the layers' heads */
static void log_heads(FILE *f, const bpfree_model *m, const bpfree_eval *ev) {
    const int k = named_heads(m, ev);
    for (int h = 0; h < k; h++) {
        if (isnan(ev->head_acc[h])) continue; /* a head the model does not train */
        char key[64];
        size_t j = 0;
        for (const char *p = bpfree_model_head_name(m, h); *p && j + 1 < sizeof key; p++)
            if (*p != '-') key[j++] = *p;
        key[j] = '\0';
        fprintf(f, ", \"%s_test_acc\": %.6g", key, ev->head_acc[h]);
    }
    for (int h = k; h < ev->n_heads; h++)
        fprintf(f, "%s%.6g", h == k ? ", \"layer_test_acc\": [" : ", ", ev->head_acc[h]);
    if (k < ev->n_heads) fputs("]", f);
}

/* screen: "  goodness 95.10%  one-pass 90.00%  layers 91.00,95.00" */
static void print_heads(FILE *f, const bpfree_model *m, const bpfree_eval *ev) {
    const int k = named_heads(m, ev);
    for (int h = 0; h < k; h++)
        if (!isnan(ev->head_acc[h]))
            fprintf(f, "  %s %.2f%%", bpfree_model_head_name(m, h), 100 * ev->head_acc[h]);
    for (int h = k; h < ev->n_heads; h++)
        fprintf(f, "%s%.2f", h == k ? "  layers " : ",", 100 * ev->head_acc[h]);
}

/* ------------------------------------------------------------ epochs */

static void print_epoch(const report *rp, const bpfree_epoch_stats *st, int evald) {
    FILE *o = rp->screen;
    fprintf(o, "epoch %3d/%d  loss %.4f", st->epoch + 1, rp->total, st->train_loss);
    if (rp->regression) {
        if (evald && rp->has_val) fprintf(o, "  val loss %.4f", rp->val->loss);
        if (evald) fprintf(o, "  test loss %.4f", rp->test->loss);
    } else {
        /* which predictor each accuracy is, where the rule has several */
        const char *tr = bpfree_model_train_source(rp->m), *pr = bpfree_model_prediction(rp->m);
        char tb[40] = "", pb[40] = "";
        if (tr) snprintf(tb, sizeof tb, " (%s)", tr);
        if (pr) snprintf(pb, sizeof pb, " (%s)", pr);
        if (!isnan(st->train_acc)) fprintf(o, "  train%s %6.2f%%", tb, 100 * st->train_acc);
        if (evald && rp->has_val) fprintf(o, "  val%s %6.2f%%", pb, 100 * rp->val->acc);
        if (evald) fprintf(o, "  test%s %6.2f%%", pb, 100 * rp->test->acc);
    }
    if (evald && !rp->regression) print_heads(o, rp->m, rp->test);
    float gam[BPFREE_MAX_LAYERS];
    const int ngam = bpfree_model_gammas(rp->m, gam, BPFREE_MAX_LAYERS);
    for (int l = 0; l < ngam; l++) fprintf(o, "%s%.4f", l ? "," : "  gamma ", (double)gam[l]);
    if (st->active_layer >= 0) fprintf(o, "  [layer %d]", st->active_layer + 1);
    for (int l = 0; l < st->n_align; l++) fprintf(o, "%s%.1f", l ? "/" : "  align ", st->align_deg[l]);
    for (int l = 0; l < st->n_var; l++) fprintf(o, "%s%.3g", l ? "/" : "  var ", st->var_norm[l]);
    fprintf(o, "  %.2fs  %.0f samples/s  lr %.3g\n", st->seconds, st->samples_per_s, st->lr);
    fflush(o);
}

static void log_epoch(const report *rp, FILE *f, const bpfree_epoch_stats *st, int evald) {
    fprintf(f, "{\"type\": \"epoch\", ");
    const bpfree_eval *te = rp->test, *va = rp->val;
    fprintf(f, "\"epoch\": %d, \"train_loss\": %.6g", st->epoch + 1, st->train_loss);
    if (evald) fprintf(f, ", \"test_loss\": %.6g", te->loss);
    const int tacc = !rp->regression && !isnan(st->train_acc); /* NaN: none measured */
    if (tacc) fprintf(f, ", \"train_acc\": %.6g", st->train_acc);
    const char *tr = bpfree_model_train_source(rp->m), *pr = bpfree_model_prediction(rp->m);
    if (tacc && tr) fprintf(f, ", \"train_acc_by\": \"%s\"", tr);
    if (evald && !rp->regression && pr) fprintf(f, ", \"test_acc_by\": \"%s\"", pr);
    if (evald && !rp->regression) fprintf(f, ", \"test_acc\": %.6g", te->acc);
    if (evald && rp->has_val) fprintf(f, ", \"val_loss\": %.6g", va->loss);
    if (evald && rp->has_val && !rp->regression) fprintf(f, ", \"val_acc\": %.6g", va->acc);
    if (evald && !rp->regression) log_heads(f, rp->m, te);
    float gam[BPFREE_MAX_LAYERS];
    const int ngam = bpfree_model_gammas(rp->m, gam, BPFREE_MAX_LAYERS);
    for (int l = 0; l < ngam; l++)
        fprintf(f, "%s%.6g", l ? ", " : ", \"gamma\": [", (double)gam[l]);
    if (ngam) fputs("]", f);
    if (st->active_layer >= 0) fprintf(f, ", \"layer\": %d", st->active_layer + 1);
    log_array(f, "align_deg", st->align_deg, st->n_align);
    log_array(f, "var_norm", st->var_norm, st->n_var);
    log_array(f, "var_raw", st->var_raw, st->n_var);
    fprintf(f, ", \"seconds\": %.4f, \"samples_per_s\": %.1f, \"lr\": %.6g}\n", st->seconds,
            st->samples_per_s, st->lr);
}

void report_epoch(const report *rp, logfile *lg, const bpfree_epoch_stats *st, int evald) {
    if (!rp->quiet) print_epoch(rp, st, evald);
    if (!lg->path) return;
    char *line = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&line, &n);
    if (!f) die("out of memory (log line)");
    log_epoch(rp, f, st, evald);
    if (fclose(f) != 0) die("out of memory (log line)");
    log_line(lg, line);
    free(line);
}

/* ------------------------------------------------------------- final */

static void fmt_bytes(char *b, size_t cap, size_t n) {
    if (n >= (1u << 30)) snprintf(b, cap, "%.2f GiB", n / 1073741824.0);
    else snprintf(b, cap, "%.1f MiB", n / 1048576.0);
}

/* The log's last object: what `bpfree compare` and later tools read, so
 * that nothing needs the screen output. */
static void log_final(const report *rp, logfile *lg, double secs) {
    if (!lg->path) return;
    char *line = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&line, &n);
    if (!f) die("out of memory (log line)");
    const bpfree_eval *te = rp->test;
    fprintf(f, "{\"type\": \"final\", \"epochs\": %d, \"epochs_this_process\": %d, "
               "\"train_seconds\": %.4f, \"s_per_epoch\": %.4f, \"peak_model_bytes\": %zu, "
               "\"test_loss\": %.6g",
            rp->total, rp->ran, secs, rp->ran > 0 ? secs / rp->ran : 0.0,
            bpfree_model_peak_bytes(rp->m), te->loss);
    if (!rp->regression) fprintf(f, ", \"test_acc\": %.6g", te->acc);
    if (rp->has_val) fprintf(f, ", \"val_loss\": %.6g", rp->val->loss);
    if (rp->has_val && !rp->regression) fprintf(f, ", \"val_acc\": %.6g", rp->val->acc);
    fputs("}\n", f);
    if (fclose(f) != 0) die("out of memory (log line)");
    log_line(lg, line);
    free(line);
}

void report_final(const report *rp, logfile *lg, const char *data, double secs) {
    log_final(rp, lg, secs);
    const bpfree_model *m = rp->m;
    FILE *o = rp->screen;
    const bpfree_rule_info *ri = bpfree_model_rule(m);
    const bpfree_config *c = bpfree_model_config(m);
    const bpfree_eval *te = rp->test;
    if (rp->regression) {
        fprintf(o, "final: %s on %s: test loss %.4f (%s)", ri->name, data, te->loss,
               bpfree_loss_name(c->loss));
        if (rp->has_val) fprintf(o, ", val loss %.4f", rp->val->loss);
    } else {
        fprintf(o, "final: %s on %s: test accuracy %.2f%% (loss %.4f)", ri->name, data, 100 * te->acc,
               te->loss);
        if (rp->has_val) fprintf(o, ", val %.2f%%", 100 * rp->val->acc);
    }
    const char *pred = bpfree_model_prediction(m);
    if (pred && !rp->regression) fprintf(o, ", %s prediction", pred);
    if (te->n_heads && !rp->regression) {
        fprintf(o, ";");
        print_heads(o, m, te);
    }
    char pk[32], note[512];
    fmt_bytes(pk, sizeof pk, bpfree_model_peak_bytes(m));
    fprintf(o, "\nfinal: %d epochs", rp->total);
    if (rp->ran != rp->total) fprintf(o, " (%d in this process)", rp->ran);
    fprintf(o, ", %.2f s/epoch, peak model memory %s\n", rp->ran > 0 ? secs / rp->ran : 0.0, pk);
    bpfree_model_describe(m, note, sizeof note);
    if (note[0]) fprintf(o, "final: %s\n", note);
    fprintf(o, "taxonomy (survey Table I): weight transport %s, frozen activities %s, locality %s, "
           "update locking %s\n",
           ri->weight_transport, ri->frozen_activities, ri->locality, ri->update_locking);
}

void report_eval(const bpfree_model *m, const char *path, const char *data,
                 const bpfree_eval *ev, int regression) {
    const bpfree_config *c = bpfree_model_config(m);
    if (regression)
        printf("%s: %s model, %d epochs trained; %s test: loss %.4f (%s)", path, c->rule,
               bpfree_model_epochs_done(m), data, ev->loss, bpfree_loss_name(c->loss));
    else
        printf("%s: %s model, %d epochs trained; %s test: accuracy %.2f%% (loss %.4f)", path,
               c->rule, bpfree_model_epochs_done(m), data, 100 * ev->acc, ev->loss);
    if (ev->n_heads && !regression) {
        printf(";");
        print_heads(stdout, m, ev);
    }
    printf("\n");
}

/* ----------------------------------------------------------- profile */

void report_profile(int total, double secs, int shapes) {
    bpfree_profile p;
    bpfree_profile_stop(&p);
    const double alone = bpfree_profile_replay(5);
    /* conv_*: the oneDNN build's convolution primitives (not replayed);
     * products_fraction: GEMM and convolution time over training time */
    printf("profile: epochs=%d train_seconds=%.4f gemm_seconds=%.4f gemm_fraction=%.4f "
           "gflop=%.3f gemm_calls=%ld gemm_alone_seconds=%.4f gemm_shapes=%d conv_seconds=%.4f "
           "conv_gflop=%.3f conv_calls=%ld products_fraction=%.4f\n",
           total, secs, p.seconds, secs > 0 ? p.seconds / secs : 0.0, p.flops * 1e-9, p.calls,
           alone, p.shapes, p.conv_seconds, p.conv_flops * 1e-9, p.conv_calls,
           secs > 0 ? (p.seconds + p.conv_seconds) / secs : 0.0);
    if (!shapes) return;
    bpfree_profile_shape sh[128];
    const int n = bpfree_profile_shapes(sh, 128);
    for (int i = 0; i < n && i < 128; i++) {
        const double gf = 2e-9 * sh[i].M * sh[i].N * (double)sh[i].K * (double)sh[i].calls;
        printf("profile-shape: %s%s%s M=%d N=%d K=%d calls=%ld seconds=%.4f share=%.4f "
               "gflops=%.1f alone_seconds=%.4g alone_gflops=%.1f\n",
               sh[i].ta ? "T" : "N", sh[i].tb ? "T" : "N", sh[i].accumulate ? "+" : "", sh[i].M,
               sh[i].N, sh[i].K, sh[i].calls, sh[i].seconds, secs > 0 ? sh[i].seconds / secs : 0.0,
               sh[i].seconds > 0 ? gf / sh[i].seconds : 0.0, sh[i].alone,
               sh[i].alone > 0 ? gf / sh[i].alone : 0.0);
    }
}
