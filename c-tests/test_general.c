/*
 * Library life cycle and general conventions: every call before CHM_Initialize,
 * initialise / finalise, CHM_GetInfo, CHM_GetFunctionList (and calls through
 * it), CHM_GetReturnCodeText, CHM_GetLastError, and handles (never 0, never
 * reused, invalid after close and after CHM_Finalize).
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cloudhsm_mfa.h"

static const uint8_t TOKEN[CHM_TOKEN_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                             17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
                                             30, 31, 32};

#define NOT_INIT_TEXT "not initialised; call CHM_Initialize first"

static int signer_calls;

/* A signing callback for calls that must fail before any token is signed. */
static CHM_RV never_called_signer(void *user_data, const uint8_t *token, size_t token_len,
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

/* Before CHM_Initialize, every function but the three exempt ones answers
 * CHMR_NOT_INITIALIZED, names the reason, and writes none of its outputs. */
static void test_every_call_before_initialize(void) {
    uint64_t h = SENTINEL_HANDLE;
    uint32_t u32 = 0xA5A5A5A5u;
    size_t len;
    uint8_t buf[600];
    char text[600];
    CHM_INFO info;
    const uint8_t pem[] = "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n";
    const uint8_t json[] = "{\"version\":\"2.0\",\"tokens\":[]}";
    const char *priv = tpath("never-private.pem");
    const char *pub = tpath("never-public.pem");
    const char *token_file = tpath("never-token.json");
    const char *openssl_pub = tpath("openssl.pub");

    section("every call before CHM_Initialize answers CHMR_NOT_INITIALIZED");
    CHECK(openssl_rsa_key(tpath("openssl.pem"), 2048, 0) == 0);
    CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", tpath("openssl.pem"), openssl_pub) == 0);

    memset(&info, CANARY, sizeof info);
    CHECK_ERR(CHM_GetInfo(&info), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK(all_canary(&info, sizeof info));

    CHECK_RV(CHM_Finalize(), CHMR_NOT_INITIALIZED);

    CHECK_ERR(CHM_PrivateKeyLoad(priv, &h), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PrivateKeyFromPem(pem, sizeof pem - 1, &h), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PublicKeyLoad(pub, &h), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PublicKeyFromPem(pem, sizeof pem - 1, &h), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PublicKeyFromPrivate(1, &h), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_KeyGetBits(1, &u32), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(u32, 0xA5A5A5A5u);
    CHECK_ERR(CHM_KeyClose(1), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    memset(text, CANARY, sizeof text);
    len = sizeof text;
    CHECK_ERR(CHM_PublicKeyToPem(1, text, &len), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(len, sizeof text);
    CHECK(all_canary(text, sizeof text));

    CHECK_ERR(CHM_GenerateKeyPair(2048, priv, pub), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK(!file_exists(priv));
    CHECK(!file_exists(pub));

    memset(buf, CANARY, sizeof buf);
    len = sizeof buf;
    CHECK_ERR(CHM_SignToken(1, TOKEN, sizeof TOKEN, buf, &len), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_EQ(len, sizeof buf);
    CHECK(all_canary(buf, sizeof buf));
    CHECK_ERR(CHM_VerifyToken(1, TOKEN, sizeof TOKEN, buf, 256), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);

    CHECK_ERR(CHM_TokenFileLoad(token_file, &h), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileParse(json, sizeof json - 1, &h), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateMfa(TOKEN, 1, &h), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateRegistration(TOKEN, sizeof TOKEN, &h), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateApproval(TOKEN, sizeof TOKEN, &h), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);

    CHECK_ERR(CHM_TokenFileGetKind(1, &u32), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(u32, 0xA5A5A5A5u);
    len = 12345;
    CHECK_ERR(CHM_TokenFileGetEntryCount(1, &len), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(len, 12345);
    memset(buf, CANARY, sizeof buf);
    CHECK_ERR(CHM_TokenFileGetToken(1, 0, buf), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_TokenFileGetApprovalToken(1, buf), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    len = sizeof buf;
    CHECK_ERR(CHM_TokenFileGetSignature(1, 0, buf, &len), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(len, sizeof buf);
    CHECK_ERR(CHM_TokenFileGetApprovalData(1, 0, buf, &len), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_EQ(len, sizeof buf);
    CHECK(all_canary(buf, sizeof buf));
    memset(text, CANARY, sizeof text);
    len = sizeof text;
    CHECK_ERR(CHM_TokenFileGetApprover(1, 0, text, &len), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(len, sizeof text);
    CHECK_ERR(CHM_TokenFileToJson(1, text, &len), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(len, sizeof text);
    CHECK(all_canary(text, sizeof text));

    CHECK_ERR(CHM_TokenFileSign(1, 2, NULL), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_TokenFileSetSignature(1, 0, buf, 256), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_TokenFileAddApproval(1, "alice", buf, 256), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_ERR(CHM_TokenFileVerify(1, 2, NULL), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    u32 = 0xA5A5A5A5u;
    CHECK_ERR(CHM_TokenFileCheckEntry(1, 2, 0, &u32), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(u32, 0xA5A5A5A5u);
    CHECK_ERR(CHM_TokenFileWrite(1, token_file), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK(!file_exists(token_file));
    CHECK_ERR(CHM_TokenFileClose(1), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_SignTokenFile(token_file, priv, tpath("never-out.json"), NULL),
              CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK(!file_exists(tpath("never-out.json")));

    section("every session call before CHM_Initialize answers CHMR_NOT_INITIALIZED");
    CHECK_ERR(CHM_OpenSession(NULL, &h), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_OpenSession("cluster-1", &h), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_CloseSession(1), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_Login(1, "alice", CHM_ROLE_CRYPTO_USER, "password1"), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_ERR(CHM_LoginMfaBegin(1, "alice", CHM_ROLE_CRYPTO_USER, "password1", token_file),
              CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK(!file_exists(token_file));
    CHECK_ERR(CHM_LoginMfaFinish(1, token_file), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_LoginMfaFinish(1, NULL), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_LoginMfaWithSigner(1, "alice", CHM_ROLE_CRYPTO_USER, "password1",
                                     never_called_signer, NULL),
              CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_Logout(1), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_ChangeMfaBegin(1, "alice", CHM_ROLE_CRYPTO_USER, token_file),
              CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK(!file_exists(token_file));
    CHECK_ERR(CHM_ChangeMfaFinish(1, token_file, openssl_pub, "password2", 0),
              CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_ChangeMfaWithSigner(1, "alice", CHM_ROLE_CRYPTO_USER, openssl_pub,
                                      "password2", CHMF_CHANGE_QUORUM, never_called_signer, NULL),
              CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    /* The same calls with a public key file that does not exist. */
    CHECK(CHM_ChangeMfaFinish(1, token_file, pub, "password2", 0) ==
                        CHMR_NOT_INITIALIZED);
    CHECK(CHM_ChangeMfaWithSigner(1, "alice", CHM_ROLE_CRYPTO_USER, pub, "password2",
                                            0, never_called_signer, NULL) ==
                        CHMR_NOT_INITIALIZED);
    CHECK_ERR(CHM_DeregisterMfa(1, "alice", CHM_ROLE_CRYPTO_USER, "password2", 0),
              CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_ERR(CHM_CreateUser(1, "bob", CHM_ROLE_CRYPTO_USER, "password3"), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_ERR(CHM_DeleteUser(1, "bob", CHM_ROLE_CRYPTO_USER), CHMR_NOT_INITIALIZED,
              NOT_INIT_TEXT);
    CHECK_ERR(CHM_ChangePassword(1, "bob", CHM_ROLE_CRYPTO_USER, "password4"),
              CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    memset(text, CANARY, sizeof text);
    len = sizeof text;
    CHECK_ERR(CHM_ListUsers(1, text, &len), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(len, sizeof text);
    CHECK(all_canary(text, sizeof text));
    CHECK_ERR(CHM_ActivateCluster(1, "password5"), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_EQ(signer_calls, 0);
}

/* The three functions that work before CHM_Initialize. */
static void test_exempt_calls_before_initialize(void) {
    const CHM_FUNCTION_LIST *list = NULL;
    char buf[256];
    size_t len;

    section("CHM_GetFunctionList, CHM_GetLastError, CHM_GetReturnCodeText work before init");
    CHECK_RV(CHM_GetFunctionList(&list), CHMR_OK);
    CHECK(list != NULL);
    CHECK_STR_EQ(CHM_GetReturnCodeText(CHMR_NOT_INITIALIZED), "library not initialized");
    len = 0;
    CHECK_RV(CHM_GetLastError(NULL, &len), CHMR_OK);
    CHECK_EQ(len, strlen("the library is " NOT_INIT_TEXT) + 1);
    len = sizeof buf;
    CHECK_RV(CHM_GetLastError(buf, &len), CHMR_OK);
    CHECK_STR_EQ(buf, "the library is " NOT_INIT_TEXT);
    CHECK_EQ(len, strlen(buf) + 1);
}

static void test_initialize_and_finalize(void) {
    CHM_INITIALIZE_ARGS args;
    CHM_INFO info;
    static const char bad_utf8[] = {'/', 't', 'm', 'p', '/', (char)0xff, 'x', 0};

    section("CHM_Initialize / CHM_Finalize");
    memset(&args, 0, sizeof args);
    args.flags = 1;
    CHECK_ERR(CHM_Initialize(&args), CHMR_ARGUMENTS_BAD, "flags is reserved and must be 0");
    CHECK_RV(CHM_GetInfo(&info), CHMR_NOT_INITIALIZED); /* the refused call did not initialise */
    args.flags = 0;
    args.config_path = bad_utf8;
    CHECK_ERR(CHM_Initialize(&args), CHMR_ARGUMENTS_BAD, "config_path is not valid UTF-8");
    CHECK_RV(CHM_GetInfo(&info), CHMR_NOT_INITIALIZED);

    /* A config path is copied and not needed for token files and keys. */
    args.config_path = tpath("cloudhsm-cli.cfg");
    CHECK_RV(CHM_Initialize(&args), CHMR_OK);
    CHECK_ERR(CHM_Initialize(&args), CHMR_ALREADY_INITIALIZED,
              "the library is already initialised");
    CHECK_ERR(CHM_Initialize(NULL), CHMR_ALREADY_INITIALIZED, "already initialised");
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK_ERR(CHM_Finalize(), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_RV(CHM_GetInfo(&info), CHMR_NOT_INITIALIZED);

    /* Initialise and finalise again, several times. */
    CHECK_RV(CHM_Initialize(NULL), CHMR_OK);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK_RV(CHM_Initialize(NULL), CHMR_OK);
    CHECK_RV(CHM_GetInfo(&info), CHMR_OK);
}

static void test_get_info(void) {
    CHM_INFO info;
    section("CHM_GetInfo");
    memset(&info, CANARY, sizeof info);
    CHECK_RV(CHM_GetInfo(&info), CHMR_OK);
    CHECK_EQ(info.library_version.major, CHM_VERSION_MAJOR);
    CHECK_EQ(info.library_version.minor, CHM_VERSION_MINOR);
    CHECK_EQ(info.library_version.patch, CHM_VERSION_PATCH);
    CHECK_EQ(info.function_list_version, CHM_FUNCTION_LIST_VERSION);
    CHECK(memchr(info.description, 0, sizeof info.description) != NULL);
    if (memchr(info.description, 0, sizeof info.description) != NULL) {
        CHECK_CONTAINS(info.description, "libcloudhsm_mfa");
    }
    CHECK_ERR(CHM_GetInfo(NULL), CHMR_ARGUMENTS_BAD, "info is NULL");
}

/* Every entry of the table is the exported function of the same name. */
static void test_function_list(void) {
    const CHM_FUNCTION_LIST *list = NULL;
    const CHM_FUNCTION_LIST *again = NULL;
    CHM_INFO info;
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE, pub = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    uint8_t tokens[2 * CHM_TOKEN_LEN];
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    size_t sig_len = sizeof sig;
    uint32_t bits = 0;
    char message[256];
    size_t message_len = sizeof message;

    section("CHM_GetFunctionList");
    CHECK_RV(CHM_GetFunctionList(&list), CHMR_OK);
    if (!CHECK(list != NULL)) {
        return;
    }
    CHECK_RV(CHM_GetFunctionList(&again), CHMR_OK);
    CHECK(again == list);
    CHECK_EQ(list->version, CHM_FUNCTION_LIST_VERSION);
    CHECK(list->CHM_Initialize == CHM_Initialize);
    CHECK(list->CHM_Finalize == CHM_Finalize);
    CHECK(list->CHM_GetInfo == CHM_GetInfo);
    CHECK(list->CHM_GetFunctionList == CHM_GetFunctionList);
    CHECK(list->CHM_GetLastError == CHM_GetLastError);
    CHECK(list->CHM_GetReturnCodeText == CHM_GetReturnCodeText);
    CHECK(list->CHM_PrivateKeyLoad == CHM_PrivateKeyLoad);
    CHECK(list->CHM_PrivateKeyFromPem == CHM_PrivateKeyFromPem);
    CHECK(list->CHM_PublicKeyLoad == CHM_PublicKeyLoad);
    CHECK(list->CHM_PublicKeyFromPem == CHM_PublicKeyFromPem);
    CHECK(list->CHM_PublicKeyFromPrivate == CHM_PublicKeyFromPrivate);
    CHECK(list->CHM_KeyGetBits == CHM_KeyGetBits);
    CHECK(list->CHM_KeyClose == CHM_KeyClose);
    CHECK(list->CHM_GenerateKeyPair == CHM_GenerateKeyPair);
    CHECK(list->CHM_SignToken == CHM_SignToken);
    CHECK(list->CHM_VerifyToken == CHM_VerifyToken);
    CHECK(list->CHM_TokenFileLoad == CHM_TokenFileLoad);
    CHECK(list->CHM_TokenFileParse == CHM_TokenFileParse);
    CHECK(list->CHM_TokenFileCreateMfa == CHM_TokenFileCreateMfa);
    CHECK(list->CHM_TokenFileCreateRegistration == CHM_TokenFileCreateRegistration);
    CHECK(list->CHM_TokenFileCreateApproval == CHM_TokenFileCreateApproval);
    CHECK(list->CHM_TokenFileGetKind == CHM_TokenFileGetKind);
    CHECK(list->CHM_TokenFileGetEntryCount == CHM_TokenFileGetEntryCount);
    CHECK(list->CHM_TokenFileGetToken == CHM_TokenFileGetToken);
    CHECK(list->CHM_TokenFileGetApprovalToken == CHM_TokenFileGetApprovalToken);
    CHECK(list->CHM_TokenFileGetSignature == CHM_TokenFileGetSignature);
    CHECK(list->CHM_TokenFileGetApprovalData == CHM_TokenFileGetApprovalData);
    CHECK(list->CHM_TokenFileGetApprover == CHM_TokenFileGetApprover);
    CHECK(list->CHM_TokenFileSign == CHM_TokenFileSign);
    CHECK(list->CHM_TokenFileSetSignature == CHM_TokenFileSetSignature);
    CHECK(list->CHM_TokenFileAddApproval == CHM_TokenFileAddApproval);
    CHECK(list->CHM_TokenFileVerify == CHM_TokenFileVerify);
    CHECK(list->CHM_TokenFileCheckEntry == CHM_TokenFileCheckEntry);
    CHECK(list->CHM_TokenFileWrite == CHM_TokenFileWrite);
    CHECK(list->CHM_TokenFileToJson == CHM_TokenFileToJson);
    CHECK(list->CHM_TokenFileClose == CHM_TokenFileClose);
    CHECK(list->CHM_SignTokenFile == CHM_SignTokenFile);
    CHECK(list->CHM_PublicKeyToPem == CHM_PublicKeyToPem);
    CHECK(list->CHM_OpenSession == CHM_OpenSession);
    CHECK(list->CHM_CloseSession == CHM_CloseSession);
    CHECK(list->CHM_Login == CHM_Login);
    CHECK(list->CHM_LoginMfaBegin == CHM_LoginMfaBegin);
    CHECK(list->CHM_LoginMfaFinish == CHM_LoginMfaFinish);
    CHECK(list->CHM_LoginMfaWithSigner == CHM_LoginMfaWithSigner);
    CHECK(list->CHM_Logout == CHM_Logout);
    CHECK(list->CHM_ChangeMfaBegin == CHM_ChangeMfaBegin);
    CHECK(list->CHM_ChangeMfaFinish == CHM_ChangeMfaFinish);
    CHECK(list->CHM_ChangeMfaWithSigner == CHM_ChangeMfaWithSigner);
    CHECK(list->CHM_DeregisterMfa == CHM_DeregisterMfa);
    CHECK(list->CHM_CreateUser == CHM_CreateUser);
    CHECK(list->CHM_DeleteUser == CHM_DeleteUser);
    CHECK(list->CHM_ChangePassword == CHM_ChangePassword);
    CHECK(list->CHM_ListUsers == CHM_ListUsers);
    CHECK(list->CHM_ActivateCluster == CHM_ActivateCluster);
    CHECK_ERR(CHM_GetFunctionList(NULL), CHMR_ARGUMENTS_BAD, "list is NULL");

    section("calling through the function list");
    CHECK_RV(list->CHM_GetInfo(&info), CHMR_OK);
    CHECK_EQ(info.library_version.minor, CHM_VERSION_MINOR);
    CHECK_STR_EQ(list->CHM_GetReturnCodeText(CHMR_OK), "OK");
    CHECK_RV(list->CHM_GenerateKeyPair(2048, tpath("list.pem"), tpath("list.pub")), CHMR_OK);
    CHECK_RV(list->CHM_PrivateKeyLoad(tpath("list.pem"), &priv), CHMR_OK);
    CHECK_RV(list->CHM_PublicKeyLoad(tpath("list.pub"), &pub), CHMR_OK);
    CHECK_RV(list->CHM_KeyGetBits(pub, &bits), CHMR_OK);
    CHECK_EQ(bits, 2048);
    random_bytes(tokens, sizeof tokens);
    CHECK_RV(list->CHM_TokenFileCreateMfa(tokens, 2, &file), CHMR_OK);
    CHECK_RV(list->CHM_TokenFileSign(file, priv, NULL), CHMR_OK);
    CHECK_RV(list->CHM_TokenFileVerify(file, pub, NULL), CHMR_OK);
    CHECK_RV(list->CHM_SignToken(priv, tokens, CHM_TOKEN_LEN, sig, &sig_len), CHMR_OK);
    CHECK_EQ(sig_len, 256);
    CHECK_RV(list->CHM_VerifyToken(pub, tokens, CHM_TOKEN_LEN, sig, sig_len), CHMR_OK);
    sig[10] ^= 0x01;
    CHECK_RV(list->CHM_VerifyToken(pub, tokens, CHM_TOKEN_LEN, sig, sig_len),
             CHMR_SIGNATURE_INVALID);
    CHECK_RV(list->CHM_GetLastError(message, &message_len), CHMR_OK);
    CHECK_CONTAINS(message, "signature does not verify");
    CHECK_RV(list->CHM_TokenFileClose(file), CHMR_OK);
    CHECK_RV(list->CHM_KeyClose(pub), CHMR_OK);
    CHECK_RV(list->CHM_KeyClose(priv), CHMR_OK);
    CHECK_RV(list->CHM_Finalize(), CHMR_OK);
    CHECK_RV(list->CHM_Initialize(NULL), CHMR_OK);
}

static void test_return_code_text(void) {
    static const struct {
        CHM_RV rv;
        const char *text;
    } known[] = {
        {CHMR_OK, "OK"},
        {CHMR_HOST_MEMORY, "out of memory"},
        {CHMR_GENERAL_ERROR, "internal error"},
        {CHMR_FUNCTION_FAILED, "cryptographic operation failed"},
        {CHMR_ARGUMENTS_BAD, "bad arguments"},
        {CHMR_DATA_LEN_RANGE, "input is larger than allowed"},
        {CHMR_KEY_HANDLE_INVALID, "invalid key handle"},
        {CHMR_KEY_SIZE_RANGE, "RSA key size is not 2048, 3072 or 4096 bits"},
        {CHMR_KEY_TYPE_INCONSISTENT, "key is not an RSA key"},
        {CHMR_OBJECT_HANDLE_INVALID, "invalid token file handle"},
        {CHMR_SIGNATURE_INVALID, "signature does not verify"},
        {CHMR_SIGNATURE_LEN_RANGE, "signature length does not match the key"},
        {CHMR_BUFFER_TOO_SMALL, "buffer too small"},
        {CHMR_NOT_INITIALIZED, "library not initialized"},
        {CHMR_ALREADY_INITIALIZED, "library already initialized"},
        {CHMR_FILE_ERROR, "file cannot be read or written"},
        {CHMR_TOKEN_FILE_INVALID, "token file is not valid"},
        {CHMR_KEY_FILE_INVALID, "key file is not a usable PEM key"},
        {CHMR_TOKEN_NOT_SIGNED, "token is not signed"},
        {CHMR_DEVICE_ERROR, "HSM failed internally"},
        {CHMR_OPERATION_NOT_INITIALIZED, "operation was not begun"},
        {CHMR_PIN_INCORRECT, "wrong user name, role or password"},
        {CHMR_PIN_LOCKED, "user is locked"},
        {CHMR_SESSION_HANDLE_INVALID, "invalid session handle"},
        {CHMR_USER_ALREADY_LOGGED_IN, "already logged in"},
        {CHMR_USER_NOT_LOGGED_IN, "not logged in"},
        {CHMR_CONFIG_INVALID, "cluster configuration is not valid"},
        {CHMR_CLUSTER_ID_REQUIRED, "several clusters configured: a cluster id is required"},
        {CHMR_CLUSTER_UNKNOWN, "no cluster has that cluster id"},
        {CHMR_HSM_UNREACHABLE, "HSM unreachable"},
        {CHMR_PARTIAL_FAILURE, "operation failed on some HSMs of the cluster"},
        {CHMR_MFA_NOT_REGISTERED, "MFA is not registered for the user"},
        {CHMR_MFA_REQUIRED, "the user has MFA: an MFA login is required"},
        {CHMR_CHALLENGE_EXPIRED, "challenge expired"},
        {CHMR_TOKEN_NOT_ISSUED, "token was not issued by this cluster for this operation"},
        {CHMR_HSM_REFUSED, "HSM refused the operation"},
        {CHMR_USER_NOT_FOUND, "no such user"},
        {CHMR_USER_EXISTS, "user exists"},
        {CHMR_USER_LOGGED_IN, "user is logged in"},
        {CHMR_PERMISSION_DENIED, "permission denied"},
        {CHMR_CLUSTER_STATE, "cluster is not in the right state (activation)"},
        {CHMR_PROTOCOL_ERROR, "HSM protocol error"},
    };
    /* Values the library never returns. */
    static const CHM_RV unknown[] = {1, 3, 0x08, 0x151, 0x192, 0x7FFFFFFF, 0x80000000u,
                                     0x8000FFFFu, 0xFFFFFFFEu, 0xFFFFFFFFu};
    size_t i, j;
    int distinct = 1;

    section("CHM_GetReturnCodeText");
    CHECK_EQ(CHMR_OK, 0);
    CHECK_EQ(CHMR_ARGUMENTS_BAD, 0x07); /* PKCS#11 numbers where the meaning is the same */
    CHECK_EQ(CHMR_BUFFER_TOO_SMALL, 0x150);
    CHECK_EQ(CHMR_NOT_INITIALIZED, 0x190);
    CHECK_EQ(CHMR_ALREADY_INITIALIZED, 0x191);
    CHECK_EQ(CHMR_SIGNATURE_INVALID, 0xC0);
    CHECK_EQ(CHMR_PIN_INCORRECT, 0xA0);
    CHECK_EQ(CHMR_PIN_LOCKED, 0xA4);
    CHECK_EQ(CHMR_SESSION_HANDLE_INVALID, 0xB3);
    CHECK_EQ(CHMR_USER_ALREADY_LOGGED_IN, 0x100);
    CHECK_EQ(CHMR_USER_NOT_LOGGED_IN, 0x101);
    CHECK_EQ(CHMR_GENERAL_ERROR, 0x05);
    CHECK_EQ(CHMR_FILE_ERROR, 0x80000001u); /* vendor codes from 0x80000000 */
    for (i = 0; i < sizeof known / sizeof known[0]; i++) {
        const char *text = CHM_GetReturnCodeText(known[i].rv);
        CHECK_STR_EQ(text, known[i].text);
        CHECK(text == CHM_GetReturnCodeText(known[i].rv)); /* static text */
        for (j = 0; j < i; j++) {
            if (known[j].rv == known[i].rv) {
                distinct = 0;
            }
        }
    }
    CHECK(distinct); /* values are never reused */
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK_STR_EQ(CHM_GetReturnCodeText(unknown[i]), "unknown return code");
    }
}

/* A worker thread's view of CHM_GetLastError. */
typedef struct {
    size_t initial_len;
    CHM_RV initial_rv;
    char initial[64];
    CHM_RV failure_rv;
    char after_failure[256];
} thread_errors;

static void *thread_error_worker(void *arg) {
    thread_errors *t = arg;
    size_t len = 0;
    t->initial_rv = CHM_GetLastError(NULL, &len);
    t->initial_len = len;
    len = sizeof t->initial;
    memset(t->initial, CANARY, sizeof t->initial);
    CHM_GetLastError(t->initial, &len);
    t->failure_rv = CHM_KeyClose(0);
    len = sizeof t->after_failure;
    CHM_GetLastError(t->after_failure, &len);
    return NULL;
}

static void test_last_error(void) {
    char buf[512];
    char saved[512];
    size_t len, needed;
    pthread_t thread;
    thread_errors t;
    CHM_INFO info;
    CHM_KEY_HANDLE key = SENTINEL_HANDLE;
    const char *missing = tpath("missing-key.pem");

    section("CHM_GetLastError: two-call idiom, per thread, kept across successes");
    CHECK_ERR(CHM_PrivateKeyLoad(missing, &key), CHMR_FILE_ERROR, "cannot read ");
    CHECK_LAST_ERROR(missing);
    CHECK_LAST_ERROR("No such file or directory");
    strcpy(saved, last_error());

    len = 0;
    CHECK_RV(CHM_GetLastError(NULL, &len), CHMR_OK);
    CHECK_EQ(len, strlen(saved) + 1);
    needed = len;

    memset(buf, CANARY, sizeof buf);
    len = needed - 1;
    CHECK_RV(CHM_GetLastError(buf, &len), CHMR_BUFFER_TOO_SMALL);
    CHECK_EQ(len, needed);
    CHECK(all_canary(buf, sizeof buf));

    /* A failing CHM_GetLastError must not replace the message it was asked for:
     * a caller that tries a fixed-size buffer first then asks again. */
    memset(buf, 0, sizeof buf);
    len = sizeof buf;
    CHM_GetLastError(buf, &len);
    CHECK(strcmp(buf, saved) == 0);
    /* Set the message again for what follows. */
    CHECK_RV(CHM_PrivateKeyLoad(missing, &key), CHMR_FILE_ERROR);
    CHECK_RV(CHM_GetLastError(buf, NULL), CHMR_ARGUMENTS_BAD);
    CHECK(strcmp(last_error(), saved) == 0);
    CHECK_RV(CHM_PrivateKeyLoad(missing, &key), CHMR_FILE_ERROR);
    CHECK_EQ(key, SENTINEL_HANDLE);

    memset(buf, CANARY, sizeof buf);
    len = needed;
    CHECK_RV(CHM_GetLastError(buf, &len), CHMR_OK);
    CHECK_EQ(len, needed);
    CHECK_STR_EQ(buf, saved);
    CHECK(all_canary(buf + needed, sizeof buf - needed));

    len = sizeof buf;
    CHECK_RV(CHM_GetLastError(buf, &len), CHMR_OK);
    CHECK_EQ(len, needed);

    /* A success does not clear the message of the last failure. */
    CHECK_RV(CHM_GetInfo(&info), CHMR_OK);
    CHECK_STR_EQ(last_error(), saved);

    /* The message belongs to the thread that failed. */
    memset(&t, 0, sizeof t);
    CHECK(pthread_create(&thread, NULL, thread_error_worker, &t) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK_RV(t.initial_rv, CHMR_OK);
    CHECK_EQ(t.initial_len, 1);
    CHECK_STR_EQ(t.initial, "");
    CHECK_RV(t.failure_rv, CHMR_KEY_HANDLE_INVALID);
    CHECK_STR_EQ(t.after_failure, "0 is not an open private or public key handle");
    CHECK_STR_EQ(last_error(), saved);
}

static void test_handles(void) {
    enum { N = 40 };
    uint64_t seen[3 * N + 8];
    size_t n_seen = 0;
    size_t i, j;
    int distinct = 1, nonzero = 1, fresh = 1;
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE, pub = SENTINEL_HANDLE, k2 = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE, f2 = SENTINEL_HANDLE;
    uint32_t bits = 0, kind = 0;
    uint8_t tokens[CHM_TOKEN_LEN];
    unsigned char *pem;
    size_t pem_len = 0;

    section("handles: never 0, never reused, invalid after close");
    CHECK_RV(CHM_GenerateKeyPair(2048, tpath("h.pem"), tpath("h.pub")), CHMR_OK);
    pem = read_file(tpath("h.pem"), &pem_len);
    if (!CHECK(pem != NULL)) {
        return;
    }
    random_bytes(tokens, sizeof tokens);
    for (i = 0; i < N; i++) {
        CHM_KEY_HANDLE k = SENTINEL_HANDLE, p = SENTINEL_HANDLE;
        CHM_TOKEN_FILE_HANDLE f = SENTINEL_HANDLE;
        CHM_RV rv1 = CHM_PrivateKeyFromPem(pem, pem_len, &k);
        CHM_RV rv2 = CHM_PublicKeyFromPrivate(k, &p);
        CHM_RV rv3 = CHM_TokenFileCreateMfa(tokens, 1, &f);
        if (rv1 != CHMR_OK || rv2 != CHMR_OK || rv3 != CHMR_OK) {
            CHECK_RV(rv1, CHMR_OK);
            CHECK_RV(rv2, CHMR_OK);
            CHECK_RV(rv3, CHMR_OK);
            break;
        }
        seen[n_seen++] = k;
        seen[n_seen++] = p;
        seen[n_seen++] = f;
        /* Close them at once: the next ones must still be new values. */
        CHM_KeyClose(p);
        CHM_KeyClose(k);
        CHM_TokenFileClose(f);
    }
    CHECK_EQ(n_seen, 3 * N);
    for (i = 0; i < n_seen; i++) {
        if (seen[i] == CHM_INVALID_HANDLE) {
            nonzero = 0;
        }
        for (j = 0; j < i; j++) {
            if (seen[i] == seen[j]) {
                distinct = 0;
            }
        }
    }
    CHECK(nonzero);
    CHECK(distinct);
    /* Closed handles are invalid. */
    CHECK_ERR(CHM_KeyGetBits(seen[0], &bits), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_ERR(CHM_KeyClose(seen[0]), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_ERR(CHM_TokenFileGetKind(seen[2], &kind), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_ERR(CHM_TokenFileClose(seen[2]), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_ERR(CHM_KeyGetBits(CHM_INVALID_HANDLE, &bits), CHMR_KEY_HANDLE_INVALID,
              "0 is not an open");
    CHECK_ERR(CHM_TokenFileGetKind(CHM_INVALID_HANDLE, &kind), CHMR_OBJECT_HANDLE_INVALID,
              "0 is not an open token file handle");
    CHECK_ERR(CHM_KeyGetBits(UINT64_MAX, &bits), CHMR_KEY_HANDLE_INVALID, "is not an open");

    section("CHM_Finalize invalidates handles; values are not reused after a new init");
    CHECK_RV(CHM_PrivateKeyFromPem(pem, pem_len, &priv), CHMR_OK);
    CHECK_RV(CHM_PublicKeyFromPrivate(priv, &pub), CHMR_OK);
    CHECK_RV(CHM_TokenFileCreateMfa(tokens, 1, &file), CHMR_OK);
    seen[n_seen++] = priv;
    seen[n_seen++] = pub;
    seen[n_seen++] = file;
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    CHECK_ERR(CHM_KeyGetBits(priv, &bits), CHMR_NOT_INITIALIZED, NOT_INIT_TEXT);
    CHECK_RV(CHM_Initialize(NULL), CHMR_OK);
    bits = 7;
    CHECK_ERR(CHM_KeyGetBits(priv, &bits), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_EQ(bits, 7);
    CHECK_ERR(CHM_KeyGetBits(pub, &bits), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_ERR(CHM_KeyClose(pub), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_ERR(CHM_TokenFileGetKind(file, &kind), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_ERR(CHM_TokenFileClose(file), CHMR_OBJECT_HANDLE_INVALID, "is not an open");
    CHECK_RV(CHM_PrivateKeyFromPem(pem, pem_len, &k2), CHMR_OK);
    CHECK_RV(CHM_TokenFileCreateMfa(tokens, 1, &f2), CHMR_OK);
    for (i = 0; i < n_seen; i++) {
        if (seen[i] == k2 || seen[i] == f2) {
            fresh = 0;
        }
    }
    CHECK(fresh);
    CHECK(k2 != f2);
    CHECK_RV(CHM_KeyGetBits(k2, &bits), CHMR_OK);
    CHECK_EQ(bits, 2048);
    CHECK_RV(CHM_TokenFileGetKind(f2, &kind), CHMR_OK);
    CHECK_EQ(kind, CHM_TOKEN_FILE_MFA);
    /* The old handles stay invalid although new objects exist. */
    CHECK_RV(CHM_KeyGetBits(priv, &bits), CHMR_KEY_HANDLE_INVALID);
    CHECK_RV(CHM_KeyClose(k2), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(f2), CHMR_OK);
    free(pem);
}

int main(void) {
    check_begin("test_general");
    test_every_call_before_initialize();
    test_exempt_calls_before_initialize();
    test_initialize_and_finalize();
    test_get_info();
    test_function_list();
    test_return_code_text();
    test_last_error();
    test_handles();
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
