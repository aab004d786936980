/*
 * The library is safe to call from any thread: 8 threads each load a key and
 * create, sign, verify and close token files 200 times at once, sharing one
 * public key handle; no call may fail and no handle value may be given twice.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define THREADS 8
#define ROUNDS 200
#define TOKENS_PER_FILE 2

typedef struct {
    int id;
    const char *key_path;
    CHM_KEY_HANDLE shared_pub;
    int rounds_done;
    /* The first failure, if any. */
    CHM_RV rv;
    const char *call;
    char message[512];
    /* Every token file handle this thread was given. */
    uint64_t handles[ROUNDS];
} worker;

static pthread_barrier_t start_line;

/* xorshift64: distinct tokens per thread and round, without I/O. */
static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static int failed_call(worker *w, const char *call, CHM_RV rv) {
    size_t len = sizeof w->message;
    if (rv == CHMR_OK) {
        return 0;
    }
    w->rv = rv;
    w->call = call;
    if (CHM_GetLastError(w->message, &len) != CHMR_OK) {
        strcpy(w->message, "(no message)");
    }
    return 1;
}

#define TRY(w, expr)                      \
    do {                                  \
        if (failed_call((w), #expr, (expr))) \
            goto done;                    \
    } while (0)

static void *work(void *arg) {
    worker *w = arg;
    CHM_KEY_HANDLE priv = CHM_INVALID_HANDLE, pub = CHM_INVALID_HANDLE;
    uint64_t state = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1);
    uint8_t tokens[TOKENS_PER_FILE * CHM_TOKEN_LEN];
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    uint8_t expected[CHM_MAX_SIGNATURE_LEN];
    uint32_t kind = 0;
    size_t count = 0, len, i;
    int r;

    pthread_barrier_wait(&start_line);
    TRY(w, CHM_PrivateKeyLoad(w->key_path, &priv));
    TRY(w, CHM_PublicKeyFromPrivate(priv, &pub));
    for (r = 0; r < ROUNDS; r++) {
        CHM_TOKEN_FILE_HANDLE file = CHM_INVALID_HANDLE;
        for (i = 0; i < sizeof tokens; i += 8) {
            uint64_t v = next_random(&state);
            memcpy(tokens + i, &v, 8);
        }
        TRY(w, CHM_TokenFileCreateMfa(tokens, TOKENS_PER_FILE, &file));
        w->handles[r] = file;
        TRY(w, CHM_TokenFileSign(file, priv, NULL));
        TRY(w, CHM_TokenFileVerify(file, pub, NULL));
        TRY(w, CHM_TokenFileVerify(file, w->shared_pub, NULL));
        TRY(w, CHM_TokenFileGetKind(file, &kind));
        TRY(w, CHM_TokenFileGetEntryCount(file, &count));
        if (kind != CHM_TOKEN_FILE_MFA || count != TOKENS_PER_FILE) {
            w->call = "kind or entry count";
            w->rv = CHMR_GENERAL_ERROR;
            snprintf(w->message, sizeof w->message, "kind %lu, count %lu", (unsigned long)kind,
                     (unsigned long)count);
            goto done;
        }
        len = sizeof sig;
        TRY(w, CHM_TokenFileGetSignature(file, 1, sig, &len));
        len = sizeof expected;
        TRY(w, CHM_SignToken(priv, tokens + CHM_TOKEN_LEN, CHM_TOKEN_LEN, expected, &len));
        if (memcmp(sig, expected, len) != 0) {
            w->call = "comparing signatures";
            w->rv = CHMR_GENERAL_ERROR;
            strcpy(w->message, "the file's signature differs from CHM_SignToken's");
            goto done;
        }
        TRY(w, CHM_VerifyToken(w->shared_pub, tokens + CHM_TOKEN_LEN, CHM_TOKEN_LEN, sig, len));
        TRY(w, CHM_TokenFileClose(file));
        w->rounds_done++;
    }
    TRY(w, CHM_KeyClose(pub));
    pub = CHM_INVALID_HANDLE;
    TRY(w, CHM_KeyClose(priv));
    priv = CHM_INVALID_HANDLE;
done:
    if (pub != CHM_INVALID_HANDLE) {
        CHM_KeyClose(pub);
    }
    if (priv != CHM_INVALID_HANDLE) {
        CHM_KeyClose(priv);
    }
    return NULL;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    static worker workers[THREADS];
    static uint64_t all[THREADS * ROUNDS];
    pthread_t threads[THREADS];
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE, shared_pub = SENTINEL_HANDLE;
    size_t n = 0, i;
    int t, distinct = 1, started = 0;
    uint32_t bits = 0;

    check_begin("test_threads");
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK) ||
        !CHECK_RV(CHM_GenerateKeyPair(2048, tpath("shared.pem"), tpath("shared.pub")),
                  CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyLoad(tpath("shared.pub"), &shared_pub), CHMR_OK)) {
        return check_end();
    }

    section("8 threads x 200 rounds of create / sign / verify / close");
    CHECK(pthread_barrier_init(&start_line, NULL, THREADS) == 0);
    for (t = 0; t < THREADS; t++) {
        workers[t].id = t;
        workers[t].key_path = tpath("shared.pem");
        workers[t].shared_pub = shared_pub;
        if (CHECK(pthread_create(&threads[t], NULL, work, &workers[t]) == 0)) {
            started++;
        }
    }
    for (t = 0; t < started; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
    }
    pthread_barrier_destroy(&start_line);

    for (t = 0; t < THREADS; t++) {
        if (workers[t].call != NULL) {
            fprintf(stderr, "thread %d, round %d: %s returned 0x%lx (%s): %s\n", t,
                    workers[t].rounds_done, workers[t].call, (unsigned long)workers[t].rv,
                    CHM_GetReturnCodeText(workers[t].rv), workers[t].message);
        }
        CHECK(workers[t].call == NULL);
        CHECK_EQ(workers[t].rounds_done, ROUNDS);
        for (i = 0; i < (size_t)workers[t].rounds_done; i++) {
            all[n++] = workers[t].handles[i];
        }
    }

    section("no handle value was given twice, and every one is closed");
    CHECK_EQ(n, THREADS * ROUNDS);
    qsort(all, n, sizeof all[0], compare_u64);
    for (i = 1; i < n; i++) {
        if (all[i] == all[i - 1]) {
            distinct = 0;
        }
    }
    CHECK(distinct);
    CHECK(n == 0 || all[0] != CHM_INVALID_HANDLE);
    if (n > 0) {
        uint32_t kind = 0;
        CHECK_RV(CHM_TokenFileGetKind(all[0], &kind), CHMR_OBJECT_HANDLE_INVALID);
        CHECK_RV(CHM_TokenFileGetKind(all[n - 1], &kind), CHMR_OBJECT_HANDLE_INVALID);
    }
    /* The shared key still works after all that. */
    CHECK_RV(CHM_KeyGetBits(shared_pub, &bits), CHMR_OK);
    CHECK_EQ(bits, 2048);
    CHECK_RV(CHM_PrivateKeyLoad(tpath("shared.pem"), &priv), CHMR_OK);
    CHECK_RV(CHM_KeyClose(priv), CHMR_OK);
    CHECK_RV(CHM_KeyClose(shared_pub), CHMR_OK);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
