//! Return codes, failure codes, the per-thread last error, and the guard that
//! keeps every Rust panic on this side of the boundary.
//!
//! Every constant here has a `#define` of the same name and value in
//! `include/ami.h`; `tests/header_drift.rs` compares the two.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ami_proto::{ActionError, LoginError, SendError};

/// Success.
pub const AMI_OK: c_int = 0;
/// A pointer argument was NULL.
pub const AMI_E_NULL: c_int = -1;
/// A string argument was not valid UTF-8.
pub const AMI_E_UTF8: c_int = -2;
/// A Rust panic was caught (a bug in this library); the connection it
/// happened on is unusable from now on: free it.
pub const AMI_E_PANIC: c_int = -3;
/// The options were rejected (a limit out of range, CR/LF in a field, an
/// unknown enum value); `ami_last_error` says which.
pub const AMI_E_CONFIG: c_int = -4;
/// A caller-supplied buffer is too small; nothing was done.
pub const AMI_E_BUFFER: c_int = -5;
/// An index is out of range.
pub const AMI_E_RANGE: c_int = -6;
/// The accessor does not apply to this kind of output.
pub const AMI_E_KIND: c_int = -7;
/// Send refused: a header name or value contains CR or LF.
pub const AMI_E_SEND_LINE_BREAK: c_int = -10;
/// Send refused: a header name is empty or contains `:`.
pub const AMI_E_SEND_INVALID_NAME: c_int = -11;
/// Send refused: a line would exceed the server's 1,024-byte limit.
pub const AMI_E_SEND_LINE_TOO_LONG: c_int = -12;
/// Send refused: the action would exceed the server's 128-line limit.
pub const AMI_E_SEND_TOO_MANY_LINES: c_int = -13;
/// Retired: no longer returned since C API 0.2. A caller's `ActionID`
/// header is the action's chosen id, checked as
/// [`AMI_E_SEND_INVALID_ACTION_ID`] and [`AMI_E_SEND_DUPLICATE_ACTION_ID`]
/// say.
pub const AMI_E_SEND_ACTION_ID_SET: c_int = -14;
/// Send refused: too many actions pending; wait for completions.
pub const AMI_E_SEND_TOO_MANY_PENDING: c_int = -15;
/// Send refused: the write buffer is full (the server is not reading).
pub const AMI_E_SEND_WRITE_BUFFER_FULL: c_int = -16;
/// Send refused: not logged in (still logging in, or closed).
pub const AMI_E_SEND_NOT_READY: c_int = -17;
/// Send refused for a reason newer than this API version.
pub const AMI_E_SEND_OTHER: c_int = -18;
/// Send refused: an async Originate on a session that receives no call
/// events (its login `Events` or a later `Events` action turned them off),
/// so its outcome could never arrive.
pub const AMI_E_SEND_NO_CALL_EVENTS: c_int = -19;
/// Send refused: the action lacks a parameter that every Asterisk version
/// documenting it requires; `ami_last_error` names both.
pub const AMI_E_SEND_MISSING_PARAMETER: c_int = -20;
/// Send refused: the caller's `ActionID` header is empty, longer than the
/// ActionID limit (64 bytes by default), holds a byte outside printable
/// ASCII, or appears twice; `ami_last_error` says which.
pub const AMI_E_SEND_INVALID_ACTION_ID: c_int = -21;
/// Send refused: another action of this connection is pending under the
/// caller's `ActionID` (or timed out and may still be answered).
pub const AMI_E_SEND_DUPLICATE_ACTION_ID: c_int = -22;

/// No failure: the output is a success (or carries no outcome).
pub const AMI_FAIL_NONE: c_int = 0;
/// The server answered `Response: Error`; the message is its `Message`.
pub const AMI_FAIL_SERVER: c_int = 1;
/// No complete answer within the action's timeout.
pub const AMI_FAIL_TIMEOUT: c_int = 2;
/// The connection closed before the action completed.
pub const AMI_FAIL_CONNECTION_LOST: c_int = 3;
/// The answer exceeded its size limit and was discarded.
pub const AMI_FAIL_FRAME_TOO_LARGE: c_int = 4;
/// The action was cancelled with `ami_conn_cancel`.
pub const AMI_FAIL_CANCELLED: c_int = 5;
/// The server's answers could not be matched to the action.
pub const AMI_FAIL_DESYNC: c_int = 6;
/// Login failed: the server refused the credentials.
pub const AMI_FAIL_LOGIN_AUTH: c_int = 7;
/// Login failed: the server refused the login for another reason.
pub const AMI_FAIL_LOGIN_REFUSED: c_int = 8;
/// Login failed: no banner, challenge or answer within the login timeout.
pub const AMI_FAIL_LOGIN_TIMEOUT: c_int = 9;
/// Login failed: the connection closed during login.
pub const AMI_FAIL_LOGIN_CONNECTION_LOST: c_int = 10;
/// Login failed: the peer is not an AMI server (bad banner).
pub const AMI_FAIL_LOGIN_BAD_BANNER: c_int = 11;
/// The server answered with a status other than `Success` or `Error`
/// (`Response: Failure`, an unknown word); the message is its `Message`.
pub const AMI_FAIL_REFUSED: c_int = 12;
/// Login failed: the Challenge or Login was answered with a status other
/// than `Success` or `Error`.
pub const AMI_FAIL_LOGIN_FAILED: c_int = 13;
/// A decoder skipped bytes that are not a frame, up to the next blank line
/// (`AMI_OUTPUT_DECODE_ERROR` only).
pub const AMI_FAIL_GARBAGE: c_int = 14;
/// A failure newer than this API version; the message says what.
pub const AMI_FAIL_OTHER: c_int = 99;

