//! Initialise, finalise, version information and error text.

use std::ffi::c_char;

use super::codes::{text_of, FfiError};
use super::guard::{boundary, last_error, non_null, opt_str_arg, write_out, write_text};
use super::handles;
use super::types::*;

/// Initialises the library. Every other function except `CHM_GetFunctionList`,
/// `CHM_GetLastError` and `CHM_GetReturnCodeText` answers `CHMR_NOT_INITIALIZED` before it.
///
/// `args` may be NULL for the defaults; its strings are copied. A second call without
/// `CHM_Finalize` answers `CHMR_ALREADY_INITIALIZED`.
///
/// Logging: when the configuration can be read and has a `logging` section, the library
/// logs there (a file or stderr), unless the host program has set a `tracing` subscriber
/// of its own, which is left in place. A log file that cannot be opened answers
/// `CHMR_CONFIG_INVALID`; a configuration that cannot be read is reported by
/// `CHM_OpenSession`, as without logging. Every call then leaves a trace line at `debug`.
///
/// # Safety
/// A non-NULL `args` must point to a valid `CHM_INITIALIZE_ARGS` whose non-NULL strings
/// are NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn CHM_Initialize(args: *const CHM_INITIALIZE_ARGS) -> CHM_RV {
    boundary("CHM_Initialize", || {
        let mut config_path = None;
        if !args.is_null() {
            // SAFETY: non-NULL and the caller promises a valid structure.
            let args = unsafe { &*args };
            if args.flags != 0 {
                return Err(FfiError::bad_argument(
                    "CHM_INITIALIZE_ARGS.flags is reserved and must be 0",
                ));
            }
            // SAFETY: the caller promises a NUL-terminated string or NULL.
            config_path =
                unsafe { opt_str_arg(args.config_path, "CHM_INITIALIZE_ARGS.config_path") }?
                    .map(std::path::PathBuf::from);
        }
        handles::initialize(config_path)
    })
}

/// Ends the library: every handle is closed (open sessions log out on every HSM first) and
/// further calls need `CHM_Initialize`. The library's log file, if any, is closed.
#[no_mangle]
pub extern "C" fn CHM_Finalize() -> CHM_RV {
    boundary("CHM_Finalize", handles::finalize)
}

/// Fills `*info` with the library's version and description.
///
/// # Safety
/// `info` must be valid for a write of `CHM_INFO`.
#[no_mangle]
pub unsafe extern "C" fn CHM_GetInfo(info: *mut CHM_INFO) -> CHM_RV {
    boundary("CHM_GetInfo", || {
        handles::require_initialized()?;
        let mut description = [0 as c_char; 64];
        let text = b"libcloudhsm_mfa: token-sign MFA and quorum for HSM clusters";
        for (d, s) in description.iter_mut().zip(text.iter()) {
            *d = *s as c_char;
        }
        let value = CHM_INFO {
            library_version: CHM_VERSION {
                major: CHM_VERSION_MAJOR,
                minor: CHM_VERSION_MINOR,
                patch: CHM_VERSION_PATCH,
            },
            function_list_version: CHM_FUNCTION_LIST_VERSION,
            description,
        };
        // SAFETY: the caller promises `info` is writable.
        unsafe { write_out(info, value, "info") }
    })
}

/// Copies the message of this thread's last failure, NUL-terminated, with the two-call
/// idiom: NULL `buf` sets `*len` to the size needed (NUL included); a short buffer sets
/// `*len` and answers `CHMR_BUFFER_TOO_SMALL`. The message is "" when nothing failed yet.
/// Works before `CHM_Initialize`.
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` must be writable for `*len`
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_GetLastError(buf: *mut c_char, len: *mut usize) -> CHM_RV {
    let message = last_error();
    // Not through `boundary`: a failure of this call must not replace the message it reads.
    let result = std::panic::catch_unwind(|| {
        non_null(len, "len")?;
        // SAFETY: forwarded from the caller.
        unsafe { write_text(&message.to_string_lossy(), buf, len, "last error") }
    });
    match result {
        Ok(Ok(())) => CHMR_OK,
        Ok(Err(e)) => e.rv,
        Err(_) => CHMR_GENERAL_ERROR,
    }
}

/// The static, NUL-terminated text of a return code ("unknown return code" for a value the
/// library never returns). Never NULL; the caller must not free it. Works before
/// `CHM_Initialize`.
#[no_mangle]
pub extern "C" fn CHM_GetReturnCodeText(rv: CHM_RV) -> *const c_char {
    text_of(rv).as_ptr()
}
