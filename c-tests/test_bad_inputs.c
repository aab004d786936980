/*
 * Bad token files and bad key files. Each case is a file on disk; loading it,
 * parsing its bytes and signing it in place with CHM_SignTokenFile must all
 * fail with the expected code and a message that names the file (or
 * "<buffer>"), the field and the entry, and the file must be left exactly as
 * it was (same bytes, inode and modification time).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define MIB (1024 * 1024)

static uint8_t tok[3][CHM_TOKEN_LEN];
static const char *T0, *T1;      /* base64 of two of the tokens */
static const char *SIG256;       /* base64 of 256 random bytes */
static const char *good_key;     /* a usable private key file */
static const char *good_token_file;
static CHM_KEY_HANDLE good_pub;

/* One bad token file: its bytes, the code and a text the error must contain. */
static void bad_token_file(const char *name, const void *bytes, size_t len, CHM_RV code,
                           const char *needle, const char *approver) {
    char file_name[128];
    char out_name[128];
    const char *path, *out;
    CHM_TOKEN_FILE_HANDLE h = SENTINEL_HANDLE;
    file_snapshot snap;

    printf("   case: %s\n", name);
    snprintf(file_name, sizeof file_name, "%s.json", name);
    snprintf(out_name, sizeof out_name, "%s.signed.json", name);
    path = tpath(file_name);
    out = tpath(out_name);
    if (!CHECK(write_file(path, bytes, len) == 0)) {
        return;
    }
    snapshot_take(&snap, path);

    CHECK_ERR(CHM_TokenFileLoad(path, &h), code, needle);
    CHECK_LAST_ERROR(path);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_TokenFileParse(bytes, len, &h), code, needle);
    CHECK_LAST_ERROR("<buffer>: ");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_SignTokenFile(path, good_key, NULL, approver), code, needle);
    CHECK_ERR(CHM_SignTokenFile(path, good_key, out, approver), code, needle);
    CHECK(!file_exists(out));
    CHECK(snapshot_unchanged(&snap, path));
    snapshot_free(&snap);
}

static void bad_token_text(const char *name, const char *text, CHM_RV code, const char *needle) {
    bad_token_file(name, text, strlen(text), code, needle, NULL);
}

/* A single-token MFA file with `entry` as tokens[1] (tokens[0] is valid). */
static void bad_second_entry(const char *name, const char *entry, const char *needle) {
    char doc[2048];
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}, %s]}",
             T0, entry);
    bad_token_text(name, doc, CHMR_TOKEN_FILE_INVALID, needle);
}

