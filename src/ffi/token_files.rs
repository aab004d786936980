//! Token files through handles: load or create, read entries, sign, verify, write.

use std::ffi::c_char;
use std::path::Path;

use super::codes::FfiError;
use super::guard::{
    boundary, bytes_arg, opt_str_arg, out_arg, str_arg, write_buffer, write_out, write_text,
};
use super::handles::{self, lock};
use super::types::*;
use crate::crypto::{Token, TOKEN_LEN};
use crate::token_file::{Content, TokenFile, TokenFileKind};
use crate::token_signing::{sign_file, EntryStatus};

/// Stores a new token file and writes its handle.
///
/// # Safety
/// `out` must be valid for a write (checked for NULL).
unsafe fn publish(file: TokenFile, out: *mut CHM_TOKEN_FILE_HANDLE) -> Result<(), FfiError> {
    let h = handles::insert_token_file(file)?;
    // SAFETY: forwarded from the caller.
    let written = unsafe { write_out(out, h, "file") };
    if written.is_err() {
        let _ = handles::close_token_file(h);
    }
    written
}

fn out_of_range(what: &str, index: usize, count: usize) -> FfiError {
    FfiError::bad_argument(format!(
        "{what} index {index} is out of range; the file has {count}"
    ))
}

/// Runs `f` on the token file behind `h`, holding its lock.
fn with_file<T>(
    h: CHM_TOKEN_FILE_HANDLE,
    f: impl FnOnce(&mut TokenFile) -> Result<T, FfiError>,
) -> Result<T, FfiError> {
    let file = handles::token_file(h)?;
    let mut guard = lock(&file);
    f(&mut guard)
}

/// Reads and validates a token file (MFA, registration or quorum approval; at most 1 MiB)
/// and sets `*file` to a new handle, to be closed with `CHM_TokenFileClose`. On a bad file
/// the last error names the path, the field and the entry.
///
/// # Safety
/// `path` must be a NUL-terminated string; `file` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileLoad(
    path: *const c_char,
    file: *mut CHM_TOKEN_FILE_HANDLE,
) -> CHM_RV {
    boundary("CHM_TokenFileLoad", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises a NUL-terminated string.
        let path = unsafe { str_arg(path, "path") }?;
        out_arg(file, "file")?;
        // SAFETY: forwarded from the caller.
        unsafe { publish(TokenFile::load(Path::new(path))?, file) }
    })
}

/// As `CHM_TokenFileLoad`, from `len` bytes of JSON in memory.
///
/// # Safety
/// `data` must be readable for `len` bytes; `file` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileParse(
    data: *const u8,
    len: usize,
    file: *mut CHM_TOKEN_FILE_HANDLE,
) -> CHM_RV {
    boundary("CHM_TokenFileParse", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises `len` readable bytes.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        out_arg(file, "file")?;
        // SAFETY: forwarded from the caller.
        unsafe { publish(TokenFile::parse(data)?, file) }
    })
}

/// Creates an MFA token file with `token_count` unsigned entries; `tokens` holds
/// `token_count * CHM_TOKEN_LEN` bytes, one token after the other. Tokens must be distinct.
///
/// # Safety
/// `tokens` must be readable for `token_count * CHM_TOKEN_LEN` bytes; `file` valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileCreateMfa(
    tokens: *const u8,
    token_count: usize,
    file: *mut CHM_TOKEN_FILE_HANDLE,
) -> CHM_RV {
    boundary("CHM_TokenFileCreateMfa", || {
        handles::require_initialized()?;
        let total = token_count
            .checked_mul(TOKEN_LEN)
            .ok_or_else(|| FfiError::bad_argument("token_count is too large"))?;
        // SAFETY: the caller promises `total` readable bytes.
        let bytes = unsafe { bytes_arg(tokens, total, "tokens") }?;
        out_arg(file, "file")?;
        let list: Vec<Token> = bytes
            .chunks_exact(TOKEN_LEN)
            .map(|c| c.try_into().unwrap_or([0; TOKEN_LEN]))
            .collect();
        // SAFETY: forwarded from the caller.
        unsafe { publish(TokenFile::new_mfa(&list)?, file) }
    })
}

/// Creates a registration token file for `len` bytes (1 to 245) of approval data; its one
/// token is the SHA-256 of the data.
///
/// # Safety
/// `data` must be readable for `len` bytes; `file` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileCreateRegistration(
    data: *const u8,
    len: usize,
    file: *mut CHM_TOKEN_FILE_HANDLE,
) -> CHM_RV {
    boundary("CHM_TokenFileCreateRegistration", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises `len` readable bytes.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        out_arg(file, "file")?;
        // SAFETY: forwarded from the caller.
        unsafe { publish(TokenFile::new_registration(data.to_vec())?, file) }
    })
}

