/* cifar.c — read the binary versions of CIFAR-10 and CIFAR-100
 * (https://www.cs.toronto.edu/~kriz/cifar.html) into datasets.
 *
 * CIFAR-10 (cifar-10-binary.tar.gz untars to cifar-10-batches-bin/):
 *   data_batch_1.bin .. data_batch_5.bin (10000 records each) and
 *   test_batch.bin (10000); a record is 1 label byte (0..9) and 3072 pixel
 *   bytes: 1024 red, 1024 green, 1024 blue, each a 32 x 32 image row by row.
 * CIFAR-100 (cifar-100-binary.tar.gz untars to cifar-100-binary/):
 *   train.bin (50000 records) and test.bin (10000); a record is the coarse
 *   label (0..19), the fine label (0..99) and the same 3072 pixel bytes.
 * The pixel order is bpfree's (C, H, W), so pixels copy straight across,
 * scaled to [0, 1] as the IDX reader does.  The files have no header: a file
 * is checked by its size (a whole number of records) and its labels. */
#include "data.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_C 3
#define CIFAR_HW 32
#define CIFAR_PIXELS (CIFAR_C * CIFAR_HW * CIFAR_HW) /* 3072 */
#define CIFAR_TRAIN_MAX 5                             /* data_batch_1..5.bin */
#define CHUNK_RECORDS 256                             /* records read at once */
#define CIFAR_HOME "https://www.cs.toronto.edu/~kriz/cifar.html"

/* One of the two formats. */
typedef struct cifar_format {
    int version;         /* 10 or 100 */
    const char *title;   /* "CIFAR-10" */
    const char *name;    /* the dataset's name: "cifar10" */
    const char *subdir;  /* the archive's own folder */
    const char *archive; /* the file to download */
    const char *train;   /* training file name (CIFAR-10: data_batch_K.bin) */
    const char *test;    /* test file name */
    int label_bytes;     /* 1 (label) or 2 (coarse, fine) */
} cifar_format;

static const cifar_format formats[2] = {
    {10, "CIFAR-10", "cifar10", "cifar-10-batches-bin", "cifar-10-binary.tar.gz",
     "data_batch_%d.bin", "test_batch.bin", 1},
    {100, "CIFAR-100", "cifar100", "cifar-100-binary", "cifar-100-binary.tar.gz", "train.bin",
     "test.bin", 2},
};

static size_t record_bytes(const cifar_format *f) {
    return (size_t)f->label_bytes + CIFAR_PIXELS;
}

/* The files one load reads: every training file, then the test file. */
typedef struct cifar_files {
    const cifar_format *f;
    int coarse;
    char dir[DATA_PATH_MAX];                        /* where they are */
    char train[CIFAR_TRAIN_MAX][DATA_PATH_MAX + 32];
    int n_train;
    char test[DATA_PATH_MAX + 32];
} cifar_files;

/* The name of training file k (1..5) of f: "data_batch_K.bin" or "train.bin". */
static void train_name(char *out, size_t cap, const cifar_format *f, int k) {
    if (f->version == 10) snprintf(out, cap, "data_batch_%d.bin", k);
    else snprintf(out, cap, "%s", f->train);
}

/* out <- dir/name, or dir/<training file k> if name is NULL. */
static void file_path(char *out, size_t cap, const char *dir, const cifar_format *f,
                      const char *name, int k) {
    char base[32];
    if (!name) train_name(base, sizeof base, f, k);
    snprintf(out, cap, "%s/%.31s", dir, name ? name : base);
}

/* 1 if dir holds f's first training file or its test file. */
static int holds(const char *dir, const cifar_format *f) {
    char p[DATA_PATH_MAX + 32];
    file_path(p, sizeof p, dir, f, NULL, 1);
    if (bp_data_is_file(p)) return 1;
    file_path(p, sizeof p, dir, f, f->test, 0);
    return bp_data_is_file(p);
}

/* where <- dir or dir/<the archive's folder>, whichever holds f's files
 * (where has DATA_PATH_MAX bytes); 0 if neither does. */
