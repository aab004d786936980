/*
 * Sessions without a cluster: choosing the configuration (CHM_Initialize's path, else
 * CLOUDHSM_MFA_CONFIG), its errors (not JSON, no cluster, several clusters and no id,
 * unknown id), HSMs that cannot be reached, and the C ABI conventions of every session
 * function: NULL pointers, roles and flags out of range, handles that are not sessions,
 * handles closed by CHM_CloseSession and by CHM_Finalize. A signing callback is never
 * called when the operation fails before a token exists.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define NOT_A_SESSION "is not an open session handle"
#define UNREACHABLE "no HSM of the cluster is reachable: 127.0.0.1:1: unreachable"

static int signer_calls;

static CHM_RV counting_signer(void *user_data, const uint8_t *token, size_t token_len,
                              uint8_t *sig, size_t sig_len, size_t *sig_out_len) {
    (void)user_data;
    (void)token;
    (void)token_len;
    (void)sig;
    (void)sig_len;
    (void)sig_out_len;
    signer_calls++;
    return CHMR_GENERAL_ERROR;
}

static const char *config_one, *config_two, *config_bad, *config_empty, *config_dup;
static const char *public_key;

/* Writes the configuration files used below; the servers are ports nothing listens on. */
static int write_configs(void) {
    char text[2048];
    const char *server = "{\"hostname\": \"127.0.0.1\", \"port\": 1, \"enable\": true}";
    config_one = tpath("one.cfg");
    config_two = tpath("two.cfg");
    config_bad = tpath("bad.cfg");
    config_empty = tpath("empty.cfg");
    config_dup = tpath("dup.cfg");
    if (run("openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -subj /CN=test-ca "
            "-days 1",
            tpath("ca.key"), tpath("ca.pem")) != 0) {
        return -1;
    }
    snprintf(text, sizeof text,
             "{\"clusters\": [{\"type\": \"hsm1\", \"cluster\": {\"cluster_id\": \"c1\", "
             "\"hsm_ca_file\": \"ca.pem\", \"servers\": [%s]}}]}",
             server);
    if (write_file(config_one, text, strlen(text)) != 0) {
        return -1;
    }
    snprintf(text, sizeof text,
             "{\"clusters\": [{\"cluster\": {\"cluster_id\": \"c1\", \"hsm_ca_file\": \"ca.pem\", "
             "\"servers\": [%s]}}, {\"cluster\": {\"cluster_id\": \"c2\", \"hsm_ca_file\": "
             "\"ca.pem\", \"servers\": [%s]}}]}",
             server, server);
    if (write_file(config_two, text, strlen(text)) != 0) {
        return -1;
    }
    snprintf(text, sizeof text,
             "{\"clusters\": [{\"cluster\": {\"cluster_id\": \"c1\", \"hsm_ca_file\": \"ca.pem\", "
             "\"servers\": [%s]}}, {\"cluster\": {\"cluster_id\": \"c1\", \"hsm_ca_file\": "
             "\"ca.pem\", \"servers\": [%s]}}]}",
             server, server);
    if (write_file(config_dup, text, strlen(text)) != 0) {
        return -1;
    }
    if (write_file(config_bad, "clusters = []\n", 14) != 0 ||
        write_file(config_empty, "{\"clusters\": []}", 16) != 0) {
        return -1;
    }
    return 0;
}

static CHM_RV init_with(const char *config_path) {
    CHM_INITIALIZE_ARGS args;
    args.config_path = config_path;
    args.flags = 0;
    return CHM_Initialize(&args);
}

