//! `ami_output`: one state change, completion or event (or, from a decoder,
//! one frame), owned by the caller, and its accessors.
//!
//! An output is a copy: every string it lends lives in the output itself and
//! stays valid until `ami_output_free`, whatever happens to the connection.
//! Each string is also NUL-terminated for convenience; the length is
//! authoritative (AMI values are bytes and may contain NUL).

use std::ffi::{c_char, c_int};

use ami_proto::{ActionError, CloseReason, Completion, ConnState, DecodeError, Event, Frame};
use ami_proto::{Headers, Output};

use crate::status::{
    action_fail_code, c_str, fail, guard, login_fail_code, null, AMI_E_KIND, AMI_E_NULL,
    AMI_E_RANGE, AMI_FAIL_FRAME_TOO_LARGE, AMI_FAIL_GARBAGE, AMI_FAIL_NONE, AMI_FAIL_OTHER, AMI_OK,
};

/// The output is a state change: see `ami_output_state`.
pub const AMI_OUTPUT_STATE: c_int = 1;
/// The output completes an action: see `ami_output_action_id`, `ami_output_error`.
pub const AMI_OUTPUT_COMPLETION: c_int = 2;
/// The output is an event not consumed by an action (from `ami_conn_poll`),
/// or an event frame (from `ami_decoder_next`).
pub const AMI_OUTPUT_EVENT: c_int = 3;
/// A response frame, from `ami_decoder_next`: its headers, and as lines its
/// Command output (`Output:` headers or a legacy `Follows` body).
pub const AMI_OUTPUT_RESPONSE: c_int = 4;
/// The banner line, from `ami_decoder_next`: its text is line 0.
pub const AMI_OUTPUT_BANNER: c_int = 5;
/// Any other frame (an `Action:` in a client's bytes), from
/// `ami_decoder_next`: its headers.
pub const AMI_OUTPUT_FRAME: c_int = 6;
/// Bytes the decoder skipped, from `ami_decoder_next`: `ami_output_error`
/// says what (`AMI_FAIL_FRAME_TOO_LARGE`, `AMI_FAIL_GARBAGE`); decoding
/// goes on at the next frame.
pub const AMI_OUTPUT_DECODE_ERROR: c_int = 7;
/// An output newer than this API version: skip it.
pub const AMI_OUTPUT_OTHER: c_int = 99;

/// Connected; waiting for the banner, challenge or login answer.
pub const AMI_STATE_LOGGING_IN: c_int = 1;
/// Logged in: actions may be sent.
pub const AMI_STATE_READY: c_int = 2;
/// Heartbeat pongs were missed; actions still work, the link is suspect.
pub const AMI_STATE_DEGRADED: c_int = 3;
/// `Logoff` was sent; waiting for the server to close.
pub const AMI_STATE_LOGGING_OFF: c_int = 4;
/// The session is over: close the socket, free the connection.
pub const AMI_STATE_CLOSED: c_int = 5;
/// A state newer than this API version.
pub const AMI_STATE_OTHER: c_int = 99;

/// Not closed.
pub const AMI_CLOSE_NONE: c_int = 0;
/// Login did not succeed; `ami_output_error` says why.
pub const AMI_CLOSE_LOGIN_FAILED: c_int = 1;
/// The peer closed the connection (or the transport failed).
pub const AMI_CLOSE_LOST: c_int = 2;
/// Heartbeat pongs were missed too many times.
pub const AMI_CLOSE_HEARTBEAT_TIMEOUT: c_int = 3;
/// The session ended after our `Logoff`.
pub const AMI_CLOSE_LOGGED_OFF: c_int = 4;
/// A reason newer than this API version.
pub const AMI_CLOSE_OTHER: c_int = 99;

/// Byte strings stored back to back, each followed by a NUL.
#[derive(Debug, Default)]
struct Strings {
    buf: Vec<u8>,
    /// `(start, len)` of each string in `buf`.
    spans: Vec<(usize, usize)>,
}

impl Strings {
    fn push(&mut self, bytes: &[u8]) {
        self.spans.push((self.buf.len(), bytes.len()));
        self.buf.extend_from_slice(bytes);
        self.buf.push(0);
    }

