/*
 * Token files through handles: the three shapes (MFA, registration, quorum
 * approval), their getters, signing and verifying, writing and reading back,
 * CHM_SignTokenFile, and the two-call idiom of the variable-length getters.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define N_TOKENS 3

static uint8_t tokens[N_TOKENS * CHM_TOKEN_LEN];
static CHM_KEY_HANDLE priv_a, pub_a, priv_b, pub_b;

/* The JSON text of a token file (malloc'ed), or NULL. */
static char *to_json(CHM_TOKEN_FILE_HANDLE file) {
    size_t len = 0;
    char *text;
    if (!CHECK_RV(CHM_TokenFileToJson(file, NULL, &len), CHMR_OK)) {
        return NULL;
    }
    text = malloc(len);
    if (text == NULL || !CHECK_RV(CHM_TokenFileToJson(file, text, &len), CHMR_OK)) {
        free(text);
        return NULL;
    }
    return text;
}

/* The JSON text of the file is still `before`. */
static int json_is(CHM_TOKEN_FILE_HANDLE file, const char *before) {
    char *now = to_json(file);
    int same = now != NULL && before != NULL && strcmp(now, before) == 0;
    free(now);
    return same;
}

static void test_mfa_file(void) {
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE, out = SENTINEL_HANDLE;
    uint8_t dup[2 * CHM_TOKEN_LEN];
    uint8_t tok[CHM_TOKEN_LEN + 8];
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    uint8_t expected[CHM_MAX_SIGNATURE_LEN];
    uint8_t bad[CHM_MAX_SIGNATURE_LEN];
    uint32_t kind = 0, status = 99;
    size_t count = 0, len, i;
    char *before;
    char *json;

    section("an MFA token file created in memory");
    CHECK_RV(CHM_TokenFileCreateMfa(tokens, N_TOKENS, &file), CHMR_OK);
    CHECK(file != SENTINEL_HANDLE && file != CHM_INVALID_HANDLE);
    CHECK_RV(CHM_TokenFileGetKind(file, &kind), CHMR_OK);
    CHECK_EQ(kind, CHM_TOKEN_FILE_MFA);
    CHECK_RV(CHM_TokenFileGetEntryCount(file, &count), CHMR_OK);
    CHECK_EQ(count, N_TOKENS);
    for (i = 0; i < N_TOKENS; i++) {
        memset(tok, CANARY, sizeof tok);
        CHECK_RV(CHM_TokenFileGetToken(file, i, tok), CHMR_OK);
        CHECK_MEM_EQ(tok, tokens + i * CHM_TOKEN_LEN, CHM_TOKEN_LEN);
        CHECK(all_canary(tok + CHM_TOKEN_LEN, 8)); /* exactly CHM_TOKEN_LEN bytes written */
        len = 99;
        CHECK_RV(CHM_TokenFileGetSignature(file, i, sig, &len), CHMR_OK);
        CHECK_EQ(len, 0); /* not signed yet */
        CHECK_RV(CHM_TokenFileCheckEntry(file, pub_a, i, &status), CHMR_OK);
        CHECK_EQ(status, CHM_ENTRY_UNSIGNED);
    }
    memset(tok, CANARY, sizeof tok);
    CHECK_ERR(CHM_TokenFileGetToken(file, N_TOKENS, tok), CHMR_ARGUMENTS_BAD,
              "token index 3 is out of range; the file has 3");
    CHECK(all_canary(tok, sizeof tok));
    CHECK_ERR(CHM_TokenFileGetToken(file, (size_t)-1, tok), CHMR_ARGUMENTS_BAD,
              "is out of range");
    CHECK_ERR(CHM_TokenFileGetApprovalToken(file, tok), CHMR_ARGUMENTS_BAD,
              "not a quorum approval file; use CHM_TokenFileGetToken");
    CHECK(all_canary(tok, sizeof tok));
    len = sizeof sig;
    CHECK_ERR(CHM_TokenFileGetSignature(file, 3, sig, &len), CHMR_ARGUMENTS_BAD,
              "token index 3 is out of range");
    CHECK_ERR(CHM_TokenFileGetApprovalData(file, 0, sig, &len), CHMR_ARGUMENTS_BAD,
              "an MFA token file has no approval data");
    CHECK_ERR(CHM_TokenFileGetApprover(file, 0, (char *)sig, &len), CHMR_ARGUMENTS_BAD,
              "not a quorum approval file");
    CHECK_EQ(len, sizeof sig);
    status = 99;
    CHECK_ERR(CHM_TokenFileCheckEntry(file, pub_a, N_TOKENS, &status), CHMR_ARGUMENTS_BAD,
              "entry index 3 is out of range; the file has 3");
    CHECK_EQ(status, 99);

    json = to_json(file);
    CHECK_CONTAINS(json, "\"version\": \"2.0\"");
    CHECK_CONTAINS(json, "\"signed\": \"\"");
    CHECK_CONTAINS(json, b64(tokens + 2 * CHM_TOKEN_LEN, CHM_TOKEN_LEN));
    free(json);

    section("creating MFA token files: refused inputs");
    memcpy(dup, tokens, CHM_TOKEN_LEN);
    memcpy(dup + CHM_TOKEN_LEN, tokens, CHM_TOKEN_LEN);
    CHECK_ERR(CHM_TokenFileCreateMfa(dup, 2, &out), CHMR_ARGUMENTS_BAD,
              "token 1 is the same as an earlier one; tokens must be distinct");
    CHECK_EQ(out, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateMfa(tokens, 0, &out), CHMR_ARGUMENTS_BAD,
              "a token file needs at least one token");
    CHECK_EQ(out, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateMfa(tokens, SIZE_MAX / 16, &out), CHMR_ARGUMENTS_BAD,
              "token_count is too large");
    CHECK_EQ(out, SENTINEL_HANDLE);

    section("an MFA token file: verify before signing, sign, verify, check entries");
    CHECK_ERR(CHM_TokenFileVerify(file, pub_a, NULL), CHMR_TOKEN_NOT_SIGNED,
              "<buffer>: tokens[0].signed: not signed yet");
    before = to_json(file);
    CHECK_ERR(CHM_TokenFileSign(file, priv_a, "alice"), CHMR_ARGUMENTS_BAD,
              "a user name is given only to sign a quorum approval file; this is an MFA token "
              "file");
    CHECK(json_is(file, before));
    free(before);
    CHECK_RV(CHM_TokenFileSign(file, priv_a, NULL), CHMR_OK);
    for (i = 0; i < N_TOKENS; i++) {
        size_t exp_len = sizeof expected;
        CHECK_RV(CHM_SignToken(priv_a, tokens + i * CHM_TOKEN_LEN, CHM_TOKEN_LEN, expected,
                               &exp_len),
                 CHMR_OK);
        len = sizeof sig;
        CHECK_RV(CHM_TokenFileGetSignature(file, i, sig, &len), CHMR_OK);
        CHECK_EQ(len, 256);
        CHECK_MEM_EQ(sig, expected, 256);
        CHECK_RV(CHM_TokenFileCheckEntry(file, pub_a, i, &status), CHMR_OK);
        CHECK_EQ(status, CHM_ENTRY_VALID);
        CHECK_RV(CHM_TokenFileCheckEntry(file, pub_b, i, &status), CHMR_OK);
        CHECK_EQ(status, CHM_ENTRY_INVALID);
    }
    CHECK_RV(CHM_TokenFileVerify(file, pub_a, NULL), CHMR_OK);
    CHECK_ERR(CHM_TokenFileVerify(file, pub_b, NULL), CHMR_SIGNATURE_INVALID,
              "<buffer>: tokens[0].signed: signature does not verify with the public key");
    CHECK_ERR(CHM_TokenFileVerify(file, pub_a, "alice"), CHMR_ARGUMENTS_BAD,
              "a user name is given only to verify a quorum approval file");

    section("CHM_TokenFileSetSignature");
    len = sizeof sig;
    CHECK_RV(CHM_TokenFileGetSignature(file, 1, sig, &len), CHMR_OK);
    memcpy(bad, sig, 256);
    bad[100] ^= 0x04;
    CHECK_RV(CHM_TokenFileSetSignature(file, 1, bad, 256), CHMR_OK);
    CHECK_ERR(CHM_TokenFileVerify(file, pub_a, NULL), CHMR_SIGNATURE_INVALID,
              "tokens[1].signed: signature does not verify with the public key");
    CHECK_RV(CHM_TokenFileCheckEntry(file, pub_a, 0, &status), CHMR_OK);
    CHECK_EQ(status, CHM_ENTRY_VALID);
    CHECK_RV(CHM_TokenFileCheckEntry(file, pub_a, 1, &status), CHMR_OK);
    CHECK_EQ(status, CHM_ENTRY_INVALID);
    /* A 3072-bit-sized signature against a 2048-bit key. */
    random_bytes(bad, 384);
    CHECK_RV(CHM_TokenFileSetSignature(file, 2, bad, 384), CHMR_OK);
    CHECK_RV(CHM_TokenFileCheckEntry(file, pub_a, 2, &status), CHMR_OK);
    CHECK_EQ(status, CHM_ENTRY_WRONG_LENGTH);
    CHECK_RV(CHM_TokenFileSetSignature(file, 1, sig, 256), CHMR_OK);
    CHECK_ERR(CHM_TokenFileVerify(file, pub_a, NULL), CHMR_SIGNATURE_LEN_RANGE,
              "tokens[2].signed: signature is 384 bytes but the 2048-bit key makes 256-byte "
              "signatures");
    len = 0;
    CHECK_RV(CHM_TokenFileGetSignature(file, 2, NULL, &len), CHMR_OK);
    CHECK_EQ(len, 384);
    /* Refused signatures leave the entry as it was. */
    before = to_json(file);
    CHECK_ERR(CHM_TokenFileSetSignature(file, 0, bad, 100), CHMR_ARGUMENTS_BAD,
              "signature is 100 bytes; RSA 2048, 3072 and 4096 signatures are 256, 384 or 512 "
              "bytes");
    CHECK_ERR(CHM_TokenFileSetSignature(file, 0, bad, 0), CHMR_ARGUMENTS_BAD,
              "signature is 0 bytes");
    CHECK_ERR(CHM_TokenFileSetSignature(file, 3, sig, 256), CHMR_ARGUMENTS_BAD,
              "token index 3 is out of range; the file has 3 tokens");
    CHECK(json_is(file, before));
    free(before);
    /* Signing again replaces every signature. */
    CHECK_RV(CHM_TokenFileSign(file, priv_b, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(file, pub_b, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(file, pub_a, NULL), CHMR_SIGNATURE_INVALID);
    CHECK_RV(CHM_TokenFileClose(file), CHMR_OK);
}

static void test_registration_file(void) {
    CHM_TOKEN_FILE_HANDLE reg = SENTINEL_HANDLE, quorum = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE out = SENTINEL_HANDLE;
    uint8_t data[246];
    uint8_t buf[300];
    uint8_t tok[CHM_TOKEN_LEN], approval_tok[CHM_TOKEN_LEN];
    uint32_t kind = 0, status = 0;
    size_t count = 0, len;
    char *json;

    section("a registration token file");
    random_bytes(data, sizeof data);
    CHECK_RV(CHM_TokenFileCreateRegistration(data, 100, &reg), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetKind(reg, &kind), CHMR_OK);
    CHECK_EQ(kind, CHM_TOKEN_FILE_REGISTRATION);
    CHECK_RV(CHM_TokenFileGetEntryCount(reg, &count), CHMR_OK);
    CHECK_EQ(count, 1);
    /* Its token is SHA-256(data), as is a quorum approval file's for the same data. */
    CHECK_RV(CHM_TokenFileGetToken(reg, 0, tok), CHMR_OK);
    CHECK_RV(CHM_TokenFileCreateApproval(data, 100, &quorum), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetApprovalToken(quorum, approval_tok), CHMR_OK);
    CHECK_MEM_EQ(tok, approval_tok, CHM_TOKEN_LEN);
    CHECK_RV(CHM_TokenFileClose(quorum), CHMR_OK);

    section("CHM_TokenFileGetApprovalData: two-call idiom");
    len = 0;
    CHECK_RV(CHM_TokenFileGetApprovalData(reg, 0, NULL, &len), CHMR_OK);
    CHECK_EQ(len, 100);
    memset(buf, CANARY, sizeof buf);
    len = 99;
    CHECK_ERR(CHM_TokenFileGetApprovalData(reg, 0, buf, &len), CHMR_BUFFER_TOO_SMALL,
              "approval data needs 100 bytes; the buffer has 99");
    CHECK_EQ(len, 100);
    CHECK(all_canary(buf, sizeof buf));
    len = 100;
    CHECK_RV(CHM_TokenFileGetApprovalData(reg, 0, buf, &len), CHMR_OK);
    CHECK_EQ(len, 100);
    CHECK_MEM_EQ(buf, data, 100);
    CHECK(all_canary(buf + 100, sizeof buf - 100));
    len = sizeof buf;
    CHECK_ERR(CHM_TokenFileGetApprovalData(reg, 1, buf, &len), CHMR_ARGUMENTS_BAD,
              "token index 1 is out of range; the file has 1");
    CHECK_EQ(len, sizeof buf);

    json = to_json(reg);
    CHECK_CONTAINS(json, "\"approval_data\": \"");
    CHECK_CONTAINS(json, b64(data, 100));
    CHECK_CONTAINS(json, b64(tok, CHM_TOKEN_LEN));
    free(json);

    section("a registration token file: sign and verify");
    CHECK_RV(CHM_TokenFileVerify(reg, pub_a, NULL), CHMR_TOKEN_NOT_SIGNED);
    CHECK_RV(CHM_TokenFileSign(reg, priv_a, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(reg, pub_a, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileCheckEntry(reg, pub_a, 0, &status), CHMR_OK);
    CHECK_EQ(status, CHM_ENTRY_VALID);
    CHECK_ERR(CHM_TokenFileVerify(reg, pub_b, NULL), CHMR_SIGNATURE_INVALID,
              "tokens[0].signed: signature does not verify");
    CHECK_RV(CHM_TokenFileClose(reg), CHMR_OK);

    section("creating registration token files: 1 to 245 bytes");
    CHECK_RV(CHM_TokenFileCreateRegistration(data, 245, &reg), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(reg), CHMR_OK);
    CHECK_RV(CHM_TokenFileCreateRegistration(data, 1, &reg), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(reg), CHMR_OK);
    CHECK_ERR(CHM_TokenFileCreateRegistration(data, 246, &out), CHMR_ARGUMENTS_BAD,
              "registration approval data is 246 bytes; it must be 1 to 245");
    CHECK_EQ(out, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileCreateRegistration(data, 0, &out), CHMR_ARGUMENTS_BAD,
              "registration approval data is 0 bytes");
    CHECK_EQ(out, SENTINEL_HANDLE);
}

static void test_approval_file(void) {
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE, mfa = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE out = SENTINEL_HANDLE;
    uint8_t data[240];
    uint8_t token[CHM_TOKEN_LEN + 4];
    uint8_t sig[CHM_MAX_SIGNATURE_LEN], sig_b[CHM_MAX_SIGNATURE_LEN];
    uint8_t buf[300];
    char name[64];
    uint32_t kind = 0, status = 0;
    size_t count = 99, len;
    char *before;
    char *json;

    section("a quorum approval file");
    random_bytes(data, sizeof data);
    CHECK_RV(CHM_TokenFileCreateApproval(data, sizeof data, &file), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetKind(file, &kind), CHMR_OK);
    CHECK_EQ(kind, CHM_TOKEN_FILE_QUORUM_APPROVAL);
    CHECK_RV(CHM_TokenFileGetEntryCount(file, &count), CHMR_OK);
    CHECK_EQ(count, 0);
    memset(token, CANARY, sizeof token);
    CHECK_RV(CHM_TokenFileGetApprovalToken(file, token), CHMR_OK);
    CHECK(all_canary(token + CHM_TOKEN_LEN, 4));
    CHECK_ERR(CHM_TokenFileGetToken(file, 0, buf), CHMR_ARGUMENTS_BAD,
              "a quorum approval file has one token; use CHM_TokenFileGetApprovalToken");
    len = sizeof buf;
    CHECK_RV(CHM_TokenFileGetApprovalData(file, 0, buf, &len), CHMR_OK);
    CHECK_EQ(len, sizeof data);
    CHECK_MEM_EQ(buf, data, sizeof data);
    CHECK_ERR(CHM_TokenFileGetApprovalData(file, 1, buf, &len), CHMR_ARGUMENTS_BAD,
              "approval data index 1 is out of range");
    CHECK_ERR(CHM_TokenFileGetSignature(file, 0, buf, &len), CHMR_ARGUMENTS_BAD,
              "approval index 0 is out of range; the file has 0");
    CHECK_ERR(CHM_TokenFileCreateApproval(data, 0, &out), CHMR_ARGUMENTS_BAD,
              "approval data is empty");
    CHECK_EQ(out, SENTINEL_HANDLE);

    section("a quorum approval file: approvals");
    before = to_json(file);
    CHECK_ERR(CHM_TokenFileSign(file, priv_a, NULL), CHMR_ARGUMENTS_BAD,
              "signing a quorum approval file needs the approver's user name");
    CHECK_ERR(CHM_TokenFileSign(file, priv_a, "bob-smith"), CHMR_ARGUMENTS_BAD,
              "only letters, digits and '_' are allowed");
    CHECK_ERR(CHM_TokenFileSign(file, priv_a, ""), CHMR_ARGUMENTS_BAD, "user name is empty");
    CHECK_ERR(CHM_TokenFileSign(file, priv_a, "a234567890123456789012345678901x"),
              CHMR_ARGUMENTS_BAD, "user name is 32 characters; at most 31 are allowed");
    CHECK_ERR(CHM_TokenFileSetSignature(file, 0, buf, 256), CHMR_ARGUMENTS_BAD,
              "a quorum approval file has no token entries; add an approval instead");
    CHECK(json_is(file, before));
    free(before);

    CHECK_RV(CHM_TokenFileSign(file, priv_a, "Alice"), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetEntryCount(file, &count), CHMR_OK);
    CHECK_EQ(count, 1);
    len = sizeof sig;
    CHECK_RV(CHM_SignToken(priv_a, token, CHM_TOKEN_LEN, sig, &len), CHMR_OK);
    len = sizeof buf;
    CHECK_RV(CHM_TokenFileGetSignature(file, 0, buf, &len), CHMR_OK);
    CHECK_EQ(len, 256);
    CHECK_MEM_EQ(buf, sig, 256);

    section("CHM_TokenFileGetApprover: two-call idiom, user names in lower case");
    len = 0;
    CHECK_RV(CHM_TokenFileGetApprover(file, 0, NULL, &len), CHMR_OK);
    CHECK_EQ(len, 6); /* "alice" and its NUL */
    memset(name, CANARY, sizeof name);
    len = 5;
    CHECK_ERR(CHM_TokenFileGetApprover(file, 0, name, &len), CHMR_BUFFER_TOO_SMALL,
              "approver needs 6 bytes; the buffer has 5");
    CHECK_EQ(len, 6);
    CHECK(all_canary(name, sizeof name));
    len = 6;
    CHECK_RV(CHM_TokenFileGetApprover(file, 0, name, &len), CHMR_OK);
    CHECK_EQ(len, 6);
    CHECK_STR_EQ(name, "alice");
    CHECK(all_canary(name + 6, sizeof name - 6));
    len = sizeof name;
    CHECK_ERR(CHM_TokenFileGetApprover(file, 1, name, &len), CHMR_ARGUMENTS_BAD,
              "approval index 1 is out of range; the file has 1");

    section("a quorum approval file: verify per approver");
    CHECK_RV(CHM_TokenFileVerify(file, pub_a, "alice"), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(file, pub_a, "ALICE"), CHMR_OK);
    CHECK_ERR(CHM_TokenFileVerify(file, pub_b, "alice"), CHMR_SIGNATURE_INVALID,
              "<buffer>: signatures[0].signature: signature does not verify with the public "
              "key");
    CHECK_ERR(CHM_TokenFileVerify(file, pub_a, "carol"), CHMR_TOKEN_NOT_SIGNED,
              "signatures (user \"carol\"): not signed yet");
    CHECK_ERR(CHM_TokenFileVerify(file, pub_a, NULL), CHMR_ARGUMENTS_BAD,
              "verifying a quorum approval file needs the approver's user name");
    CHECK_ERR(CHM_TokenFileVerify(file, pub_a, "no way"), CHMR_ARGUMENTS_BAD,
              "only letters, digits and '_' are allowed");

    CHECK_RV(CHM_TokenFileSign(file, priv_b, "bob"), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetEntryCount(file, &count), CHMR_OK);
    CHECK_EQ(count, 2);
    CHECK_RV(CHM_TokenFileVerify(file, pub_b, "bob"), CHMR_OK);
    CHECK_RV(CHM_TokenFileCheckEntry(file, pub_b, 0, &status), CHMR_OK);
    CHECK_EQ(status, CHM_ENTRY_INVALID);
    CHECK_RV(CHM_TokenFileCheckEntry(file, pub_b, 1, &status), CHMR_OK);
    CHECK_EQ(status, CHM_ENTRY_VALID);
    CHECK_ERR(CHM_TokenFileCheckEntry(file, pub_b, 2, &status), CHMR_ARGUMENTS_BAD,
              "entry index 2 is out of range; the file has 2");

    /* Signing again as alice (any case) replaces her approval. */
    CHECK_RV(CHM_TokenFileSign(file, priv_b, "aLiCe"), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetEntryCount(file, &count), CHMR_OK);
    CHECK_EQ(count, 2);
    CHECK_RV(CHM_TokenFileVerify(file, pub_b, "alice"), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(file, pub_a, "alice"), CHMR_SIGNATURE_INVALID);

    section("CHM_TokenFileAddApproval");
    len = sizeof sig_b;
    CHECK_RV(CHM_SignToken(priv_a, token, CHM_TOKEN_LEN, sig_b, &len), CHMR_OK);
    CHECK_RV(CHM_TokenFileAddApproval(file, "Carol_1", sig_b, 256), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetEntryCount(file, &count), CHMR_OK);
    CHECK_EQ(count, 3);
    len = sizeof name;
    CHECK_RV(CHM_TokenFileGetApprover(file, 2, name, &len), CHMR_OK);
    CHECK_STR_EQ(name, "carol_1");
    CHECK_RV(CHM_TokenFileVerify(file, pub_a, "carol_1"), CHMR_OK);
    CHECK_RV(CHM_TokenFileAddApproval(file, "alice", sig_b, 256), CHMR_OK); /* replaces */
    CHECK_RV(CHM_TokenFileGetEntryCount(file, &count), CHMR_OK);
    CHECK_EQ(count, 3);
    CHECK_RV(CHM_TokenFileVerify(file, pub_a, "alice"), CHMR_OK);
    before = to_json(file);
    CHECK_ERR(CHM_TokenFileAddApproval(file, "dave", sig_b, 255), CHMR_ARGUMENTS_BAD,
              "signature is 255 bytes; RSA 2048, 3072 and 4096 signatures are 256, 384 or 512 "
              "bytes");
    CHECK_ERR(CHM_TokenFileAddApproval(file, "da ve", sig_b, 256), CHMR_ARGUMENTS_BAD,
              "only letters, digits and '_' are allowed");
    CHECK(json_is(file, before));
    free(before);
    CHECK_RV(CHM_TokenFileCreateMfa(tokens, 1, &mfa), CHMR_OK);
    CHECK_ERR(CHM_TokenFileAddApproval(mfa, "dave", sig_b, 256), CHMR_ARGUMENTS_BAD,
              "an MFA token file takes no approvals; sign its tokens instead");
    CHECK_RV(CHM_TokenFileClose(mfa), CHMR_OK);

    json = to_json(file);
    CHECK_CONTAINS(json, "\"token\": \"");
    CHECK_CONTAINS(json, b64(token, CHM_TOKEN_LEN));
    CHECK_CONTAINS(json, "\"username\": \"carol_1\"");
    CHECK_CONTAINS(json, b64(sig_b, 256));
    free(json);
    CHECK_RV(CHM_TokenFileClose(file), CHMR_OK);
}

static void test_write_load_json(void) {
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE, loaded = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE parsed = SENTINEL_HANDLE;
    const char *path = tpath("mfa.json");
    char *json, *json_loaded;
    char buf[4096];
    size_t len, needed, count = 0;
    uint32_t kind = 0;
    file_snapshot snap;
    char aws[1024];
    unsigned char bom_doc[600];

    section("CHM_TokenFileWrite and CHM_TokenFileLoad");
    CHECK_RV(CHM_TokenFileCreateMfa(tokens, N_TOKENS, &file), CHMR_OK);
    CHECK_RV(CHM_TokenFileSign(file, priv_a, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileWrite(file, path), CHMR_OK);
    CHECK_EQ(file_mode(path), 0600);
    CHECK_RV(CHM_TokenFileLoad(path, &loaded), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetKind(loaded, &kind), CHMR_OK);
    CHECK_EQ(kind, CHM_TOKEN_FILE_MFA);
    CHECK_RV(CHM_TokenFileGetEntryCount(loaded, &count), CHMR_OK);
    CHECK_EQ(count, N_TOKENS);
    CHECK_RV(CHM_TokenFileVerify(loaded, pub_a, NULL), CHMR_OK);
    json = to_json(file);
    json_loaded = to_json(loaded);
    CHECK(json != NULL && json_loaded != NULL && strcmp(json, json_loaded) == 0);
    {
        unsigned char *on_disk = read_file(path, NULL);
        CHECK(on_disk != NULL && json != NULL && strcmp((const char *)on_disk, json) == 0);
        free(on_disk);
    }
    /* Errors about a loaded file name its path. */
    CHECK_ERR(CHM_TokenFileVerify(loaded, pub_b, NULL), CHMR_SIGNATURE_INVALID, path);
    CHECK_LAST_ERROR(": tokens[0].signed: signature does not verify");

    section("CHM_TokenFileToJson: two-call idiom");
    len = 0;
    CHECK_RV(CHM_TokenFileToJson(file, NULL, &len), CHMR_OK);
    needed = len;
    CHECK_EQ(needed, json ? strlen(json) + 1 : 0);
    memset(buf, CANARY, sizeof buf);
    len = needed - 1;
    CHECK_ERR(CHM_TokenFileToJson(file, buf, &len), CHMR_BUFFER_TOO_SMALL, "JSON needs ");
    CHECK_EQ(len, needed);
    CHECK(all_canary(buf, sizeof buf));
    len = needed;
    CHECK_RV(CHM_TokenFileToJson(file, buf, &len), CHMR_OK);
    CHECK_EQ(len, needed);
    CHECK_EQ(buf[needed - 1], 0);
    CHECK(json != NULL && strcmp(buf, json) == 0);
    CHECK(all_canary(buf + needed, sizeof buf - needed));

    section("CHM_TokenFileParse of CHM_TokenFileToJson output round-trips");
    CHECK_RV(CHM_TokenFileParse((const uint8_t *)buf, needed - 1, &parsed), CHMR_OK);
    free(json_loaded);
    json_loaded = to_json(parsed);
    CHECK(json != NULL && json_loaded != NULL && strcmp(json, json_loaded) == 0);
    CHECK_RV(CHM_TokenFileVerify(parsed, pub_a, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(parsed), CHMR_OK);
    free(json);
    free(json_loaded);

    section("writing replaces a file atomically and refuses links and directories");
    CHECK_RV(CHM_TokenFileWrite(loaded, path), CHMR_OK); /* over an existing file */
    CHECK(symlink(path, tpath("link.json")) == 0);
    snapshot_take(&snap, path);
    CHECK_ERR(CHM_TokenFileWrite(file, tpath("link.json")), CHMR_FILE_ERROR,
              "it is a symbolic link; refusing to write through it");
    CHECK(snapshot_unchanged(&snap, path));
    snapshot_free(&snap);
    CHECK(mkdir(tpath("a-directory"), 0700) == 0);
    CHECK_ERR(CHM_TokenFileWrite(file, tpath("a-directory")), CHMR_FILE_ERROR,
              "it is a directory");
    CHECK_ERR(CHM_TokenFileWrite(file, tpath("no-such-dir/x.json")), CHMR_FILE_ERROR,
              "cannot write ");
    CHECK(!file_exists(tpath("no-such-dir")));
    parsed = SENTINEL_HANDLE;
    CHECK_ERR(CHM_TokenFileLoad(tpath("a-directory"), &parsed), CHMR_FILE_ERROR,
              "is a directory");
    CHECK_ERR(CHM_TokenFileLoad(tpath("missing.json"), &parsed), CHMR_FILE_ERROR,
              "No such file or directory");
    CHECK_EQ(parsed, SENTINEL_HANDLE);
    CHECK_RV(CHM_TokenFileClose(loaded), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(file), CHMR_OK);

    section("reading the pretty-printed files of the AWS documentation, any whitespace");
    snprintf(aws, sizeof aws,
             "{\r\n\t\"version\" : \"2.0\",\r\n\t\"tokens\" : [\r\n\t\t{\r\n"
             "\t\t\t\"unsigned\" : \"%s\",\r\n\t\t\t\"signed\" : \"\"\r\n\t\t},\r\n"
             "\t\t{ \"unsigned\":\"%s\", \"signed\":\"\" }\r\n\t]\r\n}\r\n\r\n",
             b64(tokens, CHM_TOKEN_LEN), b64(tokens + CHM_TOKEN_LEN, CHM_TOKEN_LEN));
    CHECK(write_file(tpath("aws.json"), aws, strlen(aws)) == 0);
    CHECK_RV(CHM_TokenFileLoad(tpath("aws.json"), &loaded), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetEntryCount(loaded, &count), CHMR_OK);
    CHECK_EQ(count, 2);
    {
        uint8_t tok[CHM_TOKEN_LEN];
        CHECK_RV(CHM_TokenFileGetToken(loaded, 1, tok), CHMR_OK);
        CHECK_MEM_EQ(tok, tokens + CHM_TOKEN_LEN, CHM_TOKEN_LEN);
    }
    CHECK_RV(CHM_TokenFileClose(loaded), CHMR_OK);
    /* A UTF-8 byte order mark is accepted. */
    bom_doc[0] = 0xEF;
    bom_doc[1] = 0xBB;
    bom_doc[2] = 0xBF;
    snprintf((char *)bom_doc + 3, sizeof bom_doc - 3,
             "{\"version\":\"2.0\",\"tokens\":[{\"unsigned\":\"%s\",\"signed\":\"\"}]}",
             b64(tokens, CHM_TOKEN_LEN));
    CHECK_RV(CHM_TokenFileParse(bom_doc, strlen((const char *)bom_doc), &parsed), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(parsed), CHMR_OK);
}

static void test_sign_token_file(void) {
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE, loaded = SENTINEL_HANDLE;
    const char *in = tpath("to-sign.json");
    const char *out = tpath("signed.json");
    const char *approval = tpath("approval.json");
    uint8_t data[80];
    file_snapshot snap;
    size_t count = 0;
    char name[32];
    size_t len;

    section("CHM_SignTokenFile: to another file, in place, quorum approvals");
    CHECK_RV(CHM_TokenFileCreateMfa(tokens, N_TOKENS, &file), CHMR_OK);
    CHECK_RV(CHM_TokenFileWrite(file, in), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(file), CHMR_OK);
    snapshot_take(&snap, in);
    CHECK_RV(CHM_SignTokenFile(in, tpath("a.pem"), out, NULL), CHMR_OK);
    CHECK(snapshot_unchanged(&snap, in));
    CHECK_EQ(file_mode(out), 0600);
    CHECK_RV(CHM_TokenFileLoad(out, &loaded), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(loaded, pub_a, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(loaded), CHMR_OK);
    CHECK_RV(CHM_TokenFileLoad(in, &loaded), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(loaded, pub_a, NULL), CHMR_TOKEN_NOT_SIGNED);
    CHECK_RV(CHM_TokenFileClose(loaded), CHMR_OK);
    snapshot_free(&snap);

    CHECK_RV(CHM_SignTokenFile(in, tpath("b.pem"), NULL, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileLoad(in, &loaded), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(loaded, pub_b, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(loaded), CHMR_OK);

    random_bytes(data, sizeof data);
    CHECK_RV(CHM_TokenFileCreateApproval(data, sizeof data, &file), CHMR_OK);
    CHECK_RV(CHM_TokenFileWrite(file, approval), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(file), CHMR_OK);
    CHECK_RV(CHM_SignTokenFile(approval, tpath("a.pem"), NULL, "Admin1"), CHMR_OK);
    CHECK_RV(CHM_SignTokenFile(approval, tpath("b.pem"), NULL, "admin2"), CHMR_OK);
    CHECK_RV(CHM_TokenFileLoad(approval, &loaded), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetEntryCount(loaded, &count), CHMR_OK);
    CHECK_EQ(count, 2);
    len = sizeof name;
    CHECK_RV(CHM_TokenFileGetApprover(loaded, 0, name, &len), CHMR_OK);
    CHECK_STR_EQ(name, "admin1");
    CHECK_RV(CHM_TokenFileVerify(loaded, pub_a, "admin1"), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(loaded, pub_b, "admin2"), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(loaded), CHMR_OK);

    section("CHM_SignTokenFile: on failure nothing is written");
    snapshot_take(&snap, approval);
    CHECK_ERR(CHM_SignTokenFile(approval, tpath("a.pem"), NULL, NULL), CHMR_ARGUMENTS_BAD,
              "signing a quorum approval file needs the approver's user name");
    CHECK(snapshot_unchanged(&snap, approval));
    CHECK_ERR(CHM_SignTokenFile(approval, tpath("a.pem"), tpath("never1.json"), "no way"),
              CHMR_ARGUMENTS_BAD, "only letters, digits and '_' are allowed");
    CHECK(!file_exists(tpath("never1.json")));
    CHECK(snapshot_unchanged(&snap, approval));
    snapshot_free(&snap);

    snapshot_take(&snap, in);
    CHECK_ERR(CHM_SignTokenFile(in, tpath("a.pem"), tpath("never2.json"), "alice"),
              CHMR_ARGUMENTS_BAD, "a user name is given only to sign a quorum approval file");
    CHECK(!file_exists(tpath("never2.json")));
    CHECK_ERR(CHM_SignTokenFile(in, tpath("missing.pem"), NULL, NULL), CHMR_FILE_ERROR,
              "missing.pem");
    CHECK_LAST_ERROR("No such file or directory");
    CHECK_ERR(CHM_SignTokenFile(in, tpath("b.pub"), NULL, NULL), CHMR_KEY_FILE_INVALID,
              "this is a public key; a private key is needed here");
    CHECK_ERR(CHM_SignTokenFile(in, tpath("a.pem"), tpath("no-such-dir/out.json"), NULL),
              CHMR_FILE_ERROR, "no-such-dir/out.json");
    CHECK(snapshot_unchanged(&snap, in));
    CHECK(symlink(in, tpath("out-link.json")) == 0);
    CHECK_ERR(CHM_SignTokenFile(in, tpath("a.pem"), tpath("out-link.json"), NULL),
              CHMR_FILE_ERROR, "symbolic link");
    CHECK(snapshot_unchanged(&snap, in));
    snapshot_free(&snap);
    CHECK_ERR(CHM_SignTokenFile(tpath("missing.json"), tpath("a.pem"), out, NULL),
              CHMR_FILE_ERROR, "missing.json");
}

static void test_close(void) {
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    uint32_t kind = 0;
    size_t len = 16;
    char buf[16];

    section("CHM_TokenFileClose");
    CHECK_RV(CHM_TokenFileCreateMfa(tokens, 1, &file), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(file), CHMR_OK);
    CHECK_ERR(CHM_TokenFileClose(file), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_ERR(CHM_TokenFileGetKind(file, &kind), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    memset(buf, CANARY, sizeof buf);
    CHECK_ERR(CHM_TokenFileToJson(file, buf, &len), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_EQ(len, 16);
    CHECK(all_canary(buf, sizeof buf));
    CHECK_ERR(CHM_TokenFileSign(file, priv_a, NULL), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_ERR(CHM_TokenFileWrite(file, tpath("closed.json")), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK(!file_exists(tpath("closed.json")));
}

int main(void) {
    check_begin("test_token_files");
    random_bytes(tokens, sizeof tokens);
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK) ||
        !CHECK(openssl_rsa_key(tpath("a.pem"), 2048, 0) == 0) ||
        !CHECK_RV(CHM_GenerateKeyPair(2048, tpath("b.pem"), tpath("b.pub")), CHMR_OK) ||
        !CHECK_RV(CHM_PrivateKeyLoad(tpath("a.pem"), &priv_a), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyFromPrivate(priv_a, &pub_a), CHMR_OK) ||
        !CHECK_RV(CHM_PrivateKeyLoad(tpath("b.pem"), &priv_b), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyLoad(tpath("b.pub"), &pub_b), CHMR_OK)) {
        return check_end();
    }
    test_mfa_file();
    test_registration_file();
    test_approval_file();
    test_write_load_json();
    test_sign_token_file();
    test_close();
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
