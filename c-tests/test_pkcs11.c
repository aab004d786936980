/*
 * Keys on PKCS#11 tokens (SPEC section 12), on a real SoftHSM2 store of this
 * program's own (SOFTHSM2_CONF in its temporary directory): CHM_PrivateKeyLoad and
 * CHM_PrivateKeyOpen with pkcs11: URIs, signatures identical to openssl's, every
 * way of giving the PIN, wrong PINs, URIs that match no key, CHM_PublicKeyLoad from
 * a URI, CHM_GenerateKeyPair on the token, and a host program that initialised the
 * module itself before the library.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define PIN "1234-c-test-pin"

static const char *module_path(void) {
    static const char *const paths[] = {
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (access(paths[i], R_OK) == 0) {
            return paths[i];
        }
    }
    return NULL;
}

static char uri_buf[4][1024];
static int uri_next;

/* The URI of `object` on token "c", with `query` appended after module-path. */
static const char *uri(const char *object, const char *query) {
    char *out = uri_buf[uri_next++ % 4];
    snprintf(out, sizeof uri_buf[0], "pkcs11:token=c;object=%s?module-path=%s%s", object,
             module_path(), query);
    return out;
}

/* A SoftHSM2 store in the temporary directory, token "c" with the openssl key
 * key.pem imported as "mfa" (CKA_ID 01). */
static int make_store(void) {
    char conf[512];
    int n = snprintf(conf, sizeof conf,
                     "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
                     tpath("tokens"));
    if (!CHECK(n > 0 && (size_t)n < sizeof conf) ||
        !CHECK(run("mkdir -p '%s'", tpath("tokens")) == 0) ||
        !CHECK(write_file(tpath("softhsm2.conf"), conf, (size_t)n) == 0) ||
        !CHECK(setenv("SOFTHSM2_CONF", tpath("softhsm2.conf"), 1) == 0) ||
        !CHECK(run("softhsm2-util --init-token --free --label c --pin " PIN " --so-pin 5678") ==
               0) ||
        !CHECK(openssl_rsa_key(tpath("key.pem"), 2048, 0) == 0) ||
        !CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", tpath("key.pem"), tpath("key.pub")) ==
               0) ||
        !CHECK(run("softhsm2-util --import '%s' --token c --label mfa --id 01 --pin " PIN,
                   tpath("key.pem")) == 0)) {
        return -1;
    }
    return 0;
}

/* Signs `token` with `key` and checks the signature equals openssl's. */
static void signs_like_openssl(CHM_KEY_HANDLE key, const uint8_t *token) {
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    size_t len = sizeof sig, expected_len = 0;
    unsigned char *expected;
    if (!CHECK(write_file(tpath("token.bin"), token, CHM_TOKEN_LEN) == 0) ||
        !CHECK(run("openssl pkeyutl -sign -inkey '%s' -pkeyopt digest:sha256 -in '%s' -out '%s'",
                   tpath("key.pem"), tpath("token.bin"), tpath("token.sig")) == 0)) {
        return;
    }
    if (!CHECK_RV(CHM_SignToken(key, token, CHM_TOKEN_LEN, sig, &len), CHMR_OK)) {
        return;
    }
    expected = read_file(tpath("token.sig"), &expected_len);
    CHECK(expected != NULL && expected_len == len && memcmp(expected, sig, len) == 0);
    free(expected);
}

