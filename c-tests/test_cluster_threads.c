/*
 * Many sessions at once against a live emulator cluster (see test_cluster.c for the
 * environment run-tests.sh provides): 16 threads, each with its own session and its own
 * key handle, log in with token-sign MFA through a signing callback and log out, 50 times
 * each. Two threads share each of 8 users, so one user is logged in on several sessions
 * at once. No call may fail, every login must call the callback once per HSM, and a
 * callback must never run twice at once for one login. Prints the time it took.
 *
 * CHM_TEST_LOGINS_PER_THREAD lowers the number of logins per thread (run-tests.sh sets it
 * for the run under valgrind only, which is some 50 times slower).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define THREADS 16
#define USERS 8
#define LOGINS 50
#define HSMS 3

typedef struct {
    int id;
    const char *username;
    const char *password;
    const char *key_path;
    int logins; /* to do */
    /* The callback's view; it runs on the library's threads. */
    CHM_KEY_HANDLE key;
    pthread_mutex_t in_callback;
    int calls;
    int overlaps; /* calls that found another call of this thread's login running */
    /* Results. */
    int logins_done;
    int bad_call_counts; /* logins after which the callback had not run once per HSM */
    CHM_RV rv; /* the first failure */
    const char *call;
    char message[512];
} worker;

static pthread_barrier_t start_line;