    fn one(bytes: &[u8]) -> Self {
        let mut s = Strings::default();
        s.push(bytes);
        s
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, i: usize) -> Option<(*const c_char, usize)> {
        let &(start, len) = self.spans.get(i)?;
        Some((self.buf[start..].as_ptr().cast(), len))
    }
}

/// A frame's headers in order: string `2i` is a name, `2i + 1` its value.
#[derive(Debug, Default)]
struct Fields(Strings);

impl Fields {
    fn of(headers: &Headers) -> Self {
        let mut s = Strings::default();
        for (name, value) in headers.iter() {
            s.push(name);
            s.push(value);
        }
        Fields(s)
    }

    fn len(&self) -> usize {
        self.0.len() / 2
    }

    fn name(&self, i: usize) -> Option<(*const c_char, usize)> {
        self.0.get(i.checked_mul(2)?)
    }

    fn value(&self, i: usize) -> Option<(*const c_char, usize)> {
        self.0.get(i.checked_mul(2)?.checked_add(1)?)
    }

    /// The first value of `name`, ASCII-case-insensitively.
    fn get(&self, name: &str) -> Option<(*const c_char, usize)> {
        (0..self.len())
            .find(|&i| {
                let (start, len) = self.0.spans[2 * i];
                self.0.buf[start..start + len].eq_ignore_ascii_case(name.as_bytes())
            })
            .and_then(|i| self.value(i))
    }
}

/// One output of a connection, mirrored as the opaque `ami_output` in `ami.h`.
///
/// Owned by the caller from `ami_conn_poll` until `ami_output_free`.
#[derive(Debug, Default)]
pub struct AmiOutput {
    kind: c_int,
    state: c_int,
    close_reason: c_int,
    action_id: Option<Strings>,
    fail_code: c_int,
    error: Strings,
    headers: Fields,
    items: Vec<Fields>,
    lines: Strings,
}

impl AmiOutput {
    /// Copies what the caller may read out of `output`.
    pub(crate) fn new(output: Output) -> Self {
        let mut out = AmiOutput {
            fail_code: AMI_FAIL_NONE,
            error: Strings::one(b""),
            ..AmiOutput::default()
        };
        match output {
            Output::State(state) => {
                out.kind = AMI_OUTPUT_STATE;
                out.state = match &state {
                    ConnState::LoggingIn => AMI_STATE_LOGGING_IN,
                    ConnState::Ready => AMI_STATE_READY,
                    ConnState::Degraded { .. } => AMI_STATE_DEGRADED,
                    ConnState::LoggingOff => AMI_STATE_LOGGING_OFF,
                    ConnState::Closed(_) => AMI_STATE_CLOSED,
                    _ => AMI_STATE_OTHER,
                };
                if let ConnState::Closed(reason) = &state {
                    out.close_reason = match reason {
                        CloseReason::LoginFailed(err) => {
                            out.fail_code = login_fail_code(err);
                            out.error = Strings::one(err.to_string().as_bytes());
                            AMI_CLOSE_LOGIN_FAILED
                        }
                        CloseReason::Lost => AMI_CLOSE_LOST,
                        CloseReason::HeartbeatTimeout => AMI_CLOSE_HEARTBEAT_TIMEOUT,
                        CloseReason::LoggedOff => AMI_CLOSE_LOGGED_OFF,
                        _ => AMI_CLOSE_OTHER,
                    };
                }
            }
            Output::Completion { id, result } => {
                out.kind = AMI_OUTPUT_COMPLETION;
                out.action_id = Some(Strings::one(id.as_bytes()));
                match result {
                    Ok(completion) => out.fill_completion(completion),
                    Err(err) => {
                        out.fail_code = action_fail_code(&err);
                        // A server error's message is the server's own words.
                        let message = match err {
                            ActionError::Server { message }
                            | ActionError::Failed { message, .. } => message,
                            other => other.to_string(),
                        };
                        out.error = Strings::one(message.as_bytes());
                    }
                }
            }
            Output::Event(event) => {
                out.kind = AMI_OUTPUT_EVENT;
                out.headers = Fields::of(event.headers());
            }
            _ => out.kind = AMI_OUTPUT_OTHER,
        }
        out
    }

