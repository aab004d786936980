/*
 * MFA factors (SPEC §11) from C against a live emulator cluster (3 HSMs over TLS on
 * loopback), started by run-tests.sh (CLOUDHSM_MFA_CONFIG, CHM_TEST_ADMIN_PASSWORD).
 *
 * A crypto user sets its phone number, prefers SMS, associates and verifies a software
 * token (TOTP codes made with `openssl dgst -mac HMAC`), and logs in through the steps:
 * a selection, an SMS code read from the cluster's outbox, a software-token code. Bad
 * settings, two preferred factors and a code before the selection are refused with their
 * codes.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "cloudhsm_mfa.h"

#define CRYPTO CHM_ROLE_CRYPTO_USER
#define PW "factor-pw-123"
#define PHONE "+14155550100"

static char outbox[4096];

static void setting(CHM_MFA_SETTING *s, uint32_t enabled, uint32_t preferred) {
    s->enabled = enabled;
    s->preferred = preferred;
}

/* The RFC 6238 code of `secret` (raw bytes) at Unix time `t`, made with openssl's HMAC. */
static int totp(const unsigned char *secret, size_t secret_len, time_t t, char out[7]) {
    unsigned char counter[8];
    unsigned long long step = (unsigned long long)t / 30;
    char hexkey[2 * 64 + 1];
    size_t i, len = 0;
    unsigned char *mac;
    unsigned offset;
    unsigned long binary;
    for (i = 0; i < 8; i++) {
        counter[7 - i] = (unsigned char)(step >> (8 * i));
    }
    for (i = 0; i < secret_len; i++) {
        sprintf(hexkey + 2 * i, "%02x", secret[i]);
    }
    if (write_file(tpath("counter.bin"), counter, sizeof counter) != 0 ||
        run("openssl dgst -sha1 -mac HMAC -macopt hexkey:%s -binary -out '%s' '%s'", hexkey,
                  tpath("mac.bin"), tpath("counter.bin")) != 0) {
        return -1;
    }
    mac = read_file(tpath("mac.bin"), &len);
    if (mac == NULL || len != 20) {
        free(mac);
        return -1;
    }
    offset = mac[19] & 0x0f;
    binary = ((unsigned long)(mac[offset] & 0x7f) << 24) | ((unsigned long)mac[offset + 1] << 16) |
             ((unsigned long)mac[offset + 2] << 8) | mac[offset + 3];
    free(mac);
    snprintf(out, 7, "%06lu", binary % 1000000UL);
    return 0;
}

/* Base32 (RFC 4648, no padding) to bytes; returns the length. */
static size_t unbase32(const char *text, unsigned char *out, size_t room) {
    unsigned long buffer = 0;
    int bits = 0;
    size_t n = 0;
    for (; *text; text++) {
        const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const char *at = strchr(alphabet, *text);
        if (at == NULL) {
            return 0;
        }
        buffer = (buffer << 5) | (unsigned long)(at - alphabet);
        bits += 5;
        if (bits >= 8 && n < room) {
            out[n++] = (unsigned char)(buffer >> (bits - 8));
            bits -= 8;
        }
    }
    return n;
}

/* The last code the outbox holds (the lines are {"time",...,"code":"NNNNNN"}). */
static int last_code(char out[7]) {
    size_t len = 0;
    unsigned char *text = read_file(outbox, &len);
    const char *at;
    char *copy;
    if (text == NULL) {
        return -1;
    }
    copy = malloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(text);
    at = copy;
    out[0] = '\0';
    while ((at = strstr(at, "\"code\":\"")) != NULL) {
        at += 8;
        memcpy(out, at, 6);
        out[6] = '\0';
    }
    free(copy);
    return out[0] ? 0 : -1;
}

