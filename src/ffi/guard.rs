//! The machinery every exported function goes through: the panic boundary, the
//! thread-local last error, NULL-checked pointer access and the two-call output idiom.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::codes::FfiError;
use super::types::*;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// The message of this thread's last failure ("" when there was none).
pub fn last_error() -> CString {
    LAST_ERROR.with(|e| e.borrow().clone())
}

fn set_last_error(message: &str) {
    // Interior NUL bytes cannot reach C; replace them.
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

/// Runs the body of an exported function: a panic becomes `CHMR_GENERAL_ERROR`, an error
/// becomes its code with its message kept for `CHM_GetLastError`.
pub fn boundary(name: &str, body: impl FnOnce() -> Result<(), FfiError>) -> CHM_RV {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CHMR_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.rv
        }
        Err(_) => {
            set_last_error(&format!("{name}: internal error (panic); please report it"));
            CHMR_GENERAL_ERROR
        }
    }
}

/// The one NULL check: a pointer the caller must provide.
pub fn non_null<T>(ptr: *const T, name: &str) -> Result<*const T, FfiError> {
    if ptr.is_null() {
        Err(FfiError::bad_argument(format!("{name} is NULL")))
    } else {
        Ok(ptr)
    }
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// A non-NULL `ptr` must point to a NUL-terminated string valid for the call.
pub unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    let ptr = non_null(ptr, name)?;
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map_err(|_| FfiError::bad_argument(format!("{name} is not valid UTF-8")))
}

/// An optional string argument: NULL gives `None`.
///
/// # Safety
/// As [`str_arg`].
pub unsafe fn opt_str_arg<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: as the caller promised for str_arg.
        unsafe { str_arg(ptr, name) }.map(Some)
    }
}

/// A byte-buffer argument. NULL is allowed only with length 0.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes valid for the call.
pub unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    let ptr = non_null(ptr, name)?;
    // SAFETY: non-NULL and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Writes a single value to an output pointer (after the work has succeeded).
///
/// # Safety
/// A non-NULL `ptr` must be valid for a write of `T`.
pub unsafe fn write_out<T>(ptr: *mut T, value: T, name: &str) -> Result<(), FfiError> {
    let ptr = non_null(ptr, name)? as *mut T;
    // SAFETY: non-NULL and the caller promises it is writable.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Checks an output pointer before the work starts, so that a NULL output does not
/// discard work already done.
pub fn out_arg<T>(ptr: *mut T, name: &str) -> Result<(), FfiError> {
    non_null(ptr, name).map(|_| ())
}

/// The first half of the two-call idiom for an output of `size` bytes: with a NULL `buf`,
/// sets `*len` to `size` and answers `Ok(false)` (nothing more to do); with a buffer
/// shorter than `size`, sets `*len` and answers `CHMR_BUFFER_TOO_SMALL`; else `Ok(true)`.
///
/// # Safety
/// `len` must be valid for reads and writes.
unsafe fn has_room(
    size: usize,
    buf: *mut u8,
    len: *mut usize,
    name: &str,
) -> Result<bool, FfiError> {
    let len = non_null(len, &format!("{name} length"))? as *mut usize;
    // SAFETY: non-NULL and the caller promises it is readable and writable.
    let capacity = unsafe { *len };
    if buf.is_null() {
        // SAFETY: as above.
        unsafe { *len = size };
        return Ok(false);
    }
    if capacity < size {
        // SAFETY: as above.
        unsafe { *len = size };
        return Err(FfiError::new(
            CHMR_BUFFER_TOO_SMALL,
            format!("{name} needs {size} bytes; the buffer has {capacity}"),
        ));
    }
    Ok(true)
}

/// The two-call idiom: with a NULL `buf`, sets `*len` to the size needed and succeeds;
/// with a buffer shorter than `data`, sets `*len` and answers `CHMR_BUFFER_TOO_SMALL`;
/// else copies `data` and sets `*len` to the bytes written.
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` must be writable for `*len`
/// bytes.
pub unsafe fn write_buffer(
    data: &[u8],
    buf: *mut u8,
    len: *mut usize,
    name: &str,
) -> Result<(), FfiError> {
    // SAFETY: forwarded from the caller.
    if !unsafe { has_room(data.len(), buf, len, name) }? {
        return Ok(());
    }
    // SAFETY: buf is non-NULL and writable for *len >= data.len() bytes (checked above);
    // the regions cannot overlap since `data` is library-owned; len was checked non-NULL.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        *len = data.len();
    }
    Ok(())
}

/// The two-call idiom for an output whose size is known before it is made (a signature's,
/// from its key): a size query or a short buffer is answered without calling `produce`,
/// so no work is done (and no signer asked) just to report a length.
///
/// # Safety
/// As [`write_buffer`].
pub unsafe fn write_sized(
    size: usize,
    produce: impl FnOnce() -> Result<Vec<u8>, FfiError>,
    buf: *mut u8,
    len: *mut usize,
    name: &str,
) -> Result<(), FfiError> {
    // SAFETY: forwarded from the caller.
    if !unsafe { has_room(size, buf, len, name) }? {
        return Ok(());
    }
    let data = produce()?;
    // SAFETY: forwarded from the caller.
    unsafe { write_buffer(&data, buf, len, name) }
}

/// The two-call idiom for text: as [`write_buffer`], with a terminating NUL counted in
/// `*len`.
///
/// # Safety
/// As [`write_buffer`].
pub unsafe fn write_text(
    text: &str,
    buf: *mut c_char,
    len: *mut usize,
    name: &str,
) -> Result<(), FfiError> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend(text.bytes().map(|b| if b == 0 { b' ' } else { b }));
    bytes.push(0);
    // SAFETY: forwarded from the caller.
    unsafe { write_buffer(&bytes, buf.cast(), len, name) }
}