static void test_configuration(void) {
    CHM_SESSION_HANDLE s = SENTINEL_HANDLE;

    section("the configuration: errors name the file and say what to do");
    CHECK_RV(init_with(tpath("missing.cfg")), CHMR_OK); /* the path is read when needed */
    CHECK_ERR(CHM_OpenSession(NULL, &s), CHMR_FILE_ERROR, "missing.cfg: No such file");
    CHECK_EQ(s, SENTINEL_HANDLE);
    CHECK_RV(CHM_Finalize(), CHMR_OK);

    CHECK_RV(init_with(config_bad), CHMR_OK);
    CHECK_ERR(CHM_OpenSession(NULL, &s), CHMR_CONFIG_INVALID, "not a valid cluster configuration");
    CHECK_LAST_ERROR(config_bad);
    CHECK_EQ(s, SENTINEL_HANDLE);
    CHECK_RV(CHM_Finalize(), CHMR_OK);

    CHECK_RV(init_with(config_empty), CHMR_OK);
    CHECK_ERR(CHM_OpenSession(NULL, &s), CHMR_CONFIG_INVALID,
              "clusters: is empty; list at least one cluster");
    CHECK_RV(CHM_Finalize(), CHMR_OK);

    CHECK_RV(init_with(config_dup), CHMR_OK);
    CHECK_ERR(CHM_OpenSession("c1", &s), CHMR_CONFIG_INVALID,
              "clusters[1].cluster.cluster_id: \"c1\" is listed twice");
    CHECK_RV(CHM_Finalize(), CHMR_OK);

    section("choosing a cluster: --cluster-id with several, optional with one");
    CHECK_RV(init_with(config_two), CHMR_OK);
    CHECK_ERR(CHM_OpenSession(NULL, &s), CHMR_CLUSTER_ID_REQUIRED,
              "the configuration lists 2 clusters (c1, c2); pass --cluster-id to choose one");
    CHECK_ERR(CHM_OpenSession("c3", &s), CHMR_CLUSTER_UNKNOWN,
              "no cluster has cluster_id \"c3\"; the configuration lists: c1, c2");
    CHECK_EQ(s, SENTINEL_HANDLE);
    CHECK_RV(CHM_OpenSession("c2", &s), CHMR_OK);
    CHECK(s != SENTINEL_HANDLE && s != CHM_INVALID_HANDLE);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
    CHECK_RV(CHM_Finalize(), CHMR_OK);

    section("the configuration path: CHM_Initialize's, else CLOUDHSM_MFA_CONFIG");
    CHECK(setenv("CLOUDHSM_MFA_CONFIG", config_two, 1) == 0);
    CHECK_RV(CHM_Initialize(NULL), CHMR_OK);
    CHECK_ERR(CHM_OpenSession(NULL, &s), CHMR_CLUSTER_ID_REQUIRED, config_two);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK_RV(init_with(config_one), CHMR_OK); /* an explicit path wins */
    s = SENTINEL_HANDLE;
    CHECK_RV(CHM_OpenSession(NULL, &s), CHMR_OK);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK(unsetenv("CLOUDHSM_MFA_CONFIG") == 0);
}

