/* The shared assertions and helpers of the C test programs (see check.h). */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *program_name = "?";
static int passed;
static int failed;
static char temp_dir[4096];

#define MAX_OWNED 1024
static char *owned[MAX_OWNED]; /* strings made by tpath() and b64() */
static size_t owned_count;

/* ---- checks ---------------------------------------------------------------- */

static int pass(void) {
    passed++;
    return 1;
}

static int fail_head(const char *file, int line) {
    failed++;
    fprintf(stderr, "%s:%d: FAIL: ", file, line);
    return 0;
}

static void print_code(const char *label, CHM_RV rv) {
    fprintf(stderr, "%s 0x%lx (%s)", label, (unsigned long)rv, CHM_GetReturnCodeText(rv));
}

int check_rv_at(const char *file, int line, const char *expr, CHM_RV got, CHM_RV want) {
    if (got == want) {
        return pass();
    }
    fail_head(file, line);
    fprintf(stderr, "%s\n    ", expr);
    print_code("returned", got);
    print_code(", expected", want);
    fprintf(stderr, "\n    last error: \"%s\"\n", last_error());
    return 0;
}

int check_err_at(const char *file, int line, const char *expr, CHM_RV got, CHM_RV want,
                 const char *needle) {
    const char *message = last_error();
    if (got == want && strstr(message, needle) != NULL) {
        return pass();
    }
    fail_head(file, line);
    fprintf(stderr, "%s\n    ", expr);
    print_code("returned", got);
    print_code(", expected", want);
    fprintf(stderr, "\n    last error: \"%s\"\n    expected it to contain: \"%s\"\n", message,
            needle);
    return 0;
}

int check_true_at(const char *file, int line, const char *expr, int holds) {
    if (holds) {
        return pass();
    }
    fail_head(file, line);
    fprintf(stderr, "%s does not hold\n", expr);
    return 0;
}

int check_u64_at(const char *file, int line, const char *a_expr, const char *b_expr,
                 unsigned long long a, unsigned long long b) {
    if (a == b) {
        return pass();
    }
    fail_head(file, line);
    fprintf(stderr, "%s == %s: %llu (0x%llx) != %llu (0x%llx)\n", a_expr, b_expr, a, a, b, b);
    return 0;
}

int check_mem_at(const char *file, int line, const char *a_expr, const char *b_expr,
                 const void *a, const void *b, size_t len) {
    size_t i;
    const unsigned char *x = a;
    const unsigned char *y = b;
    if (a != NULL && b != NULL && memcmp(a, b, len) == 0) {
        return pass();
    }
    fail_head(file, line);
    if (a == NULL || b == NULL) {
        fprintf(stderr, "%s vs %s: NULL pointer\n", a_expr, b_expr);
        return 0;
    }
    for (i = 0; i < len && x[i] == y[i]; i++) {
    }
    fprintf(stderr, "%s and %s differ at byte %lu of %lu (0x%02x != 0x%02x)\n", a_expr, b_expr,
            (unsigned long)i, (unsigned long)len, x[i], y[i]);
    return 0;
}

int check_str_at(const char *file, int line, const char *a_expr, const char *a, const char *b) {
    if (a != NULL && b != NULL && strcmp(a, b) == 0) {
        return pass();
    }
    fail_head(file, line);
    fprintf(stderr, "%s is \"%s\", expected \"%s\"\n", a_expr, a ? a : "(null)",
            b ? b : "(null)");
    return 0;
}

int check_contains_at(const char *file, int line, const char *expr, const char *haystack,
                      const char *needle) {
    if (haystack != NULL && strstr(haystack, needle) != NULL) {
        return pass();
    }
    fail_head(file, line);
    fprintf(stderr, "%s is \"%s\"; expected it to contain \"%s\"\n", expr,
            haystack ? haystack : "(null)", needle);
    return 0;
}

/* ---- program frame --------------------------------------------------------- */

void section(const char *title) {
    printf("-- %s\n", title);
    fflush(stdout);
}

