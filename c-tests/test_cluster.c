/*
 * Sessions against a live emulator cluster (3 HSMs over TLS on loopback), started by
 * run-tests.sh: CLOUDHSM_MFA_CONFIG names its cloudhsm-cli.cfg, CHM_TEST_ADMIN_PASSWORD
 * holds the password of its admin, and CHM_TEST_NEW_CLUSTER_CONFIG names a second cluster
 * that is not activated yet.
 *
 * Every session function goes through a real success path and its main failures: admin
 * login, users created and deleted, MFA registered with a C signing callback
 * (CHM_ChangeMfaWithSigner) and in two phases (signed with CHM_SignTokenFile and by hand
 * with `openssl pkeyutl`), MFA logins in two phases and with a callback, callbacks that
 * fail or lie about the signature length, rotation, deregistration, lockout and unlock,
 * replayed token files, the user list, CHM_CloseSession and CHM_Finalize ending logins,
 * the configuration from the environment and from CHM_INITIALIZE_ARGS, and activation.
 * Signatures are made with real RSA keys and checked by the HSMs.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define CRYPTO CHM_ROLE_CRYPTO_USER
#define ADMIN CHM_ROLE_ADMIN

#define BAD_CREDENTIALS "invalid user name, role or password"
#define NOT_A_SESSION "is not an open session handle"
#define MFA_ENABLED "[{\"strategy\":\"token-sign\",\"status\":\"enabled\"}]"

static const char *config;       /* the activated cluster: CLOUDHSM_MFA_CONFIG */
static const char *new_config;   /* the cluster to activate */
static const char *admin_pw;     /* never printed */

/* Key pairs: PKCS#8 made by openssl (k1), PKCS#1 made by openssl (k2), and one made by
 * CHM_GenerateKeyPair (k3). */
static const char *k1_pem, *k1_pub, *k2_pem, *k2_pub, *k3_pem, *k3_pub;
static CHM_KEY_HANDLE k1, k2, k3;

/* ---- signing callbacks ------------------------------------------------------------ */

enum sign_mode {
    SIGN_OK,        /* a real signature */
    SIGN_FAIL,      /* return `fail_with` */
    SIGN_TOO_LONG,  /* claim one byte more than the buffer holds */
    SIGN_NO_LENGTH, /* leave *sig_out_len alone */
    SIGN_ZERO,      /* claim 0 bytes */
    SIGN_SHORT,     /* a real signature cut by one byte */
    SIGN_GARBAGE,   /* 256 random bytes */
    SIGN_REENTER    /* call back into the library first (see reenter), then sign */
};

#define MAX_CALLS 16

/* What a callback signs with and what it saw; passed as user_data. The library calls a
 * callback on any thread but never twice at once, so plain fields are enough. */
typedef struct {
    CHM_KEY_HANDLE key;
    enum sign_mode mode;
    CHM_RV fail_with;
    int calls;
    int bad_arguments; /* calls with token_len != CHM_TOKEN_LEN or sig_len too small */
    size_t sig_len_seen;
    uint8_t tokens[MAX_CALLS][CHM_TOKEN_LEN];
    /* SIGN_REENTER: the session whose operation calls the callback, and what the calls
     * back into the library answered (first call only). */
    CHM_SESSION_HANDLE own;
    CHM_RV own_list, own_logout, own_close, finalize, other_open, other_list, other_close;
} signer;

/* From inside a callback: calls into the session whose operation called it and
 * CHM_Finalize (each must answer CHMR_OPERATION_ACTIVE at once, not deadlock), then opens,
 * uses and closes another session (which must work). */
static void reenter(signer *s) {
    char buf[64];
    size_t len = sizeof buf;
    CHM_SESSION_HANDLE other = 0;
    s->own_list = CHM_ListUsers(s->own, buf, &len);
    s->own_logout = CHM_Logout(s->own);
    s->own_close = CHM_CloseSession(s->own);
    s->finalize = CHM_Finalize();
    s->other_open = CHM_OpenSession(NULL, &other);
    len = 0;
    s->other_list = CHM_ListUsers(other, NULL, &len);
    s->other_close = CHM_CloseSession(other);
}

static void signer_init(signer *s, CHM_KEY_HANDLE key, enum sign_mode mode) {
    memset(s, 0, sizeof *s);
    s->key = key;
    s->mode = mode;
}

static CHM_RV key_signer(void *user_data, const uint8_t *token, size_t token_len, uint8_t *sig,
                         size_t sig_len, size_t *sig_out_len) {
    signer *s = user_data;
    size_t len = sig_len;
    CHM_RV rv;
    if (s->calls < MAX_CALLS && token_len == CHM_TOKEN_LEN) {
        memcpy(s->tokens[s->calls], token, CHM_TOKEN_LEN);
    }
    s->calls++;
    s->sig_len_seen = sig_len;
    if (token_len != CHM_TOKEN_LEN || sig_len < 256) {
        s->bad_arguments++;
    }
    switch (s->mode) {
    case SIGN_FAIL:
        return s->fail_with;
    case SIGN_TOO_LONG:
        *sig_out_len = sig_len + 1;
        return CHMR_OK;
    case SIGN_NO_LENGTH:
        return CHMR_OK;
    case SIGN_ZERO:
        *sig_out_len = 0;
        return CHMR_OK;
    case SIGN_GARBAGE:
        random_bytes(sig, 256);
        *sig_out_len = 256;
        return CHMR_OK;
    case SIGN_REENTER:
        if (s->calls == 1) {
            reenter(s);
        }
        break;
    default:
        break;
    }
    rv = CHM_SignToken(s->key, token, token_len, sig, &len);
    if (rv != CHMR_OK) {
        return rv;
    }
    *sig_out_len = s->mode == SIGN_SHORT ? len - 1 : len;
    return CHMR_OK;
}

/* The callback was called once per HSM, with a distinct token each time and a buffer of
 * CHM_MAX_SIGNATURE_LEN bytes. */