/// Creates a quorum approval file for `len` bytes of approval data, with no approvals yet;
/// its token is the SHA-256 of the data.
///
/// # Safety
/// `data` must be readable for `len` bytes; `file` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileCreateApproval(
    data: *const u8,
    len: usize,
    file: *mut CHM_TOKEN_FILE_HANDLE,
) -> CHM_RV {
    boundary("CHM_TokenFileCreateApproval", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises `len` readable bytes.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        out_arg(file, "file")?;
        // SAFETY: forwarded from the caller.
        unsafe { publish(TokenFile::new_approval(data.to_vec())?, file) }
    })
}

/// Sets `*kind` to `CHM_TOKEN_FILE_MFA`, `CHM_TOKEN_FILE_REGISTRATION` or
/// `CHM_TOKEN_FILE_QUORUM_APPROVAL`.
///
/// # Safety
/// `kind` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileGetKind(
    file: CHM_TOKEN_FILE_HANDLE,
    kind: *mut u32,
) -> CHM_RV {
    boundary("CHM_TokenFileGetKind", || {
        let value = with_file(file, |f| {
            Ok(match f.kind() {
                TokenFileKind::Mfa => CHM_TOKEN_FILE_MFA,
                TokenFileKind::Registration => CHM_TOKEN_FILE_REGISTRATION,
                TokenFileKind::QuorumApproval => CHM_TOKEN_FILE_QUORUM_APPROVAL,
            })
        })?;
        // SAFETY: the caller promises `kind` is writable.
        unsafe { write_out(kind, value, "kind") }
    })
}

/// Sets `*count` to the number of entries: tokens of an MFA or registration file,
/// approvals (signatures) of a quorum approval file.
///
/// # Safety
/// `count` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileGetEntryCount(
    file: CHM_TOKEN_FILE_HANDLE,
    count: *mut usize,
) -> CHM_RV {
    boundary("CHM_TokenFileGetEntryCount", || {
        let n = with_file(file, |f| {
            Ok(match f.content() {
                Content::Tokens(e) => e.len(),
                Content::Approval(a) => a.signatures.len(),
            })
        })?;
        // SAFETY: the caller promises `count` is writable.
        unsafe { write_out(count, n, "count") }
    })
}

/// Copies the `CHM_TOKEN_LEN` bytes of the `unsigned` token of entry `index` of an MFA or
/// registration file into `token`.
///
/// # Safety
/// `token` must be writable for `CHM_TOKEN_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileGetToken(
    file: CHM_TOKEN_FILE_HANDLE,
    index: usize,
    token: *mut u8,
) -> CHM_RV {
    boundary("CHM_TokenFileGetToken", || {
        let value = with_file(file, |f| match f.content() {
            Content::Tokens(e) => e
                .get(index)
                .map(|e| e.unsigned)
                .ok_or_else(|| out_of_range("token", index, e.len())),
            Content::Approval(_) => Err(FfiError::bad_argument(
                "a quorum approval file has one token; use CHM_TokenFileGetApprovalToken",
            )),
        })?;
        // SAFETY: the caller promises CHM_TOKEN_LEN writable bytes.
        unsafe { write_out(token.cast::<Token>(), value, "token") }
    })
}

/// Copies the `CHM_TOKEN_LEN` bytes of a quorum approval file's `token` (what approvers
/// sign) into `token`.
///
/// # Safety
/// `token` must be writable for `CHM_TOKEN_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileGetApprovalToken(
    file: CHM_TOKEN_FILE_HANDLE,
    token: *mut u8,
) -> CHM_RV {
    boundary("CHM_TokenFileGetApprovalToken", || {
        let value = with_file(file, |f| {
            f.approval().map(|a| a.token).ok_or_else(|| {
                FfiError::bad_argument("not a quorum approval file; use CHM_TokenFileGetToken")
            })
        })?;
        // SAFETY: the caller promises CHM_TOKEN_LEN writable bytes.
        unsafe { write_out(token.cast::<Token>(), value, "token") }
    })
}

/// Copies the signature of entry `index` (the `signed` value of a token, or an approval's
/// `signature`) with the two-call idiom. An unsigned token gives `*len` = 0 and `CHMR_OK`.
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` writable for `*len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileGetSignature(
    file: CHM_TOKEN_FILE_HANDLE,
    index: usize,
    buf: *mut u8,
    len: *mut usize,
) -> CHM_RV {
    boundary("CHM_TokenFileGetSignature", || {
        out_arg(len, "len")?;
        let sig = with_file(file, |f| match f.content() {
            Content::Tokens(e) => e
                .get(index)
                .map(|e| e.signed.clone().unwrap_or_default())
                .ok_or_else(|| out_of_range("token", index, e.len())),
            Content::Approval(a) => a
                .signatures
                .get(index)
                .map(|s| s.signature.clone())
                .ok_or_else(|| out_of_range("approval", index, a.signatures.len())),
        })?;
        // SAFETY: forwarded from the caller.
        unsafe { write_buffer(&sig, buf, len, "signature") }
    })
}

