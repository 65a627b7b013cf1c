/* examples/train_mnist.c — the library in 50 lines: train Mono-Forward on
 * MNIST and print the test accuracy after each epoch.  Built by `make` as
 * build/example-train-mnist, so this example cannot rot.
 *   usage: build/example-train-mnist [RULE] [EPOCHS] */
#include <bpfree.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    const char *rule = argc > 1 ? argv[1] : "mf";
    int epochs = argc > 2 ? atoi(argv[2]) : 3;
    bpfree_error err;
    bpfree_dataset train = {0}, test = {0};
    char dir[4096];
    bpfree_config cfg;
    bpfree_model *model = NULL;

    if (bpfree_data_resolve("mnist", NULL, dir, sizeof dir, &err) ||
        bpfree_data_load_dir(dir, &train, &test, &err) ||
        bpfree_config_default(&cfg, rule, train.dim, train.classes, &err))
        goto fail;
    cfg.epochs = epochs; /* the schedule (cooldown) is laid over these epochs */
    /* rules that train on standardised pixels (f3, drtp, llo) need the
     * training set's mean and std in the config; bpfree_data_prepare then
     * prepares every set as the model expects (as `bpfree train` does) */
    if (cfg.norm == BPFREE_NORM_STANDARDIZE) bpfree_data_stats(&train, &cfg.norm_mean, &cfg.norm_std);
    if (bpfree_model_new(&cfg, &model, &err) || bpfree_data_prepare(model, &train, &err) ||
        bpfree_data_prepare(model, &test, &err))
        goto fail;
    for (int e = 0; e < epochs; e++) {
        bpfree_epoch_stats st;
        bpfree_eval ev;
        if (bpfree_train_epoch(model, &train, &st, &err) ||
            bpfree_evaluate(model, &test, &ev, &err))
            goto fail;
        printf("epoch %d: train loss %.4f, test accuracy %.2f%% (%.1f s)\n", e + 1,
               st.train_loss, 100.0 * ev.acc, st.seconds);
    }
    bpfree_model_free(model);
    bpfree_data_free(&train);
    bpfree_data_free(&test);
    return 0;
fail:
    fprintf(stderr, "example: %s\n", err.msg);
    bpfree_model_free(model);
    bpfree_data_free(&train);
    bpfree_data_free(&test);
    return 1;
}