static int locate(const char *dir, const cifar_format *f, char *where) {
    char sub[DATA_PATH_MAX];
    int k = snprintf(sub, sizeof sub, "%s/%s", dir, f->subdir);
    const char *cand[2] = {dir, k > 0 && (size_t)k < sizeof sub ? sub : NULL};
    for (int i = 0; i < 2; i++)
        if (cand[i] && strlen(cand[i]) < DATA_PATH_MAX && holds(cand[i], f)) {
            snprintf(where, DATA_PATH_MAX, "%s", cand[i]);
            return 1;
        }
    return 0;
}

int bp_cifar_detect(const char *dir) {
    char where[DATA_PATH_MAX];
    return locate(dir, &formats[0], where) || locate(dir, &formats[1], where);
}

/* The training files: CIFAR-100's train.bin, or CIFAR-10's data_batch_1.bin
 * .. data_batch_K.bin, the unbroken run from 1 (K = 5 in the real set). */
static bpfree_status list_files(cifar_files *F, bpfree_error *err) {
    const cifar_format *f = F->f;
    int max = f->version == 10 ? CIFAR_TRAIN_MAX : 1;
    F->n_train = 0;
    for (int k = 1; k <= max; k++) {
        char *p = F->train[F->n_train];
        file_path(p, sizeof F->train[0], F->dir, f, NULL, k);
        if (bp_data_is_file(p)) {
            if (F->n_train != k - 1) /* a later batch after a missing one */
                return bp_fail(err, BPFREE_EIO,
                               "%s: data_batch_%d.bin is missing but %s is there (a partial "
                               "copy?) — untar %s again", F->dir, F->n_train + 1, p,
                               f->archive);
            F->n_train++;
        }
    }
    if (F->n_train == 0) {
        char name[64];
        train_name(name, sizeof name, f, 1);
        return bp_fail(err, BPFREE_EIO, "no %s in %s — download %s from " CIFAR_HOME
                       " and untar it there", name, F->dir, f->archive);
    }
    file_path(F->test, sizeof F->test, F->dir, f, f->test, 0);
    if (!bp_data_is_file(F->test))
        return bp_fail(err, BPFREE_EIO, "no %s in %s — download %s from " CIFAR_HOME
                       " and untar it there", f->test, F->dir, f->archive);
    return BPFREE_OK;
}

/* Find the files for `version` (10, 100, 0 = either; coarse means 100). */
static bpfree_status find_files(const char *dir, int version, int coarse, cifar_files *F,
                                bpfree_error *err) {
    if (!bp_data_is_dir(dir))
        return bp_fail(err, BPFREE_EIO, "%s: no such directory", dir);
    if (strlen(dir) + 64 >= sizeof F->dir)
        return bp_fail(err, BPFREE_EINVAL, "path too long: %s", dir);
    int found = 0;
    for (int i = 0; i < 2 && !found; i++) {
        const cifar_format *f = &formats[i];
        if ((version && version != f->version) || (coarse && f->version != 100)) continue;
        found = locate(dir, f, F->dir);
        if (found) F->f = f;
    }
    if (found) return list_files(F, err);
    if (version == 10)
        return bp_fail(err, BPFREE_EIO,
                       "no CIFAR-10 files (data_batch_1.bin .. data_batch_5.bin, "
                       "test_batch.bin) in %s or %s/%s — download %s from " CIFAR_HOME
                       " and untar it into %s", dir, dir, formats[0].subdir,
                       formats[0].archive, dir);
    if (version == 100 || coarse)
        return bp_fail(err, BPFREE_EIO,
                       "%sno CIFAR-100 files (train.bin, test.bin) in %s or %s/%s — download "
                       "%s from " CIFAR_HOME " and untar it into %s",
                       version ? "" : "coarse labels are CIFAR-100's, and there are ", dir, dir,
                       formats[1].subdir, formats[1].archive, dir);
    return bp_fail(err, BPFREE_EIO,
                   "no CIFAR files in %s (CIFAR-10: data_batch_1.bin .. test_batch.bin; "
                   "CIFAR-100: train.bin, test.bin; directly or in %s/ or %s/)", dir,
                   formats[0].subdir, formats[1].subdir);
}

/* ---------------------------------------------------------- one file */

/* One open file being read into a dataset. */
typedef struct cifar_reader {
    const cifar_format *f;
    int coarse;
    const char *path;
    FILE *fp;
    size_t records;
} cifar_reader;