static void test_bad_mfa_files(void) {
    char doc[4096];
    char entry[2048];
    char t_unpadded[64];
    uint8_t short_tok[16];
    uint8_t long_tok[33];
    uint8_t short_sig[100];
    unsigned char latin1[512];
    int n;

    section("bad MFA token files");
    snprintf(doc, sizeof doc,
             "{\"version\": \"1.0\", \"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}]}", T0);
    bad_token_text("wrong-version", doc, CHMR_TOKEN_FILE_INVALID,
                   "version: is \"1.0\"; only \"2.0\" is supported");
    snprintf(doc, sizeof doc,
             "{\"version\": 2.0, \"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}]}", T0);
    bad_token_text("version-not-a-string", doc, CHMR_TOKEN_FILE_INVALID,
                   "version: is 2.0; only \"2.0\" is supported");
    snprintf(doc, sizeof doc, "{\"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}]}", T0);
    bad_token_text("missing-version", doc, CHMR_TOKEN_FILE_INVALID,
                   "version: missing; token files have \"version\": \"2.0\"");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"comment\": \"hi\", "
             "\"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}]}",
             T0);
    bad_token_text("unknown-field", doc, CHMR_TOKEN_FILE_INVALID,
                   "comment: unknown field; this file may hold only \"version\", \"tokens\"");
    bad_token_text("empty-tokens", "{\"version\": \"2.0\", \"tokens\": []}",
                   CHMR_TOKEN_FILE_INVALID,
                   "tokens: is empty; a token file has at least one token");
    bad_token_text("tokens-not-an-array", "{\"version\": \"2.0\", \"tokens\": {}}",
                   CHMR_TOKEN_FILE_INVALID, "tokens: must be an array");
    bad_token_text("missing-tokens", "{\"version\": \"2.0\"}", CHMR_TOKEN_FILE_INVALID,
                   "tokens: missing");

    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\", \"signed\": \"\", \"note\": 1}", T1);
    bad_second_entry("unknown-entry-field", entry,
                     "tokens[1].note: unknown field; a token may hold only \"unsigned\", "
                     "\"signed\"");
    bad_second_entry("entry-not-an-object", "\"x\"", "tokens[1]: must be an object");
    bad_second_entry("unsigned-not-base64", "{\"unsigned\": \"not*base64!\", \"signed\": \"\"}",
                     "tokens[1].unsigned: not valid base64 (standard alphabet, padded)");
    /* The URL-safe alphabet is not the standard one. */
    bad_second_entry("unsigned-url-safe-base64",
                     "{\"unsigned\": \"-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_8=\", "
                     "\"signed\": \"\"}",
                     "tokens[1].unsigned: not valid base64");
    n = snprintf(t_unpadded, sizeof t_unpadded, "%s", T1);
    CHECK_EQ(t_unpadded[n - 1], '='); /* 32 bytes take one padding character */
    t_unpadded[n - 1] = 0;
    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\", \"signed\": \"\"}", t_unpadded);
    bad_second_entry("unsigned-without-padding", entry, "tokens[1].unsigned: not valid base64");
    random_bytes(short_tok, sizeof short_tok);
    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\", \"signed\": \"\"}",
             b64(short_tok, sizeof short_tok));
    bad_second_entry("unsigned-16-bytes", entry,
                     "tokens[1].unsigned: decodes to 16 bytes; a token is 32 bytes");
    random_bytes(long_tok, sizeof long_tok);
    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\", \"signed\": \"\"}",
             b64(long_tok, sizeof long_tok));
    bad_second_entry("unsigned-33-bytes", entry,
                     "tokens[1].unsigned: decodes to 33 bytes; a token is 32 bytes");
    bad_second_entry("unsigned-missing", "{\"signed\": \"\"}", "tokens[1].unsigned: missing");
    bad_second_entry("unsigned-not-a-string", "{\"unsigned\": 12, \"signed\": \"\"}",
                     "tokens[1].unsigned: must be a string");
    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\", \"signed\": \"\"}", T0);
    bad_second_entry("duplicate-unsigned", entry,
                     "tokens[1].unsigned: same value as tokens[0].unsigned; tokens must be "
                     "distinct");
    random_bytes(short_sig, sizeof short_sig);
    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\", \"signed\": \"%s\"}", T1,
             b64(short_sig, sizeof short_sig));
    bad_second_entry("signature-wrong-length", entry,
                     "tokens[1].signed: signature is 100 bytes; RSA 2048, 3072 and 4096 "
                     "signatures are 256, 384 or 512 bytes");
    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\", \"signed\": \"%.100s#%s\"}", T1,
             SIG256, SIG256 + 101);
    bad_second_entry("signature-not-base64", entry, "tokens[1].signed: not valid base64");
    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\"}", T1);
    bad_second_entry("signed-missing", entry,
                     "tokens[1].signed: missing; use \"signed\": \"\" for a token not signed "
                     "yet");
    snprintf(entry, sizeof entry, "{\"unsigned\": \"%s\", \"signed\": null}", T1);
    bad_second_entry("signed-null", entry, "tokens[1].signed: must be a string");

    section("token files that are not JSON objects, not JSON, not UTF-8");
    bad_token_text("not-json", "version: 2.0\ntokens: []\n", CHMR_TOKEN_FILE_INVALID,
                   "document: not valid JSON");
    bad_token_text("empty-file", "", CHMR_TOKEN_FILE_INVALID, "document: not valid JSON");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}]} {}",
             T0);
    bad_token_text("trailing-data", doc, CHMR_TOKEN_FILE_INVALID, "document: not valid JSON");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}",
             T0);
    bad_token_text("truncated", doc, CHMR_TOKEN_FILE_INVALID, "document: not valid JSON");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"version\": \"2.0\", "
             "\"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}]}",
             T0);
    bad_token_text("duplicate-key", doc, CHMR_TOKEN_FILE_INVALID,
                   "document: not valid JSON: field \"version\" appears twice");
    bad_token_text("not-an-object", "[1, 2, 3]", CHMR_TOKEN_FILE_INVALID,
                   "document: must be a JSON object");
    /* A Latin-1 byte (0xE9) in a string. */
    n = snprintf((char *)latin1, sizeof latin1,
                 "{\"version\": \"2.0\", \"comment\": \"caf\xE9\", \"tokens\": []}");
    {
        const unsigned char *bad = memchr(latin1, 0xE9, (size_t)n);
        char needle[128];
        snprintf(needle, sizeof needle, "document: not UTF-8 text (bad byte at offset %ld)",
                 bad ? (long)(bad - latin1) : -1L);
        bad_token_file("not-utf8", latin1, (size_t)n, CHMR_TOKEN_FILE_INVALID, needle, NULL);
    }
}