    /// Copies a frame, or what the decoder skipped, from a decoder.
    pub(crate) fn decoded(item: Result<Frame, DecodeError>) -> Self {
        let mut out = AmiOutput {
            fail_code: AMI_FAIL_NONE,
            error: Strings::one(b""),
            ..AmiOutput::default()
        };
        match item {
            Ok(Frame::Banner(text)) => {
                out.kind = AMI_OUTPUT_BANNER;
                out.lines.push(&text);
            }
            Ok(Frame::Response(response)) => {
                out.kind = AMI_OUTPUT_RESPONSE;
                out.headers = Fields::of(response.headers());
                for line in response.output_lines() {
                    out.lines.push(line);
                }
            }
            Ok(Frame::Event(event)) => {
                out.kind = AMI_OUTPUT_EVENT;
                out.headers = Fields::of(event.headers());
            }
            Ok(Frame::Other(message)) => {
                out.kind = AMI_OUTPUT_FRAME;
                out.headers = Fields::of(message.headers());
            }
            Err(err) => {
                out.kind = AMI_OUTPUT_DECODE_ERROR;
                out.fail_code = match err {
                    DecodeError::FrameTooLarge { .. } => AMI_FAIL_FRAME_TOO_LARGE,
                    DecodeError::Garbage { .. } => AMI_FAIL_GARBAGE,
                    _ => AMI_FAIL_OTHER,
                };
                out.error = Strings::one(err.to_string().as_bytes());
            }
        }
        out
    }

    fn fill_completion(&mut self, completion: Completion) {
        self.headers = Fields::of(completion.response().headers());
        let fields = |event: Event| Fields::of(event.headers());
        match completion {
            Completion::List(list) => self.items = list.items.iter().map(fields).collect(),
            Completion::Command(output) => {
                for line in &output.lines {
                    self.lines.push(line);
                }
            }
            Completion::Originate(outcome) => self.items = vec![fields(outcome.event)],
            _ => {}
        }
    }
}

/// Writes a borrowed string to the caller's out-pointers.
///
/// # Safety
///
/// `ptr` and `len` are NULL or writable.
unsafe fn lend(found: (*const c_char, usize), ptr: *mut *const c_char, len: *mut usize) -> c_int {
    if ptr.is_null() || len.is_null() {
        return null(if ptr.is_null() { "ptr" } else { "len" });
    }
    // SAFETY: both non-NULL and writable per the contract.
    unsafe {
        ptr.write(found.0);
        len.write(found.1);
    }
    AMI_OK
}

/// Runs `body` on the output behind `out`, with panics caught.
///
/// # Safety
///
/// `out` is NULL or a live output from `ami_conn_poll`.
unsafe fn with_output(out: *const AmiOutput, body: impl FnOnce(&AmiOutput) -> c_int) -> c_int {
    guard(|| {
        // SAFETY: NULL or a live output per the contract; shared access only.
        match unsafe { out.as_ref() } {
            Some(out) => body(out),
            None => null("out"),
        }
    })
}

fn out_of_range(i: usize, n: usize) -> c_int {
    fail(
        AMI_E_RANGE,
        format_args!("index {i} out of range (count {n})"),
    )
}

/// The kind of `out`: `AMI_OUTPUT_STATE`, `AMI_OUTPUT_COMPLETION`,
/// `AMI_OUTPUT_EVENT` (or `AMI_OUTPUT_OTHER`, to skip) from `ami_conn_poll`;
/// `AMI_OUTPUT_BANNER`, `_RESPONSE`, `_EVENT`, `_FRAME` or `_DECODE_ERROR`
/// from `ami_decoder_next`; `AMI_E_NULL` when `out` is NULL.
///
/// # Safety
///
/// `out` is NULL or a live output from `ami_conn_poll`.
#[no_mangle]
pub unsafe extern "C" fn ami_output_kind(out: *const AmiOutput) -> c_int {
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, |o| o.kind) }
}

