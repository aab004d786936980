/*
 * Quorum (SPEC §7) from C against a live emulator cluster (3 HSMs over TLS on loopback),
 * started by run-tests.sh (CLOUDHSM_MFA_CONFIG, CHM_TEST_ADMIN_PASSWORD).
 *
 * Three admins register quorum keys (one with a C signing callback, two in two phases:
 * a registration file from CHM_QuorumGenerate signed with CHM_TokenFileSign); the user
 * service's value goes to 2; a user creation is refused without an approval and with one
 * (the counts from CHM_GetLastErrorApprovals), accepted with two, and the same approval is
 * refused a second time; the lockout guard keeps the service from being stranded.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define ADMIN CHM_ROLE_ADMIN
#define CRYPTO CHM_ROLE_CRYPTO_USER
#define PW "approver-pw-1"

static const char *admin_pw; /* never printed */
static const char *pem[3], *pub[3];
static CHM_KEY_HANDLE key[3];

static CHM_RV key_signer(void *user_data, const uint8_t *token, size_t token_len, uint8_t *sig,
                         size_t sig_len, size_t *sig_out_len) {
    CHM_KEY_HANDLE *k = user_data;
    size_t len = sig_len;
    CHM_RV rv = CHM_SignToken(*k, token, token_len, sig, &len);
    if (rv == CHMR_OK) {
        *sig_out_len = len;
    }
    return rv;
}

static CHM_SESSION_HANDLE login_as(const char *user, const char *password) {
    CHM_SESSION_HANDLE s = CHM_INVALID_HANDLE;
    if (!CHECK_RV(CHM_OpenSession(NULL, &s), CHMR_OK)) {
        return CHM_INVALID_HANDLE;
    }
    CHECK_RV(CHM_Login(s, user, ADMIN, password), CHMR_OK);
    return s;
}

static void check_approvals(uint32_t present, uint32_t required) {
    uint32_t p = 99, r = 99;
    CHECK_RV(CHM_GetLastErrorApprovals(&p, &r), CHMR_OK);
    CHECK_EQ(p, present);
    CHECK_EQ(r, required);
}

/* The approval file `path`, signed by approver names[i] with key[keys[i]] for each i. */
static CHM_TOKEN_FILE_HANDLE signed_approval(const char *path, const char *const *names,
                                             const int *keys, int count) {
    CHM_TOKEN_FILE_HANDLE f = CHM_INVALID_HANDLE;
    int i;
    if (!CHECK_RV(CHM_TokenFileLoad(path, &f), CHMR_OK)) {
        return CHM_INVALID_HANDLE;
    }
    for (i = 0; i < count; i++) {
        CHECK_RV(CHM_TokenFileSign(f, key[keys[i]], names[i]), CHMR_OK);
    }
    return f;
}

static CHM_SESSION_HANDLE adm;