static void test_bad_registration_and_approval_files(void) {
    char doc[4096];
    uint8_t data[246];
    uint8_t approval_token[CHM_TOKEN_LEN];
    const char *data_b64, *token_b64;
    CHM_TOKEN_FILE_HANDLE h = SENTINEL_HANDLE;

    section("bad registration token files");
    random_bytes(data, sizeof data);
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"tokens\": [{\"approval_data\": \"%s\", "
             "\"unsigned\": \"%s\", \"signed\": \"\"}]}",
             b64(data, 100), T0);
    bad_token_text("registration-token-not-sha256", doc, CHMR_TOKEN_FILE_INVALID,
                   "tokens[0].unsigned: is not the SHA-256 of approval_data");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"tokens\": [{\"approval_data\": \"%s\", "
             "\"unsigned\": \"%s\", \"signed\": \"\"}]}",
             b64(data, 246), T0);
    bad_token_text("registration-data-too-long", doc, CHMR_TOKEN_FILE_INVALID,
                   "tokens[0].approval_data: decodes to 246 bytes; approval data is 1 to 245 "
                   "bytes");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}, "
             "{\"approval_data\": \"%s\", \"unsigned\": \"%s\", \"signed\": \"\"}]}",
             T0, b64(data, 10), T1);
    bad_token_text("registration-data-in-mfa-file", doc, CHMR_TOKEN_FILE_INVALID,
                   "tokens[1].approval_data: present, but tokens[0] has none");

    section("bad quorum approval files");
    if (!CHECK_RV(CHM_TokenFileCreateApproval(data, 240, &h), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileGetApprovalToken(h, approval_token), CHMR_OK)) {
        return;
    }
    CHM_TokenFileClose(h);
    data_b64 = b64(data, 240);
    token_b64 = b64(approval_token, CHM_TOKEN_LEN);
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"approval_data\": \"%s\", \"token\": \"%s\", "
             "\"signatures\": []}",
             data_b64, T0);
    bad_token_file("approval-token-not-sha256", doc, strlen(doc), CHMR_TOKEN_FILE_INVALID,
                   "token: is not the SHA-256 of approval_data", "alice");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"approval_data\": \"%s\", \"token\": \"%s\"}", data_b64,
             token_b64);
    bad_token_file("approval-signatures-missing", doc, strlen(doc), CHMR_TOKEN_FILE_INVALID,
                   "signatures: missing; use \"signatures\": [] before anyone approved",
                   "alice");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"approval_data\": \"%s\", \"token\": \"%s\", "
             "\"signatures\": [], \"comment\": 1}",
             data_b64, token_b64);
    bad_token_file("approval-unknown-field", doc, strlen(doc), CHMR_TOKEN_FILE_INVALID,
                   "comment: unknown field; this file may hold only \"version\", "
                   "\"approval_data\", \"token\", \"signatures\"",
                   "alice");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"approval_data\": \"%s\", \"token\": \"%s\", "
             "\"signatures\": [{\"username\": \"alice\", \"signature\": \"%s\"}, "
             "{\"username\": \"Alice\", \"signature\": \"%s\"}]}",
             data_b64, token_b64, SIG256, SIG256);
    bad_token_file("approval-duplicate-user", doc, strlen(doc), CHMR_TOKEN_FILE_INVALID,
                   "signatures[1].username: \"alice\" already approved in signatures[0]; one "
                   "approval per user",
                   "alice");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"approval_data\": \"%s\", \"token\": \"%s\", "
             "\"signatures\": [{\"username\": \"bob-smith\", \"signature\": \"%s\"}]}",
             data_b64, token_b64, SIG256);
    bad_token_file("approval-bad-user-name", doc, strlen(doc), CHMR_TOKEN_FILE_INVALID,
                   "signatures[0].username: user name has the character '-'", "alice");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"approval_data\": \"%s\", \"token\": \"%s\", "
             "\"signatures\": [{\"username\": \"bob\", \"signature\": \"%s\"}]}",
             data_b64, token_b64, b64(data, 10));
    bad_token_file("approval-signature-wrong-length", doc, strlen(doc), CHMR_TOKEN_FILE_INVALID,
                   "signatures[0].signature: signature is 10 bytes", "alice");
    snprintf(doc, sizeof doc,
             "{\"version\": \"2.0\", \"approval_data\": \"%s\", \"token\": \"%s\", "
             "\"signatures\": [{\"username\": \"bob\", \"signature\": \"%s\", \"x\": 1}]}",
             data_b64, token_b64, SIG256);
    bad_token_file("approval-unknown-entry-field", doc, strlen(doc), CHMR_TOKEN_FILE_INVALID,
                   "signatures[0].x: unknown field; an approval holds only \"username\" and "
                   "\"signature\"",
                   "alice");
}

