//! The names of the numeric codes, for logs and messages: `ami_state_name`
//! and friends answer the name of the `#define` a value has in `ami.h`
//! (`"AMI_STATE_READY"`), or `"unknown"`. `tests/header_drift.rs` checks
//! that every code of the header has its name.

use std::ffi::{c_char, c_int};

use crate::output::*;
use crate::status::*;

/// `(code, "NAME\0")` for each code listed.
macro_rules! named {
    ($($code:ident),+ $(,)?) => {
        &[$(($code, concat!(stringify!($code), "\0"))),+]
    };
}

const STATES: &[(c_int, &str)] = named![
    AMI_STATE_LOGGING_IN,
    AMI_STATE_READY,
    AMI_STATE_DEGRADED,
    AMI_STATE_LOGGING_OFF,
    AMI_STATE_CLOSED,
    AMI_STATE_OTHER,
];

const CLOSE_REASONS: &[(c_int, &str)] = named![
    AMI_CLOSE_NONE,
    AMI_CLOSE_LOGIN_FAILED,
    AMI_CLOSE_LOST,
    AMI_CLOSE_HEARTBEAT_TIMEOUT,
    AMI_CLOSE_LOGGED_OFF,
    AMI_CLOSE_OTHER,
];

const FAILS: &[(c_int, &str)] = named![
    AMI_FAIL_NONE,
    AMI_FAIL_SERVER,
    AMI_FAIL_TIMEOUT,
    AMI_FAIL_CONNECTION_LOST,
    AMI_FAIL_FRAME_TOO_LARGE,
    AMI_FAIL_CANCELLED,
    AMI_FAIL_DESYNC,
    AMI_FAIL_LOGIN_AUTH,
    AMI_FAIL_LOGIN_REFUSED,
    AMI_FAIL_LOGIN_TIMEOUT,
    AMI_FAIL_LOGIN_CONNECTION_LOST,
    AMI_FAIL_LOGIN_BAD_BANNER,
    AMI_FAIL_REFUSED,
    AMI_FAIL_LOGIN_FAILED,
    AMI_FAIL_GARBAGE,
    AMI_FAIL_OTHER,
];

const OUTPUT_KINDS: &[(c_int, &str)] = named![
    AMI_OUTPUT_STATE,
    AMI_OUTPUT_COMPLETION,
    AMI_OUTPUT_EVENT,
    AMI_OUTPUT_RESPONSE,
    AMI_OUTPUT_BANNER,
    AMI_OUTPUT_FRAME,
    AMI_OUTPUT_DECODE_ERROR,
    AMI_OUTPUT_OTHER,
];

/// The static, NUL-terminated name of `code` in `table`, or `"unknown"`.
fn name(table: &[(c_int, &'static str)], code: c_int) -> *const c_char {
    let found = table.iter().find(|(c, _)| *c == code);
    found.map_or("unknown\0", |(_, name)| name).as_ptr().cast()
}

/// The name of an `AMI_STATE_*` value (`ami_output_state`), or
/// `"unknown"`. Static: never NULL, do not free.
#[no_mangle]
pub extern "C" fn ami_state_name(state: c_int) -> *const c_char {
    name(STATES, state)
}

/// The name of an `AMI_CLOSE_*` value (`ami_output_state`), or
/// `"unknown"`. Static: never NULL, do not free.
#[no_mangle]
pub extern "C" fn ami_close_reason_name(close_reason: c_int) -> *const c_char {
    name(CLOSE_REASONS, close_reason)
}

/// The name of an `AMI_FAIL_*` value (`ami_output_error`), or `"unknown"`.
/// Static: never NULL, do not free.
#[no_mangle]
pub extern "C" fn ami_fail_name(fail_code: c_int) -> *const c_char {
    name(FAILS, fail_code)
}

/// The name of an `AMI_OUTPUT_*` value (`ami_output_kind`), or
/// `"unknown"`. Static: never NULL, do not free.
#[no_mangle]
pub extern "C" fn ami_output_kind_name(kind: c_int) -> *const c_char {
    name(OUTPUT_KINDS, kind)
}