static void test_unreachable_cluster(void) {
    CHM_SESSION_HANDLE s = SENTINEL_HANDLE;
    char buf[256];
    size_t len;

    section("a cluster whose HSMs cannot be reached");
    CHECK_RV(init_with(config_one), CHMR_OK);
    if (!CHECK_RV(CHM_OpenSession("c1", &s), CHMR_OK)) {
        return;
    }
    CHECK_ERR(CHM_Login(s, "alice", CHM_ROLE_CRYPTO_USER, "password1"), CHMR_HSM_UNREACHABLE,
              UNREACHABLE);
    CHECK_LAST_ERROR("Connection refused");
    CHECK_ERR(CHM_LoginMfaBegin(s, "alice", CHM_ROLE_CRYPTO_USER, "password1",
                                tpath("login.json")),
              CHMR_HSM_UNREACHABLE, UNREACHABLE);
    CHECK(!file_exists(tpath("login.json")));
    CHECK_ERR(CHM_LoginMfaFinish(s, NULL), CHMR_OPERATION_NOT_INITIALIZED,
              "no login is waiting for a signed token file; run its first phase first");
    signer_calls = 0;
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CHM_ROLE_CRYPTO_USER, "password1",
                                     counting_signer, NULL),
              CHMR_HSM_UNREACHABLE, UNREACHABLE);
    CHECK_ERR(CHM_ChangeMfaBegin(s, "alice", CHM_ROLE_CRYPTO_USER, tpath("register.json")),
              CHMR_HSM_UNREACHABLE, UNREACHABLE);
    CHECK(!file_exists(tpath("register.json")));
    CHECK_ERR(CHM_ChangeMfaWithSigner(s, "alice", CHM_ROLE_CRYPTO_USER, public_key, "password2",
                                      0, counting_signer, NULL),
              CHMR_HSM_UNREACHABLE, UNREACHABLE);
    CHECK_EQ(signer_calls, 0);
    CHECK_ERR(CHM_DeregisterMfa(s, "alice", CHM_ROLE_CRYPTO_USER, "password2", 0),
              CHMR_HSM_UNREACHABLE, UNREACHABLE);
    CHECK_ERR(CHM_CreateUser(s, "bob", CHM_ROLE_CRYPTO_USER, "password3"), CHMR_HSM_UNREACHABLE,
              UNREACHABLE);
    CHECK_ERR(CHM_DeleteUser(s, "bob", CHM_ROLE_CRYPTO_USER), CHMR_HSM_UNREACHABLE,
              UNREACHABLE);
    CHECK_ERR(CHM_ChangePassword(s, "bob", CHM_ROLE_CRYPTO_USER, "password4"),
              CHMR_HSM_UNREACHABLE, UNREACHABLE);
    CHECK_ERR(CHM_ActivateCluster(s, "password5"), CHMR_HSM_UNREACHABLE, UNREACHABLE);
    memset(buf, CANARY, sizeof buf);
    len = sizeof buf;
    CHECK_ERR(CHM_ListUsers(s, buf, &len), CHMR_HSM_UNREACHABLE, UNREACHABLE);
    CHECK_EQ(len, sizeof buf);
    CHECK(all_canary(buf, sizeof buf));
    len = 0;
    CHECK_ERR(CHM_ListUsers(s, NULL, &len), CHMR_HSM_UNREACHABLE, UNREACHABLE);
    CHECK_EQ(len, 0);
    /* A user name is checked before anything is sent. */
    CHECK_ERR(CHM_Login(s, "bob-smith", CHM_ROLE_CRYPTO_USER, "password1"), CHMR_ARGUMENTS_BAD,
              "user name has the character '-'; only letters, digits and '_' are allowed");
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
    CHECK_ERR(CHM_CloseSession(s), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_Logout(s), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
}

/* Every session function given `h`, with valid other arguments, answers
 * CHMR_SESSION_HANDLE_INVALID. */
