//! `ami_conn`: one AMI session's state machine behind an opaque pointer.
//!
//! The functions follow the core's four kinds: inputs (`ami_conn_input`,
//! `ami_conn_timeout`, `ami_conn_closed`), commands (`ami_conn_send`,
//! `ami_conn_cancel`, `ami_conn_advance`), outputs drained until empty
//! (`ami_conn_transmit`, `ami_conn_poll`, `ami_conn_next_timeout_ms`), and
//! getters (`ami_conn_wants_read`, `ami_conn_wants_write`, `ami_conn_stats`,
//! `ami_conn_cancelled`).

use std::ffi::{c_char, c_int};
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionId, Connection};

use crate::clock::Clock;
use crate::options::AmiOptions;
use crate::output::AmiOutput;
use crate::status::{
    c_str, fail, guard, null, send_code, AMI_E_BUFFER, AMI_E_CONFIG, AMI_E_NULL, AMI_E_PANIC,
    AMI_E_RANGE, AMI_OK,
};

/// One AMI session, mirrored as the opaque `ami_conn` in `ami.h`.
///
/// Created by `ami_conn_new`, freed by `ami_conn_free`. Not thread-safe:
/// use it from one thread at a time (moving it between threads is fine).
#[derive(Debug)]
pub struct AmiConn {
    conn: Connection,
    clock: Clock,
    /// Set while a call runs and cleared when it returns: still set after a
    /// caught panic, which leaves the connection unusable.
    poisoned: bool,
    /// Bytes of room `ami_conn_input_buf` lent and not committed yet (0
    /// once `ami_conn_input` has fed bytes after it).
    lent: usize,
}

/// Counters of one connection, mirrored by `ami_stats` in `ami.h`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AmiStats {
    /// Bytes received from the server.
    pub bytes_in: u64,
    /// Bytes the socket took (`ami_conn_advance`).
    pub bytes_out: u64,
    /// Frames decoded (banner excluded).
    pub frames: u64,
    /// Responses decoded.
    pub responses: u64,
    /// Events decoded.
    pub events: u64,
    /// Events delivered to the event queue.
    pub events_queued: u64,
    /// Events dropped because the queue was full.
    pub events_dropped_full: u64,
    /// Events dropped because they exceeded the frame limit.
    pub events_dropped_oversized: u64,
    /// Frames skipped for exceeding their limit.
    pub oversized_frames: u64,
    /// Garbage runs discarded.
    pub garbage: u64,
    /// Responses that matched no pending action or came out of order.
    pub desyncs: u64,
    /// Actions sent.
    pub actions_sent: u64,
    /// Actions completed successfully.
    pub actions_ok: u64,
    /// Actions completed with an error (timeouts and cancels included; the
    /// cancels are counted by `ami_conn_cancelled`, as this struct's layout
    /// is fixed).
    pub actions_failed: u64,
    /// Actions that timed out.
    pub timeouts: u64,
    /// Actions awaiting completion now.
    pub pending: u64,
    /// Events waiting in the queue now.
    pub queue_depth: u64,
    /// Highest queue depth seen.
    pub queue_high_water: u64,
    /// Bytes waiting to be written now.
    pub write_buffered: u64,
    /// Heartbeat pings sent.
    pub heartbeats: u64,
    /// Heartbeat pongs missed.
    pub heartbeat_misses: u64,
}

/// Runs `body` on the connection behind `conn`, with panics caught and the
/// connection poisoned by one.
///
/// # Safety
///
/// `conn` is NULL or a live connection from `ami_conn_new`, not used by
/// another thread during the call.
unsafe fn with_conn(conn: *mut AmiConn, body: impl FnOnce(&mut AmiConn) -> c_int) -> c_int {
    guard(|| {
        // SAFETY: NULL or live and unshared per the contract.
        let Some(c) = (unsafe { conn.as_mut() }) else {
            return null("conn");
        };
        if c.poisoned {
            return fail(AMI_E_PANIC, "connection unusable after an internal error");
        }
        c.poisoned = true;
        let code = body(c);
        c.poisoned = false;
        code
    })
}

/// Like [`with_conn`] for getters, which need shared access only.
///
/// # Safety
///
/// As for [`with_conn`].
unsafe fn with_conn_ref(conn: *const AmiConn, body: impl FnOnce(&AmiConn) -> c_int) -> c_int {
    guard(|| {
        // SAFETY: NULL or live per the contract; shared access only.
        match unsafe { conn.as_ref() } {
            None => null("conn"),
            Some(c) if c.poisoned => {
                fail(AMI_E_PANIC, "connection unusable after an internal error")
            }
            Some(c) => body(c),
        }
    })
}

