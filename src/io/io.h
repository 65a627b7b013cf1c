/* io.h — what the model-file files share; not part of the library's API.
 *
 * From the bottom up: bytes.c reads and writes bytes with the file's CRC;
 * sections.c collects, writes, reads and applies the sections of a version
 * 2 file — data columns, a checkpoint's run state, RNG, optimizer and rule
 * state, run.settings, note; model_io.c writes and reads a whole model file,
 * its header and blocks (its layout is described at the top of that file);
 * checkpoint.c loads a checkpoint: a model file with its run state. */
#ifndef BPFREE_IO_H
#define BPFREE_IO_H

#include "engine/engine.h"
#include "rules/rules.h"

#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

#define MAX_SECTIONS 512
#define MAX_OUT (BP_MAX_PERSIST + 32)

/* ------------------------------------------------ little-endian integers */

static inline void le32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static inline void le64(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t rd32(const unsigned char *b) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | b[i];
    return v;
}
static inline uint64_t rd64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* ------------------------------------------------- bytes (bytes.c) */

/* n bytes to f, added to *crc; 0, or -1 on a write error. */
int bp_io_write_all(FILE *f, const void *p, size_t n, uLong *crc);
/* n bytes from f, added to *crc unless crc is NULL; what names them in an error. */
bpfree_status bp_io_read_exact(FILE *f, void *p, size_t n, uLong *crc, const char *path,
                               const char *what, bpfree_error *err);
/* Bytes left in f after the current position (or UINT64_MAX if unknown). */
uint64_t bp_io_bytes_left(FILE *f);

/* ------------------------------------------------- writing (sections.c) */

/* A section to write: a view, or bytes owned by the writer (own = 1). */
typedef struct out_section {
    char name[32];
    const void *p;
    size_t bytes;
    int own;
} out_section;

/* The sections of a model file (checkpoint = 0) or a checkpoint into o,
 * *n of them (also on failure: the caller frees those it owns). */
bpfree_status bp_io_collect(const bpfree_model *mc, int checkpoint, const char *note,
                            out_section *o, int *n, bpfree_error *err);
/* The section count and the n sections to f, added to *crc; nonzero on a
 * write error. */
int bp_io_write_sections(FILE *f, const out_section *sec, int n, uLong *crc);

/* ------------------------------------------------- reading (sections.c) */

/* A section read from a file. */
typedef struct in_section {
    char name[64];
    unsigned char *p;
    size_t bytes;
} in_section;

/* A file being loaded: the model, once built, and the sections read. */
typedef struct loaded {
    bpfree_model *m;
    in_section sec[MAX_SECTIONS];
    int n_sec;
} loaded;

void bp_io_loaded_free(loaded *L);
const in_section *bp_io_find_section(const loaded *L, const char *name);
bpfree_status bp_io_read_sections(FILE *f, const char *path, uLong *crc, loaded *L,
                                  bpfree_error *err);
/* Section run.settings (the settings a model file does not keep) into cfg. */
bpfree_status bp_io_apply_settings(bpfree_config *cfg, const loaded *L, const char *path,
                                   bpfree_error *err);
/* The file's data record d (NULL: none) into the model, its columns from
 * the "data.cols" and "data.tcols" sections. */
bpfree_status bp_io_apply_data(bpfree_model *m, const bpfree_data_info *d, const loaded *L,
                               const char *path, bpfree_error *err);

/* --------------------------------------------------- loading (model_io.c) */

/* The model and sections of the file at path into L (nothing kept on failure). */
bpfree_status bp_io_load_file(const char *path, loaded *L, bpfree_error *err);

#endif
