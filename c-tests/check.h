/*
 * Assertions and small helpers shared by the C test programs.
 *
 * Every CHECK_* macro counts one check, prints "file:line: FAIL: ..." with the
 * details when it does not hold (for return codes: the code, its text and
 * CHM_GetLastError), and evaluates to 1 on success and 0 on failure.
 * check_end() prints the program's totals as the line
 *     CHECKS <program> passed=N failed=M
 * which the Makefile adds up over every program and link variant.
 *
 * The checks and helpers are meant for the main thread; worker threads record
 * their results and let the main thread check them.
 */
#ifndef CHM_CHECK_H
#define CHM_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cloudhsm_mfa.h"

/* ---- checks ---------------------------------------------------------------- */

int check_rv_at(const char *file, int line, const char *expr, CHM_RV got, CHM_RV want);
int check_err_at(const char *file, int line, const char *expr, CHM_RV got, CHM_RV want,
                 const char *needle);
int check_true_at(const char *file, int line, const char *expr, int holds);
int check_u64_at(const char *file, int line, const char *a_expr, const char *b_expr,
                 unsigned long long a, unsigned long long b);
int check_mem_at(const char *file, int line, const char *a_expr, const char *b_expr,
                 const void *a, const void *b, size_t len);
int check_str_at(const char *file, int line, const char *a_expr, const char *a, const char *b);
int check_contains_at(const char *file, int line, const char *expr, const char *haystack,
                      const char *needle);

/* The call returns exactly `expected`. */
#define CHECK_RV(expr, expected) \
    check_rv_at(__FILE__, __LINE__, #expr, (expr), (CHM_RV)(expected))
/* The call returns `expected` and CHM_GetLastError then contains `needle`. */
#define CHECK_ERR(expr, expected, needle) \
    check_err_at(__FILE__, __LINE__, #expr, (expr), (CHM_RV)(expected), (needle))
#define CHECK(cond) check_true_at(__FILE__, __LINE__, #cond, (cond) ? 1 : 0)
#define CHECK_EQ(a, b)                                                     \
    check_u64_at(__FILE__, __LINE__, #a, #b, (unsigned long long)(a), \
                 (unsigned long long)(b))
#define CHECK_MEM_EQ(a, b, len) check_mem_at(__FILE__, __LINE__, #a, #b, (a), (b), (len))
#define CHECK_STR_EQ(a, b) check_str_at(__FILE__, __LINE__, #a, (a), (b))
#define CHECK_CONTAINS(haystack, needle) \
    check_contains_at(__FILE__, __LINE__, #haystack, (haystack), (needle))
/* The last error of this thread contains `needle`. */
#define CHECK_LAST_ERROR(needle) \
    check_contains_at(__FILE__, __LINE__, "CHM_GetLastError()", last_error(), (needle))
/* Starts a program: names it and creates its private temporary directory. */
void check_begin(const char *program);
/* Ends a program: removes the temporary directory, prints the totals and
 * returns the exit status (0 when no check failed). */
int check_end(void);
/* Prints a section title, so that a failure can be placed. */
void section(const char *title);

/* ---- library helpers ------------------------------------------------------- */

/* The message of this thread's last failure (a static buffer of this module). */
const char *last_error(void);
/* A value that no handle output holds before a call; outputs of failing calls
 * are pre-set to it and must still hold it afterwards. */
#define SENTINEL_HANDLE ((uint64_t)0xDEADBEEFCAFEF00DULL)
/* The byte that fills buffers of the two-call idiom before a call. */
#define CANARY 0xA5
/* Every byte of `buf[0..len)` is CANARY. */
int all_canary(const void *buf, size_t len);

/* ---- files ----------------------------------------------------------------- */

/* The program's temporary directory (created by check_begin). */
const char *tmp_dir(void);
/* A path inside the temporary directory; owned by this module until check_end. */
const char *tpath(const char *name);
/* Writes a whole file (mode 0600); returns 0 on success. */
int write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a malloc'ed buffer (NUL-terminated, *len without the
 * NUL); NULL when it cannot be read. */
unsigned char *read_file(const char *path, size_t *len);
int file_exists(const char *path);
/* The permission bits of a file, or -1. */
int file_mode(const char *path);

/* What a file is on disk: content, inode, modification time. */
typedef struct file_snapshot {
    int exists;
    unsigned char *data;
    size_t len;
    ino_t ino;
    long long mtime_sec;
    long mtime_nsec;
} file_snapshot;
void snapshot_take(file_snapshot *s, const char *path);
/* The file is exactly as it was: same bytes, same inode, same mtime. */
int snapshot_unchanged(const file_snapshot *s, const char *path);
void snapshot_free(file_snapshot *s);

/* Standard base64 with padding (RFC 4648 section 4) of `len` bytes; the text
 * is owned by this module until check_end. */
const char *b64(const void *data, size_t len);

/* Fills `buf` with random bytes from /dev/urandom. */
void random_bytes(void *buf, size_t len);

/* ---- commands -------------------------------------------------------------- */

/* Runs a shell command built like printf; its output goes to the file
 * command.log in the temporary directory, shown when the command fails.
 * Returns the exit status, or -1 when it could not be run. */
int run(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* As run(), but a non-zero exit status is expected and the log is not shown. */
int run_quiet(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Makes an RSA key with `openssl genrsa` (PKCS#8, or PKCS#1 when `pkcs1`);
 * returns 0 on success. */
int openssl_rsa_key(const char *path, int bits, int pkcs1);

#endif /* CHM_CHECK_H */
