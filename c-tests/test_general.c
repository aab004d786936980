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
/* CHM_GetReturnCodeText's documented text for a value that is no code. */
#define UNKNOWN_CODE_TEXT "unknown return code"

/* A compile-time check in C99 (which has no _Static_assert): a negative array size. */
#define STATIC_ASSERT(cond, name) typedef char static_assert_##name[(cond) ? 1 : -1]

/* The layouts of the public structures (the Rust side asserts the same). */
STATIC_ASSERT(sizeof(CHM_VERSION) == 12, version_size);
STATIC_ASSERT(sizeof(CHM_INFO) == 80, info_size);
STATIC_ASSERT(offsetof(CHM_INFO, function_list_version) == 12, info_function_list_version);
STATIC_ASSERT(offsetof(CHM_INFO, description) == 16, info_description);
STATIC_ASSERT(offsetof(CHM_INITIALIZE_ARGS, config_path) == 0, initialize_args_config_path);
STATIC_ASSERT(sizeof(CHM_INITIALIZE_ARGS) ==
                  offsetof(CHM_INITIALIZE_ARGS, flags) + sizeof(uint64_t),
              initialize_args_size);
/* The function list: `version`, then the 54 functions of version 3, last of them
 * CHM_ActivateCluster, the 11 more of version 4, last of them CHM_GetLastErrorApprovals,
 * the 9 more of version 5, last of them CHM_LoginSignWith, and CHM_PrivateKeyOpen of
 * version 6; new functions only ever come after it. */
#define FUNCTION_SIZE sizeof(((CHM_FUNCTION_LIST *)0)->CHM_Initialize)
STATIC_ASSERT(offsetof(CHM_FUNCTION_LIST, CHM_Initialize) == sizeof(void *), list_first);
STATIC_ASSERT(offsetof(CHM_FUNCTION_LIST, CHM_ActivateCluster) ==
                  offsetof(CHM_FUNCTION_LIST, CHM_Initialize) + 53 * FUNCTION_SIZE,
              list_v3_last);
STATIC_ASSERT(offsetof(CHM_FUNCTION_LIST, CHM_GetLastErrorApprovals) ==
                  offsetof(CHM_FUNCTION_LIST, CHM_Initialize) + 64 * FUNCTION_SIZE,
              list_v4_last);
STATIC_ASSERT(offsetof(CHM_FUNCTION_LIST, CHM_LoginSignWith) ==
                  offsetof(CHM_FUNCTION_LIST, CHM_Initialize) + 73 * FUNCTION_SIZE,
              list_v5_last);
STATIC_ASSERT(offsetof(CHM_FUNCTION_LIST, CHM_PrivateKeyOpen) ==
                  offsetof(CHM_FUNCTION_LIST, CHM_Initialize) + 74 * FUNCTION_SIZE,
              list_v6_last);
STATIC_ASSERT(sizeof(CHM_FUNCTION_LIST) ==
                  offsetof(CHM_FUNCTION_LIST, CHM_Initialize) + 75 * FUNCTION_SIZE,
              list_v6_size);
STATIC_ASSERT(CHM_FUNCTION_LIST_VERSION == 6, list_version);
/* The MFA structures: plain uint32_t fields, and a 64-byte destination. */
STATIC_ASSERT(sizeof(CHM_MFA_SETTINGS) == 8 * sizeof(uint32_t), mfa_settings_size);
STATIC_ASSERT(sizeof(CHM_LOGIN_STEP) == 3 * sizeof(uint32_t) + 64, login_step_size);
/* PKCS#11 numbers where the meaning is the same; vendor codes from 0x80000000. */
STATIC_ASSERT(CHMR_OK == 0, ok);
STATIC_ASSERT(CHMR_GENERAL_ERROR == 0x05, general_error);
STATIC_ASSERT(CHMR_ARGUMENTS_BAD == 0x07, arguments_bad);
STATIC_ASSERT(CHMR_PIN_INCORRECT == 0xA0, pin_incorrect);
STATIC_ASSERT(CHMR_PIN_LOCKED == 0xA4, pin_locked);
STATIC_ASSERT(CHMR_SESSION_HANDLE_INVALID == 0xB3, session_handle_invalid);
STATIC_ASSERT(CHMR_SIGNATURE_INVALID == 0xC0, signature_invalid);
STATIC_ASSERT(CHMR_USER_ALREADY_LOGGED_IN == 0x100, user_already_logged_in);
STATIC_ASSERT(CHMR_USER_NOT_LOGGED_IN == 0x101, user_not_logged_in);
STATIC_ASSERT(CHMR_BUFFER_TOO_SMALL == 0x150, buffer_too_small);
STATIC_ASSERT(CHMR_NOT_INITIALIZED == 0x190, not_initialized);
STATIC_ASSERT(CHMR_ALREADY_INITIALIZED == 0x191, already_initialized);
STATIC_ASSERT(CHMR_FILE_ERROR == 0x80000001u, file_error);

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
    CHECK(CHM_GetReturnCodeText(CHMR_NOT_INITIALIZED) != NULL);
    CHECK(strcmp(CHM_GetReturnCodeText(CHMR_NOT_INITIALIZED), UNKNOWN_CODE_TEXT) != 0);
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
    CHECK(list->CHM_GetReturnCodeText(CHMR_OK) == CHM_GetReturnCodeText(CHMR_OK));
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

