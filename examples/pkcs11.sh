#!/usr/bin/env bash
# The README's "Keys on PKCS#11 tokens" commands, as written there: an MFA key made on a
# SoftHSM2 token, a token file signed with it, alice's MFA registered and a login signed on
# the token. Needs a cluster with an activated admin: CLOUDHSM_MFA_CONFIG and
# ADMIN_PASSWORD in the environment, cloudhsm-mfa on PATH. $1 is a scratch directory.
set -euo pipefail
cd "$1"
export SOFTHSM2_CONF=$PWD/softhsm2.conf
mkdir -p tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$PWD" > "$SOFTHSM2_CONF"

# --- as in the README ---
softhsm2-util --init-token --free --label mfa --pin 123456 --so-pin 654321
echo 123456 > pin.txt && chmod 600 pin.txt
KEY="pkcs11:token=mfa;object=alice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:$PWD/pin.txt"

cloudhsm-mfa keygen --private-key "$KEY" --public-key alice.pub      # the pair is made on the token
cloudhsm-mfa tokens sign --token login.json --private-key "$KEY"      # signed on the token
cloudhsm-mfa tokens verify --token login.json --public-key "$KEY"

CLOUDHSM_ROLE=crypto-user CLOUDHSM_PIN=alice:alice-password-1 cloudhsm-mfa \
    user change-mfa token-sign --username alice --role crypto-user \
    --change-password alice-password-1 --sign-with "$KEY"
cloudhsm-mfa login --username alice --role crypto-user --password alice-password-1 \
    mfa-token-sign --sign-with "$KEY"
