/* data.c — the data sets the way --data names them (cli_load_data), and
 * the hooks of bpfree-mpi (cli_dist_hooks): what the commands share below
 * main.c. */
#include "cli.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const cli_dist *cli_dist_hooks;

/* the checkout the binary was built in: data/ beside build/ */
static void repo_root(char *out, size_t cap) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n <= 0) return;
    exe[n] = '\0';
    snprintf(out, cap, "%s/..", dirname(exe)); /* .../build/.. */
}

int cli_tabular(const char *data) {
    return !strcmp(data, "diabetes") || !strcmp(data, "breast-cancer") || !strncmp(data, "csv:", 4);
}

void cli_load_data(const cli_run *r, int raw, bpfree_dataset *train, bpfree_dataset *test) {
    char root[PATH_MAX];
    bpfree_error e;
    bpfree_data_options dopt;
    bpfree_data_options_default(&dopt); /* split seed 0: eval sees the same test rows */
    dopt.targets = r->target;
    dopt.classify = r->classify;
    dopt.standardize = !raw;
    repo_root(root, sizeof root);
    if (bpfree_data_load(r->data, root[0] ? root : NULL, &dopt, train, test, &e)) die_err(&e);
}