/// The state of an `AMI_OUTPUT_STATE` output (`AMI_STATE_*`) and, when it is
/// `AMI_STATE_CLOSED`, why (`AMI_CLOSE_*`; else `AMI_CLOSE_NONE`).
///
/// Returns `AMI_OK`, `AMI_E_KIND` for other outputs, `AMI_E_NULL`.
///
/// # Safety
///
/// `out` is NULL or a live output; `state` and `close_reason` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_state(
    out: *const AmiOutput,
    state: *mut c_int,
    close_reason: *mut c_int,
) -> c_int {
    let body = |o: &AmiOutput| {
        if state.is_null() || close_reason.is_null() {
            return null("state or close_reason");
        }
        if o.kind != AMI_OUTPUT_STATE {
            return fail(AMI_E_KIND, "not a state output");
        }
        // SAFETY: both non-NULL, and writable per this function's contract.
        unsafe {
            state.write(o.state);
            close_reason.write(o.close_reason);
        }
        AMI_OK
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// The ActionID of an `AMI_OUTPUT_COMPLETION` output: the id `ami_conn_send`
/// wrote. Lent until `ami_output_free`.
///
/// Returns `AMI_OK`, `AMI_E_KIND` for other outputs, `AMI_E_NULL`.
///
/// # Safety
///
/// `out` is NULL or a live output; `id` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_action_id(
    out: *const AmiOutput,
    id: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let body = |o: &AmiOutput| match o.action_id.as_ref().and_then(|s| s.get(0)) {
        // SAFETY: `id` and `len` are NULL or writable per this function's contract.
        Some(found) => unsafe { lend(found, id, len) },
        None => fail(AMI_E_KIND, "not a completion"),
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// How the output failed: an `AMI_FAIL_*` code and a message lent until
/// `ami_output_free`.
///
/// For a completion, the action's error (`AMI_FAIL_SERVER` carries the
/// server's `Message`); for an `AMI_STATE_CLOSED` state with
/// `AMI_CLOSE_LOGIN_FAILED`, the login error. Anything else gives
/// `AMI_FAIL_NONE` and an empty message. Returns `AMI_OK` or `AMI_E_NULL`.
///
/// # Safety
///
/// `out` is NULL or a live output; `code`, `msg` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_error(
    out: *const AmiOutput,
    code: *mut c_int,
    msg: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let body = |o: &AmiOutput| {
        if code.is_null() {
            return null("code");
        }
        let found = o.error.get(0).expect("the error message is always set");
        // SAFETY: `msg` and `len` are NULL or writable per this function's contract.
        let rc = unsafe { lend(found, msg, len) };
        if rc == AMI_OK {
            // SAFETY: non-NULL, and writable per this function's contract.
            unsafe { code.write(o.fail_code) };
        }
        rc
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// A count read from `out`, 0 when `out` is NULL.
///
/// # Safety
///
/// `out` is NULL or a live output.
unsafe fn count(out: *const AmiOutput, read: impl FnOnce(&AmiOutput) -> usize) -> usize {
    let mut n = 0;
    let body = |o: &AmiOutput| {
        n = read(o);
        AMI_OK
    };
    // SAFETY: forwarded contract.
    unsafe { with_output(out, body) };
    n
}

/// How many headers the output has: an event's, or the response's of a
/// successful completion (0 for states and failed completions, or when `out`
/// is NULL).
///
/// # Safety
///
/// `out` is NULL or a live output.
#[no_mangle]
pub unsafe extern "C" fn ami_output_header_count(out: *const AmiOutput) -> usize {
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { count(out, |o| o.headers.len()) }
}

/// The name of header `i` (in wire order), lent until `ami_output_free`. A
/// line without a colon has an empty name.
///
/// Returns `AMI_OK`, `AMI_E_RANGE`, `AMI_E_NULL`.
///
/// # Safety
///
/// `out` is NULL or a live output; `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_header_name(
    out: *const AmiOutput,
    i: usize,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let body = |o: &AmiOutput| match o.headers.name(i) {
        // SAFETY: `ptr` and `len` are NULL or writable per this function's contract.
        Some(found) => unsafe { lend(found, ptr, len) },
        None => out_of_range(i, o.headers.len()),
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// The value of header `i`, lent until `ami_output_free`.
///
/// Returns `AMI_OK`, `AMI_E_RANGE`, `AMI_E_NULL`.
///
/// # Safety
///
/// `out` is NULL or a live output; `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_header_value(
    out: *const AmiOutput,
    i: usize,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let body = |o: &AmiOutput| match o.headers.value(i) {
        // SAFETY: `ptr` and `len` are NULL or writable per this function's contract.
        Some(found) => unsafe { lend(found, ptr, len) },
        None => out_of_range(i, o.headers.len()),
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// The first value of header `name` (ASCII-case-insensitive), lent until
/// `ami_output_free`.
///
/// Returns 1 when found, 0 when absent (`*ptr` and `*len` untouched), or
/// `AMI_E_NULL` / `AMI_E_UTF8`.
///
/// # Safety
///
/// `out` is NULL or a live output; `name` is NULL or a NUL-terminated string;
/// `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_get(
    out: *const AmiOutput,
    name: *const c_char,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    // SAFETY: `name`, `ptr` and `len` per this function's contract.
    let body = |o: &AmiOutput| unsafe { lookup(&o.headers, name, ptr, len) };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// Looks `name` up in `fields`: 1 found, 0 absent, or an error code.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `ptr` and `len` are NULL or writable.
unsafe fn lookup(
    fields: &Fields,
    name: *const c_char,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    // SAFETY: forwarded contract.
    let name = match unsafe { c_str(name, "name") } {
        Ok(name) => name,
        Err(code) => return code,
    };
    if ptr.is_null() || len.is_null() {
        return fail(AMI_E_NULL, "ptr or len is NULL");
    }
    match fields.get(name) {
        // SAFETY: forwarded contract on `ptr` and `len`.
        Some(found) => match unsafe { lend(found, ptr, len) } {
            AMI_OK => 1,
            code => code,
        },
        None => 0,
    }
}

/// How many items a successful completion carries: the events of an event
/// list (`CoreShowChannels`, `Status`, ...) in order, without the closing
/// `...Complete` event; or, for an async Originate, one: its
/// `OriginateResponse` event. 0 for anything else or when `out` is NULL.
///
/// # Safety
///
/// `out` is NULL or a live output.
#[no_mangle]
pub unsafe extern "C" fn ami_output_item_count(out: *const AmiOutput) -> usize {
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { count(out, |o| o.items.len()) }
}

/// How many headers item `item` has (0 when out of range or `out` is NULL).
///
/// # Safety
///
/// `out` is NULL or a live output.
#[no_mangle]
pub unsafe extern "C" fn ami_output_item_header_count(out: *const AmiOutput, item: usize) -> usize {
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { count(out, |o| o.items.get(item).map_or(0, Fields::len)) }
}

/// The name of header `i` of item `item`, lent until `ami_output_free`.
///
/// Returns `AMI_OK`, `AMI_E_RANGE` (either index), `AMI_E_NULL`.
///
/// # Safety
///
/// `out` is NULL or a live output; `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_item_header_name(
    out: *const AmiOutput,
    item: usize,
    i: usize,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let body = |o: &AmiOutput| match o.items.get(item) {
        Some(fields) => match fields.name(i) {
            // SAFETY: `ptr` and `len` are NULL or writable per this function's contract.
            Some(found) => unsafe { lend(found, ptr, len) },
            None => out_of_range(i, fields.len()),
        },
        None => out_of_range(item, o.items.len()),
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// The value of header `i` of item `item`, lent until `ami_output_free`.
///
/// Returns `AMI_OK`, `AMI_E_RANGE` (either index), `AMI_E_NULL`.
///
/// # Safety
///
/// `out` is NULL or a live output; `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_item_header_value(
    out: *const AmiOutput,
    item: usize,
    i: usize,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let body = |o: &AmiOutput| match o.items.get(item) {
        Some(fields) => match fields.value(i) {
            // SAFETY: `ptr` and `len` are NULL or writable per this function's contract.
            Some(found) => unsafe { lend(found, ptr, len) },
            None => out_of_range(i, fields.len()),
        },
        None => out_of_range(item, o.items.len()),
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// The first value of header `name` of item `item` (ASCII-case-insensitive),
/// lent until `ami_output_free`.
///
/// Returns 1 when found, 0 when absent, `AMI_E_RANGE` when `item` is out of
/// range, `AMI_E_NULL` / `AMI_E_UTF8`.
///
/// # Safety
///
/// `out` is NULL or a live output; `name` is NULL or a NUL-terminated string;
/// `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_item_get(
    out: *const AmiOutput,
    item: usize,
    name: *const c_char,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let body = |o: &AmiOutput| match o.items.get(item) {
        // SAFETY: `name`, `ptr` and `len` per this function's contract.
        Some(fields) => unsafe { lookup(fields, name, ptr, len) },
        None => out_of_range(item, o.items.len()),
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// How many output lines a successful `Command` completion carries (either
/// server style: `Output:` headers or a legacy `Follows` body); 0 for
/// anything else or when `out` is NULL.
///
/// # Safety
///
/// `out` is NULL or a live output.
#[no_mangle]
pub unsafe extern "C" fn ami_output_line_count(out: *const AmiOutput) -> usize {
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { count(out, |o| o.lines.len()) }
}

/// Command output line `i` without its line end, lent until `ami_output_free`.
///
/// Returns `AMI_OK`, `AMI_E_RANGE`, `AMI_E_NULL`.
///
/// # Safety
///
/// `out` is NULL or a live output; `ptr` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_output_line(
    out: *const AmiOutput,
    i: usize,
    ptr: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let body = |o: &AmiOutput| match o.lines.get(i) {
        // SAFETY: `ptr` and `len` are NULL or writable per this function's contract.
        Some(found) => unsafe { lend(found, ptr, len) },
        None => out_of_range(i, o.lines.len()),
    };
    // SAFETY: `out` is NULL or live per this function's contract.
    unsafe { with_output(out, body) }
}

/// Frees an output from `ami_conn_poll`; every string it lent becomes
/// invalid. NULL is ignored. Free each output exactly once.
///
/// # Safety
///
/// `out` is NULL or a live output from `ami_conn_poll`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn ami_output_free(out: *mut AmiOutput) {
    guard(|| {
        if !out.is_null() {
            // SAFETY: `out` came from `Box::into_raw` in `ami_conn_poll` and
            // is freed once, per the contract.
            drop(unsafe { Box::from_raw(out) });
        }
        AMI_OK
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_proto::ActionId;

    fn text((ptr, len): (*const c_char, usize)) -> Vec<u8> {
        // SAFETY: `ptr` points to `len` bytes plus a NUL, inside a live output.
        let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len + 1) };
        assert_eq!(bytes[len], 0, "NUL-terminated");
        bytes[..len].to_vec()
    }

    #[test]
    fn events_keep_order_duplicates_and_case_insensitive_lookup() {
        let event = Event::from_pairs([
            ("Event", &b"Newchannel"[..]),
            ("Uniqueid", b"1.0"),
            ("Variable", b"a=1"),
            ("Variable", b"b=\x002"),
        ]);
        let out = AmiOutput::new(Output::Event(event));
        assert_eq!(out.kind, AMI_OUTPUT_EVENT);
        assert_eq!(out.headers.len(), 4);
        assert_eq!(text(out.headers.name(1).unwrap()), b"Uniqueid");
        assert_eq!(text(out.headers.value(3).unwrap()), b"b=\x002");
        assert_eq!(text(out.headers.get("UNIQUEID").unwrap()), b"1.0");
        assert!(out.headers.get("Missing").is_none());
        assert!(out.headers.name(4).is_none());
        assert!(out.headers.value(usize::MAX).is_none());
    }

    #[test]
    fn failed_completions_carry_code_and_message() {
        let out = AmiOutput::new(Output::Completion {
            id: ActionId::from_bytes("ami-x-1".into()),
            result: Err(ami_proto::ActionError::Cancelled),
        });
        assert_eq!(out.kind, AMI_OUTPUT_COMPLETION);
        assert_eq!(out.fail_code, crate::status::AMI_FAIL_CANCELLED);
        assert_eq!(text(out.error.get(0).unwrap()), b"cancelled");
        assert_eq!(text(out.action_id.unwrap().get(0).unwrap()), b"ami-x-1");
    }

    #[test]
    fn closed_by_failed_login_carries_the_login_error() {
        let state = ConnState::Closed(CloseReason::LoginFailed(
            ami_proto::LoginError::AuthenticationFailed("Authentication failed".into()),
        ));
        let out = AmiOutput::new(Output::State(state));
        assert_eq!(
            (out.state, out.close_reason),
            (AMI_STATE_CLOSED, AMI_CLOSE_LOGIN_FAILED)
        );
        assert_eq!(out.fail_code, crate::status::AMI_FAIL_LOGIN_AUTH);
        assert!(out.headers.len() == 0 && out.items.is_empty());
    }
}
