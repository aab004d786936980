/*
 * The quickstart in C: on a new cluster (CLOUDHSM_MFA_CONFIG names its configuration),
 * activate it, create a crypto user, register an MFA key for it, log in with MFA, rotate
 * the key, log in with the new key, gate user creation behind two admins' approvals, and
 * list the users.
 *
 *   cloudhsm-emulator init --dir /tmp/hsm --nodes 3
 *   cloudhsm-emulator run --dir /tmp/hsm &
 *   cc -std=c99 -Iinclude examples/quickstart.c -Ltarget/release -lcloudhsm_mfa -o quickstart
 *   CLOUDHSM_MFA_CONFIG=/tmp/hsm/cloudhsm-cli.cfg ./quickstart /tmp/work
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudhsm_mfa.h"

/* Stops at the first failure, with the library's message. */
static void check(CHM_RV rv, const char *what) {
    char message[1024];
    size_t len = sizeof message;
    if (rv == CHMR_OK) {
        printf("ok   %s\n", what);
        return;
    }
    if (CHM_GetLastError(message, &len) != CHMR_OK) {
        strcpy(message, "(no message)");
    }
    fprintf(stderr, "FAIL %s: %s (0x%lx): %s\n", what, CHM_GetReturnCodeText(rv),
            (unsigned long)rv, message);
    exit(1);
}