/// Copies approval data with the two-call idiom: the `approval_data` of token `index` of a
/// registration file, or (with `index` 0) the `approval_data` of a quorum approval file.
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` writable for `*len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileGetApprovalData(
    file: CHM_TOKEN_FILE_HANDLE,
    index: usize,
    buf: *mut u8,
    len: *mut usize,
) -> CHM_RV {
    boundary("CHM_TokenFileGetApprovalData", || {
        out_arg(len, "len")?;
        let data = with_file(file, |f| match f.content() {
            Content::Tokens(e) => match e.get(index) {
                None => Err(out_of_range("token", index, e.len())),
                Some(entry) => entry.approval_data.clone().ok_or_else(|| {
                    FfiError::bad_argument("an MFA token file has no approval data")
                }),
            },
            Content::Approval(a) if index == 0 => Ok(a.approval_data.clone()),
            Content::Approval(_) => Err(out_of_range("approval data", index, 1)),
        })?;
        // SAFETY: forwarded from the caller.
        unsafe { write_buffer(&data, buf, len, "approval data") }
    })
}

/// Copies the user name of approval `index` of a quorum approval file, NUL-terminated, with
/// the two-call idiom (`*len` counts the NUL).
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` writable for `*len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileGetApprover(
    file: CHM_TOKEN_FILE_HANDLE,
    index: usize,
    buf: *mut c_char,
    len: *mut usize,
) -> CHM_RV {
    boundary("CHM_TokenFileGetApprover", || {
        out_arg(len, "len")?;
        let name = with_file(file, |f| match f.approval() {
            None => Err(FfiError::bad_argument("not a quorum approval file")),
            Some(a) => a
                .signatures
                .get(index)
                .map(|s| s.username.clone())
                .ok_or_else(|| out_of_range("approval", index, a.signatures.len())),
        })?;
        // SAFETY: forwarded from the caller.
        unsafe { write_text(&name, buf, len, "approver") }
    })
}

/// Signs the file in memory with a private key: every token of an MFA or registration file
/// (`approver` NULL), or adds/replaces the approval of `approver` in a quorum approval
/// file. On failure the file is unchanged.
///
/// # Safety
/// A non-NULL `approver` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileSign(
    file: CHM_TOKEN_FILE_HANDLE,
    key: CHM_KEY_HANDLE,
    approver: *const c_char,
) -> CHM_RV {
    boundary("CHM_TokenFileSign", || {
        // SAFETY: the caller promises NULL or a NUL-terminated string.
        let approver = unsafe { opt_str_arg(approver, "approver") }?;
        let key = handles::private_key(key)?;
        with_file(file, |f| {
            f.sign(&*key, approver).map(|_| ()).map_err(Into::into)
        })
    })
}

/// Sets the `signed` value of token `index` of an MFA or registration file to `sig_len`
/// bytes (256, 384 or 512).
///
/// # Safety
/// `sig` must be readable for `sig_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileSetSignature(
    file: CHM_TOKEN_FILE_HANDLE,
    index: usize,
    sig: *const u8,
    sig_len: usize,
) -> CHM_RV {
    boundary("CHM_TokenFileSetSignature", || {
        // SAFETY: the caller promises `sig_len` readable bytes.
        let sig = unsafe { bytes_arg(sig, sig_len, "sig") }?;
        with_file(file, |f| {
            f.set_signature(index, sig.to_vec()).map_err(Into::into)
        })
    })
}

/// Adds the approval of `approver` (signature over the file's token) to a quorum approval
/// file, replacing an earlier one by the same user.
///
/// # Safety
/// `approver` must be a NUL-terminated string; `sig` readable for `sig_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileAddApproval(
    file: CHM_TOKEN_FILE_HANDLE,
    approver: *const c_char,
    sig: *const u8,
    sig_len: usize,
) -> CHM_RV {
    boundary("CHM_TokenFileAddApproval", || {
        // SAFETY: the caller promises a NUL-terminated string.
        let approver = unsafe { str_arg(approver, "approver") }?;
        // SAFETY: the caller promises `sig_len` readable bytes.
        let sig = unsafe { bytes_arg(sig, sig_len, "sig") }?;
        with_file(file, |f| {
            f.add_approval(approver, sig.to_vec()).map_err(Into::into)
        })
    })
}

