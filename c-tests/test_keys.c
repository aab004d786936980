/*
 * Keys: loading private and public keys from files and memory, key pair
 * generation, single-token signing and verification, key handles of the wrong
 * kind, and closing keys.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cloudhsm_mfa.h"

static uint8_t token[CHM_TOKEN_LEN];

/* Signs `token` with `key`; returns the signature length, 0 on failure. */
static size_t sign(CHM_KEY_HANDLE key, const uint8_t *tok, uint8_t *sig) {
    size_t len = CHM_MAX_SIGNATURE_LEN;
    if (!CHECK_RV(CHM_SignToken(key, tok, CHM_TOKEN_LEN, sig, &len), CHMR_OK)) {
        return 0;
    }
    return len;
}

static void test_load_keys(void) {
    CHM_KEY_HANDLE pkcs8 = SENTINEL_HANDLE, pkcs1 = SENTINEL_HANDLE, mem = SENTINEL_HANDLE;
    CHM_KEY_HANDLE spki = SENTINEL_HANDLE, rsapub = SENTINEL_HANDLE, mempub = SENTINEL_HANDLE;
    CHM_KEY_HANDLE derived = SENTINEL_HANDLE, big = SENTINEL_HANDLE, bigpub = SENTINEL_HANDLE;
    uint32_t bits = 0;
    uint8_t s1[CHM_MAX_SIGNATURE_LEN], s2[CHM_MAX_SIGNATURE_LEN], s3[CHM_MAX_SIGNATURE_LEN];
    unsigned char *pem;
    size_t pem_len = 0;

    section("loading RSA keys written by openssl (PKCS#8, PKCS#1, SPKI, RSA PUBLIC KEY)");
    if (!CHECK(openssl_rsa_key(tpath("key.pem"), 2048, 0) == 0) ||
        !CHECK(run("openssl rsa -in '%s' -traditional -out '%s'", tpath("key.pem"),
                   tpath("key-pkcs1.pem")) == 0) ||
        !CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", tpath("key.pem"),
                   tpath("key.pub")) == 0) ||
        !CHECK(run("openssl rsa -in '%s' -RSAPublicKey_out -out '%s'", tpath("key.pem"),
                   tpath("key-pkcs1.pub")) == 0) ||
        !CHECK(openssl_rsa_key(tpath("key3072.pem"), 3072, 0) == 0)) {
        return;
    }
    pem = read_file(tpath("key.pem"), &pem_len);
    CHECK_CONTAINS((const char *)pem, "-----BEGIN PRIVATE KEY-----");
    free(pem);
    pem = read_file(tpath("key-pkcs1.pem"), &pem_len);
    CHECK_CONTAINS((const char *)pem, "-----BEGIN RSA PRIVATE KEY-----");
    CHECK_RV(CHM_PrivateKeyFromPem(pem, pem_len, &mem), CHMR_OK);
    free(pem);
    pem = read_file(tpath("key-pkcs1.pub"), &pem_len);
    CHECK_CONTAINS((const char *)pem, "-----BEGIN RSA PUBLIC KEY-----");
    free(pem);
    pem = read_file(tpath("key.pub"), &pem_len);
    CHECK_CONTAINS((const char *)pem, "-----BEGIN PUBLIC KEY-----");
    CHECK_RV(CHM_PublicKeyFromPem(pem, pem_len, &mempub), CHMR_OK);
    free(pem);

    CHECK_RV(CHM_PrivateKeyLoad(tpath("key.pem"), &pkcs8), CHMR_OK);
    CHECK_RV(CHM_PrivateKeyLoad(tpath("key-pkcs1.pem"), &pkcs1), CHMR_OK);
    CHECK_RV(CHM_PublicKeyLoad(tpath("key.pub"), &spki), CHMR_OK);
    CHECK_RV(CHM_PublicKeyLoad(tpath("key-pkcs1.pub"), &rsapub), CHMR_OK);
    CHECK_RV(CHM_PublicKeyFromPrivate(pkcs8, &derived), CHMR_OK);
    CHECK(pkcs8 != pkcs1 && pkcs1 != mem && spki != rsapub && derived != spki);
    CHECK(pkcs8 != SENTINEL_HANDLE && pkcs8 != CHM_INVALID_HANDLE);

    CHECK_RV(CHM_KeyGetBits(pkcs8, &bits), CHMR_OK);
    CHECK_EQ(bits, 2048);
    bits = 0;
    CHECK_RV(CHM_KeyGetBits(rsapub, &bits), CHMR_OK);
    CHECK_EQ(bits, 2048);
    bits = 0;
    CHECK_RV(CHM_KeyGetBits(derived, &bits), CHMR_OK);
    CHECK_EQ(bits, 2048);

    /* The three private handles hold the same key: PKCS#1 v1.5 is deterministic. */
    CHECK_EQ(sign(pkcs8, token, s1), 256);
    CHECK_EQ(sign(pkcs1, token, s2), 256);
    CHECK_EQ(sign(mem, token, s3), 256);
    CHECK_MEM_EQ(s1, s2, 256);
    CHECK_MEM_EQ(s1, s3, 256);
    CHECK_RV(CHM_VerifyToken(spki, token, CHM_TOKEN_LEN, s1, 256), CHMR_OK);
    CHECK_RV(CHM_VerifyToken(rsapub, token, CHM_TOKEN_LEN, s1, 256), CHMR_OK);
    CHECK_RV(CHM_VerifyToken(mempub, token, CHM_TOKEN_LEN, s1, 256), CHMR_OK);
    CHECK_RV(CHM_VerifyToken(derived, token, CHM_TOKEN_LEN, s1, 256), CHMR_OK);

    section("3072-bit keys");
    CHECK_RV(CHM_PrivateKeyLoad(tpath("key3072.pem"), &big), CHMR_OK);
    CHECK_RV(CHM_KeyGetBits(big, &bits), CHMR_OK);
    CHECK_EQ(bits, 3072);
    CHECK_RV(CHM_PublicKeyFromPrivate(big, &bigpub), CHMR_OK);
    CHECK_EQ(sign(big, token, s2), 384);
    CHECK_RV(CHM_VerifyToken(bigpub, token, CHM_TOKEN_LEN, s2, 384), CHMR_OK);
    /* A 2048-bit signature for a 3072-bit key and the other way round. */
    CHECK_ERR(CHM_VerifyToken(bigpub, token, CHM_TOKEN_LEN, s1, 256), CHMR_SIGNATURE_LEN_RANGE,
              "signature is 256 bytes; the 3072-bit key makes 384-byte signatures");
    CHECK_ERR(CHM_VerifyToken(spki, token, CHM_TOKEN_LEN, s2, 384), CHMR_SIGNATURE_LEN_RANGE,
              "signature is 384 bytes; the 2048-bit key makes 256-byte signatures");

    CHECK_RV(CHM_KeyClose(pkcs8), CHMR_OK);
    CHECK_RV(CHM_KeyClose(pkcs1), CHMR_OK);
    CHECK_RV(CHM_KeyClose(mem), CHMR_OK);
    CHECK_RV(CHM_KeyClose(spki), CHMR_OK);
    CHECK_RV(CHM_KeyClose(rsapub), CHMR_OK);
    CHECK_RV(CHM_KeyClose(mempub), CHMR_OK);
    CHECK_RV(CHM_KeyClose(derived), CHMR_OK);
    CHECK_RV(CHM_KeyClose(big), CHMR_OK);
    CHECK_RV(CHM_KeyClose(bigpub), CHMR_OK);
}

