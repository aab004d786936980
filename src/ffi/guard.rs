//! The machinery every exported function goes through: the panic boundary, the
//! thread-local last error, NULL-checked pointer access and the two-call output idiom.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::codes::{name_of, FfiError};
use super::types::*;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// The approval counts of the last failure, when it was a quorum refusal.
    static LAST_APPROVALS: std::cell::Cell<Option<(u32, u32)>> = const { std::cell::Cell::new(None) };
}

/// The approvals counted and required by this thread's last failure, if it was a quorum
/// refusal.
pub fn last_approvals() -> Option<(u32, u32)> {
    LAST_APPROVALS.with(|a| a.get())
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
/// becomes its code with its message kept for `CHM_GetLastError`. Each call leaves one
/// trace line at `debug`: the function and the name of the code it returns.
pub fn boundary(name: &str, body: impl FnOnce() -> Result<(), FfiError>) -> CHM_RV {
    let rv = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CHMR_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            LAST_APPROVALS.with(|a| a.set(e.approvals));
            e.rv
        }
        Err(_) => {
            LAST_APPROVALS.with(|a| a.set(None));
            set_last_error(&format!("{name}: internal error (panic); please report it"));
            CHMR_GENERAL_ERROR
        }
    };
    // A subscriber that panics (a host's) must not unwind into C either.
    let _ = catch_unwind(|| {
        if rv == CHMR_GENERAL_ERROR {
            tracing::error!(function = %name, rv = %name_of(rv), "C call");
        } else {
            tracing::debug!(function = %name, rv = %name_of(rv), "C call");
        }
    });
    rv
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

/// The pointer and buffer helpers on their own, with no call into C: the test set that
/// `cargo +nightly miri test --lib ffi::guard` checks for undefined behaviour.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_read_up_to_their_nul_and_checked() {
        let good = c"alice";
        // SAFETY: NUL-terminated literals, and NULL.
        unsafe {
            assert_eq!(str_arg(good.as_ptr(), "username").unwrap(), "alice");
            assert_eq!(opt_str_arg(std::ptr::null(), "x").unwrap(), None);
            let e = str_arg(std::ptr::null(), "username").unwrap_err();
            assert_eq!(
                (e.rv, e.message.as_str()),
                (CHMR_ARGUMENTS_BAD, "username is NULL")
            );
            let bad = [0xffu8 as c_char, 0];
            assert!(str_arg(bad.as_ptr(), "path")
                .unwrap_err()
                .message
                .contains("UTF-8"));
        }
    }

    #[test]
    fn byte_buffers_allow_null_only_when_empty() {
        let data = [1u8, 2, 3];
        // SAFETY: `data` is readable for 3 bytes; NULL with 0 and with 3.
        unsafe {
            assert_eq!(bytes_arg(data.as_ptr(), 3, "token").unwrap(), &data);
            assert_eq!(
                bytes_arg(std::ptr::null(), 0, "token").unwrap(),
                &[] as &[u8]
            );
            assert!(bytes_arg(std::ptr::null(), 3, "token").is_err());
        }
    }

    #[test]
    fn the_two_call_idiom_writes_only_on_success() {
        let data = [7u8; 5];
        let mut len = 0usize;
        // SAFETY: every buffer is as long as the length given with it.
        unsafe {
            // A size query.
            write_buffer(&data, std::ptr::null_mut(), &mut len, "out").unwrap();
            assert_eq!(len, 5);
            // A short buffer: its bytes stay as they were.
            let mut short = [0u8; 4];
            len = short.len();
            let e = write_buffer(&data, short.as_mut_ptr(), &mut len, "out").unwrap_err();
            assert_eq!((e.rv, len, short), (CHMR_BUFFER_TOO_SMALL, 5, [0; 4]));
            // Room to spare.
            let mut room = [0u8; 8];
            len = room.len();
            write_buffer(&data, room.as_mut_ptr(), &mut len, "out").unwrap();
            assert_eq!((len, &room[..5], &room[5..]), (5, &data[..], &[0u8; 3][..]));
            // A NULL length.
            assert!(write_buffer(&data, room.as_mut_ptr(), std::ptr::null_mut(), "out").is_err());
        }
    }

    #[test]
    fn a_size_known_in_advance_is_answered_without_making_the_output() {
        let mut len = 0usize;
        let mut made = 0;
        let mut produce = || {
            made += 1;
            Ok(vec![9u8; 4])
        };
        // SAFETY: every buffer is as long as the length given with it.
        unsafe {
            write_sized(4, &mut produce, std::ptr::null_mut(), &mut len, "sig").unwrap();
            assert_eq!(len, 4);
            let mut short = [0u8; 3];
            len = 3;
            assert!(write_sized(4, &mut produce, short.as_mut_ptr(), &mut len, "sig").is_err());
            let mut buf = [0u8; 4];
            len = 4;
            write_sized(4, &mut produce, buf.as_mut_ptr(), &mut len, "sig").unwrap();
            assert_eq!(buf, [9; 4]);
        }
        assert_eq!(made, 1, "only the call with room made the output");
    }

    #[test]
    fn text_is_nul_terminated_and_counted_with_its_nul() {
        let mut len = 0usize;
        let mut buf = [1 as c_char; 8];
        // SAFETY: `buf` holds 8 bytes.
        unsafe {
            write_text("a\0b", std::ptr::null_mut(), &mut len, "text").unwrap();
            assert_eq!(len, 4);
            len = buf.len();
            write_text("a\0b", buf.as_mut_ptr(), &mut len, "text").unwrap();
            assert_eq!(CStr::from_ptr(buf.as_ptr()).to_str().unwrap(), "a b");
            let mut out = 0u32;
            write_out(&mut out, 7u32, "out").unwrap();
            assert_eq!(out, 7);
            assert!(write_out(std::ptr::null_mut::<u32>(), 7, "out").is_err());
        }
    }

    #[test]
    fn a_panic_becomes_general_error_with_a_message() {
        let rv = boundary("CHM_Test", || panic!("boom"));
        assert_eq!(rv, CHMR_GENERAL_ERROR);
        assert!(last_error().to_str().unwrap().contains("CHM_Test"));
        let rv = boundary("CHM_Test", || Err(FfiError::bad_argument("nope")));
        assert_eq!(
            (rv, last_error().to_str().unwrap()),
            (CHMR_ARGUMENTS_BAD, "nope")
        );
    }
}
