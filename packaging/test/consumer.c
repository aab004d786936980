/* A program that uses an installed libcloudhsm_mfa, built by scripts/test-install.sh
 * through pkg-config and CMake, linked dynamically and statically.
 *
 * usage: consumer PRIVATE_KEY PUBLIC_KEY
 * Signs a token with the private key, verifies the signature with the public key, checks
 * that a changed token does not verify, and prints "consumer: VERSION ok". */
#include <stdio.h>
#include <string.h>

#include "cloudhsm_mfa.h"

static int fail(const char *what, CHM_RV rv) {
    char msg[512];
    size_t len = sizeof msg;
    if (CHM_GetLastError(msg, &len) != CHMR_OK) msg[0] = '\0';
    fprintf(stderr, "consumer: %s: %s: %s\n", what, CHM_GetReturnCodeText(rv), msg);
    return 1;
}

int main(int argc, char **argv) {
    CHM_INFO info;
    CHM_KEY_HANDLE priv = CHM_INVALID_HANDLE, pub = CHM_INVALID_HANDLE;
    uint8_t token[CHM_TOKEN_LEN];
    uint8_t sig[CHM_MAX_SIGNATURE_LEN];
    size_t sig_len = sizeof sig;
    CHM_RV rv;

    if (argc != 3) {
        fprintf(stderr, "usage: %s PRIVATE_KEY PUBLIC_KEY\n", argv[0]);
        return 2;
    }
    memset(token, 0x5a, sizeof token);
    if ((rv = CHM_Initialize(NULL)) != CHMR_OK) return fail("CHM_Initialize", rv);
    if ((rv = CHM_GetInfo(&info)) != CHMR_OK) return fail("CHM_GetInfo", rv);
    if (info.library_version.major != CHM_VERSION_MAJOR ||
        info.library_version.minor != CHM_VERSION_MINOR) {
        fprintf(stderr, "consumer: the header is %d.%d, the library %u.%u\n", CHM_VERSION_MAJOR,
                CHM_VERSION_MINOR, (unsigned)info.library_version.major,
                (unsigned)info.library_version.minor);
        return 1;
    }
    if ((rv = CHM_PrivateKeyLoad(argv[1], &priv)) != CHMR_OK) return fail(argv[1], rv);
    if ((rv = CHM_PublicKeyLoad(argv[2], &pub)) != CHMR_OK) return fail(argv[2], rv);
    if ((rv = CHM_SignToken(priv, token, sizeof token, sig, &sig_len)) != CHMR_OK)
        return fail("CHM_SignToken", rv);
    if ((rv = CHM_VerifyToken(pub, token, sizeof token, sig, sig_len)) != CHMR_OK)
        return fail("CHM_VerifyToken", rv);
    token[0] ^= 1;
    if ((rv = CHM_VerifyToken(pub, token, sizeof token, sig, sig_len)) != CHMR_SIGNATURE_INVALID)
        return fail("CHM_VerifyToken of a changed token", rv);
    if ((rv = CHM_Finalize()) != CHMR_OK) return fail("CHM_Finalize", rv);
    printf("consumer: %u.%u.%u ok\n", (unsigned)info.library_version.major,
           (unsigned)info.library_version.minor, (unsigned)info.library_version.patch);
    return 0;
}