static int signed_three_distinct(const signer *s) {
    return s->calls == 3 && s->bad_arguments == 0 && s->sig_len_seen == CHM_MAX_SIGNATURE_LEN &&
           memcmp(s->tokens[0], s->tokens[1], CHM_TOKEN_LEN) != 0 &&
           memcmp(s->tokens[0], s->tokens[2], CHM_TOKEN_LEN) != 0 &&
           memcmp(s->tokens[1], s->tokens[2], CHM_TOKEN_LEN) != 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

static CHM_RV init_with(const char *config_path) {
    CHM_INITIALIZE_ARGS args;
    args.config_path = config_path;
    args.flags = 0;
    return CHM_Initialize(&args);
}

static CHM_SESSION_HANDLE open_session(void) {
    CHM_SESSION_HANDLE s = SENTINEL_HANDLE;
    if (!CHECK_RV(CHM_OpenSession(NULL, &s), CHMR_OK)) {
        return CHM_INVALID_HANDLE;
    }
    CHECK(s != SENTINEL_HANDLE && s != CHM_INVALID_HANDLE);
    return s;
}

/* The user list as JSON (two-call idiom); owned by this function until the next call. */
static const char *list_users(CHM_SESSION_HANDLE s) {
    static char *json;
    size_t len = 0;
    free(json);
    json = NULL;
    if (!CHECK_RV(CHM_ListUsers(s, NULL, &len), CHMR_OK) || !CHECK(len > 1)) {
        return "";
    }
    json = malloc(len);
    if (json == NULL || !CHECK_RV(CHM_ListUsers(s, json, &len), CHMR_OK)) {
        return "";
    }
    CHECK_EQ(strlen(json) + 1, len);
    return json;
}

/* The row of user `name` in a user list: from {"username":"name" to the closing brace
 * after "cluster-coverage"; "" when there is none. */
static const char *user_row(const char *json, const char *name) {
    static char row[1024];
    char start[64];
    const char *from, *cov, *to;
    row[0] = '\0';
    snprintf(start, sizeof start, "{\"username\":\"%s\"", name);
    from = strstr(json, start);
    if (from == NULL || (cov = strstr(from, "\"cluster-coverage\":\"")) == NULL ||
        (to = strchr(cov + 20, '}')) == NULL || (size_t)(to + 1 - from) >= sizeof row) {
        return row;
    }
    memcpy(row, from, (size_t)(to + 1 - from));
    row[to + 1 - from] = '\0';
    return row;
}

/* The row that CHM_ListUsers shows for a user on which every HSM agrees. */
static const char *expected_row(const char *name, const char *role, int locked, int mfa,
                                int quorum) {
    static char row[1024];
    snprintf(row, sizeof row,
             "{\"username\":\"%s\",\"role\":\"%s\",\"locked\":\"%s\",\"mfa\":%s,\"quorum\":%s,"
             "\"cluster-coverage\":\"full\"}",
             name, role, locked ? "true" : "false", mfa ? MFA_ENABLED : "[]",
             quorum ? MFA_ENABLED : "[]");
    return row;
}

#define CHECK_ROW(s, name, role, locked, mfa, quorum)                                   \
    CHECK_STR_EQ(user_row(list_users(s), (name)),                                        \
                 expected_row((name), (role), (locked), (mfa), (quorum)))

/* Signs every token of the MFA token file `in` by hand, as the AWS guide shows:
 * `openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256` over each token's 32 bytes,
 * and writes the signed file to `out`. Returns 0 on success. */
static int sign_with_openssl(const char *in, const char *key_pem, const char *out) {
    CHM_TOKEN_FILE_HANDLE f = CHM_INVALID_HANDLE;
    size_t count = 0, i;
    int ok = 0;
    if (CHM_TokenFileLoad(in, &f) != CHMR_OK || CHM_TokenFileGetEntryCount(f, &count) != CHMR_OK) {
        goto done;
    }
    for (i = 0; i < count; i++) {
        uint8_t token[CHM_TOKEN_LEN];
        unsigned char *sig;
        size_t sig_len = 0;
        CHM_RV rv;
        if (CHM_TokenFileGetToken(f, i, token) != CHMR_OK ||
            write_file(tpath("token.bin"), token, sizeof token) != 0 ||
            run("openssl pkeyutl -sign -inkey '%s' -pkeyopt digest:sha256 -in '%s' -out '%s'",
                key_pem, tpath("token.bin"), tpath("token.sig")) != 0 ||
            (sig = read_file(tpath("token.sig"), &sig_len)) == NULL) {
            goto done;
        }
        rv = CHM_TokenFileSetSignature(f, i, sig, sig_len);
        free(sig);
        if (rv != CHMR_OK) {
            goto done;
        }
    }
    ok = count > 0 && CHM_TokenFileWrite(f, out) == CHMR_OK;
done:
    if (f != CHM_INVALID_HANDLE) {
        CHM_TokenFileClose(f);
    }
    return ok ? 0 : -1;
}

/* The number of entries of a token file, its kind and whether every entry is unsigned. */
static int token_file_shape(const char *path, size_t *count, uint32_t *kind) {
    CHM_TOKEN_FILE_HANDLE f = CHM_INVALID_HANDLE;
    size_t i, len;
    int unsigned_all = 1;
    *count = 0;
    *kind = 0;
    if (CHM_TokenFileLoad(path, &f) != CHMR_OK) {
        return 0;
    }
    CHM_TokenFileGetEntryCount(f, count);
    CHM_TokenFileGetKind(f, kind);
    for (i = 0; i < *count; i++) {
        len = 0;
        if (CHM_TokenFileGetSignature(f, i, NULL, &len) != CHMR_OK || len != 0) {
            unsigned_all = 0;
        }
    }
    CHM_TokenFileClose(f);
    return unsigned_all;
}

/* Writes to `out` the tokens of `in` in reverse order, signed with `key`. */
static int reversed_and_signed(const char *in, CHM_KEY_HANDLE key, const char *out) {
    CHM_TOKEN_FILE_HANDLE f = CHM_INVALID_HANDLE, r = CHM_INVALID_HANDLE;
    uint8_t tokens[8 * CHM_TOKEN_LEN];
    size_t count = 0, i;
    int ok = 0;
    if (CHM_TokenFileLoad(in, &f) != CHMR_OK || CHM_TokenFileGetEntryCount(f, &count) != CHMR_OK ||
        count == 0 || count > 8) {
        goto done;
    }
    for (i = 0; i < count; i++) {
        if (CHM_TokenFileGetToken(f, count - 1 - i, tokens + i * CHM_TOKEN_LEN) != CHMR_OK) {
            goto done;
        }
    }
    ok = CHM_TokenFileCreateMfa(tokens, count, &r) == CHMR_OK &&
         CHM_TokenFileSign(r, key, NULL) == CHMR_OK && CHM_TokenFileWrite(r, out) == CHMR_OK;
done:
    if (f != CHM_INVALID_HANDLE) {
        CHM_TokenFileClose(f);
    }
    if (r != CHM_INVALID_HANDLE) {
        CHM_TokenFileClose(r);
    }
    return ok ? 0 : -1;
}

/* Writes to `out` the first `keep` tokens of `in`, signed with `key` (or, with `fake`, one
 * token that no HSM issued followed by the rest). */
static int partial_signed(const char *in, CHM_KEY_HANDLE key, size_t keep, int fake,
                          const char *out) {
    CHM_TOKEN_FILE_HANDLE f = CHM_INVALID_HANDLE, r = CHM_INVALID_HANDLE;
    uint8_t tokens[8 * CHM_TOKEN_LEN];
    size_t count = 0, i;
    int ok = 0;
    if (CHM_TokenFileLoad(in, &f) != CHMR_OK || CHM_TokenFileGetEntryCount(f, &count) != CHMR_OK ||
        keep > count || keep > 8) {
        goto done;
    }
    for (i = 0; i < keep; i++) {
        if (CHM_TokenFileGetToken(f, i, tokens + i * CHM_TOKEN_LEN) != CHMR_OK) {
            goto done;
        }
    }
    if (fake) {
        random_bytes(tokens, CHM_TOKEN_LEN);
    }
    ok = CHM_TokenFileCreateMfa(tokens, keep, &r) == CHMR_OK &&
         CHM_TokenFileSign(r, key, NULL) == CHMR_OK && CHM_TokenFileWrite(r, out) == CHMR_OK;
done:
    if (f != CHM_INVALID_HANDLE) {
        CHM_TokenFileClose(f);
    }
    if (r != CHM_INVALID_HANDLE) {
        CHM_TokenFileClose(r);
    }
    return ok ? 0 : -1;
}

/* The session is not logged in: a logout is refused (and a login is then possible). */
#define CHECK_NOT_LOGGED_IN(s) \
    CHECK_ERR(CHM_Logout(s), CHMR_USER_NOT_LOGGED_IN, "this operation needs a login")

/* ---- the tests ------------------------------------------------------------------------ */

static CHM_SESSION_HANDLE adm; /* the admin's session */

/* Whether no HSM sees `user` logged in, asked without changing anything: an admin may
 * begin changing the MFA of a user only when it is logged in nowhere, and the begun change
 * stays on the admin's session until the next operation replaces it. */
static CHM_RV logged_out_everywhere(CHM_SESSION_HANDLE admin, const char *user, uint32_t role) {
    return CHM_ChangeMfaBegin(admin, user, role, tpath("probe.json"));
}

/* After CHM_CloseSession or CHM_Finalize returned, `user` (logged in on the closed
 * session) is logged in on no HSM: both wait for every HSM to end the login. */
static void check_logged_out_after_close(CHM_SESSION_HANDLE admin, const char *user,
                                         uint32_t role) {
    CHECK_RV(logged_out_everywhere(admin, user, role), CHMR_OK);
}

static void test_initialise_from_environment(void) {
    CHM_SESSION_HANDLE s = SENTINEL_HANDLE;

    section("CHM_Initialize(NULL) takes the cluster from CLOUDHSM_MFA_CONFIG");
    CHECK_RV(CHM_Initialize(NULL), CHMR_OK);
    CHECK_ERR(CHM_Initialize(NULL), CHMR_ALREADY_INITIALIZED, "already initialised");
    CHECK_ERR(init_with(config), CHMR_ALREADY_INITIALIZED, "already initialised");
    CHECK_ERR(CHM_OpenSession("no-such-cluster", &s), CHMR_CLUSTER_UNKNOWN,
              "no cluster has cluster_id \"no-such-cluster\"; the configuration lists: "
              "cluster-local");
    CHECK_EQ(s, SENTINEL_HANDLE);
    CHECK_RV(CHM_OpenSession("cluster-local", &s), CHMR_OK);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
    adm = open_session();
}

static void test_admin_login(void) {
    CHM_SESSION_HANDLE s = open_session();

    section("admin login: wrong password, wrong role, success, twice");
    CHECK_ERR(CHM_Login(adm, "admin", ADMIN, "not-the-password"), CHMR_PIN_INCORRECT,
              BAD_CREDENTIALS);
    CHECK_LAST_ERROR("HSM hsm-1");
    CHECK_ERR(CHM_Login(adm, "admin", CRYPTO, admin_pw), CHMR_PIN_INCORRECT, BAD_CREDENTIALS);
    CHECK_ERR(CHM_Login(adm, "nobody", ADMIN, admin_pw), CHMR_PIN_INCORRECT, BAD_CREDENTIALS);
    CHECK_NOT_LOGGED_IN(adm);
    CHECK_RV(CHM_Login(adm, "admin", ADMIN, admin_pw), CHMR_OK);
    CHECK_ERR(CHM_Login(adm, "admin", ADMIN, admin_pw), CHMR_USER_ALREADY_LOGGED_IN,
              "this connection is already logged in as admin (admin); log out first");
    /* User names are case-insensitive; the same user may log in on two sessions. */
    CHECK_RV(CHM_Login(s, "ADMIN", ADMIN, admin_pw), CHMR_OK);
    CHECK_RV(CHM_Logout(s), CHMR_OK);
    CHECK_NOT_LOGGED_IN(s);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
    CHECK_ROW(adm, "admin", "admin", 0, 0, 0);
}

static void test_create_users(void) {
    CHM_SESSION_HANDLE s = open_session();

    section("CHM_CreateUser: an admin creates users; others may not");
    CHECK_ERR(CHM_CreateUser(s, "mallory", CRYPTO, "mallory-pw-1"), CHMR_USER_NOT_LOGGED_IN,
              "this operation needs a login: log in first");
    CHECK_RV(CHM_CreateUser(adm, "Alice", CRYPTO, "alice-pw-1"), CHMR_OK);
    CHECK_RV(CHM_CreateUser(adm, "bob", CRYPTO, "bob-pw-1"), CHMR_OK);
    CHECK_RV(CHM_CreateUser(adm, "carol", CRYPTO, "carol-pw-1"), CHMR_OK);
    CHECK_RV(CHM_CreateUser(adm, "dave", ADMIN, "dave-pw-1"), CHMR_OK);
    CHECK_RV(CHM_CreateUser(adm, "erin", CRYPTO, "erin-pw-1"), CHMR_OK);
    CHECK_ERR(CHM_CreateUser(adm, "alice", CRYPTO, "alice-pw-2"), CHMR_USER_EXISTS,
              "user alice already exists");
    CHECK_ERR(CHM_CreateUser(adm, "frank", CRYPTO, "short"), CHMR_ARGUMENTS_BAD, "password");
    CHECK_ERR(CHM_CreateUser(adm, "frank", CHM_ROLE_UNACTIVATED_ADMIN, "frank-pw-1"),
              CHMR_ARGUMENTS_BAD, "a new user's role must be admin or crypto-user");
    CHECK_ROW(adm, "alice", "crypto-user", 0, 0, 0);
    CHECK_ROW(adm, "dave", "admin", 0, 0, 0);
    CHECK_STR_EQ(user_row(list_users(adm), "frank"), "");

    section("a crypto user logs in with its password; it may not manage users");
    CHECK_RV(CHM_Login(s, "alice", CRYPTO, "alice-pw-1"), CHMR_OK);
    CHECK_ERR(CHM_CreateUser(s, "mallory", CRYPTO, "mallory-pw-1"), CHMR_PERMISSION_DENIED,
              "only an admin may create users; alice is a crypto-user");
    CHECK_ERR(CHM_DeleteUser(s, "bob", CRYPTO), CHMR_PERMISSION_DENIED,
              "only an admin may delete users");
    CHECK_ERR(CHM_ChangePassword(s, "bob", CRYPTO, "bob-pw-2"), CHMR_PERMISSION_DENIED,
              "only an admin may change the password of another user");
    CHECK_RV(CHM_Logout(s), CHMR_OK);
    CHECK_NOT_LOGGED_IN(s);
    CHECK_STR_EQ(user_row(list_users(adm), "mallory"), "");
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

static void test_mfa_not_registered(void) {
    CHM_SESSION_HANDLE s = open_session();
    signer sg;

    section("an MFA login of a user without MFA: CHMR_MFA_NOT_REGISTERED, not logged in");
    signer_init(&sg, k1, SIGN_OK);
    CHECK_ERR(CHM_LoginMfaBegin(s, "alice", CRYPTO, "alice-pw-1", tpath("none.json")),
              CHMR_MFA_NOT_REGISTERED,
              "MFA is not registered for user alice: log in with the password alone");
    CHECK(!file_exists(tpath("none.json")));
    CHECK_NOT_LOGGED_IN(s);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-1", key_signer, &sg),
              CHMR_MFA_NOT_REGISTERED, "MFA is not registered for user alice");
    CHECK_EQ(sg.calls, 0);
    CHECK_NOT_LOGGED_IN(s);
    CHECK_ERR(CHM_LoginMfaFinish(s, NULL), CHMR_OPERATION_NOT_INITIALIZED,
              "no login is waiting for a signed token file");
    CHECK_ERR(CHM_DeregisterMfa(adm, "alice", CRYPTO, "alice-pw-2", 0), CHMR_MFA_NOT_REGISTERED,
              "MFA is not registered for user alice; there is nothing to deregister");
    /* The password did not change, and the session can log in. */
    CHECK_RV(CHM_Login(s, "alice", CRYPTO, "alice-pw-1"), CHMR_OK);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

static CHM_SESSION_HANDLE alice; /* alice's session, used by several sections */

static void test_register_with_callback(void) {
    signer sg;

    section("CHM_ChangeMfaWithSigner: a callback signs with a CHM_KEY_HANDLE in user_data");
    alice = open_session();
    CHECK_RV(CHM_Login(alice, "alice", CRYPTO, "alice-pw-1"), CHMR_OK);
    /* Proof of possession: signatures by another key than the one registered. */
    signer_init(&sg, k2, SIGN_OK);
    CHECK_ERR(CHM_ChangeMfaWithSigner(alice, "alice", CRYPTO, k1_pub, "alice-pw-2", 0,
                                      key_signer, &sg),
              CHMR_SIGNATURE_INVALID,
              "the signature does not verify with the new public key of user alice");
    CHECK_EQ(sg.calls, 3);
    CHECK_ROW(adm, "alice", "crypto-user", 0, 0, 0);
    /* A crypto user may not change another user's MFA. */
    signer_init(&sg, k1, SIGN_OK);
    CHECK_ERR(CHM_ChangeMfaWithSigner(alice, "bob", CRYPTO, k1_pub, "bob-pw-2", 0, key_signer,
                                      &sg),
              CHMR_PERMISSION_DENIED, "only an admin may change the MFA of another user");
    CHECK_EQ(sg.calls, 0);
    /* A callback that fails stops the registration. */
    signer_init(&sg, k1, SIGN_FAIL);
    sg.fail_with = CHMR_DEVICE_ERROR;
    CHECK_ERR(CHM_ChangeMfaWithSigner(alice, "alice", CRYPTO, k1_pub, "alice-pw-2", 0,
                                      key_signer, &sg),
              CHMR_FUNCTION_FAILED, "the signing callback returned 0x30");
    CHECK_EQ(sg.calls, 1); /* not called again after it failed */
    CHECK_ROW(adm, "alice", "crypto-user", 0, 0, 0);

    signer_init(&sg, k1, SIGN_OK);
    CHECK_RV(CHM_ChangeMfaWithSigner(alice, "alice", CRYPTO, k1_pub, "alice-pw-2", 0, key_signer,
                                     &sg),
             CHMR_OK);
    CHECK(signed_three_distinct(&sg));

    section("CHM_ListUsers shows the MFA key on every HSM");
    {
        const char *json = list_users(adm);
        CHECK_CONTAINS(json, "{\"users\":[");
        CHECK_CONTAINS(json, "\"mfa\":[{\"strategy\":\"token-sign\",\"status\":\"enabled\"}]");
        CHECK_CONTAINS(json, "\"cluster-coverage\":\"full\"");
        CHECK(strstr(json, "inconsistent") == NULL);
    }
    CHECK_ROW(adm, "alice", "crypto-user", 0, 1, 0);
    CHECK_RV(CHM_Logout(alice), CHMR_OK);
}

static void test_mfa_login_two_phases(void) {
    CHM_SESSION_HANDLE s = open_session();
    const char *login = tpath("login.json");
    const char *login2 = tpath("login2.json");
    const char *signed2 = tpath("login2-signed.json");
    const char *other = tpath("other.json");
    size_t count = 0;
    uint32_t kind = 0;
    file_snapshot before;

    section("a password login of an MFA user: CHMR_MFA_REQUIRED, not logged in");
    CHECK_ERR(CHM_Login(s, "alice", CRYPTO, "alice-pw-2"), CHMR_MFA_REQUIRED,
              "user alice has MFA registered: log in with mfa-token-sign");
    CHECK_NOT_LOGGED_IN(s);
    /* The new password from the registration is the one checked. */
    CHECK_ERR(CHM_Login(s, "alice", CRYPTO, "alice-pw-1"), CHMR_PIN_INCORRECT, BAD_CREDENTIALS);

    section("MFA login in two phases, the signed file in place (CHM_SignTokenFile)");
    CHECK_RV(CHM_LoginMfaBegin(s, "alice", CRYPTO, "alice-pw-2", login), CHMR_OK);
    CHECK(token_file_shape(login, &count, &kind));
    CHECK_EQ(count, 3);
    CHECK_EQ(kind, CHM_TOKEN_FILE_MFA);
    CHECK_EQ(file_mode(login), 0600);
    CHECK_ERR(CHM_LoginMfaFinish(s, NULL), CHMR_TOKEN_NOT_SIGNED,
              "login.json: tokens[0].signed: not signed yet");
    /* Signed with a key other than the registered one: the HSMs refuse. */
    CHECK_RV(CHM_SignTokenFile(login, k2_pem, other, NULL), CHMR_OK);
    CHECK_ERR(CHM_LoginMfaFinish(s, other), CHMR_SIGNATURE_INVALID,
              "the signature does not verify with the MFA key registered for user alice "
              "(failed login 2 of 5)");
    CHECK_ERR(CHM_LoginMfaFinish(s, NULL), CHMR_OPERATION_NOT_INITIALIZED,
              "no login is waiting for a signed token file");
    CHECK_NOT_LOGGED_IN(s);
    CHECK_RV(CHM_LoginMfaBegin(s, "alice", CRYPTO, "alice-pw-2", login), CHMR_OK);
    CHECK_RV(CHM_SignTokenFile(login, k1_pem, NULL, NULL), CHMR_OK);
    CHECK_RV(CHM_LoginMfaFinish(s, NULL), CHMR_OK);
    CHECK_ERR(CHM_LoginMfaFinish(s, NULL), CHMR_OPERATION_NOT_INITIALIZED,
              "no login is waiting for a signed token file");
    CHECK_ROW(adm, "alice", "crypto-user", 0, 1, 0); /* the failure count was reset */
    CHECK_RV(CHM_Logout(s), CHMR_OK);

    section("a replayed signed file: CHMR_TOKEN_NOT_ISSUED");
    CHECK_RV(CHM_LoginMfaBegin(s, "alice", CRYPTO, "alice-pw-2", login2), CHMR_OK);
    snapshot_take(&before, login);
    CHECK_ERR(CHM_LoginMfaFinish(s, login), CHMR_TOKEN_NOT_ISSUED,
              "login.json: tokens[0].unsigned: this token was not issued by the cluster for "
              "this login");
    CHECK(snapshot_unchanged(&before, login));
    snapshot_free(&before);

    section("MFA login in two phases, signed by hand with openssl pkeyutl into another file");
    CHECK(sign_with_openssl(login2, k1_pem, signed2) == 0);
    /* The login begun above still waits: the refused replay did not end it. */
    CHECK_RV(CHM_LoginMfaFinish(s, signed2), CHMR_OK);
    CHECK(token_file_shape(login2, &count, &kind)); /* the unsigned file was not touched */
    CHECK_RV(CHM_Logout(s), CHMR_OK);

    section("a signed file matches by token, not by position; every HSM needs its entry");
    CHECK_RV(CHM_LoginMfaBegin(s, "alice", CRYPTO, "alice-pw-2", login), CHMR_OK);
    CHECK(partial_signed(login, k1, 2, 0, other) == 0);
    CHECK_ERR(CHM_LoginMfaFinish(s, other), CHMR_TOKEN_NOT_ISSUED,
              "other.json: tokens: no entry for the token that HSM hsm-3 (127.0.0.1:");
    CHECK(partial_signed(login, k1, 3, 1, other) == 0);
    CHECK_ERR(CHM_LoginMfaFinish(s, other), CHMR_TOKEN_NOT_ISSUED,
              "other.json: tokens[0].unsigned: this token was not issued");
    CHECK(reversed_and_signed(login, k1, other) == 0);
    CHECK_RV(CHM_LoginMfaFinish(s, other), CHMR_OK);
    CHECK_RV(CHM_Logout(s), CHMR_OK);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

static void test_mfa_login_with_callback(void) {
    CHM_SESSION_HANDLE s = open_session();
    signer sg;

    section("MFA login with a signing callback");
    signer_init(&sg, k1, SIGN_OK);
    CHECK_RV(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg), CHMR_OK);
    CHECK(signed_three_distinct(&sg));
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_USER_ALREADY_LOGGED_IN, "already logged in");
    CHECK_RV(CHM_Logout(s), CHMR_OK);
    /* A wrong password never reaches the callback. */
    signer_init(&sg, k1, SIGN_OK);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-1", key_signer, &sg),
              CHMR_PIN_INCORRECT, BAD_CREDENTIALS);
    CHECK_EQ(sg.calls, 0);

    section("a callback that returns an error stops the login");
    signer_init(&sg, k1, SIGN_FAIL);
    sg.fail_with = 0x80001234u;
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_FUNCTION_FAILED, "the signer failed: the signing callback returned 0x80001234");
    CHECK_EQ(sg.calls, 1);
    CHECK_NOT_LOGGED_IN(s);
    signer_init(&sg, k1, SIGN_FAIL);
    sg.fail_with = CHMR_PIN_INCORRECT;
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_FUNCTION_FAILED, "the signing callback returned 0xa0");
    CHECK_NOT_LOGGED_IN(s);

    section("a callback that reports a wrong signature length");
    signer_init(&sg, k1, SIGN_TOO_LONG);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_FUNCTION_FAILED,
              "the signing callback reported a signature of 513 bytes; 1 to 512 fit");
    CHECK_NOT_LOGGED_IN(s);
    signer_init(&sg, k1, SIGN_NO_LENGTH);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_FUNCTION_FAILED, "the signing callback did not set *sig_out_len");
    CHECK_NOT_LOGGED_IN(s);
    signer_init(&sg, k1, SIGN_ZERO);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_FUNCTION_FAILED, "the signing callback reported a signature of 0 bytes");
    CHECK_NOT_LOGGED_IN(s);
    /* Lengths that fit but are not the key's, and a signature that does not verify, reach
     * the HSMs, which refuse them (each a failed login). */
    signer_init(&sg, k1, SIGN_SHORT);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_SIGNATURE_INVALID, "does not verify with the MFA key registered");
    CHECK_NOT_LOGGED_IN(s);
    signer_init(&sg, k1, SIGN_GARBAGE);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_SIGNATURE_INVALID, "(failed login 3 of 5)");
    CHECK_NOT_LOGGED_IN(s);
    CHECK_ROW(adm, "alice", "crypto-user", 0, 1, 0);

    section("after the failures the session logs in, and the failure count restarts");
    signer_init(&sg, k1, SIGN_OK);
    CHECK_RV(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg), CHMR_OK);
    CHECK_RV(CHM_Logout(s), CHMR_OK);
    signer_init(&sg, k2, SIGN_OK);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_SIGNATURE_INVALID, "(failed login 1 of 5)");
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