/// Creates a connection whose transport has just connected, at `now_ms`
/// on the caller's monotonic clock; the login deadline starts now.
///
/// On `AMI_OK`, `*out` owns a new connection: free it with `ami_conn_free`.
/// Returns `AMI_E_NULL`, `AMI_E_UTF8`, or `AMI_E_CONFIG` (see
/// `ami_last_error`) with `*out` set to NULL.
///
/// # Safety
///
/// `opts` is NULL or points to an initialised `ami_options` whose strings
/// are NULL or NUL-terminated; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_new(
    opts: *const AmiOptions,
    now_ms: u64,
    out: *mut *mut AmiConn,
) -> c_int {
    guard(|| {
        if out.is_null() {
            return null("out");
        }
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: NULL or an initialised `ami_options` per the contract.
        let Some(opts) = (unsafe { opts.as_ref() }) else {
            return null("opts");
        };
        // SAFETY: the string fields are NULL or NUL-terminated per the contract.
        let config = match unsafe { opts.config() } {
            Ok(config) => config,
            Err(code) => return code,
        };
        // The one clock read of this crate: it anchors the caller's clock.
        let base = Instant::now();
        let conn = match Connection::new(config, base) {
            Ok(conn) => conn,
            Err(e) => return fail(AMI_E_CONFIG, format_args!("invalid options: {e}")),
        };
        let conn = Box::new(AmiConn {
            conn,
            clock: Clock::new(base, now_ms),
            poisoned: false,
            lent: 0,
        });
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out.write(Box::into_raw(conn)) };
        AMI_OK
    })
}

/// Frees a connection and everything it holds; NULL is ignored. Outputs
/// already polled stay valid (free them separately); bytes lent by
/// `ami_conn_transmit` do not. Close the socket yourself.
///
/// # Safety
///
/// `conn` is NULL or a live connection from `ami_conn_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_free(conn: *mut AmiConn) {
    guard(|| {
        if !conn.is_null() {
            // SAFETY: `conn` came from `Box::into_raw` in `ami_conn_new` and
            // is freed once, per the contract.
            drop(unsafe { Box::from_raw(conn) });
        }
        AMI_OK
    });
}

