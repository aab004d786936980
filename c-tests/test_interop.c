/*
 * Interoperability with the real openssl command (SPEC section 3):
 *  - signatures made through the C API are byte-identical to
 *    `openssl pkeyutl -sign -inkey key.pem -pkeyopt digest:sha256 -in token.bin`
 *    and `openssl pkeyutl -verify` accepts them (and refuses a changed one);
 *  - signatures made by openssl, put into a token file by hand, verify;
 *  - a quorum approval's token is `openssl dgst -sha256` of approval_data and
 *    its signature equals `openssl dgst -sha256 -sign key approval_data.bin`;
 *  - keys made by CHM_GenerateKeyPair work in openssl and the other way round.
 * All files live in a temporary directory that is removed at the end.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define N_TOKENS 4

/* Signs `token` with openssl; returns the signature length (0 on failure). */
static size_t openssl_sign(const char *key, const uint8_t *token, uint8_t *sig) {
    unsigned char *out;
    size_t len = 0;
    if (!CHECK(write_file(tpath("ossl-token.bin"), token, CHM_TOKEN_LEN) == 0) ||
        !CHECK(run("openssl pkeyutl -sign -inkey '%s' -pkeyopt digest:sha256 -in '%s' -out '%s'",
                   key, tpath("ossl-token.bin"), tpath("ossl.sig")) == 0)) {
        return 0;
    }
    out = read_file(tpath("ossl.sig"), &len);
    if (!CHECK(out != NULL) || !CHECK(len <= CHM_MAX_SIGNATURE_LEN)) {
        free(out);
        return 0;
    }
    memcpy(sig, out, len);
    free(out);
    return len;
}

/* Asks `openssl pkeyutl -verify` about a signature; returns its exit status and
 * whether it printed "Signature Verified Successfully". */
static int openssl_verify(const char *pub, const uint8_t *token, const uint8_t *sig,
                          size_t sig_len, int *verified_text) {
    int status;
    unsigned char *log;
    write_file(tpath("v-token.bin"), token, CHM_TOKEN_LEN);
    write_file(tpath("v.sig"), sig, sig_len);
    status = run_quiet("openssl pkeyutl -verify -pubin -inkey '%s' -pkeyopt digest:sha256 "
                       "-in '%s' -sigfile '%s'",
                       pub, tpath("v-token.bin"), tpath("v.sig"));
    log = read_file(tpath("command.log"), NULL);
    *verified_text = log != NULL && strstr((const char *)log, "Signature Verified Successfully");
    free(log);
    return status;
}

/* Signs an MFA token file with `key_path` through the C API and compares every
 * signature with openssl's; openssl verifies each with `pub_path`. */