thread_local! {
    /// The message of the latest failing call on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error and returns `code`.
pub(crate) fn fail(code: c_int, message: impl fmt::Display) -> c_int {
    set_last_error(&message.to_string());
    code
}

fn set_last_error(message: &str) {
    let text =
        CString::new(message.replace('\0', "?")).expect("NUL bytes were replaced just above");
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

/// Runs an extern function's body, turning a panic into [`AMI_E_PANIC`].
///
/// Every negative code the body returns is expected to have recorded its
/// message with [`fail`] already.
pub(crate) fn guard(body: impl FnOnce() -> c_int) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(code) => code,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            fail(AMI_E_PANIC, format_args!("panic in ami-ffi: {what}"))
        }
    }
}

/// Borrows a NUL-terminated UTF-8 string argument named `what`.
///
/// # Safety
///
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, c_int> {
    if ptr.is_null() {
        return Err(fail(AMI_E_NULL, format_args!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string that
    // lives at least as long as `'a`.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes)
        .map_err(|e| fail(AMI_E_UTF8, format_args!("{what} is not UTF-8: {e}")))
}

/// Records a NULL pointer argument.
pub(crate) fn null(what: &str) -> c_int {
    fail(AMI_E_NULL, format_args!("{what} is NULL"))
}

/// The return code of a refused send.
pub(crate) fn send_code(err: &SendError) -> c_int {
    match err {
        SendError::LineBreak { .. } => AMI_E_SEND_LINE_BREAK,
        SendError::InvalidName { .. } => AMI_E_SEND_INVALID_NAME,
        SendError::LineTooLong { .. } => AMI_E_SEND_LINE_TOO_LONG,
        SendError::TooManyLines { .. } => AMI_E_SEND_TOO_MANY_LINES,
        SendError::InvalidActionId { .. } | SendError::ActionIdTooLong { .. } => {
            AMI_E_SEND_INVALID_ACTION_ID
        }
        SendError::DuplicateActionId { .. } => AMI_E_SEND_DUPLICATE_ACTION_ID,
        SendError::TooManyPending { .. } => AMI_E_SEND_TOO_MANY_PENDING,
        SendError::WriteBufferFull { .. } => AMI_E_SEND_WRITE_BUFFER_FULL,
        SendError::NotReady { .. } => AMI_E_SEND_NOT_READY,
        SendError::NoCallEvents(_) => AMI_E_SEND_NO_CALL_EVENTS,
        SendError::MissingParameter { .. } => AMI_E_SEND_MISSING_PARAMETER,
        _ => AMI_E_SEND_OTHER,
    }
}

/// The failure code of an action that ended badly.
pub(crate) fn action_fail_code(err: &ActionError) -> c_int {
    match err {
        ActionError::Server { .. } => AMI_FAIL_SERVER,
        ActionError::Timeout(_) => AMI_FAIL_TIMEOUT,
        ActionError::ConnectionLost => AMI_FAIL_CONNECTION_LOST,
        ActionError::FrameTooLarge { .. } => AMI_FAIL_FRAME_TOO_LARGE,
        ActionError::Cancelled => AMI_FAIL_CANCELLED,
        ActionError::Desync(_) => AMI_FAIL_DESYNC,
        ActionError::Failed { .. } => AMI_FAIL_REFUSED,
        _ => AMI_FAIL_OTHER,
    }
}

/// The failure code of a login that did not succeed.
pub(crate) fn login_fail_code(err: &LoginError) -> c_int {
    match err {
        LoginError::AuthenticationFailed(_) => AMI_FAIL_LOGIN_AUTH,
        LoginError::Refused(_) => AMI_FAIL_LOGIN_REFUSED,
        LoginError::Timeout => AMI_FAIL_LOGIN_TIMEOUT,
        LoginError::ConnectionLost => AMI_FAIL_LOGIN_CONNECTION_LOST,
        LoginError::BadBanner(_) => AMI_FAIL_LOGIN_BAD_BANNER,
        LoginError::Failed { .. } => AMI_FAIL_LOGIN_FAILED,
        _ => AMI_FAIL_OTHER,
    }
}

/// A static, NUL-terminated description of a return code.
fn describe(code: c_int) -> &'static CStr {
    match code {
        AMI_OK => c"success",
        AMI_E_NULL => c"a pointer argument was NULL",
        AMI_E_UTF8 => c"a string argument was not valid UTF-8",
        AMI_E_PANIC => c"internal error (a caught panic); free the connection",
        AMI_E_CONFIG => c"invalid options",
        AMI_E_BUFFER => c"buffer too small",
        AMI_E_RANGE => c"index out of range",
        AMI_E_KIND => c"not applicable to this kind of output",
        AMI_E_SEND_LINE_BREAK => c"send refused: a header contains CR or LF",
        AMI_E_SEND_INVALID_NAME => c"send refused: invalid header name",
        AMI_E_SEND_LINE_TOO_LONG => c"send refused: a line exceeds 1024 bytes",
        AMI_E_SEND_TOO_MANY_LINES => c"send refused: more than 128 lines",
        AMI_E_SEND_ACTION_ID_SET => c"send refused: ActionID set (retired code)",
        AMI_E_SEND_TOO_MANY_PENDING => c"send refused: too many actions pending",
        AMI_E_SEND_WRITE_BUFFER_FULL => c"send refused: write buffer full",
        AMI_E_SEND_NOT_READY => c"send refused: connection not ready",
        AMI_E_SEND_NO_CALL_EVENTS => {
            c"send refused: async Originate on a session without call events"
        }
        AMI_E_SEND_MISSING_PARAMETER => c"send refused: a required parameter is missing",
        AMI_E_SEND_INVALID_ACTION_ID => c"send refused: invalid ActionID",
        AMI_E_SEND_DUPLICATE_ACTION_ID => c"send refused: ActionID already pending",
        AMI_E_SEND_OTHER => c"send refused",
        _ => c"unknown error code",
    }
}

/// A static description of `code` (an `AMI_OK` / `AMI_E_*` return code).
///
/// Never NULL; unknown codes give `"unknown error code"`. The string is
/// static: do not free it.
#[no_mangle]
pub extern "C" fn ami_strerror(code: c_int) -> *const c_char {
    describe(code).as_ptr()
}

/// The message of the latest failing call on the calling thread.
///
/// Never NULL (empty when nothing failed yet). Valid until the next failing
/// call on the same thread; successful calls leave it unchanged. Do not free.
#[no_mangle]
pub extern "C" fn ami_last_error() -> *const c_char {
    // A thread-local `CString` only changes on this thread, so the pointer
    // stays valid until the next failing call here.
    LAST_ERROR
        .try_with(|last| last.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_turns_panics_into_a_code_and_a_message() {
        let code = guard(|| panic!("boom"));
        assert_eq!(code, AMI_E_PANIC);
        // SAFETY: `ami_last_error` returns a valid NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(ami_last_error()) };
        assert!(msg.to_str().unwrap().contains("boom"), "{msg:?}");
    }

    #[test]
    fn every_code_has_a_description() {
        for code in [AMI_OK, AMI_E_NULL, AMI_E_SEND_OTHER, AMI_E_SEND_NOT_READY] {
            assert_ne!(describe(code), c"unknown error code", "{code}");
        }
        assert_eq!(describe(12345), c"unknown error code");
    }

    #[test]
    fn every_core_failure_has_a_code_of_its_own() {
        let failed = ActionError::Failed {
            status: "Failure".into(),
            message: String::new(),
        };
        assert_eq!(action_fail_code(&failed), AMI_FAIL_REFUSED);
        let login = LoginError::Failed {
            status: "Failure".into(),
            message: String::new(),
        };
        assert_eq!(login_fail_code(&login), AMI_FAIL_LOGIN_FAILED);
        let off = SendError::NoCallEvents(ami_proto::CallEventsOff::Login {
            events: "off".into(),
        });
        assert_eq!(send_code(&off), AMI_E_SEND_NO_CALL_EVENTS);
        assert_ne!(describe(AMI_E_SEND_NO_CALL_EVENTS), c"unknown error code");
        let missing = SendError::MissingParameter {
            action: "Hangup",
            parameter: "Channel",
        };
        assert_eq!(send_code(&missing), AMI_E_SEND_MISSING_PARAMETER);
        assert_ne!(
            describe(AMI_E_SEND_MISSING_PARAMETER),
            c"unknown error code"
        );
    }

    #[test]
    fn messages_with_nul_bytes_are_kept() {
        fail(AMI_E_CONFIG, "a\0b");
        // SAFETY: `ami_last_error` returns a valid NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(ami_last_error()) };
        assert_eq!(msg, c"a?b");
    }
}