/* The signing callback: signs each token with the private key handle in user_data. */
static CHM_RV sign_with_key(void *user_data, const uint8_t *token, size_t token_len,
                            uint8_t *sig, size_t sig_len, size_t *sig_out_len) {
    CHM_KEY_HANDLE key = *(const CHM_KEY_HANDLE *)user_data;
    size_t len = sig_len;
    CHM_RV rv = CHM_SignToken(key, token, token_len, sig, &len);
    if (rv == CHMR_OK) {
        *sig_out_len = len;
    }
    return rv;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    char key1[512], pub1[512], key2[512], pub2[512], token[512];
    CHM_SESSION_HANDLE admin, user;
    CHM_KEY_HANDLE signer;
    char *users;
    size_t users_len = 0;

    snprintf(key1, sizeof key1, "%s/mfa-1.key", dir);
    snprintf(pub1, sizeof pub1, "%s/mfa-1.pub", dir);
    snprintf(key2, sizeof key2, "%s/mfa-2.key", dir);
    snprintf(pub2, sizeof pub2, "%s/mfa-2.pub", dir);
    snprintf(token, sizeof token, "%s/token.json", dir);

    check(CHM_Initialize(NULL), "initialise (configuration from CLOUDHSM_MFA_CONFIG)");
    check(CHM_OpenSession(NULL, &admin), "open a session with the cluster");
    check(CHM_ActivateCluster(admin, "admin-password"), "cluster activate");
    check(CHM_Login(admin, "admin", CHM_ROLE_ADMIN, "admin-password"), "login as admin");
    check(CHM_CreateUser(admin, "alice", CHM_ROLE_CRYPTO_USER, "alice-password"),
          "user create alice");

    /* alice registers her own MFA key, signing the HSMs' challenges with it. */
    check(CHM_GenerateKeyPair(2048, key1, pub1), "generate alice's key pair");
    check(CHM_PrivateKeyLoad(key1, &signer), "load the private key");
    check(CHM_OpenSession(NULL, &user), "open alice's session");
    check(CHM_Login(user, "alice", CHM_ROLE_CRYPTO_USER, "alice-password"),
          "login as alice (password only)");
    check(CHM_ChangeMfaWithSigner(user, "alice", CHM_ROLE_CRYPTO_USER, pub1, "alice-password", 0,
                                  sign_with_key, &signer),
          "user change-mfa token-sign (register)");
    check(CHM_Logout(user), "logout");

    /* An MFA login in two phases: the token file is written, signed, then handed back. */
    check(CHM_LoginMfaBegin(user, "alice", CHM_ROLE_CRYPTO_USER, "alice-password", token),
          "login with mfa-token-sign: tokens written");
    check(CHM_SignTokenFile(token, key1, NULL, NULL), "sign the token file");
    check(CHM_LoginMfaFinish(user, NULL), "login with mfa-token-sign: signed file accepted");

    /* Rotation: the same command with a new key; then a login with the new key. */
    check(CHM_GenerateKeyPair(2048, key2, pub2), "generate a new key pair");
    check(CHM_KeyClose(signer), "close the old key");
    check(CHM_PrivateKeyLoad(key2, &signer), "load the new key");
    check(CHM_ChangeMfaWithSigner(user, "alice", CHM_ROLE_CRYPTO_USER, pub2, "alice-password", 0,
                                  sign_with_key, &signer),
          "user change-mfa token-sign (rotate)");
    check(CHM_Logout(user), "logout");
    check(CHM_LoginMfaWithSigner(user, "alice", CHM_ROLE_CRYPTO_USER, "alice-password",
                                 sign_with_key, &signer),
          "login with the new key");

    /* Quorum: the admin and a second admin register quorum keys (the library signs each
     * HSM's registration token); creating a user then needs both their approvals. */
    {
        char qkey1[4096], qpub1[4096], qkey2[4096], qpub2[4096], approval_path[4096];
        CHM_KEY_HANDLE q1, q2;
        CHM_SESSION_HANDLE admin2;
        CHM_TOKEN_FILE_HANDLE approval;
        uint32_t present = 0, required = 0;
        CHM_RV rv;
        snprintf(qkey1, sizeof qkey1, "%s/quorum-1.key", dir);
        snprintf(qpub1, sizeof qpub1, "%s/quorum-1.pub", dir);
        snprintf(qkey2, sizeof qkey2, "%s/quorum-2.key", dir);
        snprintf(qpub2, sizeof qpub2, "%s/quorum-2.pub", dir);
        snprintf(approval_path, sizeof approval_path, "%s/approval.json", dir);
        check(CHM_CreateUser(admin, "admin2", CHM_ROLE_ADMIN, "admin2-password"),
              "user create admin2 (admin)");
        check(CHM_GenerateKeyPair(2048, qkey1, qpub1), "generate the admin's quorum key");
        check(CHM_GenerateKeyPair(2048, qkey2, qpub2), "generate admin2's quorum key");
        check(CHM_PrivateKeyLoad(qkey1, &q1), "load the admin's quorum key");
        check(CHM_PrivateKeyLoad(qkey2, &q2), "load admin2's quorum key");
        check(CHM_RegisterQuorumKeyWithSigner(admin, qpub1, sign_with_key, &q1),
              "user change-quorum token-sign register (admin)");
        check(CHM_OpenSession(NULL, &admin2), "open admin2's session");
        check(CHM_Login(admin2, "admin2", CHM_ROLE_ADMIN, "admin2-password"), "login as admin2");
        check(CHM_RegisterQuorumKeyWithSigner(admin2, qpub2, sign_with_key, &q2),
              "user change-quorum token-sign register (admin2)");
        check(CHM_CloseSession(admin2), "close admin2's session");
        check(CHM_QuorumSetValue(admin, CHM_SERVICE_USER, 2),
              "quorum token-sign set-quorum-value --service user --value 2");
        rv = CHM_CreateUser(admin, "bob", CHM_ROLE_CRYPTO_USER, "bob-password");
        if (rv != CHMR_QUORUM_APPROVAL_REQUIRED) {
            check(rv == CHMR_OK ? CHMR_GENERAL_ERROR : rv, "user create without approvals");
        }
        check(CHM_GetLastErrorApprovals(&present, &required), "the counts of the refusal");
        printf("ok   refused without approvals (%u of %u)\n", (unsigned)present,
               (unsigned)required);
        check(CHM_QuorumGenerate(admin, CHM_SERVICE_USER, approval_path),
              "quorum token-sign generate --service user");
        check(CHM_TokenFileLoad(approval_path, &approval), "load the approval file");
        check(CHM_TokenFileSign(approval, q1, "admin"), "the admin approves");
        check(CHM_TokenFileSign(approval, q2, "admin2"), "admin2 approves");
        check(CHM_SetApproval(admin, approval), "set the approval");
        check(CHM_CreateUser(admin, "bob", CHM_ROLE_CRYPTO_USER, "bob-password"),
              "user create bob with 2 approvals");
        check(CHM_TokenFileClose(approval), "close the approval file");
        check(CHM_KeyClose(q1), "close the admin's quorum key");
        check(CHM_KeyClose(q2), "close admin2's quorum key");
    }

    /* user list: the two-call idiom. */
    check(CHM_ListUsers(admin, NULL, &users_len), "user list (size)");
    users = malloc(users_len);
    if (users == NULL) {
        return 1;
    }
    check(CHM_ListUsers(admin, users, &users_len), "user list");
    printf("%s\n", users);
    free(users);

    check(CHM_KeyClose(signer), "close the key");
    check(CHM_CloseSession(user), "close alice's session");
    check(CHM_CloseSession(admin), "close the admin session");
    check(CHM_Finalize(), "finalise");
    return 0;
}