int main(void) {
    const char *config = getenv("CLOUDHSM_MFA_CONFIG");
    const char *admin_pw = getenv("CHM_TEST_ADMIN_PASSWORD");
    CHM_SESSION_HANDLE admin = 0, user = 0;
    CHM_MFA_SETTINGS s;
    CHM_LOGIN_STEP step;
    uint32_t enabled = 0, preferred = 0;
    char secret[64], uri[256], code[7];
    unsigned char key[32];
    size_t secret_len = 0, uri_len = 0, key_len;
    check_begin("test_cluster_factors");
    if (!CHECK(config != NULL && admin_pw != NULL)) {
        fprintf(stderr, "test_cluster_factors needs a running cluster: run it through "
                        "run-tests.sh (make -C c-tests test)\n");
        return check_end();
    }
    snprintf(outbox, sizeof outbox, "%.*s/outbox.jsonl", (int)(strrchr(config, '/') - config), config);
    if (!CHECK_RV(CHM_Initialize(NULL), CHMR_OK)) {
        return check_end();
    }
    CHECK_RV(CHM_OpenSession(NULL, &admin), CHMR_OK);
    CHECK_RV(CHM_Login(admin, "admin", CHM_ROLE_ADMIN, admin_pw), CHMR_OK);
    CHECK_RV(CHM_CreateUser(admin, "fc_user", CRYPTO, PW), CHMR_OK);
    CHECK_RV(CHM_OpenSession(NULL, &user), CHMR_OK);
    CHECK_RV(CHM_Login(user, "fc_user", CRYPTO, PW), CHMR_OK);

    section("attributes and preferences");
    CHECK_ERR(CHM_UpdateAttributes(user, "fc_user", CRYPTO, "555-0100", NULL), CHMR_ARGUMENTS_BAD,
              "E.164");
    memset(&s, 0, sizeof s);
    setting(&s.sms, CHM_SETTING_TRUE, CHM_SETTING_TRUE);
    CHECK_ERR(CHM_SetMfaPreference(user, "fc_user", CRYPTO, &s, NULL, NULL), CHMR_FACTOR_NOT_READY,
              "phone_number");
    CHECK_RV(CHM_UpdateAttributes(user, "fc_user", CRYPTO, PHONE, NULL), CHMR_OK);
    CHECK_RV(CHM_SetMfaPreference(user, "fc_user", CRYPTO, &s, &enabled, &preferred), CHMR_OK);
    CHECK_EQ(enabled, CHM_FACTOR_SMS);
    CHECK_EQ(preferred, CHM_FACTOR_SMS);
    setting(&s.email, CHM_SETTING_TRUE, CHM_SETTING_TRUE);
    CHECK_ERR(CHM_SetMfaPreference(user, "fc_user", CRYPTO, &s, NULL, NULL),
              CHMR_MFA_PREFERENCE_INVALID, "only one MFA factor may be preferred");
    setting(&s.email, 7, 0);
    CHECK_ERR(CHM_SetMfaPreference(user, "fc_user", CRYPTO, &s, NULL, NULL), CHMR_ARGUMENTS_BAD,
              "settings.email.enabled");
    CHECK_ERR(CHM_SetMfaPreference(user, "fc_user", CRYPTO, NULL, NULL, NULL), CHMR_ARGUMENTS_BAD,
              "settings");

    section("a software token, associated and verified");
    CHECK_RV(CHM_AssociateSoftwareToken(user, "fc_user@cluster-local", NULL, &secret_len, NULL,
                                        &uri_len),
             CHMR_OK);
    CHECK_EQ(secret_len, 33);
    CHECK(uri_len > 60 && uri_len <= sizeof uri);
    secret_len = sizeof secret;
    uri_len = sizeof uri;
    CHECK_RV(CHM_AssociateSoftwareToken(user, "fc_user@cluster-local", secret, &secret_len, uri,
                                        &uri_len),
             CHMR_OK);
    CHECK_CONTAINS(uri, "otpauth://totp/cloudhsm-mfa:fc_user@cluster-local?secret=");
    key_len = unbase32(secret, key, sizeof key);
    CHECK_EQ(key_len, 20);
    CHECK_ERR(CHM_VerifySoftwareToken(user, "000000", NULL), CHMR_CODE_MISMATCH,
              "Code mismatch and fail enable Software Token MFA");
    /* The previous step's code verifies, so that the current one can log in. */
    CHECK(totp(key, key_len, time(NULL) - 30, code) == 0);
    CHECK_RV(CHM_VerifySoftwareToken(user, code, "phone"), CHMR_OK);
    memset(&s, 0, sizeof s);
    setting(&s.software_token, CHM_SETTING_TRUE, CHM_SETTING_UNSET);
    setting(&s.sms, CHM_SETTING_TRUE, CHM_SETTING_FALSE);
    CHECK_RV(CHM_SetMfaPreference(user, "fc_user", CRYPTO, &s, &enabled, &preferred), CHMR_OK);
    CHECK_EQ(enabled, CHM_FACTOR_SOFTWARE_TOKEN | CHM_FACTOR_SMS);
    CHECK_EQ(preferred, 0);
    CHECK_RV(CHM_GetMfaPreference(admin, "fc_user", 0, &enabled, &preferred), CHMR_OK);
    CHECK_EQ(enabled, CHM_FACTOR_SOFTWARE_TOKEN | CHM_FACTOR_SMS);
    CHECK_RV(CHM_Logout(user), CHMR_OK);

    section("login: select, then an SMS code from the outbox");
    CHECK_RV(CHM_LoginStart(user, "fc_user", CRYPTO, PW, NULL, &step), CHMR_OK);
    CHECK_EQ(step.kind, CHM_STEP_SELECT);
    CHECK_EQ(step.factors, CHM_FACTOR_SOFTWARE_TOKEN | CHM_FACTOR_SMS);
    CHECK_ERR(CHM_LoginCode(user, "123456"), CHMR_MFA_SELECTION_REQUIRED, "software-token, sms");
    CHECK_ERR(CHM_LoginSelect(user, 0x40, NULL, &step), CHMR_ARGUMENTS_BAD, "CHM_FACTOR_");
    CHECK_RV(CHM_LoginSelect(user, CHM_FACTOR_SMS, NULL, &step), CHMR_OK);
    CHECK_EQ(step.kind, CHM_STEP_CODE);
    CHECK_EQ(step.factor, CHM_FACTOR_SMS);
    CHECK_STR_EQ(step.destination, "+*******0100");
    CHECK(last_code(code) == 0);
    CHECK_ERR(CHM_LoginCode(user, "000000"), CHMR_CODE_MISMATCH, "Invalid code");
    CHECK_RV(CHM_LoginCode(user, code), CHMR_OK);
    CHECK_RV(CHM_Logout(user), CHMR_OK);

    section("login: select, then a software-token code");
    CHECK_RV(CHM_LoginStart(user, "fc_user", CRYPTO, PW, NULL, &step), CHMR_OK);
    CHECK_RV(CHM_LoginSelect(user, CHM_FACTOR_SOFTWARE_TOKEN, NULL, &step), CHMR_OK);
    CHECK_EQ(step.kind, CHM_STEP_CODE);
    CHECK_STR_EQ(step.destination, "");
    CHECK(totp(key, key_len, time(NULL), code) == 0);
    CHECK_RV(CHM_LoginCode(user, code), CHMR_OK);
    CHECK_ERR(CHM_LoginStart(user, "fc_user", CRYPTO, PW, NULL, NULL), CHMR_ARGUMENTS_BAD, "step");

    CHM_CloseSession(user);
    CHM_CloseSession(admin);
    CHECK_RV(CHM_Finalize(), CHMR_OK);
    return check_end();
}