static CHM_RV thread_signer(void *user_data, const uint8_t *token, size_t token_len, uint8_t *sig,
                            size_t sig_len, size_t *sig_out_len) {
    worker *w = user_data;
    size_t len = sig_len;
    CHM_RV rv;
    if (pthread_mutex_trylock(&w->in_callback) != 0) {
        w->overlaps++; /* not protected: any value above 0 is a failure */
        return CHMR_GENERAL_ERROR;
    }
    w->calls++;
    rv = CHM_SignToken(w->key, token, token_len, sig, &len);
    if (rv == CHMR_OK) {
        *sig_out_len = len;
    }
    pthread_mutex_unlock(&w->in_callback);
    return rv;
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

#define TRY(w, expr)                         \
    do {                                     \
        if (failed_call((w), #expr, (expr))) \
            goto done;                       \
    } while (0)

static void *work(void *arg) {
    worker *w = arg;
    CHM_SESSION_HANDLE s = CHM_INVALID_HANDLE;
    int i, at_start_line = 0;

    TRY(w, CHM_PrivateKeyLoad(w->key_path, &w->key));
    TRY(w, CHM_OpenSession(NULL, &s));
    pthread_barrier_wait(&start_line);
    at_start_line = 1;
    for (i = 0; i < w->logins; i++) {
        int before = w->calls;
        TRY(w, CHM_LoginMfaWithSigner(s, w->username, CHM_ROLE_CRYPTO_USER, w->password,
                                      thread_signer, w));
        if (w->calls - before != HSMS) {
            w->bad_call_counts++;
        }
        TRY(w, CHM_Logout(s));
        w->logins_done++;
    }
    TRY(w, CHM_CloseSession(s));
    s = CHM_INVALID_HANDLE;
done:
    if (!at_start_line) {
        /* Failed before the start line: let the others go. */
        pthread_barrier_wait(&start_line);
    }
    if (s != CHM_INVALID_HANDLE) {
        CHM_CloseSession(s);
    }
    if (w->key != CHM_INVALID_HANDLE) {
        CHM_KeyClose(w->key);
        w->key = CHM_INVALID_HANDLE;
    }
    return NULL;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A callback for the registrations the admin makes: signs with the key in user_data. */
static CHM_RV key_signer(void *user_data, const uint8_t *token, size_t token_len, uint8_t *sig,
                         size_t sig_len, size_t *sig_out_len) {
    size_t len = sig_len;
    CHM_RV rv = CHM_SignToken(*(const CHM_KEY_HANDLE *)user_data, token, token_len, sig, &len);
    if (rv == CHMR_OK) {
        *sig_out_len = len;
    }
    return rv;
}

/* Creates the users, each with its own MFA key, through an admin session. */
static int set_up_users(const char *admin_pw, char names[USERS][32], char keys[USERS][4096],
                        char pubs[USERS][4096]) {
    CHM_SESSION_HANDLE adm = CHM_INVALID_HANDLE;
    int u, ok = 1;
    if (!CHECK_RV(CHM_OpenSession(NULL, &adm), CHMR_OK) ||
        !CHECK_RV(CHM_Login(adm, "admin", CHM_ROLE_ADMIN, admin_pw), CHMR_OK)) {
        return 0;
    }
    for (u = 0; u < USERS && ok; u++) {
        CHM_KEY_HANDLE key = CHM_INVALID_HANDLE;
        char file[32];
        snprintf(names[u], sizeof names[u], "worker_%d", u);
        snprintf(file, sizeof file, "worker_%d.pem", u);
        snprintf(keys[u], sizeof keys[u], "%s", tpath(file));
        snprintf(file, sizeof file, "worker_%d.pub", u);
        snprintf(pubs[u], sizeof pubs[u], "%s", tpath(file));
        ok = CHECK(openssl_rsa_key(keys[u], 2048, u % 2) == 0) &&
             CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", keys[u], pubs[u]) == 0) &&
             CHECK_RV(CHM_CreateUser(adm, names[u], CHM_ROLE_CRYPTO_USER, "worker-pw-0"),
                      CHMR_OK) &&
             CHECK_RV(CHM_PrivateKeyLoad(keys[u], &key), CHMR_OK) &&
             CHECK_RV(CHM_ChangeMfaWithSigner(adm, names[u], CHM_ROLE_CRYPTO_USER, pubs[u],
                                              "worker-pw-1", 0, key_signer, &key),
                      CHMR_OK);
        if (key != CHM_INVALID_HANDLE) {
            CHECK_RV(CHM_KeyClose(key), CHMR_OK);
        }
    }
    CHECK_RV(CHM_CloseSession(adm), CHMR_OK);
    return ok;
}

int main(void) {
    static worker workers[THREADS];
    static char names[USERS][32], keys[USERS][4096], pubs[USERS][4096];
    pthread_t threads[THREADS];
    const char *admin_pw = getenv("CHM_TEST_ADMIN_PASSWORD");
    const char *logins_env = getenv("CHM_TEST_LOGINS_PER_THREAD");
    int logins = LOGINS, t, started = 0, total = 0;
    double start, elapsed;
    CHM_SESSION_HANDLE s = CHM_INVALID_HANDLE;

    check_begin("test_cluster_threads");
    if (!CHECK(getenv("CLOUDHSM_MFA_CONFIG") != NULL && admin_pw != NULL)) {
        fprintf(stderr, "test_cluster_threads needs a running cluster: run it through "
                        "run-tests.sh (make -C c-tests test)\n");
        return check_end();
    }
    if (logins_env != NULL) {
        logins = atoi(logins_env);
        CHECK(logins >= 1 && logins <= LOGINS);
    }
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK)) {
        return check_end();
    }
    section("8 users, each with its own MFA key");
    if (!set_up_users(admin_pw, names, keys, pubs)) {
        CHM_Finalize();
        return check_end();
    }

    printf("-- %d threads x %d MFA logins through a signing callback, each thread with its own "
           "session\n",
           THREADS, logins);
    CHECK(pthread_barrier_init(&start_line, NULL, THREADS + 1) == 0);
    for (t = 0; t < THREADS; t++) {
        worker *w = &workers[t];
        w->id = t;
        w->username = names[t % USERS];
        w->password = "worker-pw-1";
        w->key_path = keys[t % USERS];
        w->logins = logins;
        pthread_mutex_init(&w->in_callback, NULL);
        if (CHECK(pthread_create(&threads[t], NULL, work, w) == 0)) {
            started++;
        }
    }
    if (started < THREADS) {
        /* Stand in for the threads that did not start. */
        for (t = started; t < THREADS; t++) {
            pthread_barrier_wait(&start_line);
        }
    }
    pthread_barrier_wait(&start_line);
    start = now_seconds();
    for (t = 0; t < started; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
    }
    elapsed = now_seconds() - start;
    pthread_barrier_destroy(&start_line);

    for (t = 0; t < THREADS; t++) {
        worker *w = &workers[t];
        if (w->call != NULL) {
            fprintf(stderr, "thread %d (%s), login %d: %s returned 0x%lx (%s): %s\n", t,
                    w->username, w->logins_done + 1, w->call, (unsigned long)w->rv,
                    CHM_GetReturnCodeText(w->rv), w->message);
        }
        CHECK(w->call == NULL);
        CHECK_EQ(w->logins_done, logins);
        CHECK_EQ(w->calls, logins * HSMS);
        CHECK_EQ(w->overlaps, 0);
        CHECK_EQ(w->bad_call_counts, 0);
        total += w->logins_done;
        pthread_mutex_destroy(&w->in_callback);
    }
    printf("TIMING test_cluster_threads: %d threads x %d MFA logins + logouts (%d logins, %d "
           "signatures) in %.2f s, %.0f logins/s\n",
           THREADS, logins, total, total * HSMS, elapsed, elapsed > 0 ? total / elapsed : 0.0);

    section("afterwards every user is unlocked, with MFA, on every HSM");
    if (CHECK_RV(CHM_OpenSession(NULL, &s), CHMR_OK)) {
        size_t len = 0;
        char *json = NULL;
        int u;
        if (CHECK_RV(CHM_ListUsers(s, NULL, &len), CHMR_OK) && (json = malloc(len)) != NULL &&
            CHECK_RV(CHM_ListUsers(s, json, &len), CHMR_OK)) {
            for (u = 0; u < USERS; u++) {
                char row[512];
                snprintf(row, sizeof row,
                         "{\"username\":\"%s\",\"role\":\"crypto-user\",\"locked\":\"false\","
                         "\"mfa\":[{\"strategy\":\"token-sign\",\"status\":\"enabled\"}],"
                         "\"quorum\":[],\"cluster-coverage\":\"full\"}",
                         names[u]);
                CHECK_CONTAINS(json, row);
            }
        }
        free(json);
        CHECK_RV(CHM_CloseSession(s), CHMR_OK);
    }
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