static void test_register_quorum_keys(void) {
    const char *names[2] = {"q2", "q3"};
    int i;
    section("three admins register quorum keys");
    CHECK_RV(CHM_RegisterQuorumKeyWithSigner(adm, pub[0], key_signer, &key[0]), CHMR_OK);
    CHECK_ERR(CHM_RegisterQuorumKeyWithSigner(adm, pub[0], NULL, NULL), CHMR_ARGUMENTS_BAD,
              "callback");
    for (i = 0; i < 2; i++) {
        CHM_SESSION_HANDLE s;
        CHM_TOKEN_FILE_HANDLE f = CHM_INVALID_HANDLE;
        const char *reg = tpath(i == 0 ? "reg-q2.json" : "reg-q3.json");
        uint32_t kind = 0;
        CHECK_RV(CHM_CreateUser(adm, names[i], ADMIN, PW), CHMR_OK);
        s = login_as(names[i], PW);
        CHECK_ERR(CHM_QuorumGenerate(s, 9, reg), CHMR_ARGUMENTS_BAD, "CHM_SERVICE_USER");
        CHECK_RV(CHM_QuorumGenerate(s, CHM_SERVICE_REGISTRATION, reg), CHMR_OK);
        CHECK_RV(CHM_TokenFileLoad(reg, &f), CHMR_OK);
        CHECK_RV(CHM_TokenFileGetKind(f, &kind), CHMR_OK);
        CHECK_EQ(kind, CHM_TOKEN_FILE_REGISTRATION);
        /* Signed with the wrong key: no proof of possession. */
        CHECK_RV(CHM_TokenFileSign(f, key[0], NULL), CHMR_OK);
        CHECK_RV(CHM_TokenFileWrite(f, reg), CHMR_OK);
        CHECK_ERR(CHM_RegisterQuorumKey(s, pub[i + 1], reg), CHMR_SIGNATURE_INVALID,
                  "does not verify");
        /* The failure left the token usable: signed with the right key, it registers, once. */
        CHECK_RV(CHM_TokenFileSign(f, key[i + 1], NULL), CHMR_OK);
        CHECK_RV(CHM_TokenFileWrite(f, reg), CHMR_OK);
        CHECK_RV(CHM_RegisterQuorumKey(s, pub[i + 1], reg), CHMR_OK);
        CHECK_ERR(CHM_RegisterQuorumKey(s, pub[i + 1], reg), CHMR_QUORUM_TOKEN_INVALID,
                  "already used");
        CHM_TokenFileClose(f);
        CHM_CloseSession(s);
    }
}

static void test_values(void) {
    uint32_t v = 0;
    section("quorum values");
    CHECK_RV(CHM_QuorumGetValue(adm, CHM_SERVICE_USER, &v), CHMR_OK);
    CHECK_EQ(v, 1);
    CHECK_ERR(CHM_QuorumGetValue(adm, CHM_SERVICE_REGISTRATION, &v), CHMR_ARGUMENTS_BAD,
              "no quorum value");
    CHECK_ERR(CHM_QuorumGetValue(adm, CHM_SERVICE_USER, NULL), CHMR_ARGUMENTS_BAD, "value");
    CHECK_ERR(CHM_QuorumSetValue(adm, CHM_SERVICE_USER, 4), CHMR_ARGUMENTS_BAD,
              "at least 4 admins");
    CHECK_ERR(CHM_QuorumSetValue(adm, CHM_SERVICE_USER, 9), CHMR_ARGUMENTS_BAD, "1 to 8");
    CHECK_RV(CHM_QuorumSetValue(adm, CHM_SERVICE_USER, 2), CHMR_OK);
    CHECK_RV(CHM_QuorumGetValue(adm, CHM_SERVICE_USER, &v), CHMR_OK);
    CHECK_EQ(v, 2);
}

static void test_gated_creation(void) {
    const char *approval = tpath("approval.json");
    const char *one_name[1] = {"q2"};
    const int one_key[1] = {1};
    const char *two_names[2] = {"q2", "q3"};
    const int two_keys[2] = {1, 2};
    CHM_TOKEN_FILE_HANDLE one, two;
    char list[2048];
    size_t len = sizeof list;
    section("a gated operation needs two approvals, once");
    CHECK_ERR(CHM_CreateUser(adm, "bob", CRYPTO, PW), CHMR_QUORUM_APPROVAL_REQUIRED,
              "Quorum Failed: the user service needs 2 approvals");
    check_approvals(0, 2);
    CHECK_RV(CHM_QuorumGenerate(adm, CHM_SERVICE_USER, approval), CHMR_OK);
    CHECK_RV(CHM_QuorumListTokens(adm, list, &len), CHMR_OK);
    CHECK_CONTAINS(list, "\"approvals-required\":2");
    CHECK_CONTAINS(list, "\"cluster-coverage\":\"full\"");
    one = signed_approval(approval, one_name, one_key, 1);
    CHECK_RV(CHM_SetApproval(adm, one), CHMR_OK);
    CHECK_ERR(CHM_CreateUser(adm, "bob", CRYPTO, PW), CHMR_QUORUM_TOO_FEW,
              "currently 1 approvals, but 2 approvals required");
    check_approvals(1, 2);
    CHECK_RV(CHM_ClearApproval(adm), CHMR_OK);
    CHECK_ERR(CHM_CreateUser(adm, "bob", CRYPTO, PW), CHMR_QUORUM_APPROVAL_REQUIRED, "Quorum");
    two = signed_approval(approval, two_names, two_keys, 2);
    CHECK_ERR(CHM_SetApproval(adm, 12345), CHMR_OBJECT_HANDLE_INVALID, "12345");
    CHECK_RV(CHM_SetApproval(adm, two), CHMR_OK);
    CHECK_RV(CHM_CreateUser(adm, "bob", CRYPTO, PW), CHMR_OK);
    check_approvals(0, 0);
    /* Used up: the same approval again. */
    CHECK_RV(CHM_SetApproval(adm, two), CHMR_OK);
    CHECK_ERR(CHM_DeleteUser(adm, "bob", CRYPTO), CHMR_QUORUM_TOKEN_INVALID, "already used");
    CHM_TokenFileClose(one);
    CHM_TokenFileClose(two);
}