static void test_open_and_sign(void) {
    uint8_t token[CHM_TOKEN_LEN];
    CHM_KEY_HANDLE key = SENTINEL_HANDLE, pub = SENTINEL_HANDLE;
    uint32_t bits = 0;
    random_bytes(token, sizeof token);

    section("CHM_PrivateKeyLoad with a pkcs11: URI (pin-value) signs as openssl does");
    if (CHECK_RV(CHM_PrivateKeyLoad(uri("mfa", "&pin-value=" PIN), &key), CHMR_OK)) {
        CHECK_RV(CHM_KeyGetBits(key, &bits), CHMR_OK);
        CHECK_EQ(bits, 2048);
        signs_like_openssl(key, token);
        CHECK_RV(CHM_KeyClose(key), CHMR_OK);
    }

    section("CHM_PrivateKeyOpen: the caller's PIN first, then pin-source, then the environment");
    key = SENTINEL_HANDLE;
    if (CHECK_RV(CHM_PrivateKeyOpen(uri("mfa", "&pin-value=wrong"), PIN, &key), CHMR_OK)) {
        signs_like_openssl(key, token);
        CHECK_RV(CHM_KeyClose(key), CHMR_OK);
    }
    if (CHECK(write_file(tpath("pin"), PIN "\n", strlen(PIN) + 1) == 0)) {
        char query[600];
        snprintf(query, sizeof query, "&pin-source=file:%s", tpath("pin"));
        key = SENTINEL_HANDLE;
        if (CHECK_RV(CHM_PrivateKeyOpen(uri("mfa", query), NULL, &key), CHMR_OK)) {
            signs_like_openssl(key, token);
            CHECK_RV(CHM_KeyClose(key), CHMR_OK);
        }
    }
    CHECK(setenv("CLOUDHSM_MFA_PKCS11_PIN", PIN, 1) == 0);
    key = SENTINEL_HANDLE;
    if (CHECK_RV(CHM_PrivateKeyOpen(uri("mfa", ""), NULL, &key), CHMR_OK)) {
        signs_like_openssl(key, token);
        CHECK_RV(CHM_KeyClose(key), CHMR_OK);
    }
    CHECK(unsetenv("CLOUDHSM_MFA_PKCS11_PIN") == 0);

    section("no PIN and no terminal, a wrong PIN, no such key, an unknown attribute");
    key = SENTINEL_HANDLE;
    CHECK_ERR(CHM_PrivateKeyOpen(uri("mfa", ""), NULL, &key), CHMR_PKCS11_PIN_REQUIRED,
              "CLOUDHSM_MFA_PKCS11_PIN");
    CHECK_EQ(key, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PrivateKeyOpen(uri("mfa", "&pin-value=not-it-4321"), NULL, &key),
              CHMR_PKCS11_PIN_INCORRECT, "refused the PIN");
    CHECK(strstr(last_error(), "not-it-4321") == NULL);
    CHECK_CONTAINS(last_error(), "pin-value=***");
    CHECK_ERR(CHM_PrivateKeyOpen(uri("absent", "&pin-value=" PIN), NULL, &key),
              CHMR_PKCS11_NO_MATCH, "0 private keys on token \"c\"");
    CHECK_ERR(CHM_PrivateKeyOpen(uri("mfa", "&colour=blue"), PIN, &key), CHMR_ARGUMENTS_BAD,
              "unknown attribute \"colour\"");
    CHECK_ERR(CHM_PrivateKeyOpen(NULL, PIN, &key), CHMR_ARGUMENTS_BAD, "name");
    CHECK_ERR(CHM_PrivateKeyOpen(uri("mfa", ""), PIN, NULL), CHMR_ARGUMENTS_BAD, "key");
    CHECK_EQ(key, SENTINEL_HANDLE);

    section("CHM_PublicKeyLoad reads the public key of the pair on the token");
    if (CHECK_RV(CHM_PublicKeyLoad(uri("mfa", ""), &pub), CHMR_OK) &&
        CHECK_RV(CHM_PrivateKeyOpen(uri("mfa", ""), PIN, &key), CHMR_OK)) {
        uint8_t sig[CHM_MAX_SIGNATURE_LEN];
        size_t len = sizeof sig;
        CHECK_RV(CHM_SignToken(key, token, CHM_TOKEN_LEN, sig, &len), CHMR_OK);
        CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, len), CHMR_OK);
        CHECK_RV(CHM_KeyClose(key), CHMR_OK);
        CHECK_RV(CHM_KeyClose(pub), CHMR_OK);
    }
}