void check_begin(const char *program) {
    const char *base = getenv("TMPDIR");
    program_name = program;
    /* Keep the order of progress lines and failure reports in a combined log. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    snprintf(temp_dir, sizeof temp_dir, "%s/chm-%s-XXXXXX", base, program);
    if (mkdtemp(temp_dir) == NULL) {
        fprintf(stderr, "%s: cannot create a temporary directory in %s: %s\n", program, base,
                strerror(errno));
        exit(2);
    }
    printf("== %s (temporary directory %s)\n", program, temp_dir);
    fflush(stdout);
}

/* Removes the temporary directory and everything in it (it holds files and at
 * most one level of subdirectories). */
static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat st;
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_tree(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

int check_end(void) {
    size_t i;
    remove_tree(temp_dir);
    if (file_exists(temp_dir)) {
        fail_head(__FILE__, __LINE__);
        fprintf(stderr, "the temporary directory %s could not be removed\n", temp_dir);
    }
    for (i = 0; i < owned_count; i++) {
        free(owned[i]);
    }
    owned_count = 0;
    printf("CHECKS %s passed=%d failed=%d\n", program_name, passed, failed);
    fflush(stdout);
    fflush(stderr);
    return failed == 0 ? 0 : 1;
}

/* ---- library helpers ------------------------------------------------------- */

const char *last_error(void) {
    static char message[16384];
    size_t len = sizeof message;
    CHM_RV rv = CHM_GetLastError(message, &len);
    if (rv != CHMR_OK) {
        snprintf(message, sizeof message, "(CHM_GetLastError returned 0x%lx, needs %lu bytes)",
                 (unsigned long)rv, (unsigned long)len);
    }
    return message;
}

int all_canary(const void *buf, size_t len) {
    const unsigned char *p = buf;
    size_t i;
    for (i = 0; i < len; i++) {
        if (p[i] != CANARY) {
            return 0;
        }
    }
    return 1;
}

/* ---- files ----------------------------------------------------------------- */

const char *tmp_dir(void) {
    return temp_dir;
}

const char *tpath(const char *name) {
    size_t len = strlen(temp_dir) + 1 + strlen(name) + 1;
    char *p;
    if (owned_count == MAX_OWNED) {
        fprintf(stderr, "tpath: too many paths\n");
        exit(2);
    }
    p = malloc(len);
    if (p == NULL) {
        fprintf(stderr, "tpath: out of memory\n");
        exit(2);
    }
    snprintf(p, len, "%s/%s", temp_dir, name);
    owned[owned_count++] = p;
    return p;
}

int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    int ok;
    if (f == NULL) {
        return -1;
    }
    ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0;
    size_t n = 0;
    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        size_t got;
        if (n + 4096 + 1 > cap) {
            unsigned char *bigger;
            cap = cap == 0 ? 8192 : cap * 2;
            bigger = realloc(buf, cap);
            if (bigger == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = bigger;
        }
        got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) {
            break;
        }
    }
    fclose(f);
    buf[n] = 0;
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

int file_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

int file_mode(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        return -1;
    }
    return (int)(st.st_mode & 07777);
}

void snapshot_take(file_snapshot *s, const char *path) {
    struct stat st;
    memset(s, 0, sizeof *s);
    if (lstat(path, &st) != 0) {
        return;
    }
    s->exists = 1;
    s->ino = st.st_ino;
    s->mtime_sec = (long long)st.st_mtim.tv_sec;
    s->mtime_nsec = st.st_mtim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
        s->data = read_file(path, &s->len);
    }
}

int snapshot_unchanged(const file_snapshot *s, const char *path) {
    file_snapshot now;
    int same;
    snapshot_take(&now, path);
    same = now.exists == s->exists && now.ino == s->ino && now.mtime_sec == s->mtime_sec &&
           now.mtime_nsec == s->mtime_nsec && now.len == s->len &&
           (now.data == NULL) == (s->data == NULL) &&
           (now.data == NULL || memcmp(now.data, s->data, s->len) == 0);
    snapshot_free(&now);
    return same;
}

void snapshot_free(file_snapshot *s) {
    free(s->data);
    s->data = NULL;
}

const char *b64(const void *data, size_t len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
    size_t out_len = 4 * ((len + 2) / 3);
    char *out;
    size_t i, o = 0;
    if (owned_count == MAX_OWNED) {
        fprintf(stderr, "b64: too many strings\n");
        exit(2);
    }
    out = malloc(out_len + 1);
    if (out == NULL) {
        fprintf(stderr, "b64: out of memory\n");
        exit(2);
    }
    for (i = 0; i + 2 < len; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned long v = (unsigned long)in[i] << 16;
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8);
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = 0;
    owned[owned_count++] = out;
    return out;
}

void random_bytes(void *buf, size_t len) {
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(buf, 1, len, f) != len) {
        fprintf(stderr, "cannot read /dev/urandom\n");
        exit(2);
    }
    fclose(f);
}

/* ---- commands -------------------------------------------------------------- */

static int run_v(int show_log, const char *fmt, va_list ap) {
    char command[8192];
    char full[8192 + 4200 + 32];
    char log[4200];
    int status;
    snprintf(log, sizeof log, "%s/command.log", temp_dir);
    vsnprintf(command, sizeof command, fmt, ap);
    snprintf(full, sizeof full, "( %s ) >'%s' 2>&1", command, log);
    fflush(stdout);
    fflush(stderr);
    status = system(full);
    if (status == -1 || !WIFEXITED(status)) {
        fprintf(stderr, "command did not run to completion: %s\n", command);
        return -1;
    }
    status = WEXITSTATUS(status);
    if (status != 0 && show_log) {
        unsigned char *out = read_file(log, NULL);
        fprintf(stderr, "command exited with %d: %s\n%s\n", status, command,
                out ? (const char *)out : "");
        free(out);
    }
    return status;
}

int run(const char *fmt, ...) {
    va_list ap;
    int status;
    va_start(ap, fmt);
    status = run_v(1, fmt, ap);
    va_end(ap);
    return status;
}

int run_quiet(const char *fmt, ...) {
    va_list ap;
    int status;
    va_start(ap, fmt);
    status = run_v(0, fmt, ap);
    va_end(ap);
    return status;
}

int openssl_rsa_key(const char *path, int bits, int pkcs1) {
    return run("openssl genrsa %s-out '%s' %d", pkcs1 ? "-traditional " : "", path, bits);
}