/* A valid MFA file of exactly `size` bytes (whitespace padding at the end). */
static char *mfa_file_of_size(size_t size) {
    char head[512];
    size_t n = (size_t)snprintf(
        head, sizeof head,
        "{\"version\": \"2.0\", \"tokens\": [{\"unsigned\": \"%s\", \"signed\": \"\"}]}", T0);
    char *doc = malloc(size + 1);
    if (doc == NULL) {
        return NULL;
    }
    memcpy(doc, head, n);
    memset(doc + n, ' ', size - n);
    doc[size] = 0;
    return doc;
}

static void test_size_limit(void) {
    char *doc;
    CHM_TOKEN_FILE_HANDLE h = SENTINEL_HANDLE;

    section("token files over 1 MiB");
    doc = mfa_file_of_size(MIB + 1);
    if (CHECK(doc != NULL)) {
        bad_token_file("over-1-mib", doc, MIB + 1, CHMR_DATA_LEN_RANGE,
                       "file is 1048577 bytes, more than the limit of 1048576 bytes", NULL);
    }
    free(doc);
    /* Exactly 1 MiB is accepted. */
    doc = mfa_file_of_size(MIB);
    if (CHECK(doc != NULL) && CHECK(write_file(tpath("exactly-1-mib.json"), doc, MIB) == 0)) {
        CHECK_RV(CHM_TokenFileLoad(tpath("exactly-1-mib.json"), &h), CHMR_OK);
        CHECK_RV(CHM_TokenFileClose(h), CHMR_OK);
        CHECK_RV(CHM_TokenFileParse((const uint8_t *)doc, MIB, &h), CHMR_OK);
        CHECK_RV(CHM_TokenFileClose(h), CHMR_OK);
    }
    free(doc);
}

/* One bad private key file: loading it (file and memory) and signing a token
 * file with it fail with `code` and `needle`; neither file changes. */