/* The PEM text of a key's public half, or NULL (malloc'ed). */
static char *public_pem_of(CHM_KEY_HANDLE key) {
    size_t len = 0;
    char *text;
    if (!CHECK_RV(CHM_PublicKeyToPem(key, NULL, &len), CHMR_OK) || (text = malloc(len)) == NULL) {
        return NULL;
    }
    if (!CHECK_RV(CHM_PublicKeyToPem(key, text, &len), CHMR_OK)) {
        free(text);
        return NULL;
    }
    return text;
}

static void test_public_key_to_pem(void) {
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE, pub = SENTINEL_HANDLE, rsapub = SENTINEL_HANDLE;
    CHM_KEY_HANDLE again = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    unsigned char *openssl_text;
    char *from_priv, *from_pub, *from_rsapub;
    char buf[1024];
    size_t len, needed;
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];

    section("CHM_PublicKeyToPem: the SubjectPublicKeyInfo PEM that openssl writes");
    if (!CHECK_RV(CHM_PrivateKeyLoad(tpath("key-pkcs1.pem"), &priv), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyLoad(tpath("key.pub"), &pub), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyLoad(tpath("key-pkcs1.pub"), &rsapub), CHMR_OK)) {
        return;
    }
    openssl_text = read_file(tpath("key.pub"), NULL); /* openssl rsa -pubout */
    from_priv = public_pem_of(priv);
    from_pub = public_pem_of(pub);
    from_rsapub = public_pem_of(rsapub);
    CHECK_STR_EQ(from_priv, (const char *)openssl_text);
    CHECK_STR_EQ(from_pub, (const char *)openssl_text);
    CHECK_STR_EQ(from_rsapub, (const char *)openssl_text); /* PKCS#1 in, SPKI out */
    CHECK_CONTAINS(from_priv, "-----BEGIN PUBLIC KEY-----\n");
    /* The text loads back as the same key. */
    if (from_priv != NULL) {
        CHECK_RV(CHM_PublicKeyFromPem((const uint8_t *)from_priv, strlen(from_priv), &again),
                 CHMR_OK);
        CHECK_EQ(sign(priv, token, sig), 256);
        CHECK_RV(CHM_VerifyToken(again, token, CHM_TOKEN_LEN, sig, 256), CHMR_OK);
        CHM_KeyClose(again);
    }

    section("CHM_PublicKeyToPem: two-call idiom");
    needed = from_pub != NULL ? strlen(from_pub) + 1 : 0;
    len = 0;
    CHECK_RV(CHM_PublicKeyToPem(pub, NULL, &len), CHMR_OK);
    CHECK_EQ(len, needed);
    memset(buf, CANARY, sizeof buf);
    len = needed - 1;
    CHECK_ERR(CHM_PublicKeyToPem(pub, buf, &len), CHMR_BUFFER_TOO_SMALL,
              "public key PEM needs ");
    CHECK_EQ(len, needed);
    CHECK(all_canary(buf, sizeof buf));
    len = needed;
    CHECK_RV(CHM_PublicKeyToPem(pub, buf, &len), CHMR_OK);
    CHECK_EQ(len, needed);
    CHECK(from_pub != NULL && strcmp(buf, from_pub) == 0);
    CHECK(all_canary(buf + needed, sizeof buf - needed));

    section("CHM_PublicKeyToPem: handles that are not keys");
    CHECK_RV(CHM_TokenFileCreateMfa(token, 1, &file), CHMR_OK);
    memset(buf, CANARY, sizeof buf);
    len = sizeof buf;
    CHECK_ERR(CHM_PublicKeyToPem(file, buf, &len), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_EQ(len, sizeof buf);
    CHECK(all_canary(buf, sizeof buf));
    CHM_TokenFileClose(file);
    CHECK_RV(CHM_KeyClose(rsapub), CHMR_OK);
    CHECK_ERR(CHM_PublicKeyToPem(rsapub, buf, &len), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_ERR(CHM_PublicKeyToPem(CHM_INVALID_HANDLE, NULL, &len), CHMR_KEY_HANDLE_INVALID,
              "0 is not an open");

    free(openssl_text);
    free(from_priv);
    free(from_pub);
    free(from_rsapub);
    CHM_KeyClose(priv);
    CHM_KeyClose(pub);
}

static void test_generate_key_pair(void) {
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE, pub = SENTINEL_HANDLE;
    uint32_t bits = 0;
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    unsigned char *text;
    static const uint32_t bad_sizes[] = {0, 1024, 2047, 2049, 4095, 8192};
    size_t i;
    file_snapshot old_priv;

    section("CHM_GenerateKeyPair");
    CHECK_RV(CHM_GenerateKeyPair(2048, tpath("gen.pem"), tpath("gen.pub")), CHMR_OK);
    CHECK_EQ(file_mode(tpath("gen.pem")), 0600);
    CHECK_EQ(file_mode(tpath("gen.pub")), 0644);
    text = read_file(tpath("gen.pem"), NULL);
    CHECK_CONTAINS((const char *)text, "-----BEGIN PRIVATE KEY-----");
    free(text);
    text = read_file(tpath("gen.pub"), NULL);
    CHECK_CONTAINS((const char *)text, "-----BEGIN PUBLIC KEY-----");
    free(text);
    /* openssl reads both and finds them consistent. */
    CHECK(run("openssl pkey -in '%s' -check -noout", tpath("gen.pem")) == 0);
    CHECK(run("openssl pkey -in '%s' -pubout -out '%s' && cmp '%s' '%s'", tpath("gen.pem"),
              tpath("gen-from-openssl.pub"), tpath("gen-from-openssl.pub"),
              tpath("gen.pub")) == 0);
    CHECK(run("openssl rsa -in '%s' -noout -text | grep -q 'Private-Key: (2048 bit'",
              tpath("gen.pem")) == 0);

    CHECK_RV(CHM_PrivateKeyLoad(tpath("gen.pem"), &priv), CHMR_OK);
    CHECK_RV(CHM_PublicKeyLoad(tpath("gen.pub"), &pub), CHMR_OK);
    CHECK_RV(CHM_KeyGetBits(priv, &bits), CHMR_OK);
    CHECK_EQ(bits, 2048);
    CHECK_EQ(sign(priv, token, sig), 256);
    CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 256), CHMR_OK);
    CHECK_RV(CHM_KeyClose(priv), CHMR_OK);
    CHECK_RV(CHM_KeyClose(pub), CHMR_OK);

    /* A second generation gives another key. */
    CHECK_RV(CHM_GenerateKeyPair(2048, tpath("gen2.pem"), tpath("gen2.pub")), CHMR_OK);
    CHECK_RV(CHM_PublicKeyLoad(tpath("gen2.pub"), &pub), CHMR_OK);
    CHECK_ERR(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 256), CHMR_SIGNATURE_INVALID,
              "signature does not verify with the public key");
    CHECK_RV(CHM_KeyClose(pub), CHMR_OK);

    CHECK_RV(CHM_GenerateKeyPair(3072, tpath("gen3072.pem"), tpath("gen3072.pub")), CHMR_OK);
    CHECK_RV(CHM_PublicKeyLoad(tpath("gen3072.pub"), &pub), CHMR_OK);
    CHECK_RV(CHM_KeyGetBits(pub, &bits), CHMR_OK);
    CHECK_EQ(bits, 3072);
    CHECK_RV(CHM_KeyClose(pub), CHMR_OK);

    section("CHM_GenerateKeyPair refuses bad sizes and paths and writes nothing");
    for (i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "cannot generate an RSA key of %lu bits; choose 2048, 3072 or 4096",
                 (unsigned long)bad_sizes[i]);
        CHECK_ERR(CHM_GenerateKeyPair(bad_sizes[i], tpath("bad.pem"), tpath("bad.pub")),
                  CHMR_ARGUMENTS_BAD, want);
        CHECK(!file_exists(tpath("bad.pem")) && !file_exists(tpath("bad.pub")));
    }
    CHECK_ERR(CHM_GenerateKeyPair(2048, tpath("same.pem"), tpath("same.pem")),
              CHMR_ARGUMENTS_BAD, "the private and public key paths must differ");
    CHECK(!file_exists(tpath("same.pem")));
    CHECK_ERR(CHM_GenerateKeyPair(2048, tpath("no-such-dir/k.pem"), tpath("no-such-dir/k.pub")),
              CHMR_FILE_ERROR, "cannot write ");
    CHECK_LAST_ERROR("no-such-dir/k.pem");
    CHECK(!file_exists(tpath("no-such-dir")));

    /* An existing private key must survive a generation that fails half-way: a
     * private key whose public half was never written is a lost MFA key. */
    snapshot_take(&old_priv, tpath("gen.pem"));
    CHECK_ERR(CHM_GenerateKeyPair(2048, tpath("gen.pem"), tpath("no-such-dir/gen.pub")),
              CHMR_FILE_ERROR, "no-such-dir/gen.pub");
    CHECK(snapshot_unchanged(&old_priv, tpath("gen.pem")));
    snapshot_free(&old_priv);

    /* A symbolic link at the target is refused, and what it points to is kept. */
    CHECK(symlink(tpath("gen2.pem"), tpath("link.pem")) == 0);
    snapshot_take(&old_priv, tpath("gen2.pem"));
    CHECK_ERR(CHM_GenerateKeyPair(2048, tpath("link.pem"), tpath("link.pub")), CHMR_FILE_ERROR,
              "symbolic link");
    CHECK(snapshot_unchanged(&old_priv, tpath("gen2.pem")));
    CHECK(!file_exists(tpath("link.pub")));
    snapshot_free(&old_priv);
}