static void test_generate_on_the_token(void) {
    CHM_KEY_HANDLE key = SENTINEL_HANDLE, pub = SENTINEL_HANDLE;
    uint8_t token[CHM_TOKEN_LEN], sig[CHM_MAX_SIGNATURE_LEN];
    size_t len = sizeof sig;
    random_bytes(token, sizeof token);

    section("CHM_GenerateKeyPair with a pkcs11: URI makes the pair on the token");
    if (!CHECK_RV(CHM_GenerateKeyPair(3072, uri("made", "&pin-value=" PIN), tpath("made.pub")),
                  CHMR_OK)) {
        return;
    }
    CHECK(file_exists(tpath("made.pub")));
    CHECK_ERR(CHM_GenerateKeyPair(3072, uri("made", "&pin-value=" PIN), tpath("again.pub")),
              CHMR_PKCS11_KEY_EXISTS, "already holds a key");
    CHECK(!file_exists(tpath("again.pub")));
    if (CHECK_RV(CHM_PrivateKeyOpen(uri("made", ""), PIN, &key), CHMR_OK) &&
        CHECK_RV(CHM_PublicKeyLoad(tpath("made.pub"), &pub), CHMR_OK)) {
        CHECK_RV(CHM_SignToken(key, token, CHM_TOKEN_LEN, sig, &len), CHMR_OK);
        CHECK_EQ(len, 384);
        CHECK_RV(CHM_VerifyToken(pub, token, CHM_TOKEN_LEN, sig, len), CHMR_OK);
        CHECK_RV(CHM_KeyClose(key), CHMR_OK);
        CHECK_RV(CHM_KeyClose(pub), CHMR_OK);
    }
}

/* The host loads and initialises the module itself: the library uses it and does
 * not finalise it (the host's C_Finalize then succeeds, which it would not on a
 * module that was finalised behind its back). */
typedef unsigned long (*ck_fn)(void *);

static void test_host_initialised_module(void) {
    uint8_t token[CHM_TOKEN_LEN];
    CHM_KEY_HANDLE key = SENTINEL_HANDLE;
    void *module;
    ck_fn initialize, finalize;
    random_bytes(token, sizeof token);

    section("a host that initialised the module itself is not disturbed");
    module = dlopen(module_path(), RTLD_NOW | RTLD_LOCAL);
    if (!CHECK(module != NULL)) {
        return;
    }
    *(void **)&initialize = dlsym(module, "C_Initialize");
    *(void **)&finalize = dlsym(module, "C_Finalize");
    if (CHECK(initialize != NULL && finalize != NULL) && CHECK_EQ(initialize(NULL), 0)) {
        if (CHECK_RV(CHM_PrivateKeyOpen(uri("mfa", ""), PIN, &key), CHMR_OK)) {
            signs_like_openssl(key, token);
            CHECK_RV(CHM_KeyClose(key), CHMR_OK);
        }
        /* CKR_OK (0), not CKR_CRYPTOKI_NOT_INITIALIZED (0x190). */
        CHECK_EQ(finalize(NULL), 0);
    }
    dlclose(module);
}

int main(void) {
    check_begin("test_pkcs11");
    /* No terminal: a key with no PIN given must fail, not ask. */
    if (!freopen("/dev/null", "r", stdin)) {
        return 1;
    }
    CHECK(unsetenv("CLOUDHSM_MFA_PKCS11_PIN") == 0);
    if (!CHECK(module_path() != NULL) || make_store() != 0 ||
        !CHECK_RV(CHM_Initialize(NULL), CHMR_OK)) {
        return check_end();
    }
    test_open_and_sign();
    test_generate_on_the_token();
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    /* After CHM_Finalize, with no key of the library open. */
    if (CHECK_RV(CHM_Initialize(NULL), CHMR_OK)) {
        test_host_initialised_module();
        CHECK_RV(CHM_Finalize(), CHMR_OK);
    }
    return check_end();
}