static void signatures_match_openssl(const char *label, const char *key_path,
                                     const char *pub_path, uint32_t bits) {
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE, pub = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    uint8_t tokens[N_TOKENS * CHM_TOKEN_LEN];
    uint8_t lib_sig[CHM_MAX_SIGNATURE_LEN], single[CHM_MAX_SIGNATURE_LEN];
    uint8_t ossl_sig[CHM_MAX_SIGNATURE_LEN];
    uint32_t got_bits = 0;
    size_t i, len, ossl_len;
    int verified;
    char title[160];

    snprintf(title, sizeof title, "%s: signatures are byte-identical to openssl pkeyutl", label);
    section(title);
    if (!CHECK_RV(CHM_PrivateKeyLoad(key_path, &priv), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyLoad(pub_path, &pub), CHMR_OK)) {
        return;
    }
    CHECK_RV(CHM_KeyGetBits(priv, &got_bits), CHMR_OK);
    CHECK_EQ(got_bits, bits);
    random_bytes(tokens, sizeof tokens);
    CHECK_RV(CHM_TokenFileCreateMfa(tokens, N_TOKENS, &file), CHMR_OK);
    CHECK_RV(CHM_TokenFileSign(file, priv, NULL), CHMR_OK);
    for (i = 0; i < N_TOKENS; i++) {
        const uint8_t *token = tokens + i * CHM_TOKEN_LEN;
        len = sizeof lib_sig;
        CHECK_RV(CHM_TokenFileGetSignature(file, i, lib_sig, &len), CHMR_OK);
        CHECK_EQ(len, bits / 8);
        ossl_len = openssl_sign(key_path, token, ossl_sig);
        CHECK_EQ(ossl_len, bits / 8);
        CHECK_MEM_EQ(lib_sig, ossl_sig, bits / 8);
        len = sizeof single;
        CHECK_RV(CHM_SignToken(priv, token, CHM_TOKEN_LEN, single, &len), CHMR_OK);
        CHECK_MEM_EQ(single, ossl_sig, bits / 8);

        CHECK_EQ(openssl_verify(pub_path, token, lib_sig, bits / 8, &verified), 0);
        CHECK(verified);
        lib_sig[i * 7] ^= 0x10;
        CHECK(openssl_verify(pub_path, token, lib_sig, bits / 8, &verified) != 0);
        CHECK(!verified);
        lib_sig[i * 7] ^= 0x10;

        /* And the other way: openssl's signature, set by hand, verifies here. */
        CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, ossl_sig, ossl_len), CHMR_OK);
    }
    CHECK_RV(CHM_TokenFileVerify(file, pub, NULL), CHMR_OK);
    CHM_TokenFileClose(file);
    CHM_KeyClose(priv);
    CHM_KeyClose(pub);
}

/* The manual flow of SPEC section 5: the user signs each token with openssl
 * and writes the signatures into the file by hand, in any order. */
static void hand_signed_file_verifies(const char *key_path, const char *pub_path) {
    CHM_KEY_HANDLE pub = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    uint8_t tokens[3 * CHM_TOKEN_LEN];
    uint8_t sig[3][CHM_MAX_SIGNATURE_LEN];
    uint8_t tok[CHM_TOKEN_LEN];
    char doc[8192];
    size_t i, n[3];
    uint32_t status = 99;

    section("a token file signed by hand with openssl verifies through the C API");
    random_bytes(tokens, sizeof tokens);
    for (i = 0; i < 3; i++) {
        n[i] = openssl_sign(key_path, tokens + i * CHM_TOKEN_LEN, sig[i]);
        CHECK_EQ(n[i], 256);
    }
    /* Written as the AWS documentation shows it, entries in another order. */
    snprintf(doc, sizeof doc,
             "{\n  \"version\": \"2.0\",\n  \"tokens\": [\n"
             "    {\n      \"unsigned\": \"%s\",\n      \"signed\": \"%s\"\n    },\n"
             "    {\n      \"unsigned\": \"%s\",\n      \"signed\": \"%s\"\n    },\n"
             "    {\n      \"unsigned\": \"%s\",\n      \"signed\": \"%s\"\n    }\n  ]\n}\n",
             b64(tokens + 2 * CHM_TOKEN_LEN, CHM_TOKEN_LEN), b64(sig[2], n[2]),
             b64(tokens, CHM_TOKEN_LEN), b64(sig[0], n[0]),
             b64(tokens + CHM_TOKEN_LEN, CHM_TOKEN_LEN), b64(sig[1], n[1]));
    CHECK(write_file(tpath("hand-signed.json"), doc, strlen(doc)) == 0);
    if (!CHECK_RV(CHM_TokenFileLoad(tpath("hand-signed.json"), &file), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyLoad(pub_path, &pub), CHMR_OK)) {
        return;
    }
    CHECK_RV(CHM_TokenFileGetToken(file, 0, tok), CHMR_OK);
    CHECK_MEM_EQ(tok, tokens + 2 * CHM_TOKEN_LEN, CHM_TOKEN_LEN);
    CHECK_RV(CHM_TokenFileVerify(file, pub, NULL), CHMR_OK);
    for (i = 0; i < 3; i++) {
        CHECK_RV(CHM_TokenFileCheckEntry(file, pub, i, &status), CHMR_OK);
        CHECK_EQ(status, CHM_ENTRY_VALID);
    }
    /* Swapping two signatures is caught, naming the entry. */
    CHECK_RV(CHM_TokenFileSetSignature(file, 1, sig[1], n[1]), CHMR_OK);
    CHECK_ERR(CHM_TokenFileVerify(file, pub, NULL), CHMR_SIGNATURE_INVALID,
              "hand-signed.json: tokens[1].signed: signature does not verify");
    CHM_TokenFileClose(file);
    CHM_KeyClose(pub);
}

