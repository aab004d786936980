//! Keys: load, generate, sign and verify single tokens.

use std::ffi::c_char;
use std::path::Path;

use super::codes::FfiError;
use zeroize::Zeroizing;

use super::guard::{
    boundary, bytes_arg, opt_str_arg, out_arg, str_arg, write_out, write_sized, write_text,
};
use super::handles;
use super::types::*;
use crate::crypto::{PrivateKey, PublicKey, Token};
use crate::signer::KeySpec;
use crate::token_signing::{signature_status, EntryStatus};

fn token_arg(bytes: &[u8]) -> Result<Token, FfiError> {
    bytes.try_into().map_err(|_| {
        FfiError::bad_argument(format!(
            "token is {} bytes; a token is {CHM_TOKEN_LEN} bytes",
            bytes.len()
        ))
    })
}

/// Opens an RSA private key and sets `*key` to a new handle, to be closed with
/// `CHM_KeyClose`. `path` is a PEM file (PKCS#8 "BEGIN PRIVATE KEY" or PKCS#1 "BEGIN RSA
/// PRIVATE KEY", unencrypted, 2048, 3072 or 4096 bits) or an RFC 7512 `pkcs11:` URI of a
/// key on a PKCS#11 token, whose PIN comes, in this order, from the URI's `pin-source` or
/// `pin-value`, `$CLOUDHSM_MFA_PKCS11_PIN`, or a prompt when standard input is a
/// terminal (`CHM_PrivateKeyOpen` takes it as an argument).
///
/// # Safety
/// `path` must be a NUL-terminated string; `key` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_PrivateKeyLoad(
    path: *const c_char,
    key: *mut CHM_KEY_HANDLE,
) -> CHM_RV {
    boundary("CHM_PrivateKeyLoad", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises a NUL-terminated string.
        let path = unsafe { str_arg(path, "path") }?;
        out_arg(key, "key")?;
        let h = handles::insert_private_key(KeySpec::parse(path)?.open()?)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(key, h, "key") }
    })
}

/// As `CHM_PrivateKeyLoad`, with the PIN of a key on a PKCS#11 token: `pin` (a
/// NUL-terminated string) is used before any other source; NULL takes the PIN from the
/// URI, the environment or a prompt, in that order. A key file ignores `pin`. The token
/// is asked once: a wrong PIN fails with `CHMR_PKCS11_PIN_INCORRECT` and is not retried.
/// PKCS#11 logs in the whole process: while another key of the same token is open (or
/// the host program is logged in to it), the token does not check the PIN again.
/// The library keeps its own copy of the PIN (zeroed when the key closes), since keys
/// marked `CKA_ALWAYS_AUTHENTICATE` need it for every signature.
///
/// # Safety
/// `name` must be a NUL-terminated string; `pin` NULL or a NUL-terminated string; `key`
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_PrivateKeyOpen(
    name: *const c_char,
    pin: *const c_char,
    key: *mut CHM_KEY_HANDLE,
) -> CHM_RV {
    boundary("CHM_PrivateKeyOpen", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises a NUL-terminated string.
        let name = unsafe { str_arg(name, "name") }?;
        // SAFETY: the caller promises NULL or a NUL-terminated string.
        let pin = unsafe { opt_str_arg(pin, "pin") }?.map(|p| Zeroizing::new(p.to_string()));
        out_arg(key, "key")?;
        let h = handles::insert_private_key(KeySpec::parse(name)?.open_with_pin(pin)?)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(key, h, "key") }
    })
}

/// As `CHM_PrivateKeyLoad`, from `pem_len` bytes of PEM text in memory.
///
/// # Safety
/// `pem` must be readable for `pem_len` bytes; `key` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_PrivateKeyFromPem(
    pem: *const u8,
    pem_len: usize,
    key: *mut CHM_KEY_HANDLE,
) -> CHM_RV {
    boundary("CHM_PrivateKeyFromPem", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises `pem_len` readable bytes.
        let pem = unsafe { bytes_arg(pem, pem_len, "pem") }?;
        out_arg(key, "key")?;
        let h = handles::insert_private_key(PrivateKey::from_pem(pem)?)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(key, h, "key") }
    })
}

/// Loads an RSA public key from a PEM file (SubjectPublicKeyInfo "BEGIN PUBLIC KEY" or
/// PKCS#1 "BEGIN RSA PUBLIC KEY"), or reads the public key of a key pair on a PKCS#11
/// token from its `pkcs11:` URI, and sets `*key` to a new handle.
///
/// # Safety
/// `path` must be a NUL-terminated string; `key` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_PublicKeyLoad(
    path: *const c_char,
    key: *mut CHM_KEY_HANDLE,
) -> CHM_RV {
    boundary("CHM_PublicKeyLoad", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises a NUL-terminated string.
        let path = unsafe { str_arg(path, "path") }?;
        out_arg(key, "key")?;
        let h = handles::insert_public_key(KeySpec::parse(path)?.open_public()?)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(key, h, "key") }
    })
}

/// As `CHM_PublicKeyLoad`, from `pem_len` bytes of PEM text in memory.
///
/// # Safety
/// `pem` must be readable for `pem_len` bytes; `key` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_PublicKeyFromPem(
    pem: *const u8,
    pem_len: usize,
    key: *mut CHM_KEY_HANDLE,
) -> CHM_RV {
    boundary("CHM_PublicKeyFromPem", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises `pem_len` readable bytes.
        let pem = unsafe { bytes_arg(pem, pem_len, "pem") }?;
        out_arg(key, "key")?;
        let h = handles::insert_public_key(PublicKey::from_pem(pem)?)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(key, h, "key") }
    })
}

