/* config.c — configuration files: `--print-config`, and the presets as
 * files (`bpfree presets NAME` writes presets/NAME.conf); `--config FILE`
 * is read with the command line (options.c).
 *
 * One format, the model file's header: "key=value" lines (spaces around '='
 * allowed, '#' starts a comment).  A key is a setting's option name ("wd")
 * or its model-file key ("weight_decay"), or a run option ("rule", "data",
 * "val").  So the text header of a model file (the bytes after its 16-byte
 * binary prefix) is a config file too: its "bpfree" (version) and
 * "epochs_done" lines, its data record beyond the data's name (data_* keys:
 * checksum, CSV options, statistics) and the settings the data decides
 * (inputs, outputs, normalisation statistics) are skipped. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

void cli_print_config(FILE *f, const cli_run *r, const bpfree_config *c) {
    fprintf(f, "# bpfree %s: the resolved configuration (bpfree train --config FILE reads it;\n"
               "# options on the command line override it)\n",
            BPFREE_VERSION);
    fprintf(f, "rule = %s\ndata = %s\n", c->rule, r->data);
    if (r->target) fprintf(f, "target = %s\n", r->target);
    if (r->classify) fprintf(f, "classify = 1\n");
    if (r->val) fprintf(f, "val = %d\n", r->val);
    if (r->eval_every != 1) fprintf(f, "eval-every = %d\n", r->eval_every);
    for (int i = 0; i < bpfree_setting_count(); i++) {
        const bpfree_setting *s = bpfree_setting_at(i);
        char v[512];
        if (bpfree_setting_internal(s) || !bpfree_setting_applies(s, c->rule)) continue;
        if (bpfree_config_get(c, s->name, v, sizeof v) < 0) die("%s: value too long", s->name);
        fprintf(f, "%s = %s\n", s->name, v);
    }
}

/* "# " + text wrapped at 76 columns */
static void comment(FILE *f, const char *text) {
    const char *p = text;
    while (*p) {
        size_t n = strlen(p);
        if (n > 76) {
            n = 76;
            while (n > 0 && p[n] != ' ') n--;
            if (n == 0) n = 76;
        }
        fprintf(f, "# %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ') p++;
    }
}

void cli_write_preset(FILE *f, const bpfree_preset *p) {
    fprintf(f, "# presets/%s.conf — written by `bpfree presets %s` from the library's preset\n"
               "# table; `bpfree train --config presets/%s.conf` = `--preset %s`.\n",
            p->name, p->name, p->name, p->name);
    comment(f, p->what);
    fprintf(f, "rule = %s\n", p->rule);
    for (int k = 0; p->kv[k]; k += 2) fprintf(f, "%s = %s\n", p->kv[k], p->kv[k + 1]);
}

int cmd_presets(int argc, char **argv) {
    if (argc > 3) die("usage: bpfree presets [NAME]");
    if (argc == 3) {
        const bpfree_preset *p = bpfree_preset_find(argv[2]);
        if (!p) die("presets: unknown preset '%s' (see bpfree presets)", argv[2]);
        cli_write_preset(stdout, p);
        return 0;
    }
    for (int i = 0; bpfree_preset_at(i); i++)
        printf("%-12s rule %-6s %s\n", bpfree_preset_at(i)->name, bpfree_preset_at(i)->rule,
               bpfree_preset_at(i)->what);
    return 0;
}