static void bad_private_key(const char *name, const char *path, CHM_RV code,
                            const char *needle) {
    CHM_KEY_HANDLE h = SENTINEL_HANDLE;
    file_snapshot key_snap, token_snap;
    unsigned char *pem;
    size_t len = 0;

    printf("   private key case: %s\n", name);
    pem = read_file(path, &len);
    if (!CHECK(pem != NULL)) {
        return;
    }
    snapshot_take(&key_snap, path);
    snapshot_take(&token_snap, good_token_file);
    CHECK_ERR(CHM_PrivateKeyLoad(path, &h), code, needle);
    CHECK_LAST_ERROR(path);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PrivateKeyFromPem(pem, len, &h), code, needle);
    CHECK_LAST_ERROR("<buffer>: ");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_SignTokenFile(good_token_file, path, NULL, NULL), code, needle);
    CHECK(snapshot_unchanged(&token_snap, good_token_file));
    CHECK(snapshot_unchanged(&key_snap, path));
    snapshot_free(&key_snap);
    snapshot_free(&token_snap);
    free(pem);
}

static void bad_public_key(const char *name, const char *path, CHM_RV code, const char *needle) {
    CHM_KEY_HANDLE h = SENTINEL_HANDLE;
    file_snapshot key_snap;
    unsigned char *pem;
    size_t len = 0;

    printf("   public key case: %s\n", name);
    pem = read_file(path, &len);
    if (!CHECK(pem != NULL)) {
        return;
    }
    snapshot_take(&key_snap, path);
    CHECK_ERR(CHM_PublicKeyLoad(path, &h), code, needle);
    CHECK_LAST_ERROR(path);
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK_ERR(CHM_PublicKeyFromPem(pem, len, &h), code, needle);
    CHECK_LAST_ERROR("<buffer>: ");
    CHECK_EQ(h, SENTINEL_HANDLE);
    CHECK(snapshot_unchanged(&key_snap, path));
    snapshot_free(&key_snap);
    free(pem);
}