/* A size that is no whole number of records: where the cut record starts. */
static bpfree_status bad_size(const cifar_reader *R, size_t size, bpfree_error *err) {
    size_t rec = record_bytes(R->f), whole = size / rec;
    const cifar_format *other = &formats[R->f->version == 10];
    char hint[96] = "";
    if (size % record_bytes(other) == 0)
        snprintf(hint, sizeof hint, " — its size fits %s records (%zu bytes): is it a %s file?",
                 other->title, record_bytes(other), other->title);
    return bp_fail(err, BPFREE_EFORMAT,
                   "%s: truncated: %zu bytes are %zu whole %s records of %zu bytes and %zu "
                   "bytes more; the record at byte offset %zu is cut short%s",
                   R->path, size, whole, R->f->title, rec, size % rec, whole * rec, hint);
}

/* Open the file, refuse gzip (the batches come out of the tarball raw) and
 * any size that is no whole, non-zero number of records. */
static bpfree_status reader_open(cifar_reader *R, bpfree_error *err) {
    struct stat st;
    if (stat(R->path, &st) != 0)
        return bp_fail(err, BPFREE_EIO, "cannot open %s: %s", R->path, strerror(errno));
    R->fp = fopen(R->path, "rb");
    if (!R->fp) return bp_fail(err, BPFREE_EIO, "cannot open %s: %s", R->path, strerror(errno));
    unsigned char magic[2];
    if (fread(magic, 1, 2, R->fp) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        return bp_fail(err, BPFREE_EFORMAT,
                       "%s: gzip-compressed (starts with 1f 8b); the %s reader wants the raw "
                       ".bin files that `tar xzf %s` unpacks", R->path, R->f->title,
                       R->f->archive);
    if (fseek(R->fp, 0, SEEK_SET) != 0)
        return bp_fail(err, BPFREE_EIO, "%s: cannot seek: %s", R->path, strerror(errno));
    size_t size = (size_t)st.st_size, rec = record_bytes(R->f);
    if (size == 0)
        return bp_fail(err, BPFREE_EFORMAT, "%s: empty: holds no %s record", R->path,
                       R->f->title);
    if (size % rec != 0) return bad_size(R, size, err);
    R->records = size / rec;
    return BPFREE_OK;
}

/* Label j (0: coarse or the only one, 1: fine) of record r must lie in
 * 0..limit-1. */
static bpfree_status check_label(const cifar_reader *R, size_t r, int j, int label,
                                 bpfree_error *err) {
    static const int limits[2][2] = {{10, 0}, {20, 100}};
    static const char *const what[2][2] = {{"label", ""}, {"coarse label", "fine label"}};
    int v = R->f->version == 100, limit = limits[v][j];
    if (label < limit) return BPFREE_OK;
    return bp_fail(err, BPFREE_EFORMAT,
                   "%s: record %zu, byte offset %zu: %s %d is out of range 0..%d (%s) — a "
                   "corrupt file, or not %s?", R->path, r, r * record_bytes(R->f) + (size_t)j,
                   what[v][j], label, limit - 1, R->f->title, R->f->title);
}

/* Every record of the file into out rows [row, row + R->records). */
static bpfree_status reader_read(cifar_reader *R, bpfree_dataset *out, int row,
                                 unsigned char *buf, bpfree_error *err) {
    size_t rec = record_bytes(R->f);
    int lb = R->f->label_bytes, which = lb == 2 && !R->coarse; /* fine: the 2nd byte */
    for (size_t r0 = 0; r0 < R->records; r0 += CHUNK_RECORDS) {
        size_t n = R->records - r0 < CHUNK_RECORDS ? R->records - r0 : CHUNK_RECORDS;
        size_t got = fread(buf, rec, n, R->fp);
        if (got < n) {
            if (ferror(R->fp))
                return bp_fail(err, BPFREE_EIO, "%s: read error at byte offset %zu: %s",
                               R->path, (r0 + got) * rec, strerror(errno));
            return bp_fail(err, BPFREE_EFORMAT,
                           "%s: unexpected end of file in the record at byte offset %zu (the "
                           "file shrank while being read?)", R->path, (r0 + got) * rec);
        }
        for (size_t i = 0; i < n; i++) {
            const unsigned char *p = buf + i * rec;
            for (int j = 0; j < lb; j++) {
                bpfree_status s = check_label(R, r0 + i, j, p[j], err);
                if (s != BPFREE_OK) return s;
            }
            size_t o = (size_t)row + r0 + i;
            out->labels[o] = p[which];
            float *x = out->x + o * CIFAR_PIXELS;
            for (int k = 0; k < CIFAR_PIXELS; k++) x[k] = (float)p[lb + k] / 255.0f;
        }
    }
    return BPFREE_OK;
}

static void reader_close(cifar_reader *R) {
    if (R->fp) fclose(R->fp);
    R->fp = NULL;
}

/* ------------------------------------------------------------ a dataset */

/* Read files[0..nf) one after the other into one dataset. */
static bpfree_status read_set(const cifar_files *F, char (*files)[DATA_PATH_MAX + 32], int nf,
                              bpfree_dataset *out, bpfree_error *err) {
    cifar_reader R[CIFAR_TRAIN_MAX];
    memset(R, 0, sizeof R);
    size_t total = 0;
    bpfree_status s = BPFREE_OK;
    for (int i = 0; i < nf && s == BPFREE_OK; i++) {
        R[i] = (cifar_reader){.f = F->f, .coarse = F->coarse, .path = files[i]};
        s = reader_open(&R[i], err);
        total += R[i].records;
        if (s == BPFREE_OK && total > INT_MAX / CIFAR_PIXELS)
            s = bp_fail(err, BPFREE_EFORMAT, "%s: too many records (%zu so far)", files[i],
                        total);
    }
    unsigned char *buf = NULL;
    if (s == BPFREE_OK) {
        int classes = F->f->version == 10 ? 10 : F->coarse ? 20 : 100;
        s = bpfree_data_alloc(out, (int)total, CIFAR_PIXELS, classes, 0, err);
    }
    if (s == BPFREE_OK) {
        buf = bp_alloc(NULL, CHUNK_RECORDS * record_bytes(F->f));
        if (!buf) s = bp_fail(err, BPFREE_ENOMEM, "out of memory for a read buffer");
    }
    int row = 0;
    for (int i = 0; i < nf && s == BPFREE_OK; i++) {
        s = reader_read(&R[i], out, row, buf, err);
        row += (int)R[i].records;
    }
    for (int i = 0; i < nf; i++) reader_close(&R[i]);
    bp_free(NULL, buf);
    if (s != BPFREE_OK) {
        bpfree_data_free(out);
        return s;
    }
    out->channels = CIFAR_C;
    out->height = out->width = CIFAR_HW;
    snprintf(out->name, sizeof out->name, "%s", F->f->name);
    return BPFREE_OK;
}

bpfree_status bpfree_cifar_load_dir(const char *dir, int version, int coarse,
                                    bpfree_dataset *train, bpfree_dataset *test,
                                    bpfree_error *err) {
    if (!dir || !train || !test || train == test)
        return bp_fail(err, BPFREE_EINVAL, "bpfree_cifar_load_dir: bad arguments");
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (version != 0 && version != 10 && version != 100)
        return bp_fail(err, BPFREE_EINVAL, "CIFAR version %d: must be 10, 100 or 0 (either)",
                       version);
    if (coarse && version == 10)
        return bp_fail(err, BPFREE_EINVAL,
                       "CIFAR-10 has no coarse labels (CIFAR-100's 20 superclasses)");
    cifar_files *Fp = bp_alloc(NULL, sizeof *Fp); /* ~25 KiB of paths: not on the stack */
    if (!Fp) return bp_fail(err, BPFREE_ENOMEM, "out of memory");
    memset(Fp, 0, sizeof *Fp);
    Fp->coarse = coarse != 0;
    bpfree_status s = find_files(dir, version, coarse, Fp, err);
    if (s == BPFREE_OK) s = read_set(Fp, Fp->train, Fp->n_train, train, err);
    if (s == BPFREE_OK) s = read_set(Fp, &Fp->test, 1, test, err);
    if (s != BPFREE_OK) bpfree_data_free(train);
    bp_free(NULL, Fp);
    return s;
}
