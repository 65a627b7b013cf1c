/* runopts.c — the table of this command's run options (where the data
 * comes from, where results go): what the command line (options.c), config
 * files and --help (usage.c) read.  The settings of the model are the
 * library's table, not these. */
#include "cli.h"

#include <stddef.h>
#include <string.h>

#define R(f) offsetof(cli_run, f)
static const cli_run_opt RUN_OPTS[] = {
    {"rule", "NAME", "learning rule (see `bpfree rules`)", NULL, CLI_R_STR, R(rule)},
    {"preset", "NAME", "a paper's whole setup (see below); options after it override it", "none",
     CLI_R_STR, 0},
    {"config", "FILE", "read settings and run options from FILE (key = value lines, e.g. "
     "presets/hinton.conf); the command line overrides it", "none", CLI_R_STR, 0},
    {"print-config", NULL, "write the resolved configuration in the --config format and stop",
     "off", CLI_R_FLAG, R(print_config)},
    {"data", "NAME|DIR", "mnist, fashion-mnist, cifar10, cifar100[:coarse], diabetes, "
     "breast-cancer, csv:FILE, or a directory with the 4 IDX files or the CIFAR .bin files",
     "mnist", CLI_R_STR, R(data)},
    {"target", "COLS", "csv: target column(s), names or 0-based indices", "last column", CLI_R_STR,
     R(target)},
    {"classify", NULL, "csv: the target is a class label (else regression)", "off", CLI_R_FLAG,
     R(classify)},
    {"val", "N", "hold N training samples out for validation", "0", CLI_R_INT, R(val)},
    {"input-repeat", "K", "every sample's inputs K times in a row (as K x the channels), "
     "recorded with the model (Bacho & Chu 2024 Fig. 6a's duplicated pixels)", "1", CLI_R_INT,
     R(input_repeat)},
    {"input-pad", "P", "frame every image with P zero pixels on each side, recorded with the model "
     "(2: MNIST as the 32 x 32 inputs Gong et al. 2025's CNN is written for)", "0", CLI_R_INT,
     R(input_pad)},
    {"eval-every", "N", "evaluate (val, test) every N epochs and after the last", "1", CLI_R_INT,
     R(eval_every)},
    {"log", "FILE", "live JSONL log: a header object (version, commit, CPU, command line, configuration, "
     "data and its checksum), one object per epoch, flushed as written, and a final object "
     "(s/epoch, peak memory, scores); - = stdout (the screen lines then go to stderr)", "none", CLI_R_STR, R(log)},
    {"save", "FILE", "save the trained model (also when stopped by Ctrl-C)", "none", CLI_R_STR, R(save)},
    {"checkpoint", "FILE", "write a checkpoint (everything needed to continue exactly) every "
     "--checkpoint-every epochs, on Ctrl-C, and at the end", "none", CLI_R_STR, R(checkpoint)},
    {"checkpoint-every", "N", "with --checkpoint: every N epochs", "1", CLI_R_INT, R(checkpoint_every)},
    {"checkpoint-minutes", "M", "with --checkpoint: also every M minutes, between two batches "
     "(0 = off)", "0", CLI_R_INT, R(checkpoint_minutes)},
    {"resume", "FILE", "continue the run a checkpoint holds, with its settings and data "
     "(run options given here override its own)", "none", CLI_R_STR, R(resume)},
    {"dist", "MODE", "data: data-parallel training over the ranks of `mpirun -np N bpfree-mpi "
     "train ...` (global batch = --batch, split over the ranks); layers: layer-parallel, each "
     "rank a block of layers, for update-unlocked rules; bpfree-mpi only", "none", CLI_R_STR,
     R(dist)},
    {"allow-divergence", NULL, "do not stop when the loss grows 1e6-fold or the accuracy falls "
     "back to chance", "off", CLI_R_FLAG, R(allow_divergence)},
    {"quiet", NULL, "print only the final result", "off", CLI_R_FLAG, R(quiet)},
    {"profile", NULL,
     "time the matrix products of training and replay them alone; prints a 'profile:' line",
     "off", CLI_R_FLAG, R(profile)},
    {"profile-shapes", NULL,
     "with --profile: also one 'profile-shape:' line per product shape, most time first",
     "off", CLI_R_FLAG, R(profile_shapes)},
};
#define N_RUN ((int)(sizeof RUN_OPTS / sizeof *RUN_OPTS))

const cli_run_opt *cli_run_opt_find(const char *name, size_t len) {
    for (int i = 0; i < N_RUN; i++)
        if (strlen(RUN_OPTS[i].name) == len && !strncmp(RUN_OPTS[i].name, name, len))
            return &RUN_OPTS[i];
    return NULL;
}

const cli_run_opt *cli_run_opt_at(int i) { return i >= 0 && i < N_RUN ? &RUN_OPTS[i] : NULL; }
