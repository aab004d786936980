/*
 * Pointer arguments: every pointer parameter given NULL answers
 * CHMR_ARGUMENTS_BAD, names the parameter and writes nothing (no output, no
 * file, no change to the object); strings that are not UTF-8 are refused the
 * same way; and the two-call idiom of CHM_TokenFileGetSignature.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cloudhsm_mfa.h"

static uint8_t token[CHM_TOKEN_LEN];
static CHM_KEY_HANDLE priv, pub;
static CHM_TOKEN_FILE_HANDLE mfa, approval;
static uint8_t signature[256];
static const char *key_pem, *key_pub, *mfa_path;
static char *mfa_json;

static char *json_of(CHM_TOKEN_FILE_HANDLE file) {
    size_t len = 0;
    char *text;
    if (CHM_TokenFileToJson(file, NULL, &len) != CHMR_OK || (text = malloc(len)) == NULL) {
        return NULL;
    }
    if (CHM_TokenFileToJson(file, text, &len) != CHMR_OK) {
        free(text);
        return NULL;
    }
    return text;
}

/* The object behind `file` is unchanged since `before` was taken. */
static int unchanged(CHM_TOKEN_FILE_HANDLE file, const char *before) {
    char *now = json_of(file);
    int same = now != NULL && before != NULL && strcmp(now, before) == 0;
    free(now);
    return same;
}

static void test_general_functions(void) {
    char buf[64];
    section("NULL pointers: CHM_GetInfo, CHM_GetFunctionList, CHM_GetLastError");
    CHECK_ERR(CHM_GetInfo(NULL), CHMR_ARGUMENTS_BAD, "info is NULL");
    CHECK_ERR(CHM_GetFunctionList(NULL), CHMR_ARGUMENTS_BAD, "list is NULL");
    memset(buf, CANARY, sizeof buf);
    CHECK_RV(CHM_GetLastError(buf, NULL), CHMR_ARGUMENTS_BAD);
    CHECK(all_canary(buf, sizeof buf));
    /* A failing CHM_GetLastError keeps the message it was asked for. */
    CHECK_LAST_ERROR("list is NULL");
    /* NULL arguments to CHM_Initialize are the defaults, not errors. */
    {
        CHM_INITIALIZE_ARGS args;
        args.config_path = NULL;
        args.flags = 0;
        CHECK_RV(CHM_Initialize(&args), CHMR_ALREADY_INITIALIZED);
        CHECK_RV(CHM_Initialize(NULL), CHMR_ALREADY_INITIALIZED);
    }
}