static void test_bad_key_files(void) {
    static const char not_a_key[] = "this is not a key\n";
    static const unsigned char binary[] = {0x30, 0x82, 0x01, 0xff, 0x80, 0x00, 0xfe};
    unsigned char *pem;
    size_t len = 0;
    char *big;

    section("key files that cannot be used");
    CHECK(write_file(tpath("not-a-key.pem"), not_a_key, sizeof not_a_key - 1) == 0);
    bad_private_key("not a key", tpath("not-a-key.pem"), CHMR_KEY_FILE_INVALID,
                    "not an RSA key in PEM form: no \"-----BEGIN\" line found");
    bad_public_key("not a key", tpath("not-a-key.pem"), CHMR_KEY_FILE_INVALID,
                   "not an RSA key in PEM form: no \"-----BEGIN\" line found");
    CHECK(write_file(tpath("empty.pem"), "", 0) == 0);
    bad_private_key("empty file", tpath("empty.pem"), CHMR_KEY_FILE_INVALID,
                    "no \"-----BEGIN\" line found");
    CHECK(write_file(tpath("binary.der"), binary, sizeof binary) == 0);
    bad_private_key("binary (DER) file", tpath("binary.der"), CHMR_KEY_FILE_INVALID,
                    "not an RSA key in PEM form: the file is not text");

    /* A PEM key whose base64 body is damaged. */
    pem = read_file(good_key, &len);
    if (CHECK(pem != NULL)) {
        char *body = strstr((char *)pem, "-----\n");
        if (CHECK(body != NULL)) {
            body[20] = '!';
            CHECK(write_file(tpath("damaged.pem"), pem, len) == 0);
            bad_private_key("damaged PEM", tpath("damaged.pem"), CHMR_KEY_FILE_INVALID,
                            "not an RSA key in PEM form: bad PEM");
        }
    }
    free(pem);

    if (CHECK(run("openssl genrsa -aes256 -passout pass:x -out '%s' 2048",
                  tpath("encrypted.pem")) == 0)) {
        pem = read_file(tpath("encrypted.pem"), NULL);
        CHECK_CONTAINS((const char *)pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----");
        free(pem);
        bad_private_key("encrypted (PKCS#8)", tpath("encrypted.pem"), CHMR_KEY_FILE_INVALID,
                        "the private key is encrypted; decrypt it first");
    }
    if (CHECK(run("openssl genrsa -aes256 -passout pass:x -traditional -out '%s' 2048",
                  tpath("encrypted-pkcs1.pem")) == 0)) {
        pem = read_file(tpath("encrypted-pkcs1.pem"), NULL);
        CHECK_CONTAINS((const char *)pem, "Proc-Type: 4,ENCRYPTED");
        free(pem);
        bad_private_key("encrypted (PKCS#1)", tpath("encrypted-pkcs1.pem"),
                        CHMR_KEY_FILE_INVALID, "the private key is encrypted; decrypt it first");
    }
    if (CHECK(openssl_rsa_key(tpath("rsa1024.pem"), 1024, 0) == 0) &&
        CHECK(openssl_rsa_key(tpath("rsa1024-pkcs1.pem"), 1024, 1) == 0) &&
        CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", tpath("rsa1024.pem"),
                  tpath("rsa1024.pub")) == 0) &&
        CHECK(run("openssl rsa -in '%s' -RSAPublicKey_out -out '%s'", tpath("rsa1024.pem"),
                  tpath("rsa1024-pkcs1.pub")) == 0)) {
        const char *why = "RSA key of 1024 bits is too small; MFA and quorum keys are RSA "
                          "2048, 3072 or 4096 bits";
        bad_private_key("RSA 1024 (PKCS#8)", tpath("rsa1024.pem"), CHMR_KEY_SIZE_RANGE, why);
        bad_private_key("RSA 1024 (PKCS#1)", tpath("rsa1024-pkcs1.pem"), CHMR_KEY_SIZE_RANGE,
                        why);
        bad_public_key("RSA 1024", tpath("rsa1024.pub"), CHMR_KEY_SIZE_RANGE, why);
        bad_public_key("RSA 1024 (RSA PUBLIC KEY)", tpath("rsa1024-pkcs1.pub"),
                       CHMR_KEY_SIZE_RANGE, why);
    }
    if (CHECK(openssl_rsa_key(tpath("rsa2560.pem"), 2560, 0) == 0)) {
        bad_private_key("RSA 2560", tpath("rsa2560.pem"), CHMR_KEY_SIZE_RANGE,
                        "RSA key of 2560 bits is not supported; MFA and quorum keys are RSA "
                        "2048, 3072 or 4096 bits");
    }
    if (CHECK(run("openssl ecparam -genkey -name prime256v1 -noout -out '%s'",
                  tpath("ec.pem")) == 0) &&
        CHECK(run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s'",
                  tpath("ec-pkcs8.pem")) == 0) &&
        CHECK(run("openssl pkey -in '%s' -pubout -out '%s'", tpath("ec.pem"),
                  tpath("ec.pub")) == 0)) {
        pem = read_file(tpath("ec.pem"), NULL);
        CHECK_CONTAINS((const char *)pem, "-----BEGIN EC PRIVATE KEY-----");
        free(pem);
        bad_private_key("EC (ecparam)", tpath("ec.pem"), CHMR_KEY_TYPE_INCONSISTENT,
                        "an EC key; MFA and quorum keys are RSA keys");
        bad_private_key("EC (PKCS#8)", tpath("ec-pkcs8.pem"), CHMR_KEY_TYPE_INCONSISTENT,
                        "an EC key; MFA and quorum keys are RSA keys");
        bad_public_key("EC", tpath("ec.pub"), CHMR_KEY_TYPE_INCONSISTENT,
                       "an EC key; MFA and quorum keys are RSA keys");
    }
    if (CHECK(run("openssl genpkey -algorithm ED25519 -out '%s'", tpath("ed25519.pem")) == 0)) {
        bad_private_key("Ed25519", tpath("ed25519.pem"), CHMR_KEY_TYPE_INCONSISTENT,
                        "an Ed25519 key");
    }
    if (CHECK(run("openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out '%s'",
                  tpath("rsa-pss.pem")) == 0)) {
        bad_private_key("RSA-PSS", tpath("rsa-pss.pem"), CHMR_KEY_TYPE_INCONSISTENT,
                        "an RSA-PSS-only key");
    }
    if (CHECK(run("openssl req -x509 -new -key '%s' -subj /CN=test -days 1 -out '%s'", good_key,
                  tpath("cert.pem")) == 0)) {
        bad_private_key("certificate", tpath("cert.pem"), CHMR_KEY_FILE_INVALID,
                        "PEM block \"CERTIFICATE\" holds no private key");
        bad_public_key("certificate", tpath("cert.pem"), CHMR_KEY_FILE_INVALID,
                       "PEM block \"CERTIFICATE\" holds no public key");
    }

    section("a key of the wrong kind");
    if (CHECK(run("openssl rsa -in '%s' -pubout -out '%s'", good_key, tpath("good.pub")) == 0)) {
        bad_private_key("public key given as private", tpath("good.pub"), CHMR_KEY_FILE_INVALID,
                        "this is a public key; a private key is needed here");
    }
    bad_public_key("private key given as public", good_key, CHMR_KEY_FILE_INVALID,
                   "this is a private key; give the public key here");

    section("a key file over 64 KiB");
    big = malloc(65537);
    if (CHECK(big != NULL)) {
        memset(big, '\n', 65537);
        CHECK(write_file(tpath("huge.pem"), big, 65537) == 0);
        {
            CHM_KEY_HANDLE h = SENTINEL_HANDLE;
            CHECK_ERR(CHM_PrivateKeyLoad(tpath("huge.pem"), &h), CHMR_DATA_LEN_RANGE,
                      "file is 65537 bytes, more than the limit of 65536 bytes");
            CHECK_ERR(CHM_PublicKeyLoad(tpath("huge.pem"), &h), CHMR_DATA_LEN_RANGE,
                      "file is 65537 bytes, more than the limit of 65536 bytes");
            CHECK_EQ(h, SENTINEL_HANDLE);
        }
    }
    free(big);

    section("missing key files");
    {
        CHM_KEY_HANDLE h = SENTINEL_HANDLE;
        CHECK_ERR(CHM_PrivateKeyLoad(tpath("missing.pem"), &h), CHMR_FILE_ERROR,
                  "missing.pem: No such file or directory");
        CHECK_ERR(CHM_PublicKeyLoad(tpath("missing.pub"), &h), CHMR_FILE_ERROR,
                  "missing.pub: No such file or directory");
        CHECK_EQ(h, SENTINEL_HANDLE);
    }
}

