/* fuzz_cli.c — what the command line and config text go through: a rule
 * name on the first line, then "name=value" lines, each given to
 * bpfree_config_set (the CLI's options, presets and files all end there);
 * the result is checked, every setting printed and read back, and a model
 * built when the config is valid and small.  (The command's own argv loop
 * exits on errors and is tested by tests/cli.sh.) */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n > 4096) return 0;
    char *t = malloc(n + 1);
    if (!t) return 0;
    memcpy(t, d, n);
    t[n] = '\0';
    char *save = NULL, *line = strtok_r(t, "\n", &save);
    const char *rule = line && bpfree_rule_find(line) ? line : "bp";
    bpfree_config c;
    bpfree_error e;
    if (bpfree_config_default(&c, rule, 16, 3, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = '\0';
        if (bpfree_config_set(&c, line, eq + 1, &e) != BPFREE_OK && !e.msg[0]) abort();
    }
    if (bpfree_config_check(&c, &e) == BPFREE_OK) {
        for (int i = 0; i < bpfree_setting_count(); i++) {
            const bpfree_setting *s = bpfree_setting_at(i);
            char v[512];
            if (!bpfree_setting_applies(s, c.rule) || bpfree_setting_internal(s)) continue;
            if (bpfree_config_get(&c, s->name, v, sizeof v) < 0) continue;
            bpfree_config c2 = c;
            if (bpfree_config_set(&c2, s->name, v, &e) != BPFREE_OK) { /* reads back */
                fprintf(stderr, "%s=%s: %s\n", s->name, v, e.msg);
                abort();
            }
        }
        size_t width = (size_t)c.inputs;
        for (int l = 0; l < c.n_hidden; l++) width += (size_t)c.hidden[l];
        if (width <= 256 && c.batch <= 256 && c.n_hidden <= 4) {
            c.threads = 1;
            c.pipeline = 0;
            bpfree_model *m;
            if (bpfree_model_new(&c, &m, &e) == BPFREE_OK) bpfree_model_free(m);
        }
    }
    free(t);
    return 0;
}