static void test_sign_and_verify(void) {
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE, pub = SENTINEL_HANDLE, other = SENTINEL_HANDLE;
    uint8_t sig[CHM_MAX_SIGNATURE_LEN + 16];
    uint8_t again[CHM_MAX_SIGNATURE_LEN];
    uint8_t long_token[CHM_TOKEN_LEN + 1];
    uint8_t other_token[CHM_TOKEN_LEN];
    size_t len;

    section("CHM_SignToken: two-call idiom");
    if (!CHECK_RV(CHM_PrivateKeyLoad(tpath("key.pem"), &priv), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyFromPrivate(priv, &pub), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyLoad(tpath("gen.pub"), &other), CHMR_OK)) {
        return;
    }
    len = 0;
    CHECK_RV(CHM_SignToken(priv, token, CHM_TOKEN_LEN, NULL, &len), CHMR_OK);
    CHECK_EQ(len, 256);
    len = 12345; /* the capacity is ignored when the buffer is NULL */
    CHECK_RV(CHM_SignToken(priv, token, CHM_TOKEN_LEN, NULL, &len), CHMR_OK);
    CHECK_EQ(len, 256);
    memset(sig, CANARY, sizeof sig);
    len = 255;
    CHECK_ERR(CHM_SignToken(priv, token, CHM_TOKEN_LEN, sig, &len), CHMR_BUFFER_TOO_SMALL,
              "signature needs 256 bytes; the buffer has 255");
    CHECK_EQ(len, 256);
    CHECK(all_canary(sig, sizeof sig));
    len = 0;
    CHECK_RV(CHM_SignToken(priv, token, CHM_TOKEN_LEN, sig, &len), CHMR_BUFFER_TOO_SMALL);
    CHECK_EQ(len, 256);
    CHECK(all_canary(sig, sizeof sig));
    len = 256;
    CHECK_RV(CHM_SignToken(priv, token, CHM_TOKEN_LEN, sig, &len), CHMR_OK);
    CHECK_EQ(len, 256);
    CHECK(!all_canary(sig, 256));
    CHECK(all_canary(sig + 256, sizeof sig - 256));
    memset(again, CANARY, sizeof again);
    len = sizeof again;
    CHECK_RV(CHM_SignToken(priv, token, CHM_TOKEN_LEN, again, &len), CHMR_OK);
    CHECK_EQ(len, 256); /* a larger buffer: *len is the bytes written */
    CHECK(all_canary(again + 256, sizeof again - 256));
    CHECK_MEM_EQ(sig, again, 256);

    section("CHM_SignToken refuses tokens that are not 32 bytes");
    memset(again, CANARY, sizeof again);
    len = sizeof again;
    CHECK_ERR(CHM_SignToken(priv, token, 31, again, &len), CHMR_ARGUMENTS_BAD,
              "token is 31 bytes; a token is 32 bytes");
    CHECK_EQ(len, sizeof again);
    CHECK(all_canary(again, sizeof again));
    memcpy(long_token, token, CHM_TOKEN_LEN);
    long_token[CHM_TOKEN_LEN] = 0;
    CHECK_ERR(CHM_SignToken(priv, long_token, sizeof long_token, again, &len),
              CHMR_ARGUMENTS_BAD, "token is 33 bytes");
    CHECK_ERR(CHM_SignToken(priv, NULL, 0, again, &len), CHMR_ARGUMENTS_BAD,
              "token is 0 bytes");
    CHECK(all_canary(again, sizeof again));

    section("CHM_VerifyToken");
    CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 256), CHMR_OK);
    sig[0] ^= 0x80;
    CHECK_ERR(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 256), CHMR_SIGNATURE_INVALID,
              "signature does not verify with the public key");
    sig[0] ^= 0x80;
    sig[255] ^= 0x01;
    CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 256), CHMR_SIGNATURE_INVALID);
    sig[255] ^= 0x01;
    memcpy(other_token, token, CHM_TOKEN_LEN);
    other_token[31] ^= 0x01;
    CHECK_RV(CHM_VerifyToken(pub, other_token, CHM_TOKEN_LEN, sig, 256),
             CHMR_SIGNATURE_INVALID);
    CHECK_RV(CHM_VerifyToken(other, token, CHM_TOKEN_LEN, sig, 256), CHMR_SIGNATURE_INVALID);
    CHECK_ERR(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 255), CHMR_SIGNATURE_LEN_RANGE,
              "signature is 255 bytes; the 2048-bit key makes 256-byte signatures");
    CHECK_ERR(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 257), CHMR_SIGNATURE_LEN_RANGE,
              "signature is 257 bytes");
    CHECK_ERR(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, NULL, 0), CHMR_SIGNATURE_LEN_RANGE,
              "signature is 0 bytes");
    CHECK_ERR(CHM_VerifyToken(pub, token, 16, sig, 256), CHMR_ARGUMENTS_BAD,
              "token is 16 bytes; a token is 32 bytes");
    /* The untouched signature still verifies. */
    CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 256), CHMR_OK);

    CHM_KeyClose(priv);
    CHM_KeyClose(pub);
    CHM_KeyClose(other);
}