/// Feeds `len` bytes read from the socket at `now_ms`. Then drain
/// `ami_conn_transmit` and `ami_conn_poll`.
///
/// The bytes are copied. `data` may be NULL only when `len` is 0. Returns
/// `AMI_OK`, `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live; `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_input(
    conn: *mut AmiConn,
    data: *const u8,
    len: usize,
    now_ms: u64,
) -> c_int {
    let body = |c: &mut AmiConn| {
        if len == 0 {
            return AMI_OK;
        }
        if data.is_null() {
            return null("data");
        }
        // SAFETY: non-NULL, and `len` readable bytes per this function's contract.
        let bytes = unsafe { std::slice::from_raw_parts(data, len) };
        // The bytes may go into the room lent for a read: it is gone.
        c.lent = 0;
        c.conn.handle_input(bytes, c.clock.at(now_ms));
        AMI_OK
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// Lends room for the next read from the socket: up to `max` bytes at the
/// end of the connection's receive buffer, where the bytes are decoded
/// without the copy [`ami_conn_input`] makes. Writes the room's address to
/// `*buf_out` and its length to `*len_out` (at most `max`; less when the
/// receive buffer has 4 KiB or more left). Read at most that many bytes
/// into it, then call [`ami_conn_input_commit`] with the count. The room is
/// valid until the next call on `conn`. Returns `AMI_OK`, `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live; `buf_out` and `len_out` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_input_buf(
    conn: *mut AmiConn,
    max: usize,
    buf_out: *mut *mut u8,
    len_out: *mut usize,
) -> c_int {
    let body = |c: &mut AmiConn| {
        if buf_out.is_null() {
            return null("buf_out");
        }
        if len_out.is_null() {
            return null("len_out");
        }
        let room = c.conn.input_buf(max);
        c.lent = room.len();
        // SAFETY: both non-NULL, and writable per this function's contract.
        unsafe {
            *buf_out = room.as_mut_ptr();
            *len_out = room.len();
        }
        AMI_OK
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// `n` bytes were read at `now_ms` into the room [`ami_conn_input_buf`]
/// lent; they are decoded. Then drain (`ami_conn_poll`). Returns `AMI_OK`,
/// `AMI_E_NULL`, `AMI_E_RANGE` (more than the room lent, or no room lent
/// since the last commit or `ami_conn_input`; nothing done).
///
/// # Safety
///
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_input_commit(conn: *mut AmiConn, n: usize, now_ms: u64) -> c_int {
    let body = |c: &mut AmiConn| {
        if n > c.lent {
            return fail(
                AMI_E_RANGE,
                format_args!("committed {n} bytes of a room of {}", c.lent),
            );
        }
        c.lent = 0;
        c.conn.handle_read(n, c.clock.at(now_ms));
        AMI_OK
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// Fires every deadline due at `now_ms` (login, action timeouts, heartbeat);
/// calling early does nothing. Then drain. Returns `AMI_OK`, `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_timeout(conn: *mut AmiConn, now_ms: u64) -> c_int {
    let body = |c: &mut AmiConn| {
        c.conn.handle_timeout(c.clock.at(now_ms));
        AMI_OK
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// The transport closed (EOF or error) at `now_ms`: every pending action
/// completes with `AMI_FAIL_CONNECTION_LOST` and the state becomes
/// `AMI_STATE_CLOSED`. Then drain `ami_conn_poll`. Returns `AMI_OK`, `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_closed(conn: *mut AmiConn, now_ms: u64) -> c_int {
    let body = |c: &mut AmiConn| {
        c.conn.handle_closed(c.clock.at(now_ms));
        AMI_OK
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// Queues an action and writes its ActionID (NUL-terminated) to `id_out`.
///
/// `action` is the `Action:` name; `names[i]: values[i]` for `i < count`
/// are its other headers, in order (`names`/`values` may be NULL when
/// `count` is 0). `timeout_ms` overrides the default action timeout (0 =
/// default). The completion arrives later from `ami_conn_poll`, carrying the
/// same id, exactly once. All strings are copied.
///
/// `id_cap` must be at least `AMI_ACTION_ID_CAP` (the longest id and its
/// NUL); this is checked before anything is queued, so an action is never
/// sent without its id reaching the caller. On any error nothing was queued
/// and no completion will come:
/// `AMI_E_NULL`, `AMI_E_UTF8`, `AMI_E_BUFFER`, or one `AMI_E_SEND_*` code
/// (CR/LF, bad name, line > 1,024 bytes, > 128 lines, `ActionID` set,
/// too many pending, write buffer full, not ready).
///
/// # Safety
///
/// `conn` is NULL or live; `action` is NULL or NUL-terminated; `names` and
/// `values` are NULL or point to `count` pointers, each NULL or
/// NUL-terminated; `id_out` is NULL or points to `id_cap` writable bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // The C signature is flat by design.
pub unsafe extern "C" fn ami_conn_send(
    conn: *mut AmiConn,
    action: *const c_char,
    names: *const *const c_char,
    values: *const *const c_char,
    count: usize,
    timeout_ms: u64,
    now_ms: u64,
    id_out: *mut c_char,
    id_cap: usize,
) -> c_int {
    let body = |c: &mut AmiConn| {
        // SAFETY: `action`, `names` and `values` per this function's contract.
        match unsafe { build_action(action, names, values, count) } {
            // SAFETY: `id_out` per this function's contract.
            Ok(action) => unsafe { send(c, action, timeout_ms, now_ms, id_out, id_cap) },
            Err(code) => code,
        }
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// The action described by the C arguments of [`ami_conn_send`].
///
/// # Safety
///
/// As for [`ami_conn_send`].
unsafe fn build_action(
    action: *const c_char,
    names: *const *const c_char,
    values: *const *const c_char,
    count: usize,
) -> Result<Action, c_int> {
    // SAFETY: forwarded contract.
    let name = unsafe { c_str(action, "action") }?;
    let mut built = Action::new(name);
    if count == 0 {
        return Ok(built);
    }
    if names.is_null() || values.is_null() {
        return Err(fail(AMI_E_NULL, "names or values is NULL"));
    }
    // SAFETY: both non-NULL and point to `count` pointers per the contract.
    let (names, values) = unsafe {
        (
            std::slice::from_raw_parts(names, count),
            std::slice::from_raw_parts(values, count),
        )
    };
    for (&n, &v) in names.iter().zip(values) {
        // SAFETY: each pointer is NULL or NUL-terminated per the contract.
        let (n, v) = unsafe { (c_str(n, "header name")?, c_str(v, "header value")?) };
        built = built.header(n, v);
    }
    Ok(built)
}

/// Sends `action` and writes its id.
///
/// # Safety
///
/// `id_out` is NULL or points to `id_cap` writable bytes.
unsafe fn send(
    c: &mut AmiConn,
    mut action: Action,
    timeout_ms: u64,
    now_ms: u64,
    id_out: *mut c_char,
    id_cap: usize,
) -> c_int {
    if id_out.is_null() {
        return null("id_out");
    }
    // Checked before sending: a queued action whose id the caller never
    // learns could not be matched to its completion.
    let longest = c.conn.config().max_action_id;
    if id_cap <= longest {
        return fail(
            AMI_E_BUFFER,
            format_args!(
                "id_cap {id_cap} cannot hold an ActionID of up to {longest} bytes and NUL"
            ),
        );
    }
    if timeout_ms != 0 {
        action = action.with_timeout(Duration::from_millis(timeout_ms));
    }
    let now = c.clock.at(now_ms);
    let id = match c.conn.send(action, now) {
        Ok(id) => id,
        Err(err) => return fail(send_code(&err), err),
    };
    let bytes = id.as_bytes();
    if bytes.len() >= id_cap {
        // Generated ids never exceed `max_action_id`; should one, take the
        // action back rather than leave it unmatched.
        c.conn.cancel(&id, now);
        return fail(AMI_E_BUFFER, "ActionID longer than its configured maximum");
    }
    // SAFETY: `id_out` has `id_cap` > `bytes.len()` writable bytes per the
    // contract, and a Rust slice never overlaps caller memory.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), id_out.cast::<u8>(), bytes.len());
        id_out.add(bytes.len()).write(0);
    }
    AMI_OK
}

/// Cancels a pending action: its completion (`AMI_FAIL_CANCELLED`) is
/// queued now and whatever the server still sends for it is absorbed.
///
/// Returns 1 when it was pending, 0 when not (unknown, or already
/// completed), `AMI_E_NULL`, `AMI_E_UTF8`.
///
/// # Safety
///
/// `conn` is NULL or live; `id` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_cancel(
    conn: *mut AmiConn,
    id: *const c_char,
    now_ms: u64,
) -> c_int {
    let body = |c: &mut AmiConn| {
        // SAFETY: `id` is NULL or NUL-terminated per this function's contract.
        let id = match unsafe { c_str(id, "id") } {
            Ok(id) => ActionId::from_bytes(id.to_owned().into()),
            Err(code) => return code,
        };
        c_int::from(c.conn.cancel(&id, c.clock.at(now_ms)))
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// Lends the bytes waiting to be written: returns 1 and sets `*data` and
/// `*len` (> 0), or returns 0 with `*data` NULL and `*len` 0 when there is
/// nothing to write. Write them, then call `ami_conn_advance` with how many
/// the socket took (partial writes are normal).
///
/// The bytes are lent until the next call on `conn`.
///
/// # Safety
///
/// `conn` is NULL or live; `data` and `len` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_transmit(
    conn: *mut AmiConn,
    data: *mut *const u8,
    len: *mut usize,
) -> c_int {
    let body = |c: &mut AmiConn| {
        if data.is_null() || len.is_null() {
            return null("data or len");
        }
        let (ptr, n) = match c.conn.poll_transmit() {
            Some(bytes) => (bytes.as_ptr(), bytes.len()),
            None => (std::ptr::null(), 0),
        };
        // SAFETY: both non-NULL, and writable per this function's contract.
        unsafe {
            data.write(ptr);
            len.write(n);
        }
        c_int::from(n > 0)
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// Drops `n` bytes that the socket took from the front of what
/// `ami_conn_transmit` lent (more than is waiting counts as all).
/// Returns `AMI_OK`, `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_advance(conn: *mut AmiConn, n: usize) -> c_int {
    let body = |c: &mut AmiConn| {
        c.conn.advance(n);
        AMI_OK
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// Takes the next output: returns 1 and sets `*out` to an output the caller
/// owns (free it with `ami_output_free`), or returns 0 with `*out` NULL when
/// there is none. State changes and completions come before queued events.
/// Drain until 0 after every input or command.
///
/// # Safety
///
/// `conn` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_poll(conn: *mut AmiConn, out: *mut *mut AmiOutput) -> c_int {
    let body = |c: &mut AmiConn| {
        if out.is_null() {
            return null("out");
        }
        let next = c.conn.poll_output().map_or(std::ptr::null_mut(), |o| {
            Box::into_raw(Box::new(AmiOutput::new(o)))
        });
        // SAFETY: non-NULL, and writable per this function's contract.
        unsafe { out.write(next) };
        c_int::from(!next.is_null())
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// The caller-clock millisecond at which `ami_conn_timeout` is next due:
/// returns 1 and sets `*out_ms`, or returns 0 when nothing is scheduled
/// (e.g. once closed). Ask again after every input or command; the value
/// may be in the past (call `ami_conn_timeout` at once).
///
/// # Safety
///
/// `conn` is NULL or live; `out_ms` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_next_timeout_ms(conn: *mut AmiConn, out_ms: *mut u64) -> c_int {
    let body = |c: &mut AmiConn| {
        if out_ms.is_null() {
            return null("out_ms");
        }
        match c.conn.poll_timeout() {
            Some(at) => {
                // SAFETY: non-NULL, and writable per this function's contract.
                unsafe { out_ms.write(c.clock.ms(at)) };
                1
            }
            None => 0,
        }
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, body) }
}

/// Whether to read from the socket: 1 or 0 (0 once closed, and while a
/// back-pressure event queue is full: poll events to resume), or `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_wants_read(conn: *const AmiConn) -> c_int {
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn_ref(conn, |c| c_int::from(c.conn.wants_read())) }
}

/// Drops the oldest queued event, counted in the stats'
/// `events_dropped_full`; returns 1 if there was one, 0 if not, or
/// `AMI_E_NULL`. Then drain `ami_conn_poll`: decoding resumes, and what it
/// finishes comes out.
///
/// For `AMI_QUEUE_BACKPRESSURE` callers whose own queue cannot take events
/// now: while `ami_conn_wants_read` is 0 and actions are pending (the
/// stats' `pending`), an action's answer may sit behind the unread events;
/// drop events until it is decoded rather than let it time out.
///
/// # Safety
///
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_drop_event(conn: *mut AmiConn) -> c_int {
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn(conn, |c| c_int::from(c.conn.drop_event())) }
}

/// Whether bytes wait to be written: 1 or 0, or `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_wants_write(conn: *const AmiConn) -> c_int {
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn_ref(conn, |c| c_int::from(c.conn.wants_write())) }
}

/// Copies the connection's counters to `*out`. Returns `AMI_OK`, `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_stats(conn: *const AmiConn, out: *mut AmiStats) -> c_int {
    let body = |c: &AmiConn| {
        if out.is_null() {
            return null("out");
        }
        let s = c.conn.stats();
        let stats = AmiStats {
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            frames: s.frames,
            responses: s.responses,
            events: s.events,
            events_queued: s.events_queued,
            events_dropped_full: s.events_dropped_full,
            events_dropped_oversized: s.events_dropped_oversized,
            oversized_frames: s.oversized_frames,
            garbage: s.garbage,
            desyncs: s.desyncs,
            actions_sent: s.actions_sent,
            actions_ok: s.actions_ok,
            actions_failed: s.actions_failed,
            timeouts: s.timeouts,
            pending: s.pending,
            queue_depth: s.queue_depth,
            queue_high_water: s.queue_high_water,
            write_buffered: s.write_buffered,
            heartbeats: s.heartbeats,
            heartbeat_misses: s.heartbeat_misses,
        };
        // SAFETY: non-NULL, and writable per this function's contract.
        unsafe { out.write(stats) };
        AMI_OK
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn_ref(conn, body) }
}

/// Writes to `*out` how many actions the caller cancelled
/// (`ami_conn_cancel`); they are counted in the stats' `actions_failed`
/// too: subtract them to see the failures the server or the network
/// caused. Not a field of `ami_stats`, whose size callers compiled against
/// an older header rely on. Returns `AMI_OK`, `AMI_E_NULL`.
///
/// # Safety
///
/// `conn` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_conn_cancelled(conn: *const AmiConn, out: *mut u64) -> c_int {
    let body = |c: &AmiConn| {
        if out.is_null() {
            return null("out");
        }
        // SAFETY: non-NULL, and writable per this function's contract.
        unsafe { out.write(c.conn.stats().cancelled) };
        AMI_OK
    };
    // SAFETY: `conn` is NULL or live per this function's contract.
    unsafe { with_conn_ref(conn, body) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_poisons_the_connection_and_never_unwinds_into_c() {
        let opts = AmiOptions::default();
        let mut conn = std::ptr::null_mut();
        // SAFETY: valid options (NULL strings) and a writable out-pointer.
        assert_eq!(unsafe { ami_conn_new(&opts, 0, &mut conn) }, AMI_OK);
        // SAFETY: `conn` is live.
        let code = unsafe { with_conn(conn, |_| panic!("a bug")) };
        assert_eq!(code, AMI_E_PANIC);
        // SAFETY: `conn` is live.
        assert_eq!(unsafe { ami_conn_timeout(conn, 1) }, AMI_E_PANIC);
        // SAFETY: `conn` is live.
        assert_eq!(unsafe { ami_conn_wants_read(conn) }, AMI_E_PANIC);
        // SAFETY: `conn` came from `ami_conn_new`; freeing still works.
        unsafe { ami_conn_free(conn) };
    }
}