static void test_callbacks_that_call_back(void) {
    CHM_SESSION_HANDLE s = open_session();
    signer sg;

    section("a callback that calls back into its own session gets CHMR_OPERATION_ACTIVE");
    signer_init(&sg, k1, SIGN_REENTER);
    sg.own = s;
    CHECK_RV(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg), CHMR_OK);
    CHECK(signed_three_distinct(&sg));
    CHECK_RV(sg.own_list, CHMR_OPERATION_ACTIVE);
    CHECK_RV(sg.own_logout, CHMR_OPERATION_ACTIVE);
    CHECK_RV(sg.own_close, CHMR_OPERATION_ACTIVE);
    CHECK_RV(sg.finalize, CHMR_OPERATION_ACTIVE);
    section("from inside a callback another session opens, works and closes");
    CHECK_RV(sg.other_open, CHMR_OK);
    CHECK_RV(sg.other_list, CHMR_OK);
    CHECK_RV(sg.other_close, CHMR_OK);
    /* The refused calls changed nothing: the session is open and logged in. */
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
              CHMR_USER_ALREADY_LOGGED_IN, "already logged in");
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

static void test_register_two_phases_by_admin(void) {
    CHM_SESSION_HANDLE s = open_session();
    const char *reg = tpath("bob-register.json");
    const char *reg_signed = tpath("bob-register-signed.json");
    size_t count = 0;
    uint32_t kind = 0;

    section("CHM_ChangeMfaBegin + openssl pkeyutl + CHM_ChangeMfaFinish, by an admin");
    CHECK_ERR(CHM_ChangeMfaFinish(adm, NULL, k3_pub, "bob-pw-2", 0),
              CHMR_OPERATION_NOT_INITIALIZED,
              "no MFA registration is waiting for a signed token file");
    CHECK_ERR(CHM_ChangeMfaBegin(adm, "nobody", CRYPTO, reg), CHMR_USER_NOT_FOUND,
              "no user nobody with role crypto-user");
    CHECK_ERR(CHM_ChangeMfaBegin(adm, "bob", ADMIN, reg), CHMR_USER_NOT_FOUND,
              "no user bob with role admin");
    CHECK(!file_exists(reg));
    CHECK_ERR(CHM_ChangeMfaBegin(s, "bob", CRYPTO, reg), CHMR_USER_NOT_LOGGED_IN,
              "this operation needs a login");
    CHECK_RV(CHM_ChangeMfaBegin(adm, "bob", CRYPTO, reg), CHMR_OK);
    CHECK(token_file_shape(reg, &count, &kind));
    CHECK_EQ(count, 3);
    CHECK_EQ(kind, CHM_TOKEN_FILE_MFA);
    CHECK_EQ(file_mode(reg), 0600);
    /* Not a login: the login's second phase does not take it. */
    CHECK_ERR(CHM_LoginMfaFinish(adm, reg), CHMR_OPERATION_NOT_INITIALIZED,
              "no login is waiting for a signed token file");
    CHECK(sign_with_openssl(reg, k3_pem, reg_signed) == 0);
    CHECK_ERR(CHM_ChangeMfaFinish(adm, reg, k3_pub, "bob-pw-2", 0), CHMR_TOKEN_NOT_SIGNED,
              "bob-register.json: tokens[0].signed: not signed yet");
    CHECK_ERR(CHM_ChangeMfaFinish(adm, reg_signed, k3_pem, "bob-pw-2", 0), CHMR_KEY_FILE_INVALID,
              "private key");
    CHECK_ERR(CHM_ChangeMfaFinish(adm, reg_signed, tpath("missing.pub"), "bob-pw-2", 0),
              CHMR_FILE_ERROR, "missing.pub");
    CHECK_RV(CHM_ChangeMfaFinish(adm, reg_signed, k3_pub, "bob-pw-2", CHMF_CHANGE_QUORUM),
             CHMR_OK);
    CHECK_ROW(adm, "bob", "crypto-user", 0, 1, 1);
    CHECK_ERR(CHM_ChangeMfaFinish(adm, reg_signed, k3_pub, "bob-pw-2", 0),
              CHMR_OPERATION_NOT_INITIALIZED, "no MFA registration is waiting");

    section("bob logs in with the key the admin registered (CHM_SignTokenFile to another file)");
    CHECK_ERR(CHM_Login(s, "bob", CRYPTO, "bob-pw-2"), CHMR_MFA_REQUIRED,
              "user bob has MFA registered");
    CHECK_RV(CHM_LoginMfaBegin(s, "bob", CRYPTO, "bob-pw-2", tpath("bob.json")), CHMR_OK);
    CHECK_RV(CHM_SignTokenFile(tpath("bob.json"), k3_pem, tpath("bob-signed.json"), NULL),
             CHMR_OK);
    CHECK_RV(CHM_LoginMfaFinish(s, tpath("bob-signed.json")), CHMR_OK);

    section("an admin may not change the password or MFA of a user who is logged in");
    CHECK_ERR(CHM_ChangePassword(adm, "bob", CRYPTO, "bob-pw-3"), CHMR_USER_LOGGED_IN,
              "user bob is logged in; another user may change its password only after it logs "
              "out");
    CHECK_ERR(CHM_ChangeMfaBegin(adm, "bob", CRYPTO, reg), CHMR_USER_LOGGED_IN,
              "user bob is logged in");
    CHECK_ERR(CHM_DeregisterMfa(adm, "bob", CRYPTO, "bob-pw-3", 0), CHMR_USER_LOGGED_IN,
              "user bob is logged in");
    /* A user may change its own password; with MFA, that ends the quorum registration. */
    CHECK_RV(CHM_ChangePassword(s, "bob", CRYPTO, "bob-pw-3"), CHMR_OK);
    CHECK_ROW(adm, "bob", "crypto-user", 0, 1, 0);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

static void test_rotation(void) {
    const char *reg = tpath("alice-rotate.json");
    const char *reg_signed = tpath("alice-rotate-signed.json");
    signer sg;

    section("rotation in two phases: the new key must sign the registration tokens");
    signer_init(&sg, k1, SIGN_OK);
    CHECK_RV(CHM_LoginMfaWithSigner(alice, "alice", CRYPTO, "alice-pw-2", key_signer, &sg),
             CHMR_OK);
    CHECK_RV(CHM_ChangeMfaBegin(alice, "alice", CRYPTO, reg), CHMR_OK);
    CHECK_RV(CHM_SignTokenFile(reg, k1_pem, reg_signed, NULL), CHMR_OK); /* the old key */
    CHECK_ERR(CHM_ChangeMfaFinish(alice, reg_signed, k2_pub, "alice-pw-3", 0),
              CHMR_SIGNATURE_INVALID,
              "sign the registration token with the new private key");
    CHECK_RV(CHM_ChangeMfaBegin(alice, "alice", CRYPTO, reg), CHMR_OK);
    CHECK_RV(CHM_SignTokenFile(reg, k2_pem, NULL, NULL), CHMR_OK);
    CHECK_RV(CHM_ChangeMfaFinish(alice, NULL, k2_pub, "alice-pw-3", 0), CHMR_OK);
    CHECK_ROW(adm, "alice", "crypto-user", 0, 1, 0);
    CHECK_RV(CHM_Logout(alice), CHMR_OK);

    section("after rotation the old key is refused, the new one accepted");
    signer_init(&sg, k1, SIGN_OK);
    CHECK_ERR(CHM_LoginMfaWithSigner(alice, "alice", CRYPTO, "alice-pw-3", key_signer, &sg),
              CHMR_SIGNATURE_INVALID, "does not verify with the MFA key registered for user alice");
    CHECK_NOT_LOGGED_IN(alice);
    signer_init(&sg, k2, SIGN_OK);
    CHECK_RV(CHM_LoginMfaWithSigner(alice, "alice", CRYPTO, "alice-pw-3", key_signer, &sg),
             CHMR_OK);
    CHECK(signed_three_distinct(&sg));

    section("rotation with a callback, setting the quorum key too");
    signer_init(&sg, k3, SIGN_OK);
    CHECK_RV(CHM_ChangeMfaWithSigner(alice, "alice", CRYPTO, k3_pub, "alice-pw-4",
                                     CHMF_CHANGE_QUORUM, key_signer, &sg),
             CHMR_OK);
    CHECK_ROW(adm, "alice", "crypto-user", 0, 1, 1);
    CHECK_RV(CHM_Logout(alice), CHMR_OK);
    signer_init(&sg, k2, SIGN_OK);
    CHECK_ERR(CHM_LoginMfaWithSigner(alice, "alice", CRYPTO, "alice-pw-4", key_signer, &sg),
              CHMR_SIGNATURE_INVALID, "does not verify");
    signer_init(&sg, k3, SIGN_OK);
    CHECK_RV(CHM_LoginMfaWithSigner(alice, "alice", CRYPTO, "alice-pw-4", key_signer, &sg),
             CHMR_OK);
}

static void test_deregistration(void) {
    signer sg;

    section("CHM_DeregisterMfa: the user removes its MFA (and quorum) key");
    CHECK_ERR(CHM_DeregisterMfa(alice, "alice", CRYPTO, "short", 0), CHMR_ARGUMENTS_BAD,
              "password");
    CHECK_ROW(adm, "alice", "crypto-user", 0, 1, 1);
    CHECK_RV(CHM_DeregisterMfa(alice, "alice", CRYPTO, "alice-pw-5", 0), CHMR_OK);
    CHECK_ROW(adm, "alice", "crypto-user", 0, 0, 0);
    CHECK_ERR(CHM_DeregisterMfa(alice, "alice", CRYPTO, "alice-pw-6", 0), CHMR_MFA_NOT_REGISTERED,
              "there is nothing to deregister");
    CHECK_RV(CHM_Logout(alice), CHMR_OK);
    signer_init(&sg, k3, SIGN_OK);
    CHECK_ERR(CHM_LoginMfaWithSigner(alice, "alice", CRYPTO, "alice-pw-5", key_signer, &sg),
              CHMR_MFA_NOT_REGISTERED, "MFA is not registered for user alice");
    CHECK_EQ(sg.calls, 0);
    CHECK_NOT_LOGGED_IN(alice);
    CHECK_RV(CHM_Login(alice, "alice", CRYPTO, "alice-pw-5"), CHMR_OK);

    section("an admin deregisters another user's MFA");
    CHECK_RV(CHM_DeregisterMfa(adm, "bob", CRYPTO, "bob-pw-4", CHMF_CHANGE_QUORUM), CHMR_OK);
    CHECK_ROW(adm, "bob", "crypto-user", 0, 0, 0);
    CHECK_RV(CHM_ChangeMfaWithSigner(adm, "bob", CRYPTO, k3_pub, "bob-pw-5", 0, key_signer, &sg),
             CHMR_OK);
    CHECK_ROW(adm, "bob", "crypto-user", 0, 1, 0);
}

static void test_list_users_buffers(void) {
    CHM_SESSION_HANDLE s = open_session(); /* not logged in: listing needs no login */
    char small[16];
    char *buf;
    size_t len = 0, need;

    section("CHM_ListUsers: the two-call idiom, NULL and short buffers");
    CHECK_ERR(CHM_ListUsers(s, NULL, NULL), CHMR_ARGUMENTS_BAD, "len is NULL");
    CHECK_ERR(CHM_ListUsers(s, small, NULL), CHMR_ARGUMENTS_BAD, "len is NULL");
    CHECK_RV(CHM_ListUsers(s, NULL, &len), CHMR_OK);
    need = len;
    CHECK(need > 100);
    len = 12345; /* a NULL buffer asks for the size, whatever *len held */
    CHECK_RV(CHM_ListUsers(s, NULL, &len), CHMR_OK);
    CHECK_EQ(len, need);
    memset(small, CANARY, sizeof small);
    len = sizeof small;
    CHECK_ERR(CHM_ListUsers(s, small, &len), CHMR_BUFFER_TOO_SMALL, "user list");
    CHECK_EQ(len, need);
    CHECK(all_canary(small, sizeof small));
    buf = malloc(need + 8);
    if (!CHECK(buf != NULL)) {
        return;
    }
    memset(buf, CANARY, need + 8);
    len = need - 1; /* one byte short: the NUL does not fit */
    CHECK_RV(CHM_ListUsers(s, buf, &len), CHMR_BUFFER_TOO_SMALL);
    CHECK_EQ(len, need);
    CHECK(all_canary(buf, need + 8));
    len = need + 8;
    CHECK_RV(CHM_ListUsers(s, buf, &len), CHMR_OK);
    CHECK_EQ(len, need);
    CHECK_EQ(strlen(buf) + 1, need);
    CHECK(all_canary(buf + need, 8));
    CHECK_CONTAINS(buf, "{\"users\":[{\"username\":\"admin\",\"role\":\"admin\"");
    CHECK_STR_EQ(user_row(buf, "carol"), expected_row("carol", "crypto-user", 0, 0, 0));
    CHECK_STR_EQ(user_row(buf, "dave"), expected_row("dave", "admin", 0, 0, 0));
    free(buf);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

static void test_lockout(void) {
    CHM_SESSION_HANDLE s = open_session();
    signer sg;
    int i;

    section("5 wrong passwords: CHMR_PIN_INCORRECT, then CHMR_PIN_LOCKED");
    for (i = 0; i < 5; i++) {
        CHECK_ERR(CHM_Login(s, "carol", CRYPTO, "wrong-password"), CHMR_PIN_INCORRECT,
                  BAD_CREDENTIALS);
    }
    CHECK_ERR(CHM_Login(s, "carol", CRYPTO, "carol-pw-1"), CHMR_PIN_LOCKED,
              "user carol is locked after 5 failed logins; an admin must set a new password");
    CHECK_ERR(CHM_Login(s, "carol", CRYPTO, "wrong-password"), CHMR_PIN_LOCKED, "is locked");
    CHECK_NOT_LOGGED_IN(s);
    CHECK_ROW(adm, "carol", "crypto-user", 1, 0, 0);

    section("an admin unlocks by setting a new password (CHM_ChangePassword)");
    CHECK_ERR(CHM_ChangePassword(adm, "carol", CRYPTO, "short"), CHMR_ARGUMENTS_BAD, "password");
    CHECK_ERR(CHM_ChangePassword(adm, "carol", ADMIN, "carol-pw-2"), CHMR_USER_NOT_FOUND,
              "no user carol with role admin");
    CHECK_ROW(adm, "carol", "crypto-user", 1, 0, 0);
    CHECK_RV(CHM_ChangePassword(adm, "carol", CRYPTO, "carol-pw-2"), CHMR_OK);
    CHECK_ROW(adm, "carol", "crypto-user", 0, 0, 0);
    CHECK_ERR(CHM_Login(s, "carol", CRYPTO, "carol-pw-1"), CHMR_PIN_INCORRECT, BAD_CREDENTIALS);
    CHECK_RV(CHM_Login(s, "carol", CRYPTO, "carol-pw-2"), CHMR_OK);
    CHECK_RV(CHM_Logout(s), CHMR_OK);

    section("failed MFA signatures count as failed logins too");
    for (i = 1; i <= 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "(failed login %d of 5)", i);
        signer_init(&sg, k1, SIGN_OK); /* bob's key is k3 */
        CHECK_ERR(CHM_LoginMfaWithSigner(s, "bob", CRYPTO, "bob-pw-5", key_signer, &sg),
                  CHMR_SIGNATURE_INVALID, want);
    }
    signer_init(&sg, k1, SIGN_OK);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "bob", CRYPTO, "bob-pw-5", key_signer, &sg),
              CHMR_SIGNATURE_INVALID,
              "(failed login 5 of 5); the user is now locked until an admin sets a new password");
    signer_init(&sg, k3, SIGN_OK);
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "bob", CRYPTO, "bob-pw-5", key_signer, &sg),
              CHMR_PIN_LOCKED, "user bob is locked after 5 failed logins");
    CHECK_EQ(sg.calls, 0);
    CHECK_ROW(adm, "bob", "crypto-user", 1, 1, 0);
    CHECK_RV(CHM_ChangePassword(adm, "bob", CRYPTO, "bob-pw-6"), CHMR_OK);
    CHECK_ROW(adm, "bob", "crypto-user", 0, 1, 0); /* the MFA key stays */
    CHECK_RV(CHM_LoginMfaWithSigner(s, "bob", CRYPTO, "bob-pw-6", key_signer, &sg), CHMR_OK);
    CHECK(signed_three_distinct(&sg));
    CHECK_RV(CHM_Logout(s), CHMR_OK);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