/* Whether a text is one line of printable ASCII. */
static int printable_line(const char *text) {
    for (; *text != '\0'; text++) {
        if (*text < 0x20 || *text > 0x7E) {
            return 0;
        }
    }
    return 1;
}

/* The properties of the static texts, not a copy of them (the table of codes and texts is
 * src/ffi/return_codes.rs): every code of the two ranges where codes live has a static,
 * non-empty text of its own; every other value the documented fallback. */
static void test_return_code_text(void) {
    enum { RANGE = 0x200, MAX_KNOWN = 2 * RANGE };
    static const CHM_RV bases[] = {0, 0x80000000u};
    /* Codes the other tests use: they must be among those found. */
    static const CHM_RV used[] = {
        CHMR_OK, CHMR_GENERAL_ERROR, CHMR_ARGUMENTS_BAD, CHMR_KEY_HANDLE_INVALID,
        CHMR_OBJECT_HANDLE_INVALID, CHMR_SIGNATURE_INVALID, CHMR_BUFFER_TOO_SMALL,
        CHMR_NOT_INITIALIZED, CHMR_ALREADY_INITIALIZED, CHMR_FILE_ERROR,
        CHMR_TOKEN_NOT_SIGNED, CHMR_PROTOCOL_ERROR};
    /* Values far from every code. */
    static const CHM_RV far[] = {0x7FFFFFFF, 0x8000FFFFu, 0xFFFFFFFEu, 0xFFFFFFFFu};
    static CHM_RV known[MAX_KNOWN];
    static const char *texts[MAX_KNOWN];
    size_t n_known = 0, i, j, b;
    int static_texts = 1, good_texts = 1, distinct = 1, unknown_ok = 1;

    section("CHM_GetReturnCodeText: a static text of its own per code, else the fallback");
    for (b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        CHM_RV rv;
        for (rv = bases[b]; rv < bases[b] + RANGE; rv++) {
            const char *text = CHM_GetReturnCodeText(rv);
            if (text == NULL) {
                good_texts = 0;
                continue;
            }
            if (text != CHM_GetReturnCodeText(rv)) {
                static_texts = 0;
            }
            if (strcmp(text, UNKNOWN_CODE_TEXT) == 0) {
                continue;
            }
            if (text[0] == '\0' || !printable_line(text)) {
                good_texts = 0;
            }
            known[n_known] = rv;
            texts[n_known] = text;
            n_known++;
        }
    }
    CHECK(n_known >= 40); /* the scan found the codes */
    CHECK(static_texts);
    CHECK(good_texts);
    for (i = 0; i < n_known; i++) {
        for (j = 0; j < i; j++) {
            if (strcmp(texts[i], texts[j]) == 0) {
                distinct = 0;
            }
        }
    }
    CHECK(distinct);
    for (i = 0; i < sizeof used / sizeof used[0]; i++) {
        int found = 0;
        for (j = 0; j < n_known; j++) {
            if (known[j] == used[i]) {
                found = 1;
            }
        }
        if (!CHECK(found)) {
            fprintf(stderr, "  code 0x%08lX has no text\n", (unsigned long)used[i]);
        }
    }
    for (i = 0; i < sizeof far / sizeof far[0]; i++) {
        const char *text = CHM_GetReturnCodeText(far[i]);
        if (text == NULL || strcmp(text, UNKNOWN_CODE_TEXT) != 0) {
            unknown_ok = 0;
        }
    }
    CHECK(unknown_ok);
    CHECK_STR_EQ(CHM_GetReturnCodeText(0x12345678u), UNKNOWN_CODE_TEXT);
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
