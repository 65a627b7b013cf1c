/* files.c — the command's output files: probing them before training,
 * removing what killed runs left behind, and the live JSONL log.
 *
 * Temporary files are PATH.tmp.PID-XXXXXX (the library's model writer uses
 * the same form), so a later run with the same PATH removes those whose
 * process is gone and leaves a live run's alone. */
#define _DEFAULT_SOURCE /* DT_* is not needed; kill() with _POSIX_C_SOURCE */
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bpfree: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void die_err(const bpfree_error *e) { die("%s", e->msg); }

/* dir and base name of path */
static void split_path(const char *path, char *dir, size_t dcap, const char **base) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dcap, ".");
        *base = path;
    } else {
        snprintf(dir, dcap, "%.*s", slash == path ? 1 : (int)(slash - path), path);
        *base = slash + 1;
    }
}

void cli_clean_stale(const char *path) {
    if (!path || !strcmp(path, "-")) return;
    char dir[PATH_MAX];
    const char *base;
    split_path(path, dir, sizeof dir, &base);
    DIR *d = opendir(dir);
    if (!d) return;
    const size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp.", 5) != 0) continue;
        char *end;
        long pid = strtol(n + bl + 5, &end, 10);
        if (end == n + bl + 5 || *end != '-' || pid <= 0) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours to judge) */
        char full[2 * PATH_MAX];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        if (unlink(full) == 0)
            fprintf(stderr, "bpfree: removed %s, left by a run that was killed\n", full);
    }
    closedir(d);
}

void cli_probe_output(const char *opt, const char *path) {
    if (!path || !strcmp(path, "-")) return;
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        die("--%s %s: is a directory; give a file name", opt, path);
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s.tmp.%ld-probe", path, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) die("--%s %s: cannot write there: %s", opt, path, strerror(errno));
    static char zeros[65536];
    ssize_t w = write(fd, zeros, sizeof zeros);
    int e = w != (ssize_t)sizeof zeros ? (w < 0 ? errno : ENOSPC) : 0;
    if (!e && fsync(fd) != 0) e = errno;
    close(fd);
    unlink(probe);
    if (e) die("--%s %s: cannot write there: %s", opt, path, strerror(e));
}

/* ---------------------------------------------------------------- log */

static void keep(logfile *lg, const char *s, size_t n) {
    if (lg->len + n + 1 > lg->cap) {
        size_t cap = (lg->len + n + 1) * 2;
        char *t = realloc(lg->text, cap);
        if (!t) die("out of memory (log)");
        lg->text = t;
        lg->cap = cap;
    }
    memcpy(lg->text + lg->len, s, n);
    lg->len += n;
    lg->text[lg->len] = '\0';
}

static void log_fail(const logfile *lg, int e) {
    die("--log %s: writing the log failed: %s", lg->path, strerror(e ? e : EIO));
}

/* mkstemp, and the mode an ordinary new file gets (0666 less the umask)
 * instead of mkstemp's 0600: logs and exports are for others to read too.
 * The CLI opens its files before any training thread, so reading the umask
 * by setting it is safe here. */
int cli_mkstemp(char *tmp) {
    int fd = mkstemp(tmp);
    if (fd >= 0) {
        mode_t u = umask(0);
        umask(u);
        (void)fchmod(fd, 0666 & ~u); /* if it fails the file stays 0600: private, still correct */
    }
    return fd;
}

void log_open(logfile *lg, const char *path, const char *text) {
    memset(lg, 0, sizeof *lg);
    lg->path = path;
    if (!path) return;
    if (text) keep(lg, text, strlen(text));
    if (!strcmp(path, "-")) {
        lg->f = stdout;
        lg->to_stdout = 1;
        if (text && (fputs(text, stdout) == EOF || fflush(stdout) != 0)) log_fail(lg, errno);
        return;
    }
    /* the first lines go to a temporary file that replaces PATH only once
     * they are on disk: a full disk leaves an older log as it was */
    char tmp[PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld-XXXXXX", path, (long)getpid());
    int fd = cli_mkstemp(tmp);
    if (fd < 0) die("--log %s: %s", path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    int bad = !f;
    if (f && text) bad |= fputs(text, f) == EOF;
    if (f) bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if (bad || rename(tmp, path) != 0) {
        if (!bad) e = errno;
        if (f) fclose(f);
        else close(fd);
        unlink(tmp);
        log_fail(lg, e);
    }
    lg->f = f;
}

void log_line(logfile *lg, const char *line) {
    if (!lg->path) return;
    keep(lg, line, strlen(line));
    if (fputs(line, lg->f) == EOF || fflush(lg->f) != 0 || ferror(lg->f)) log_fail(lg, errno);
}

void log_close(logfile *lg) {
    if (lg->f && !lg->to_stdout) {
        FILE *f = lg->f;
        lg->f = NULL;
        if (fclose(f) != 0) log_fail(lg, errno);
    }
    lg->f = NULL;
    free(lg->text);
    lg->text = NULL;
    lg->len = lg->cap = 0;
}

/* ------------------------------------------------------------- JSON */

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void cli_json_argv(FILE *f, int argc, const char *const *argv) {
    fputc('[', f);
    for (int i = 0; i < argc; i++) {
        if (i) fputs(", ", f);
        cli_json_str(f, argv[i]);
    }
    fputc(']', f);
}