static void quorum_and_registration_match_openssl(const char *key_path, const char *pub_path) {
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    uint8_t data[240];
    uint8_t token[CHM_TOKEN_LEN];
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    uint8_t ossl_sig[CHM_MAX_SIGNATURE_LEN];
    unsigned char *digest, *osig;
    size_t len = 0, olen = 0;

    section("quorum approval file: token = openssl dgst -sha256, signature = openssl dgst -sign");
    random_bytes(data, sizeof data);
    CHECK(write_file(tpath("approval_data.bin"), data, sizeof data) == 0);
    if (!CHECK_RV(CHM_PrivateKeyLoad(key_path, &priv), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileCreateApproval(data, sizeof data, &file), CHMR_OK)) {
        return;
    }
    CHECK_RV(CHM_TokenFileGetApprovalToken(file, token), CHMR_OK);
    CHECK(run("openssl dgst -sha256 -binary -out '%s' '%s'", tpath("approval.sha256"),
              tpath("approval_data.bin")) == 0);
    digest = read_file(tpath("approval.sha256"), &len);
    CHECK_EQ(len, CHM_TOKEN_LEN);
    if (digest != NULL && len == CHM_TOKEN_LEN) {
        CHECK_MEM_EQ(token, digest, CHM_TOKEN_LEN);
    }
    free(digest);
    CHECK_RV(CHM_TokenFileSign(file, priv, "alice"), CHMR_OK);
    len = sizeof sig;
    CHECK_RV(CHM_TokenFileGetSignature(file, 0, sig, &len), CHMR_OK);
    CHECK(run("openssl dgst -sha256 -sign '%s' -out '%s' '%s'", key_path, tpath("approval.sig"),
              tpath("approval_data.bin")) == 0);
    osig = read_file(tpath("approval.sig"), &olen);
    CHECK_EQ(olen, len);
    if (osig != NULL && olen == len) {
        CHECK_MEM_EQ(sig, osig, len);
    }
    free(osig);
    CHECK(write_file(tpath("lib-approval.sig"), sig, len) == 0);
    CHECK(run("openssl dgst -sha256 -verify '%s' -signature '%s' '%s' | grep -qx 'Verified OK'",
              pub_path, tpath("lib-approval.sig"), tpath("approval_data.bin")) == 0);
    CHM_TokenFileClose(file);

    section("registration token file: token = openssl dgst -sha256 of approval_data");
    CHECK(write_file(tpath("registration.bin"), data, 200) == 0);
    CHECK_RV(CHM_TokenFileCreateRegistration(data, 200, &file), CHMR_OK);
    CHECK_RV(CHM_TokenFileGetToken(file, 0, token), CHMR_OK);
    CHECK(run("openssl dgst -sha256 -binary -out '%s' '%s'", tpath("registration.sha256"),
              tpath("registration.bin")) == 0);
    digest = read_file(tpath("registration.sha256"), &len);
    CHECK(digest != NULL && len == CHM_TOKEN_LEN && memcmp(digest, token, CHM_TOKEN_LEN) == 0);
    free(digest);
    CHECK_RV(CHM_TokenFileSign(file, priv, NULL), CHMR_OK);
    len = sizeof sig;
    CHECK_RV(CHM_TokenFileGetSignature(file, 0, sig, &len), CHMR_OK);
    CHECK_EQ(openssl_sign(key_path, token, ossl_sig), len);
    CHECK_MEM_EQ(sig, ossl_sig, len);
    CHM_TokenFileClose(file);
    CHM_KeyClose(priv);
}