int main(void) {
    uint8_t sig[256];
    CHM_TOKEN_FILE_HANDLE h = SENTINEL_HANDLE;
    CHM_KEY_HANDLE priv = SENTINEL_HANDLE;

    check_begin("test_bad_inputs");
    random_bytes(tok, sizeof tok);
    random_bytes(sig, sizeof sig);
    T0 = b64(tok[0], CHM_TOKEN_LEN);
    T1 = b64(tok[1], CHM_TOKEN_LEN);
    SIG256 = b64(sig, sizeof sig);
    good_key = tpath("good.pem");
    good_token_file = tpath("good-token.json");
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK) || !CHECK(openssl_rsa_key(good_key, 2048, 0) == 0) ||
        !CHECK_RV(CHM_PrivateKeyLoad(good_key, &priv), CHMR_OK) ||
        !CHECK_RV(CHM_PublicKeyFromPrivate(priv, &good_pub), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileCreateMfa(tok[0], 3, &h), CHMR_OK) ||
        !CHECK_RV(CHM_TokenFileWrite(h, good_token_file), CHMR_OK)) {
        return check_end();
    }
    CHM_TokenFileClose(h);
    CHM_KeyClose(priv);

    test_bad_mfa_files();
    test_bad_registration_and_approval_files();
    test_size_limit();
    test_bad_key_files();

    /* The good files were never changed by the failures: the token file still
     * holds no signature, and the good key still signs it. */
    CHECK_RV(CHM_TokenFileLoad(good_token_file, &h), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(h, good_pub, NULL), CHMR_TOKEN_NOT_SIGNED);
    CHECK_RV(CHM_TokenFileClose(h), CHMR_OK);
    CHECK_RV(CHM_SignTokenFile(good_token_file, good_key, NULL, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileLoad(good_token_file, &h), CHMR_OK);
    CHECK_RV(CHM_TokenFileVerify(h, good_pub, NULL), CHMR_OK);
    CHECK_RV(CHM_TokenFileClose(h), CHMR_OK);
    CHECK_RV(CHM_KeyClose(good_pub), CHMR_OK);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