static void test_wrong_kind_handles(void) {
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE, pub = SENTINEL_HANDLE, out = SENTINEL_HANDLE;
    CHM_TOKEN_FILE_HANDLE file = SENTINEL_HANDLE;
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    size_t len = sizeof sig;
    uint32_t bits = 1, kind = 0, status = 99;

    section("handles of the wrong kind");
    if (!CHECK_RV(CHM_PrivateKeyLoad(tpath("key.pem"), &priv), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyFromPrivate(priv, &pub), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileCreateMfa(token, 1, &file), CHMR_OK)) {
        return;
    }
    CHECK_EQ(sign(priv, token, sig), 256);

    /* A public key where a private key is needed. */
    memset(sig + 256, CANARY, 256);
    len = 256;
    CHECK_ERR(CHM_SignToken(pub, token, CHM_TOKEN_LEN, sig + 256, &len),
              CHMR_KEY_HANDLE_INVALID, "is not an open private key handle");
    CHECK(all_canary(sig + 256, 256));
    CHECK_EQ(len, 256);
    CHECK_ERR(CHM_PublicKeyFromPrivate(pub, &out), CHMR_KEY_HANDLE_INVALID,
              "is not an open private key handle");
    CHECK_EQ(out, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileSign(file, pub, NULL), CHMR_KEY_HANDLE_INVALID,
              "is not an open private key handle");
    /* A private key where a public key is needed. */
    CHECK_ERR(CHM_VerifyToken(priv, token, CHM_TOKEN_LEN, sig, 256), CHMR_KEY_HANDLE_INVALID,
              "is not an open public key handle");
    CHECK_ERR(CHM_TokenFileVerify(file, priv, NULL), CHMR_KEY_HANDLE_INVALID,
              "is not an open public key handle");
    CHECK_ERR(CHM_TokenFileCheckEntry(file, priv, 0, &status), CHMR_KEY_HANDLE_INVALID,
              "is not an open public key handle");
    CHECK_EQ(status, 99);
    /* A token file handle passed as a key. */
    CHECK_ERR(CHM_SignToken(file, token, CHM_TOKEN_LEN, sig + 256, &len),
              CHMR_KEY_HANDLE_INVALID, "is not an open private key handle");
    CHECK_ERR(CHM_VerifyToken(file, token, CHM_TOKEN_LEN, sig, 256), CHMR_KEY_HANDLE_INVALID,
              "is not an open public key handle");
    CHECK_ERR(CHM_KeyGetBits(file, &bits), CHMR_KEY_HANDLE_INVALID, "is not an open");
    CHECK_EQ(bits, 1);
    CHECK_ERR(CHM_PublicKeyFromPrivate(file, &out), CHMR_KEY_HANDLE_INVALID,
              "is not an open private key handle");
    CHECK_EQ(out, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileSign(file, file, NULL), CHMR_KEY_HANDLE_INVALID,
              "is not an open private key handle");
    CHECK_ERR(CHM_KeyClose(file), CHMR_KEY_HANDLE_INVALID,
              "is not an open private or public key handle");
    /* ... and the token file is still open. */
    CHECK_RV(CHM_TokenFileGetKind(file, &kind), CHMR_OK);
    CHECK_EQ(kind, CHM_TOKEN_FILE_MFA);
    /* A key handle passed as a token file. */
    kind = 0;
    CHECK_ERR(CHM_TokenFileGetKind(priv, &kind), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_EQ(kind, 0);
    CHECK_ERR(CHM_TokenFileSign(priv, priv, NULL), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_ERR(CHM_TokenFileVerify(pub, pub, NULL), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    CHECK_ERR(CHM_TokenFileClose(pub), CHMR_OBJECT_HANDLE_INVALID,
              "is not an open token file handle");
    /* ... and the key is still open. */
    CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 256), CHMR_OK);

    section("closing keys");
    CHECK_RV(CHM_KeyClose(priv), CHMR_OK);
    CHECK_ERR(CHM_KeyClose(priv), CHMR_KEY_HANDLE_INVALID, "is not an open");
    len = sizeof sig;
    CHECK_ERR(CHM_SignToken(priv, token, CHM_TOKEN_LEN, sig, &len), CHMR_KEY_HANDLE_INVALID,
              "is not an open private key handle");
    /* The public key taken from it lives on. */
    CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, 256), CHMR_OK);
    CHECK_RV(CHM_KeyGetBits(pub, &bits), CHMR_OK);
    CHECK_EQ(bits, 2048);
    CHECK_RV(CHM_KeyClose(pub), CHMR_OK);
    CHECK_RV(CHM_KeyGetBits(pub, &bits), CHMR_KEY_HANDLE_INVALID);
    CHECK_RV(CHM_TokenFileClose(file), CHMR_OK);
}

int main(void) {
    check_begin("test_keys");
    random_bytes(token, sizeof token);
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK)) {
        return check_end();
    }
    test_load_keys();
    test_public_key_to_pem();
    test_generate_key_pair();
    test_sign_and_verify();
    test_wrong_kind_handles();
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