/// Sets `*public_key` to a new handle for the public half of the private key `private_key`.
///
/// # Safety
/// `public_key` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_PublicKeyFromPrivate(
    private_key: CHM_KEY_HANDLE,
    public_key: *mut CHM_KEY_HANDLE,
) -> CHM_RV {
    boundary("CHM_PublicKeyFromPrivate", || {
        let private_key = handles::private_key(private_key)?;
        out_arg(public_key, "public_key")?;
        let h = handles::insert_public_key(private_key.public_key()?)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(public_key, h, "public_key") }
    })
}

/// Sets `*bits` to the modulus size of a private or public key.
///
/// # Safety
/// `bits` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_KeyGetBits(key: CHM_KEY_HANDLE, bits: *mut u32) -> CHM_RV {
    boundary("CHM_KeyGetBits", || {
        let n = handles::any_key(key, |k| k.bits(), |k| k.bits())?;
        // SAFETY: the caller promises `bits` is writable.
        unsafe { write_out(bits, n as u32, "bits") }
    })
}

/// Copies the public key of a public or private key handle as PEM ("BEGIN PUBLIC KEY",
/// SubjectPublicKeyInfo), NUL-terminated, with the two-call idiom (`*len` counts the NUL).
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` writable for `*len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_PublicKeyToPem(
    key: CHM_KEY_HANDLE,
    buf: *mut c_char,
    len: *mut usize,
) -> CHM_RV {
    boundary("CHM_PublicKeyToPem", || {
        out_arg(len, "len")?;
        let pem = handles::any_key(
            key,
            |k| k.public_key().and_then(|p| p.to_pem()),
            |k| k.to_pem(),
        )??;
        // SAFETY: forwarded from the caller.
        unsafe { write_text(&pem, buf, len, "public key PEM") }
    })
}

/// Closes a private or public key handle; the handle is invalid afterwards.
#[no_mangle]
pub extern "C" fn CHM_KeyClose(key: CHM_KEY_HANDLE) -> CHM_RV {
    boundary("CHM_KeyClose", || handles::close_key(key))
}

/// Generates an RSA key pair of `bits` (2048, 3072 or 4096) and writes the private key as
/// PKCS#8 PEM to `private_path` (mode 0600) and the public key as SubjectPublicKeyInfo PEM
/// to `public_path` (mode 0644), each atomically. A `pkcs11:` URI as `private_path` makes
/// the pair on that PKCS#11 token instead, labelled with the URI's `object` (refused with
/// `CHMR_PKCS11_KEY_EXISTS` when a key with that label exists), and writes only the
/// public key file.
///
/// # Safety
/// Both paths must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_GenerateKeyPair(
    bits: u32,
    private_path: *const c_char,
    public_path: *const c_char,
) -> CHM_RV {
    boundary("CHM_GenerateKeyPair", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises NUL-terminated strings.
        let private_path = unsafe { str_arg(private_path, "private_path") }?;
        // SAFETY: as above.
        let public_path = unsafe { str_arg(public_path, "public_path") }?;
        KeySpec::parse(private_path)?.generate_pair(bits as usize, Path::new(public_path))?;
        Ok(())
    })
}

/// Signs a 32-byte token with a private key as a ready-made SHA-256 digest
/// (RSASSA-PKCS1-v1_5, identical to `openssl pkeyutl -sign -pkeyopt digest:sha256`).
/// `sig`/`sig_len` use the two-call idiom; the signature is as long as the modulus.
///
/// # Safety
/// `token` must be readable for `token_len` bytes; `sig_len` valid for reads and writes; a
/// non-NULL `sig` writable for `*sig_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_SignToken(
    key: CHM_KEY_HANDLE,
    token: *const u8,
    token_len: usize,
    sig: *mut u8,
    sig_len: *mut usize,
) -> CHM_RV {
    boundary("CHM_SignToken", || {
        let key = handles::private_key(key)?;
        // SAFETY: the caller promises `token_len` readable bytes.
        let token = token_arg(unsafe { bytes_arg(token, token_len, "token") }?)?;
        out_arg(sig_len, "sig_len")?;
        let produce = || key.sign_token(&token).map_err(FfiError::from);
        // SAFETY: forwarded from the caller.
        unsafe { write_sized(key.signature_len(), produce, sig, sig_len, "signature") }
    })
}

/// Verifies a signature over a 32-byte token with a public key: `CHMR_OK`,
/// `CHMR_SIGNATURE_INVALID`, or `CHMR_SIGNATURE_LEN_RANGE` for a length that does not
/// match the key.
///
/// # Safety
/// `token` must be readable for `token_len` bytes and `sig` for `sig_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_VerifyToken(
    key: CHM_KEY_HANDLE,
    token: *const u8,
    token_len: usize,
    sig: *const u8,
    sig_len: usize,
) -> CHM_RV {
    boundary("CHM_VerifyToken", || {
        let key = handles::public_key(key)?;
        // SAFETY: the caller promises `token_len` readable bytes.
        let token = token_arg(unsafe { bytes_arg(token, token_len, "token") }?)?;
        // SAFETY: the caller promises `sig_len` readable bytes.
        let sig = unsafe { bytes_arg(sig, sig_len, "sig") }?;
        match signature_status(&key, &token, Some(sig)) {
            EntryStatus::Valid => Ok(()),
            EntryStatus::WrongLength => Err(FfiError::new(
                CHMR_SIGNATURE_LEN_RANGE,
                format!(
                    "signature is {} bytes; the {}-bit key makes {}-byte signatures",
                    sig.len(),
                    key.bits(),
                    key.signature_len()
                ),
            )),
            EntryStatus::Invalid | EntryStatus::Unsigned => Err(FfiError::new(
                CHMR_SIGNATURE_INVALID,
                "signature does not verify with the public key",
            )),
        }
    })
}