/* CHM_SignTokenFile writes a file whose signatures openssl accepts. */
static void sign_token_file_verified_by_openssl(const char *key_path, const char *pub_path) {
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    uint8_t tokens[2 * CHM_TOKEN_LEN];
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    uint8_t token[CHM_TOKEN_LEN];
    size_t i, len;
    int verified;

    section("CHM_SignTokenFile output verified by openssl");
    random_bytes(tokens, sizeof tokens);
    if (!CHECK_RV(CHM_TokenFileCreateMfa(tokens, 2, &file), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileWrite(file, tpath("login.json")), CHMR_OK)) {
        return;
    }
    CHM_TokenFileClose(file);
    CHECK_RV(CHM_SignTokenFile(tpath("login.json"), key_path, NULL, NULL), CHMR_OK);
    if (!CHECK_RV(CHM_TokenFileLoad(tpath("login.json"), &file), CHMR_OK)) {
        return;
    }
    for (i = 0; i < 2; i++) {
        CHECK_RV(CHM_TokenFileGetToken(file, i, token), CHMR_OK);
        len = sizeof sig;
        CHECK_RV(CHM_TokenFileGetSignature(file, i, sig, &len), CHMR_OK);
        CHECK_EQ(openssl_verify(pub_path, token, sig, len, &verified), 0);
        CHECK(verified);
    }
    CHM_TokenFileClose(file);
}

int main(void) {
    const char *k2048 = NULL, *k3072 = NULL, *k4096 = NULL;
    check_begin("test_interop");
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK)) {
        return check_end();
    }
    k2048 = tpath("k2048.pem");
    k3072 = tpath("k3072-pkcs1.pem");
    k4096 = tpath("k4096.pem");
    if (CHECK(openssl_rsa_key(k2048, 2048, 0) == 0) &&
        CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", k2048, tpath("k2048.pub")) == 0)) {
        signatures_match_openssl("RSA-2048 from openssl genrsa (PKCS#8)", k2048,
                                 tpath("k2048.pub"), 2048);
        hand_signed_file_verifies(k2048, tpath("k2048.pub"));
        quorum_and_registration_match_openssl(k2048, tpath("k2048.pub"));
        sign_token_file_verified_by_openssl(k2048, tpath("k2048.pub"));
    }
    if (CHECK(openssl_rsa_key(k3072, 3072, 1) == 0) &&
        CHECK(run("openssl rsa -in '%s' -RSAPublicKey_out -out '%s'", k3072,
                  tpath("k3072-pkcs1.pub")) == 0) &&
        CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", k3072, tpath("k3072.pub")) == 0)) {
        /* The library reads the PKCS#1 public key; openssl is given the SPKI one. */
        CHM_KEY_HANDLE pub = SENTINEL_HANDLE;
        CHECK_RV(CHM_PublicKeyLoad(tpath("k3072-pkcs1.pub"), &pub), CHMR_OK);
        CHM_KeyClose(pub);
        signatures_match_openssl("RSA-3072 from openssl genrsa -traditional (PKCS#1)", k3072,
                                 tpath("k3072.pub"), 3072);
    }
    if (CHECK(openssl_rsa_key(k4096, 4096, 0) == 0) &&
        CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", k4096, tpath("k4096.pub")) == 0)) {
        signatures_match_openssl("RSA-4096 from openssl genrsa", k4096, tpath("k4096.pub"),
                                 4096);
    }
    if (CHECK_RV(CHM_GenerateKeyPair(2048, tpath("gen.pem"), tpath("gen.pub")), CHMR_OK)) {
        signatures_match_openssl("RSA-2048 from CHM_GenerateKeyPair", tpath("gen.pem"),
                                 tpath("gen.pub"), 2048);
    }
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