/// Verifies the file with a public key: every token of an MFA or registration file
/// (`approver` NULL), or the approval of `approver` in a quorum approval file. Answers
/// `CHMR_OK`, `CHMR_SIGNATURE_INVALID`, `CHMR_SIGNATURE_LEN_RANGE` or
/// `CHMR_TOKEN_NOT_SIGNED`; the last error names the first failing entry.
///
/// # Safety
/// A non-NULL `approver` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileVerify(
    file: CHM_TOKEN_FILE_HANDLE,
    key: CHM_KEY_HANDLE,
    approver: *const c_char,
) -> CHM_RV {
    boundary("CHM_TokenFileVerify", || {
        // SAFETY: the caller promises NULL or a NUL-terminated string.
        let approver = unsafe { opt_str_arg(approver, "approver") }?;
        let key = handles::public_key(key)?;
        with_file(file, |f| f.verify(&key, approver).map_err(Into::into))
    })
}

/// Checks entry `index` (a token, or an approval) against a public key and sets `*status`
/// to `CHM_ENTRY_VALID`, `CHM_ENTRY_UNSIGNED`, `CHM_ENTRY_INVALID` or
/// `CHM_ENTRY_WRONG_LENGTH`. The call itself succeeds whatever the status.
///
/// # Safety
/// `status` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileCheckEntry(
    file: CHM_TOKEN_FILE_HANDLE,
    key: CHM_KEY_HANDLE,
    index: usize,
    status: *mut u32,
) -> CHM_RV {
    boundary("CHM_TokenFileCheckEntry", || {
        let key = handles::public_key(key)?;
        let value = with_file(file, |f| {
            let all = f.check(&key);
            all.get(index)
                .copied()
                .ok_or_else(|| out_of_range("entry", index, all.len()))
        })?;
        let code = match value {
            EntryStatus::Valid => CHM_ENTRY_VALID,
            EntryStatus::Unsigned => CHM_ENTRY_UNSIGNED,
            EntryStatus::Invalid => CHM_ENTRY_INVALID,
            EntryStatus::WrongLength => CHM_ENTRY_WRONG_LENGTH,
        };
        // SAFETY: the caller promises `status` is writable.
        unsafe { write_out(status, code, "status") }
    })
}

/// Writes the file to `path` as pretty-printed JSON, atomically, with mode 0600; a
/// symbolic link at `path` is refused. On failure `path` is unchanged.
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileWrite(
    file: CHM_TOKEN_FILE_HANDLE,
    path: *const c_char,
) -> CHM_RV {
    boundary("CHM_TokenFileWrite", || {
        // SAFETY: the caller promises a NUL-terminated string.
        let path = unsafe { str_arg(path, "path") }?;
        with_file(file, |f| f.write(Path::new(path)).map_err(Into::into))
    })
}

/// Copies the file's JSON text, NUL-terminated, with the two-call idiom (`*len` counts
/// the NUL).
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` writable for `*len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_TokenFileToJson(
    file: CHM_TOKEN_FILE_HANDLE,
    buf: *mut c_char,
    len: *mut usize,
) -> CHM_RV {
    boundary("CHM_TokenFileToJson", || {
        out_arg(len, "len")?;
        let json = with_file(file, |f| Ok(f.to_json()))?;
        // SAFETY: forwarded from the caller.
        unsafe { write_text(&json, buf, len, "JSON") }
    })
}

/// Closes a token file handle; the handle is invalid afterwards.
#[no_mangle]
pub extern "C" fn CHM_TokenFileClose(file: CHM_TOKEN_FILE_HANDLE) -> CHM_RV {
    boundary("CHM_TokenFileClose", || handles::close_token_file(file))
}

/// In one call: reads the token file at `token_path`, signs it with the private key file at
/// `key_path` (as `CHM_TokenFileSign`; `approver` for a quorum approval file, else NULL)
/// and writes it atomically to `output_path`, or back to `token_path` when that is NULL.
/// On any failure nothing is written.
///
/// # Safety
/// `token_path` and `key_path` must be NUL-terminated strings; `output_path` and `approver`
/// NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_SignTokenFile(
    token_path: *const c_char,
    key_path: *const c_char,
    output_path: *const c_char,
    approver: *const c_char,
) -> CHM_RV {
    boundary("CHM_SignTokenFile", || {
        handles::require_initialized()?;
        // SAFETY: the caller promises NUL-terminated strings (or NULL where allowed).
        let (token_path, key_path, output_path, approver) = unsafe {
            (
                str_arg(token_path, "token_path")?,
                str_arg(key_path, "key_path")?,
                opt_str_arg(output_path, "output_path")?,
                opt_str_arg(approver, "approver")?,
            )
        };
        sign_file(
            Path::new(token_path),
            Path::new(key_path),
            output_path.map(Path::new),
            approver,
        )?;
        Ok(())
    })
}