static void not_a_session(CHM_SESSION_HANDLE h) {
    char buf[64];
    size_t len = sizeof buf;
    memset(buf, CANARY, sizeof buf);
    CHECK_ERR(CHM_CloseSession(h), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_Login(h, "alice", CHM_ROLE_ADMIN, "password1"), CHMR_SESSION_HANDLE_INVALID,
              NOT_A_SESSION);
    CHECK_ERR(CHM_LoginMfaBegin(h, "alice", CHM_ROLE_ADMIN, "password1", tpath("t.json")),
              CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_LoginMfaFinish(h, NULL), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_LoginMfaFinish(h, tpath("t.json")), CHMR_SESSION_HANDLE_INVALID,
              NOT_A_SESSION);
    CHECK_ERR(CHM_LoginMfaWithSigner(h, "alice", CHM_ROLE_ADMIN, "password1", counting_signer,
                                     NULL),
              CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_Logout(h), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_ChangeMfaBegin(h, "alice", CHM_ROLE_ADMIN, tpath("t.json")),
              CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_ChangeMfaFinish(h, NULL, public_key, "password2", CHMF_CHANGE_QUORUM),
              CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_ChangeMfaWithSigner(h, "alice", CHM_ROLE_ADMIN, public_key, "password2", 0,
                                      counting_signer, NULL),
              CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_DeregisterMfa(h, "alice", CHM_ROLE_ADMIN, "password2", CHMF_CHANGE_QUORUM),
              CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_CreateUser(h, "bob", CHM_ROLE_CRYPTO_USER, "password3"),
              CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_DeleteUser(h, "bob", CHM_ROLE_CRYPTO_USER), CHMR_SESSION_HANDLE_INVALID,
              NOT_A_SESSION);
    CHECK_ERR(CHM_ChangePassword(h, "bob", CHM_ROLE_CRYPTO_USER, "password4"),
              CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_ListUsers(h, buf, &len), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_EQ(len, sizeof buf);
    CHECK(all_canary(buf, sizeof buf));
    CHECK_ERR(CHM_ActivateCluster(h, "password5"), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK(!file_exists(tpath("t.json")));
}

static void test_session_handles(void) {
    CHM_KEY_HANDLE key = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    CHM_SESSION_HANDLE s = SENTINEL_HANDLE;
    uint8_t token[CHM_TOKEN_LEN];
    uint32_t bits = 0, kind = 0;

    section("handles that are not open sessions");
    random_bytes(token, sizeof token);
    CHECK_RV(CHM_PublicKeyLoad(public_key, &key), CHMR_OK);
    CHECK_RV(CHM_TokenFileCreateMfa(token, 1, &file), CHMR_OK);
    CHECK_RV(CHM_OpenSession(NULL, &s), CHMR_OK);
    not_a_session(CHM_INVALID_HANDLE);
    not_a_session(UINT64_MAX);
    not_a_session(key);
    not_a_session(file);
    CHECK_EQ(signer_calls, 0);
    /* The key and the file survived being offered as sessions. */
    CHECK_RV(CHM_KeyGetBits(key, &bits), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetKind(file, &kind), CHMR_OK);

    section("a session handle is not a key or a token file");
    CHECK_ERR(CHM_KeyGetBits(s, &bits), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_ERR(CHM_KeyClose(s), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_ERR(CHM_TokenFileGetKind(s, &kind), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_ERR(CHM_TokenFileClose(s), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK(s != key && s != file);

    section("CHM_Finalize closes sessions; a new initialisation does not revive them");
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK_ERR(CHM_Logout(s), CHMR_NOT_INITIALIZED, "call CHM_Initialize first");
    CHECK_RV(init_with(config_one), CHMR_OK);
    CHECK_ERR(CHM_Logout(s), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
    CHECK_ERR(CHM_CloseSession(s), CHMR_SESSION_HANDLE_INVALID, NOT_A_SESSION);
}

static void test_null_pointers_and_ranges(void) {
    CHM_SESSION_HANDLE s = SENTINEL_HANDLE;
    static const uint32_t bad_roles[] = {0, 4, 0xFFFFFFFFu};
    char want[160];
    size_t i;

    section("NULL pointers to session functions");
    CHECK_ERR(CHM_OpenSession(NULL, NULL), CHMR_ARGUMENTS_BAD, "session is NULL");
    CHECK_ERR(CHM_OpenSession("c1", NULL), CHMR_ARGUMENTS_BAD, "session is NULL");
    CHECK_RV(CHM_OpenSession(NULL, &s), CHMR_OK); /* NULL cluster id: the only cluster */
    CHECK_ERR(CHM_Login(s, NULL, CHM_ROLE_ADMIN, "password1"), CHMR_ARGUMENTS_BAD,
              "username is NULL");
    CHECK_ERR(CHM_Login(s, "alice", CHM_ROLE_ADMIN, NULL), CHMR_ARGUMENTS_BAD,
              "password is NULL");
    CHECK_ERR(CHM_LoginMfaBegin(s, NULL, CHM_ROLE_ADMIN, "password1", tpath("t.json")),
              CHMR_ARGUMENTS_BAD, "username is NULL");
    CHECK_ERR(CHM_LoginMfaBegin(s, "alice", CHM_ROLE_ADMIN, NULL, tpath("t.json")),
              CHMR_ARGUMENTS_BAD, "password is NULL");
    CHECK_ERR(CHM_LoginMfaBegin(s, "alice", CHM_ROLE_ADMIN, "password1", NULL),
              CHMR_ARGUMENTS_BAD, "token_path is NULL");
    CHECK_ERR(CHM_LoginMfaWithSigner(s, NULL, CHM_ROLE_ADMIN, "password1", counting_signer,
                                     NULL),
              CHMR_ARGUMENTS_BAD, "username is NULL");
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CHM_ROLE_ADMIN, NULL, counting_signer, NULL),
              CHMR_ARGUMENTS_BAD, "password is NULL");
    CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", CHM_ROLE_ADMIN, "password1", NULL, NULL),
              CHMR_ARGUMENTS_BAD, "callback is NULL");
    CHECK_ERR(CHM_ChangeMfaBegin(s, NULL, CHM_ROLE_ADMIN, tpath("t.json")), CHMR_ARGUMENTS_BAD,
              "username is NULL");
    CHECK_ERR(CHM_ChangeMfaBegin(s, "alice", CHM_ROLE_ADMIN, NULL), CHMR_ARGUMENTS_BAD,
              "token_path is NULL");
    CHECK_ERR(CHM_ChangeMfaFinish(s, NULL, NULL, "password2", 0), CHMR_ARGUMENTS_BAD,
              "public_key_path is NULL");
    CHECK_ERR(CHM_ChangeMfaFinish(s, NULL, public_key, NULL, 0), CHMR_ARGUMENTS_BAD,
              "new_password is NULL");
    CHECK_ERR(CHM_ChangeMfaWithSigner(s, NULL, CHM_ROLE_ADMIN, public_key, "password2", 0,
                                      counting_signer, NULL),
              CHMR_ARGUMENTS_BAD, "username is NULL");
    CHECK_ERR(CHM_ChangeMfaWithSigner(s, "alice", CHM_ROLE_ADMIN, NULL, "password2", 0,
                                      counting_signer, NULL),
              CHMR_ARGUMENTS_BAD, "public_key_path is NULL");
    CHECK_ERR(CHM_ChangeMfaWithSigner(s, "alice", CHM_ROLE_ADMIN, public_key, NULL, 0,
                                      counting_signer, NULL),
              CHMR_ARGUMENTS_BAD, "new_password is NULL");
    CHECK_ERR(CHM_ChangeMfaWithSigner(s, "alice", CHM_ROLE_ADMIN, public_key, "password2", 0,
                                      NULL, NULL),
              CHMR_ARGUMENTS_BAD, "callback is NULL");
    CHECK_ERR(CHM_DeregisterMfa(s, NULL, CHM_ROLE_ADMIN, "password2", 0), CHMR_ARGUMENTS_BAD,
              "username is NULL");
    CHECK_ERR(CHM_DeregisterMfa(s, "alice", CHM_ROLE_ADMIN, NULL, 0), CHMR_ARGUMENTS_BAD,
              "new_password is NULL");
    CHECK_ERR(CHM_CreateUser(s, NULL, CHM_ROLE_ADMIN, "password3"), CHMR_ARGUMENTS_BAD,
              "username is NULL");
    CHECK_ERR(CHM_CreateUser(s, "bob", CHM_ROLE_ADMIN, NULL), CHMR_ARGUMENTS_BAD,
              "password is NULL");
    CHECK_ERR(CHM_DeleteUser(s, NULL, CHM_ROLE_ADMIN), CHMR_ARGUMENTS_BAD, "username is NULL");
    CHECK_ERR(CHM_ChangePassword(s, NULL, CHM_ROLE_ADMIN, "password4"), CHMR_ARGUMENTS_BAD,
              "username is NULL");
    CHECK_ERR(CHM_ChangePassword(s, "bob", CHM_ROLE_ADMIN, NULL), CHMR_ARGUMENTS_BAD,
              "password is NULL");
    CHECK_ERR(CHM_ListUsers(s, NULL, NULL), CHMR_ARGUMENTS_BAD, "len is NULL");
    CHECK_ERR(CHM_ActivateCluster(s, NULL), CHMR_ARGUMENTS_BAD, "password is NULL");
    CHECK(!file_exists(tpath("t.json")));

    section("roles and flags out of range");
    CHECK_EQ(CHM_ROLE_ADMIN, 1);
    CHECK_EQ(CHM_ROLE_CRYPTO_USER, 2);
    CHECK_EQ(CHM_ROLE_UNACTIVATED_ADMIN, 3);
    for (i = 0; i < sizeof bad_roles / sizeof bad_roles[0]; i++) {
        uint32_t role = bad_roles[i];
        snprintf(want, sizeof want,
                 "role %lu is not one of CHM_ROLE_ADMIN (1), CHM_ROLE_CRYPTO_USER (2), "
                 "CHM_ROLE_UNACTIVATED_ADMIN (3)",
                 (unsigned long)role);
        CHECK_ERR(CHM_Login(s, "alice", role, "password1"), CHMR_ARGUMENTS_BAD, want);
        CHECK_ERR(CHM_LoginMfaBegin(s, "alice", role, "password1", tpath("t.json")),
                  CHMR_ARGUMENTS_BAD, want);
        CHECK_ERR(CHM_LoginMfaWithSigner(s, "alice", role, "password1", counting_signer, NULL),
                  CHMR_ARGUMENTS_BAD, want);
        CHECK_ERR(CHM_ChangeMfaBegin(s, "alice", role, tpath("t.json")), CHMR_ARGUMENTS_BAD,
                  want);
        CHECK_ERR(CHM_ChangeMfaWithSigner(s, "alice", role, public_key, "password2", 0,
                                          counting_signer, NULL),
                  CHMR_ARGUMENTS_BAD, want);
        CHECK_ERR(CHM_DeregisterMfa(s, "alice", role, "password2", 0), CHMR_ARGUMENTS_BAD, want);
        CHECK_ERR(CHM_CreateUser(s, "bob", role, "password3"), CHMR_ARGUMENTS_BAD, want);
        CHECK_ERR(CHM_DeleteUser(s, "bob", role), CHMR_ARGUMENTS_BAD, want);
        CHECK_ERR(CHM_ChangePassword(s, "bob", role, "password4"), CHMR_ARGUMENTS_BAD, want);
    }
    CHECK_EQ(CHMF_CHANGE_QUORUM, 1);
    CHECK_ERR(CHM_ChangeMfaFinish(s, NULL, public_key, "password2", 2), CHMR_ARGUMENTS_BAD,
              "flags 0x2 has bits other than CHMF_CHANGE_QUORUM");
    CHECK_ERR(CHM_ChangeMfaWithSigner(s, "alice", CHM_ROLE_ADMIN, public_key, "password2",
                                      0x80000001u, counting_signer, NULL),
              CHMR_ARGUMENTS_BAD, "flags 0x80000001 has bits other than CHMF_CHANGE_QUORUM");
    CHECK_ERR(CHM_DeregisterMfa(s, "alice", CHM_ROLE_ADMIN, "password2", 4), CHMR_ARGUMENTS_BAD,
              "flags 0x4 has bits other than CHMF_CHANGE_QUORUM");
    CHECK(!file_exists(tpath("t.json")));
    CHECK_EQ(signer_calls, 0);
    CHECK_RV(CHM_CloseSession(s), CHMR_OK);
}

int main(void) {
    check_begin("test_sessions");
    unsetenv("CLOUDHSM_MFA_CONFIG");
    public_key = tpath("mfa.pub");
    if (!CHECK(write_configs() == 0) ||
        !CHECK(openssl_rsa_key(tpath("mfa.pem"), 2048, 0) == 0) ||
        !CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", tpath("mfa.pem"), public_key) == 0)) {
        return check_end();
    }
    test_configuration();
    test_unreachable_cluster(); /* leaves the library initialised with config_one */
    test_session_handles();
    test_null_pointers_and_ranges();
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