static void test_key_functions(void) {
    CHM_KEY_HANDLE h = SENTINEL_HANDLE;
    uint8_t sig[300];
    size_t len;
    unsigned char *pem;
    size_t pem_len = 0;

    section("NULL pointers: key functions");
    pem = read_file(key_pem, &pem_len);
    if (!CHECK(pem != NULL)) {
        return;
    }
    CHECK_ERR(CHM_PrivateKeyLoad(NULL, &h), CHMR_ARGUMENTS_BAD, "path is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PrivateKeyLoad(key_pem, NULL), CHMR_ARGUMENTS_BAD, "key is NULL");
    CHECK_ERR(CHM_PrivateKeyFromPem(NULL, pem_len, &h), CHMR_ARGUMENTS_BAD, "pem is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PrivateKeyFromPem(pem, pem_len, NULL), CHMR_ARGUMENTS_BAD, "key is NULL");
    /* NULL with length 0 is an empty key text, not a NULL pointer. */
    CHECK_ERR(CHM_PrivateKeyFromPem(NULL, 0, &h), CHMR_KEY_FILE_INVALID,
              "no \"-----BEGIN\" line found");
    CHECK_EQ(h, SENTINEL_HANDLE);
    free(pem);

    pem = read_file(key_pub, &pem_len);
    if (!CHECK(pem != NULL)) {
        return;
    }
    CHECK_ERR(CHM_PublicKeyLoad(NULL, &h), CHMR_ARGUMENTS_BAD, "path is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PublicKeyLoad(key_pub, NULL), CHMR_ARGUMENTS_BAD, "key is NULL");
    CHECK_ERR(CHM_PublicKeyFromPem(NULL, pem_len, &h), CHMR_ARGUMENTS_BAD, "pem is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PublicKeyFromPem(pem, pem_len, NULL), CHMR_ARGUMENTS_BAD, "key is NULL");
    free(pem);

    CHECK_ERR(CHM_PublicKeyFromPrivate(priv, NULL), CHMR_ARGUMENTS_BAD, "public_key is NULL");
    CHECK_ERR(CHM_KeyGetBits(priv, NULL), CHMR_ARGUMENTS_BAD, "bits is NULL");
    CHECK_ERR(CHM_KeyGetBits(pub, NULL), CHMR_ARGUMENTS_BAD, "bits is NULL");
    {
        char text[64];
        memset(text, CANARY, sizeof text);
        CHECK_ERR(CHM_PublicKeyToPem(pub, text, NULL), CHMR_ARGUMENTS_BAD, "len is NULL");
        CHECK_ERR(CHM_PublicKeyToPem(priv, NULL, NULL), CHMR_ARGUMENTS_BAD, "len is NULL");
        CHECK(all_canary(text, sizeof text));
    }

    CHECK_ERR(CHM_GenerateKeyPair(2048, NULL, tpath("gen-null.pub")), CHMR_ARGUMENTS_BAD,
              "private_path is NULL");
    CHECK_ERR(CHM_GenerateKeyPair(2048, tpath("gen-null.pem"), NULL), CHMR_ARGUMENTS_BAD,
              "public_path is NULL");
    CHECK(!file_exists(tpath("gen-null.pem")) && !file_exists(tpath("gen-null.pub")));

    memset(sig, CANARY, sizeof sig);
    len = sizeof sig;
    CHECK_ERR(CHM_SignToken(priv, NULL, CHM_TOKEN_LEN, sig, &len), CHMR_ARGUMENTS_BAD,
              "token is NULL");
    CHECK_EQ(len, sizeof sig);
    CHECK_ERR(CHM_SignToken(priv, token, CHM_TOKEN_LEN, sig, NULL), CHMR_ARGUMENTS_BAD,
              "sig_len is NULL");
    CHECK_ERR(CHM_SignToken(priv, token, CHM_TOKEN_LEN, NULL, NULL), CHMR_ARGUMENTS_BAD,
              "sig_len is NULL");
    CHECK(all_canary(sig, sizeof sig));

    CHECK_ERR(CHM_VerifyToken(pub, NULL, CHM_TOKEN_LEN, signature, 256), CHMR_ARGUMENTS_BAD,
              "token is NULL");
    CHECK_ERR(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, NULL, 256), CHMR_ARGUMENTS_BAD,
              "sig is NULL");
}

static void test_token_file_functions(void) {
    CHM_TOKEN_FILE_HANDLE h = SENTINEL_HANDLE;
    uint8_t buf[300];
    char text[64];
    size_t len, count = 77;
    uint32_t u32 = 0xA5A5A5A5u;
    file_snapshot snap;
    char *approval_json;

    section("NULL pointers: creating and loading token files");
    CHECK_ERR(CHM_TokenFileLoad(NULL, &h), CHMR_ARGUMENTS_BAD, "path is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileLoad(mfa_path, NULL), CHMR_ARGUMENTS_BAD, "file is NULL");
    CHECK_ERR(CHM_TokenFileParse(NULL, strlen(mfa_json), &h), CHMR_ARGUMENTS_BAD,
              "data is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileParse((const uint8_t *)mfa_json, strlen(mfa_json), NULL),
              CHMR_ARGUMENTS_BAD, "file is NULL");
    CHECK_ERR(CHM_TokenFileCreateMfa(NULL, 1, &h), CHMR_ARGUMENTS_BAD, "tokens is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateMfa(token, 1, NULL), CHMR_ARGUMENTS_BAD, "file is NULL");
    CHECK_ERR(CHM_TokenFileCreateRegistration(NULL, 10, &h), CHMR_ARGUMENTS_BAD,
              "data is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateRegistration(token, 10, NULL), CHMR_ARGUMENTS_BAD,
              "file is NULL");
    CHECK_ERR(CHM_TokenFileCreateApproval(NULL, 10, &h), CHMR_ARGUMENTS_BAD, "data is NULL");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateApproval(token, 10, NULL), CHMR_ARGUMENTS_BAD, "file is NULL");

    section("NULL pointers: token file getters");
    CHECK_ERR(CHM_TokenFileGetKind(mfa, NULL), CHMR_ARGUMENTS_BAD, "kind is NULL");
    CHECK_ERR(CHM_TokenFileGetEntryCount(mfa, NULL), CHMR_ARGUMENTS_BAD, "count is NULL");
    CHECK_ERR(CHM_TokenFileGetToken(mfa, 0, NULL), CHMR_ARGUMENTS_BAD, "token is NULL");
    CHECK_ERR(CHM_TokenFileGetApprovalToken(approval, NULL), CHMR_ARGUMENTS_BAD,
              "token is NULL");
    memset(buf, CANARY, sizeof buf);
    CHECK_ERR(CHM_TokenFileGetSignature(mfa, 0, buf, NULL), CHMR_ARGUMENTS_BAD, "len is NULL");
    CHECK_ERR(CHM_TokenFileGetApprovalData(approval, 0, buf, NULL), CHMR_ARGUMENTS_BAD,
              "len is NULL");
    CHECK(all_canary(buf, sizeof buf));
    memset(text, CANARY, sizeof text);
    CHECK_ERR(CHM_TokenFileGetApprover(approval, 0, text, NULL), CHMR_ARGUMENTS_BAD,
              "len is NULL");
    CHECK_ERR(CHM_TokenFileToJson(mfa, text, NULL), CHMR_ARGUMENTS_BAD, "len is NULL");
    CHECK(all_canary(text, sizeof text));
    CHECK_ERR(CHM_TokenFileCheckEntry(mfa, pub, 0, NULL), CHMR_ARGUMENTS_BAD,
              "status is NULL");
    /* The getters still work on the same objects. */
    CHECK_RV(CHM_TokenFileGetKind(mfa, &u32), CHMR_OK);
    CHECK_EQ(u32, CHM_TOKEN_FILE_MFA);
    CHECK_RV(CHM_TokenFileGetEntryCount(approval, &count), CHMR_OK);
    CHECK_EQ(count, 1);

    section("NULL pointers: changing token files changes nothing");
    approval_json = json_of(approval);
    CHECK_ERR(CHM_TokenFileSetSignature(mfa, 0, NULL, 256), CHMR_ARGUMENTS_BAD, "sig is NULL");
    CHECK_ERR(CHM_TokenFileAddApproval(approval, NULL, signature, 256), CHMR_ARGUMENTS_BAD,
              "approver is NULL");
    CHECK_ERR(CHM_TokenFileAddApproval(approval, "bob", NULL, 256), CHMR_ARGUMENTS_BAD,
              "sig is NULL");
    /* A NULL approver is how MFA files are signed; an approval file needs one. */
    CHECK_ERR(CHM_TokenFileSign(approval, priv, NULL), CHMR_ARGUMENTS_BAD,
              "signing a quorum approval file needs the approver's user name");
    CHECK_ERR(CHM_TokenFileVerify(approval, pub, NULL), CHMR_ARGUMENTS_BAD,
              "verifying a quorum approval file needs the approver's user name");
    CHECK(unchanged(mfa, mfa_json));
    CHECK(unchanged(approval, approval_json));
    free(approval_json);

    section("NULL pointers: writing and CHM_SignTokenFile write nothing");
    CHECK_ERR(CHM_TokenFileWrite(mfa, NULL), CHMR_ARGUMENTS_BAD, "path is NULL");
    snapshot_take(&snap, mfa_path);
    CHECK_ERR(CHM_SignTokenFile(NULL, key_pem, tpath("out.json"), NULL), CHMR_ARGUMENTS_BAD,
              "token_path is NULL");
    CHECK_ERR(CHM_SignTokenFile(mfa_path, NULL, tpath("out.json"), NULL), CHMR_ARGUMENTS_BAD,
              "key_path is NULL");
    CHECK_ERR(CHM_SignTokenFile(mfa_path, NULL, NULL, NULL), CHMR_ARGUMENTS_BAD,
              "key_path is NULL");
    CHECK(!file_exists(tpath("out.json")));
    CHECK(snapshot_unchanged(&snap, mfa_path));
    snapshot_free(&snap);
    len = 0;
    CHECK_RV(CHM_TokenFileGetEntryCount(mfa, &len), CHMR_OK);
    CHECK_EQ(len, 2);
}

static void test_strings_not_utf8(void) {
    static const char bad[] = {'b', 'o', (char)0xC3, 'b', 0};
    static const char bad_path[] = {'/', 't', 'm', 'p', '/', (char)0xFF, '.', 'p', 'e', 'm', 0};
    CHM_KEY_HANDLE h = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE f = SENTINEL_HANDLE;
    char *before = json_of(approval);

    section("strings that are not UTF-8 are refused");
    CHECK_ERR(CHM_PrivateKeyLoad(bad_path, &h), CHMR_ARGUMENTS_BAD, "path is not valid UTF-8");
    CHECK_ERR(CHM_PublicKeyLoad(bad_path, &h), CHMR_ARGUMENTS_BAD, "path is not valid UTF-8");
    CHECK_ERR(CHM_TokenFileLoad(bad_path, &f), CHMR_ARGUMENTS_BAD, "path is not valid UTF-8");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_EQ(f, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileWrite(mfa, bad_path), CHMR_ARGUMENTS_BAD,
              "path is not valid UTF-8");
    CHECK_ERR(CHM_TokenFileSign(approval, priv, bad), CHMR_ARGUMENTS_BAD,
              "approver is not valid UTF-8");
    CHECK_ERR(CHM_TokenFileAddApproval(approval, bad, signature, 256), CHMR_ARGUMENTS_BAD,
              "approver is not valid UTF-8");
    CHECK_ERR(CHM_TokenFileVerify(approval, pub, bad), CHMR_ARGUMENTS_BAD,
              "approver is not valid UTF-8");
    CHECK_ERR(CHM_GenerateKeyPair(2048, bad_path, tpath("x.pub")), CHMR_ARGUMENTS_BAD,
              "private_path is not valid UTF-8");
    CHECK_ERR(CHM_SignTokenFile(mfa_path, key_pem, bad_path, NULL), CHMR_ARGUMENTS_BAD,
              "output_path is not valid UTF-8");
    CHECK_ERR(CHM_SignTokenFile(mfa_path, key_pem, NULL, bad), CHMR_ARGUMENTS_BAD,
              "approver is not valid UTF-8");
    CHECK(!file_exists(tpath("x.pub")));
    CHECK(unchanged(approval, before));
    free(before);
}

static void test_get_signature_two_call(void) {
    uint8_t buf[CHM_MAX_SIGNATURE_LEN + 8];
    size_t len;

    section("CHM_TokenFileGetSignature: two-call idiom");
    len = 0;
    CHECK_RV(CHM_TokenFileGetSignature(approval, 0, NULL, &len), CHMR_OK);
    CHECK_EQ(len, 256);
    memset(buf, CANARY, sizeof buf);
    len = 255;
    CHECK_ERR(CHM_TokenFileGetSignature(approval, 0, buf, &len), CHMR_BUFFER_TOO_SMALL,
              "signature needs 256 bytes; the buffer has 255");
    CHECK_EQ(len, 256);
    CHECK(all_canary(buf, sizeof buf));
    len = 256;
    CHECK_RV(CHM_TokenFileGetSignature(approval, 0, buf, &len), CHMR_OK);
    CHECK_EQ(len, 256);
    CHECK_MEM_EQ(buf, signature, 256);
    CHECK(all_canary(buf + 256, sizeof buf - 256));
    /* An unsigned entry: *len 0 and nothing written, whatever the buffer. */
    memset(buf, CANARY, sizeof buf);
    len = sizeof buf;
    CHECK_RV(CHM_TokenFileGetSignature(mfa, 1, buf, &len), CHMR_OK);
    CHECK_EQ(len, 0);
    CHECK(all_canary(buf, sizeof buf));
    len = 5;
    CHECK_RV(CHM_TokenFileGetSignature(mfa, 1, NULL, &len), CHMR_OK);
    CHECK_EQ(len, 0);
}

int main(void) {
    uint8_t tokens[2 * CHM_TOKEN_LEN];
    uint8_t data[80];
    size_t len = sizeof signature;

    check_begin("test_arguments");
    random_bytes(token, sizeof token);
    random_bytes(tokens, sizeof tokens);
    random_bytes(data, sizeof data);
    key_pem = tpath("key.pem");
    key_pub = tpath("key.pub");
    mfa_path = tpath("mfa.json");
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK) ||
        !CHECK_RV(CHM_GenerateKeyPair(2048, key_pem, key_pub), CHMR_OK) ||
        !CHECK_RV(CHM_PrivateKeyLoad(key_pem, &priv), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyLoad(key_pub, &pub), CHMR_OK) ||
        !CHECK_RV(CHM_SignToken(priv, token, CHM_TOKEN_LEN, signature, &len), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileCreateMfa(tokens, 2, &mfa), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileWrite(mfa, mfa_path), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileCreateApproval(data, sizeof data, &approval), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileSign(approval, priv, "alice"), CHMR_OK) ||
        !CHECK((mfa_json = json_of(mfa)) != NULL)) {
        return check_end();
    }
    /* The approval's signature is over the file's token, not `token`: take it. */
    len = sizeof signature;
    CHECK_RV(CHM_TokenFileGetSignature(approval, 0, signature, &len), CHMR_OK);

    test_general_functions();
    test_key_functions();
    test_token_file_functions();
    test_strings_not_utf8();
    test_get_signature_two_call();

    free(mfa_json);
    CHECK_RV(CHM_TokenFileClose(mfa), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(approval), CHMR_OK);
    CHECK_RV(CHM_KeyClose(priv), CHMR_OK);
    CHECK_RV(CHM_KeyClose(pub), CHMR_OK);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