static void test_lockout_guard(void) {
    const char *approval = tpath("approval-2.json");
    const char *names[2] = {"admin", "q2"};
    const int keys[2] = {0, 1};
    CHM_TOKEN_FILE_HANDLE f;
    section("the lockout guard");
    CHECK_RV(CHM_QuorumGenerate(adm, CHM_SERVICE_USER, approval), CHMR_OK);
    f = signed_approval(approval, names, keys, 2);
    CHECK_RV(CHM_SetApproval(adm, f), CHMR_OK);
    CHECK_RV(CHM_ChangePasswordEx(adm, "q3", ADMIN, "q3-new-pw-1", CHMF_DEREGISTER_QUORUM),
             CHMR_OK);
    CHM_TokenFileClose(f);
    CHECK_RV(CHM_QuorumGenerate(adm, CHM_SERVICE_USER, approval), CHMR_OK);
    f = signed_approval(approval, names, keys, 2);
    CHECK_RV(CHM_SetApproval(adm, f), CHMR_OK);
    CHECK_ERR(CHM_DeleteUser(adm, "q2", ADMIN), CHMR_PERMISSION_DENIED,
              "would leave 1 admins with a quorum key");
    CHECK_ERR(CHM_ChangePasswordEx(adm, "q2", ADMIN, "q2-new-pw-1", 0x80), CHMR_ARGUMENTS_BAD,
              "flags");
    CHM_TokenFileClose(f);
    CHECK_RV(CHM_QuorumDeleteTokens(adm, CHM_QUORUM_SCOPE_ALL), CHMR_OK);
    CHECK_ERR(CHM_QuorumDeleteTokens(adm, 7), CHMR_ARGUMENTS_BAD, "scope");
}

int main(void) {
    int i;
    static const char *pem_names[3] = {"q1.pem", "q2.pem", "q3.pem"};
    static const char *pub_names[3] = {"q1.pub", "q2.pub", "q3.pub"};
    check_begin("test_cluster_quorum");
    admin_pw = getenv("CHM_TEST_ADMIN_PASSWORD");
    if (!CHECK(getenv("CLOUDHSM_MFA_CONFIG") != NULL && admin_pw != NULL)) {
        fprintf(stderr, "test_cluster_quorum needs a running cluster: run it through "
                        "run-tests.sh (make -C c-tests test)\n");
        return check_end();
    }
    for (i = 0; i < 3; i++) {
        pem[i] = tpath(pem_names[i]);
        pub[i] = tpath(pub_names[i]);
        if (!CHECK(openssl_rsa_key(pem[i], 2048, i) == 0) ||
            !CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", pem[i], pub[i]) == 0)) {
            return check_end();
        }
    }
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK)) {
        return check_end();
    }
    for (i = 0; i < 3; i++) {
        CHECK_RV(CHM_PrivateKeyLoad(pem[i], &key[i]), CHMR_OK);
    }
    adm = login_as("admin", admin_pw);
    test_register_quorum_keys();
    test_values();
    test_gated_creation();
    test_lockout_guard();
    CHM_CloseSession(adm);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