static void test_delete_and_close(void) {
    CHM_SESSION_HANDLE s = open_session();

    section("CHM_DeleteUser refuses a user who is logged in; CHM_CloseSession logs out");
    CHECK_RV(CHM_Login(s, "carol", CRYPTO, "carol-pw-2"), CHMR_OK);
    CHECK_ERR(CHM_DeleteUser(adm, "carol", CRYPTO), CHMR_USER_LOGGED_IN,
              "user carol is logged in; it must log out before it can be deleted");
    CHECK_ROW(adm, "carol", "crypto-user", 0, 0, 0);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
    check_logged_out_after_close(adm, "carol", CRYPTO);
    CHECK_ERR(CHM_Logout(s), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_ListUsers(s, NULL, &(size_t){0}), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_RV(CHM_DeleteUser(adm, "carol", CRYPTO), CHMR_OK);
    CHECK_STR_EQ(user_row(list_users(adm), "carol"), "");
    CHECK_ERR(CHM_DeleteUser(adm, "carol", CRYPTO), CHMR_USER_NOT_FOUND,
              "no user carol with role crypto-user");

    section("alice's session, closed while logged in, lets alice be deleted");
    CHECK_ERR(CHM_DeleteUser(adm, "alice", CRYPTO), CHMR_USER_LOGGED_IN, "user alice is logged in");
    CHECK_RV(CHM_CloseSession(alice), CHMR_OK);
    check_logged_out_after_close(adm, "alice", CRYPTO);
    CHECK_RV(CHM_DeleteUser(adm, "alice", CRYPTO), CHMR_OK);
    CHECK_RV(CHM_DeleteUser(adm, "dave", ADMIN), CHMR_OK);
    CHECK_STR_EQ(user_row(list_users(adm), "alice"), "");
    CHECK_STR_EQ(user_row(list_users(adm), "dave"), "");
}

static void test_finalize_closes_sessions(void) {
    CHM_SESSION_HANDLE s = open_session();
    CHM_SESSION_HANDLE idle = open_session();
    CHM_SESSION_HANDLE a;

    section("CHM_Finalize with open sessions closes them (and their logins)");
    CHECK_RV(CHM_Login(s, "erin", CRYPTO, "erin-pw-1"), CHMR_OK);
    CHECK_ERR(CHM_DeleteUser(adm, "erin", CRYPTO), CHMR_USER_LOGGED_IN, "user erin is logged in");
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK_ERR(CHM_Logout(s), CHMR_NOT_INITIALIZED, "call CHM_Initialize first");
    CHECK_ERR(CHM_OpenSession(NULL, &a), CHMR_NOT_INITIALIZED, "call CHM_Initialize first");

    section("CHM_INITIALIZE_ARGS.config_path wins over CLOUDHSM_MFA_CONFIG");
    CHECK(setenv("CLOUDHSM_MFA_CONFIG", tpath("nowhere.cfg"), 1) == 0);
    CHECK_RV(CHM_Initialize(NULL), CHMR_OK);
    a = SENTINEL_HANDLE;
    CHECK_ERR(CHM_OpenSession(NULL, &a), CHMR_FILE_ERROR, "nowhere.cfg");
    CHECK_EQ(a, SENTINEL_HANDLE);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK_RV(init_with(config), CHMR_OK);
    CHECK_ERR(init_with(config), CHMR_ALREADY_INITIALIZED, "already initialised");
    CHECK_ERR(CHM_Logout(s), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_CloseSession(idle), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_Logout(adm), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    a = open_session();
    CHECK_RV(CHM_Login(a, "admin", ADMIN, admin_pw), CHMR_OK);
    /* erin's login ended with the session that CHM_Finalize closed. */
    check_logged_out_after_close(a, "erin", CRYPTO);
    CHECK_RV(CHM_DeleteUser(a, "erin", CRYPTO), CHMR_OK);
    CHECK_RV(CHM_DeleteUser(a, "bob", CRYPTO), CHMR_OK);
    CHECK_STR_EQ(user_row(list_users(a), "erin"), "");
    CHECK_STR_EQ(user_row(list_users(a), "admin"), expected_row("admin", "admin", 0, 0, 0));
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK(unsetenv("CLOUDHSM_MFA_CONFIG") == 0);
}

static void test_activation(void) {
    CHM_SESSION_HANDLE s;

    section("CHM_ActivateCluster: a new cluster's first admin gets its password");
    CHECK_RV(init_with(new_config), CHMR_OK);
    s = open_session();
    CHECK_STR_EQ(user_row(list_users(s), "admin"),
                 expected_row("admin", "unactivated-admin", 0, 0, 0));
    CHECK_ERR(CHM_Login(s, "admin", CHM_ROLE_UNACTIVATED_ADMIN, "anything-1"), CHMR_CLUSTER_STATE,
              "cluster is not activated: run cluster activate");
    CHECK_ERR(CHM_ActivateCluster(s, "short"), CHMR_ARGUMENTS_BAD, "password");
    CHECK_RV(CHM_ActivateCluster(s, "new-admin-pw-1"), CHMR_OK);
    CHECK_ERR(CHM_ActivateCluster(s, "new-admin-pw-2"), CHMR_CLUSTER_STATE,
              "the cluster is already activated");
    CHECK_STR_EQ(user_row(list_users(s), "admin"), expected_row("admin", "admin", 0, 0, 0));
    CHECK_ERR(CHM_Login(s, "admin", ADMIN, "new-admin-pw-2"), CHMR_PIN_INCORRECT, BAD_CREDENTIALS);
    CHECK_RV(CHM_Login(s, "admin", ADMIN, "new-admin-pw-1"), CHMR_OK);
    CHECK_RV(CHM_CreateUser(s, "grace", CRYPTO, "grace-pw-1"), CHMR_OK);
    CHECK_STR_EQ(user_row(list_users(s), "grace"), expected_row("grace", "crypto-user", 0, 0, 0));
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
}

/* Loads the private key handles the callbacks sign with. */
static int load_keys(void) {
    return CHM_PrivateKeyLoad(k1_pem, &k1) == CHMR_OK &&
           CHM_PrivateKeyLoad(k2_pem, &k2) == CHMR_OK && CHM_PrivateKeyLoad(k3_pem, &k3) == CHMR_OK;
}

int main(void) {
    check_begin("test_cluster");
    config = getenv("CLOUDHSM_MFA_CONFIG");
    new_config = getenv("CHM_TEST_NEW_CLUSTER_CONFIG");
    admin_pw = getenv("CHM_TEST_ADMIN_PASSWORD");
    if (!CHECK(config != NULL && new_config != NULL && admin_pw != NULL)) {
        fprintf(stderr, "test_cluster needs a running cluster: run it through run-tests.sh "
                        "(make -C c-tests test)\n");
        return check_end();
    }
    /* getenv's strings may change with setenv: keep copies. */
    {
        static char config_copy[4096], new_config_copy[4096];
        snprintf(config_copy, sizeof config_copy, "%s", config);
        snprintf(new_config_copy, sizeof new_config_copy, "%s", new_config);
        config = config_copy;
        new_config = new_config_copy;
    }
    k1_pem = tpath("k1.pem");
    k1_pub = tpath("k1.pub");
    k2_pem = tpath("k2.pem");
    k2_pub = tpath("k2.pub");
    k3_pem = tpath("k3.pem");
    k3_pub = tpath("k3.pub");
    if (!CHECK(openssl_rsa_key(k1_pem, 2048, 0) == 0) ||
        !CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", k1_pem, k1_pub) == 0) ||
        !CHECK(openssl_rsa_key(k2_pem, 2048, 1) == 0) ||
        !CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", k2_pem, k2_pub) == 0)) {
        return check_end();
    }

    test_initialise_from_environment();
    if (!CHECK_RV(CHM_GenerateKeyPair(2048, k3_pem, k3_pub), CHMR_OK) || !CHECK(load_keys())) {
        CHM_Finalize();
        return check_end();
    }
    test_admin_login();
    test_create_users();
    test_mfa_not_registered();
    test_register_with_callback();
    test_mfa_login_two_phases();
    test_mfa_login_with_callback();
    test_callbacks_that_call_back();
    test_register_two_phases_by_admin();
    test_rotation();
    test_deregistration();
    test_list_users_buffers();
    test_lockout();
    test_delete_and_close();
    test_finalize_closes_sessions();
    test_activation();
    return check_end();
}
