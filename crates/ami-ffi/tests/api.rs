//! The C API called from Rust, in memory with virtual milliseconds: NULL
//! arguments, refused options and sends, login failures, timeouts, and the
//! millisecond clock. The TCP sessions are in `c_abi.rs`.

// These tests call the `extern "C"` functions as C would, through raw pointers.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr};
use std::ptr::{null, null_mut};
use std::time::Duration;

use ami_ffi::*;
use ami_testkit::{MemoryLink, ServerConfig};

fn last_error() -> String {
    // SAFETY: `ami_last_error` returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(ami_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// A connection and the fake server it talks to, with a virtual clock in
/// milliseconds that starts at an arbitrary caller value.
struct Pair {
    conn: *mut AmiConn,
    link: MemoryLink,
    now_ms: u64,
    /// Reads fed so far (they alternate between the two ways in).
    inputs: u64,
}

impl Pair {
    fn new(secret: &CStr, server: ServerConfig) -> Pair {
        Pair::with_seed(secret, server, 0)
    }

    /// Like [`Pair::new`], with `seed` in the options (0: the default).
    fn with_seed(secret: &CStr, server: ServerConfig, seed: u64) -> Pair {
        Pair::with_options(secret, server, |opts| opts.seed = seed)
    }

    /// Like [`Pair::new`], with the default options changed by `adjust`.
    fn with_options(secret: &CStr, server: ServerConfig, adjust: impl Fn(&mut AmiOptions)) -> Pair {
        let mut opts = AmiOptions::default();
        // SAFETY: `opts` is a valid, writable `AmiOptions`.
        assert_eq!(unsafe { ami_options_init(&mut opts) }, AMI_OK);
        adjust(&mut opts);
        opts.username = c"admin".as_ptr();
        opts.secret = secret.as_ptr();
        opts.heartbeat_ms = 0;
        let now_ms = 1_000_000;
        let mut conn = null_mut();
        // SAFETY: valid options with static strings; `conn` is writable.
        assert_eq!(unsafe { ami_conn_new(&opts, now_ms, &mut conn) }, AMI_OK);
        Pair {
            conn,
            link: MemoryLink::new(server),
            now_ms,
            inputs: 0,
        }
    }

    /// Exchanges bytes until neither side has anything to say; returns the
    /// outputs drained on the way.
    fn settle(&mut self) -> Vec<Out> {
        let mut outs = Vec::new();
        loop {
            let mut progressed = false;
            let (mut data, mut len) = (null(), 0);
            // SAFETY: `self.conn` is live; `data` and `len` are writable.
            while unsafe { ami_conn_transmit(self.conn, &mut data, &mut len) } == 1 {
                // SAFETY: the lent bytes are valid until the next call on conn.
                let bytes = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
                self.link.send(&bytes);
                // SAFETY: `self.conn` is live.
                unsafe { ami_conn_advance(self.conn, len) };
                progressed = true;
            }
            let bytes = self.link.recv();
            if !bytes.is_empty() {
                self.input(&bytes);
                progressed = true;
            }
            outs.extend(self.poll());
            if !progressed {
                return outs;
            }
        }
    }

    /// Feeds `bytes` from the server: in turn copied in (`ami_conn_input`)
    /// and read in place (`ami_conn_input_buf`, then commit), as many
    /// rooms as they take.
    fn input(&mut self, bytes: &[u8]) {
        self.inputs += 1;
        if self.inputs.is_multiple_of(2) {
            // SAFETY: `self.conn` is live; `bytes` is readable.
            let rc = unsafe { ami_conn_input(self.conn, bytes.as_ptr(), bytes.len(), self.now_ms) };
            assert_eq!(rc, AMI_OK);
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let (mut room, mut len) = (null_mut(), 0);
            // SAFETY: `self.conn` is live; `room` and `len` are writable.
            let rc = unsafe { ami_conn_input_buf(self.conn, 100, &mut room, &mut len) };
            assert_eq!(rc, AMI_OK);
            assert!((1..=100).contains(&len), "room {len}");
            let n = len.min(rest.len());
            // SAFETY: the room is `len` writable bytes until the next call.
            unsafe { std::slice::from_raw_parts_mut(room, n) }.copy_from_slice(&rest[..n]);
            // SAFETY: `self.conn` is live.
            assert_eq!(
                unsafe { ami_conn_input_commit(self.conn, n, self.now_ms) },
                AMI_OK
            );
            rest = &rest[n..];
        }
    }

    fn poll(&mut self) -> Vec<Out> {
        let mut outs = Vec::new();
        let mut out = null_mut();
        // SAFETY: `self.conn` is live; `out` is writable.
        while unsafe { ami_conn_poll(self.conn, &mut out) } == 1 {
            outs.push(Out::read(out));
            // SAFETY: `out` came from `ami_conn_poll` and is freed once.
            unsafe { ami_output_free(out) };
        }
        outs
    }

    fn send(&mut self, action: &CStr, timeout_ms: u64) -> Result<String, c_int> {
        self.send_with(action, &[], timeout_ms)
    }

    /// Sends `action` with `headers` (name, value).
    fn send_with(
        &mut self,
        action: &CStr,
        headers: &[(&CStr, &CStr)],
        timeout_ms: u64,
    ) -> Result<String, c_int> {
        let names: Vec<_> = headers.iter().map(|(n, _)| n.as_ptr()).collect();
        let values: Vec<_> = headers.iter().map(|(_, v)| v.as_ptr()).collect();
        let mut id = [0 as c_char; AMI_ACTION_ID_CAP];
        // SAFETY: `self.conn` is live, `action` NUL-terminated, `names` and
        // `values` hold `headers.len()` valid strings each, `id` has
        // `AMI_ACTION_ID_CAP` writable bytes.
        let rc = unsafe {
            ami_conn_send(
                self.conn,
                action.as_ptr(),
                names.as_ptr(),
                values.as_ptr(),
                headers.len(),
                timeout_ms,
                self.now_ms,
                id.as_mut_ptr(),
                id.len(),
            )
        };
        // SAFETY: on success `id` holds a NUL-terminated id.
        (rc == AMI_OK)
            .then(|| {
                unsafe { CStr::from_ptr(id.as_ptr()) }
                    .to_string_lossy()
                    .into_owned()
            })
            .ok_or(rc)
    }

    fn next_timeout(&mut self) -> Option<u64> {
        let mut at = 0;
        // SAFETY: `self.conn` is live; `at` is writable.
        match unsafe { ami_conn_next_timeout_ms(self.conn, &mut at) } {
            1 => Some(at),
            0 => None,
            rc => panic!("next_timeout_ms: {rc}"),
        }
    }

    fn timeout_at(&mut self, ms: u64) -> Vec<Out> {
        self.now_ms = ms;
        // SAFETY: `self.conn` is live.
        assert_eq!(unsafe { ami_conn_timeout(self.conn, ms) }, AMI_OK);
        self.poll()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // SAFETY: `self.conn` came from `ami_conn_new` and is freed once.
        unsafe { ami_conn_free(self.conn) };
    }
}

/// What the tests look at in an output.
#[derive(Debug, PartialEq)]
struct Out {
    kind: c_int,
    /// A completion's ActionID.
    id: Option<String>,
    state: Option<(c_int, c_int)>,
    fail: c_int,
    error: String,
}

impl Out {
    fn read(out: *const AmiOutput) -> Out {
        // SAFETY: `out` is a live output; every out-pointer is writable.
        unsafe {
            let kind = ami_output_kind(out);
            let (mut state, mut reason) = (0, 0);
            let state = (ami_output_state(out, &mut state, &mut reason) == AMI_OK)
                .then_some((state, reason));
            let (mut fail, mut msg, mut len) = (0, null(), 0);
            assert_eq!(ami_output_error(out, &mut fail, &mut msg, &mut len), AMI_OK);
            let bytes = std::slice::from_raw_parts(msg.cast::<u8>(), len);
            let error = String::from_utf8_lossy(bytes).into_owned();
            let (mut id, mut id_len) = (null(), 0);
            let id = (ami_output_action_id(out, &mut id, &mut id_len) == AMI_OK).then(|| {
                let bytes = std::slice::from_raw_parts(id.cast::<u8>(), id_len);
                String::from_utf8_lossy(bytes).into_owned()
            });
            Out {
                kind,
                id,
                state,
                fail,
                error,
            }
        }
    }
}

#[test]
fn null_arguments_are_error_codes_never_crashes() {
    let mut opts = AmiOptions::default();
    let mut conn = null_mut();
    let (mut p, mut n, mut code) = (null(), 0usize, 0);
    // SAFETY: every call passes NULL where a pointer is checked; the other
    // pointers are valid.
    unsafe {
        assert_eq!(ami_options_init(null_mut()), AMI_E_NULL);
        assert_eq!(ami_conn_new(null(), 0, &mut conn), AMI_E_NULL);
        assert!(conn.is_null());
        assert_eq!(ami_conn_new(&opts, 0, null_mut()), AMI_E_NULL);
        assert_eq!(ami_conn_input(null_mut(), null(), 0, 0), AMI_E_NULL);
        assert_eq!(ami_conn_timeout(null_mut(), 0), AMI_E_NULL);
        assert_eq!(ami_conn_closed(null_mut(), 0), AMI_E_NULL);
        assert_eq!(ami_conn_advance(null_mut(), 1), AMI_E_NULL);
        assert_eq!(ami_conn_cancel(null_mut(), c"x".as_ptr(), 0), AMI_E_NULL);
        assert_eq!(
            ami_conn_transmit(null_mut(), &mut null(), &mut n),
            AMI_E_NULL
        );
        assert_eq!(ami_conn_poll(null_mut(), &mut null_mut()), AMI_E_NULL);
        assert_eq!(ami_conn_next_timeout_ms(null_mut(), &mut 0), AMI_E_NULL);
        assert_eq!(ami_conn_wants_read(null()), AMI_E_NULL);
        assert_eq!(ami_conn_wants_write(null()), AMI_E_NULL);
        assert_eq!(ami_conn_stats(null(), &mut AmiStats::default()), AMI_E_NULL);
        assert_eq!(ami_conn_cancelled(null(), &mut 0), AMI_E_NULL);
        assert_eq!(ami_output_kind(null()), AMI_E_NULL);
        assert_eq!(ami_output_state(null(), &mut code, &mut code), AMI_E_NULL);
        assert_eq!(ami_output_action_id(null(), &mut p, &mut n), AMI_E_NULL);
        assert_eq!(
            ami_output_error(null(), &mut code, &mut p, &mut n),
            AMI_E_NULL
        );
        assert_eq!(ami_output_header_count(null()), 0);
        assert_eq!(
            ami_output_header_name(null(), 0, &mut p, &mut n),
            AMI_E_NULL
        );
        assert_eq!(
            ami_output_header_value(null(), 0, &mut p, &mut n),
            AMI_E_NULL
        );
        assert_eq!(
            ami_output_get(null(), c"x".as_ptr(), &mut p, &mut n),
            AMI_E_NULL
        );
        assert_eq!(ami_output_item_count(null()), 0);
        assert_eq!(ami_output_item_header_count(null(), 0), 0);
        assert_eq!(
            ami_output_item_header_name(null(), 0, 0, &mut p, &mut n),
            AMI_E_NULL
        );
        assert_eq!(
            ami_output_item_header_value(null(), 0, 0, &mut p, &mut n),
            AMI_E_NULL
        );
        assert_eq!(
            ami_output_item_get(null(), 0, c"x".as_ptr(), &mut p, &mut n),
            AMI_E_NULL
        );
        assert_eq!(ami_output_line_count(null()), 0);
        assert_eq!(ami_output_line(null(), 0, &mut p, &mut n), AMI_E_NULL);
        ami_output_free(null_mut());
        ami_conn_free(null_mut());
        assert!(CStr::from_ptr(ami_strerror(AMI_E_NULL))
            .to_bytes()
            .ends_with(b"NULL"));

        // NULLs inside a live connection's calls.
        assert_eq!(ami_options_init(&mut opts), AMI_OK);
        assert_eq!(ami_conn_new(&opts, 0, &mut conn), AMI_OK);
        assert_eq!(ami_conn_input(conn, null(), 3, 0), AMI_E_NULL);
        assert_eq!(ami_conn_input(conn, null(), 0, 0), AMI_OK);
        let mut room = null_mut();
        assert_eq!(ami_conn_input_buf(conn, 10, null_mut(), &mut n), AMI_E_NULL);
        assert_eq!(
            ami_conn_input_buf(conn, 10, &mut room, null_mut()),
            AMI_E_NULL
        );
        assert_eq!(
            ami_conn_input_buf(null_mut(), 10, &mut room, &mut n),
            AMI_E_NULL
        );
        assert_eq!(ami_conn_input_commit(null_mut(), 0, 0), AMI_E_NULL);
        // More than the room lent, or a room taken by a copy in: refused,
        // and the connection goes on.
        assert_eq!(ami_conn_input_buf(conn, 10, &mut room, &mut n), AMI_OK);
        assert_eq!(n, 10);
        assert_eq!(ami_conn_input_commit(conn, 11, 0), AMI_E_RANGE);
        assert_eq!(ami_conn_input_buf(conn, 10, &mut room, &mut n), AMI_OK);
        assert_eq!(ami_conn_input(conn, b"x".as_ptr(), 1, 0), AMI_OK);
        assert_eq!(ami_conn_input_commit(conn, 1, 0), AMI_E_RANGE);
        assert_eq!(ami_conn_input_commit(conn, 0, 0), AMI_OK);
        assert_eq!(ami_conn_transmit(conn, null_mut(), &mut n), AMI_E_NULL);
        assert_eq!(ami_conn_poll(conn, null_mut()), AMI_E_NULL);
        assert_eq!(ami_conn_next_timeout_ms(conn, null_mut()), AMI_E_NULL);
        assert_eq!(ami_conn_stats(conn, null_mut()), AMI_E_NULL);
        assert_eq!(ami_conn_cancelled(conn, null_mut()), AMI_E_NULL);
        let mut id = [0 as c_char; AMI_ACTION_ID_CAP];
        let (idp, cap) = (id.as_mut_ptr(), id.len());
        assert_eq!(
            ami_conn_send(conn, null(), null(), null(), 0, 0, 0, idp, cap),
            AMI_E_NULL
        );
        assert_eq!(
            ami_conn_send(conn, c"Ping".as_ptr(), null(), null(), 1, 0, 0, idp, cap),
            AMI_E_NULL
        );
        let names = [null::<c_char>()];
        let values = [c"v".as_ptr()];
        let rc = ami_conn_send(
            conn,
            c"Ping".as_ptr(),
            names.as_ptr(),
            values.as_ptr(),
            1,
            0,
            0,
            idp,
            cap,
        );
        assert_eq!(rc, AMI_E_NULL);
        assert_eq!(last_error(), "header name is NULL");
        assert_eq!(
            ami_conn_send(
                conn,
                c"Ping".as_ptr(),
                null(),
                null(),
                0,
                0,
                0,
                null_mut(),
                0
            ),
            AMI_E_NULL
        );
        assert_eq!(ami_conn_cancel(conn, null(), 0), AMI_E_NULL);
        assert_eq!(ami_conn_cancel(conn, c"\xff".as_ptr(), 0), AMI_E_UTF8);
        assert_eq!(ami_conn_cancel(conn, c"unknown".as_ptr(), 0), 0);
        ami_conn_free(conn);
    }
}

#[test]
fn invalid_options_say_why() {
    let mut opts = AmiOptions::default();
    let mut conn = null_mut();
    // SAFETY: valid pointers throughout; strings are static.
    unsafe {
        ami_options_init(&mut opts);
        opts.event_queue = u64::MAX;
        assert_eq!(ami_conn_new(&opts, 0, &mut conn), AMI_E_CONFIG);
        assert!(last_error().contains("event_queue"), "{}", last_error());
        ami_options_init(&mut opts);
        opts.queue_policy = 9;
        assert_eq!(ami_conn_new(&opts, 0, &mut conn), AMI_E_CONFIG);
        assert_eq!(last_error(), "unknown queue_policy 9");
        ami_options_init(&mut opts);
        opts.username = c"adm\xffin".as_ptr();
        assert_eq!(ami_conn_new(&opts, 0, &mut conn), AMI_E_UTF8);
        assert!(conn.is_null());
    }
}

#[test]
fn a_full_session_in_memory_with_send_refusals() {
    let mut pair = Pair::new(c"amp111", ServerConfig::default());
    assert_eq!(pair.send(c"Ping", 0), Err(AMI_E_SEND_NOT_READY));
    assert_eq!(last_error(), "connection is not ready (logging in)");
    let outs = pair.settle();
    assert_eq!(outs[0].state, Some((AMI_STATE_READY, AMI_CLOSE_NONE)));
    let id = pair.send(c"Ping", 0).expect("ping queued");
    assert!(id.len() < AMI_ACTION_ID_CAP, "{id}");
    let outs = pair.settle();
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(
        (outs[0].kind, outs[0].fail),
        (AMI_OUTPUT_COMPLETION, AMI_FAIL_NONE)
    );
    // A buffer one byte short of the longest id is refused before sending.
    let mut id = [0 as c_char; AMI_ACTION_ID_CAP - 1];
    // SAFETY: `pair.conn` is live; `id` has `id.len()` writable bytes.
    let rc = unsafe {
        ami_conn_send(
            pair.conn,
            c"Ping".as_ptr(),
            null(),
            null(),
            0,
            0,
            0,
            id.as_mut_ptr(),
            id.len(),
        )
    };
    assert_eq!(rc, AMI_E_BUFFER);
    let names = [c"Channel".as_ptr(), c"Bad Name:".as_ptr()];
    let values = [c"x".as_ptr(), c"y".as_ptr()];
    let mut id = [0 as c_char; AMI_ACTION_ID_CAP];
    // SAFETY: as above; `names` and `values` hold two valid strings each.
    let rc = unsafe {
        ami_conn_send(
            pair.conn,
            c"Hangup".as_ptr(),
            names.as_ptr(),
            values.as_ptr(),
            2,
            0,
            0,
            id.as_mut_ptr(),
            id.len(),
        )
    };
    assert_eq!(rc, AMI_E_SEND_INVALID_NAME);
    // A parameter every Asterisk version requires, missing: refused, named.
    assert_eq!(pair.send(c"Hangup", 0), Err(AMI_E_SEND_MISSING_PARAMETER));
    assert_eq!(last_error(), "Hangup requires the Channel parameter");
    let mut stats = AmiStats::default();
    // SAFETY: `pair.conn` is live; `stats` is writable.
    assert_eq!(unsafe { ami_conn_stats(pair.conn, &mut stats) }, AMI_OK);
    assert_eq!(
        (stats.actions_sent, stats.actions_ok, stats.pending),
        (3, 1, 0)
    );
}

#[test]
fn the_callers_own_cancels_are_counted_apart_from_failures() {
    // `ami_stats.actions_failed` counts cancels with the failures the server
    // or the network caused; `ami_conn_cancelled` tells them apart.
    let mut pair = Pair::new(c"amp111", ServerConfig::default());
    pair.settle();
    let counts = |pair: &Pair| {
        let (mut s, mut cancelled) = (AmiStats::default(), u64::MAX);
        // SAFETY: `pair.conn` is live; `s` and `cancelled` are writable.
        unsafe {
            assert_eq!(ami_conn_stats(pair.conn, &mut s), AMI_OK);
            assert_eq!(ami_conn_cancelled(pair.conn, &mut cancelled), AMI_OK);
        }
        (s.actions_failed, s.timeouts, cancelled)
    };
    assert_eq!(counts(&pair), (0, 0, 0));
    let id = std::ffi::CString::new(pair.send(c"Ping", 60_000).expect("queued")).expect("no NUL");
    // SAFETY: `pair.conn` is live; `id` is a valid C string.
    assert_eq!(
        unsafe { ami_conn_cancel(pair.conn, id.as_ptr(), pair.now_ms) },
        1
    );
    let outs = pair.poll();
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].fail, AMI_FAIL_CANCELLED);
    // Cancelling again does nothing; the server's late answer is absorbed.
    // SAFETY: as above.
    assert_eq!(
        unsafe { ami_conn_cancel(pair.conn, id.as_ptr(), pair.now_ms) },
        0
    );
    assert!(pair.settle().is_empty());
    assert_eq!(counts(&pair), (1, 0, 1));
    // A timeout is a failure the caller did not ask for: not a cancel.
    pair.send(c"Ping", 250).expect("queued");
    let outs = pair.timeout_at(pair.now_ms + 250);
    assert_eq!(outs[0].fail, AMI_FAIL_TIMEOUT, "{outs:?}");
    assert_eq!(counts(&pair), (2, 1, 1));
}

#[test]
fn under_backpressure_dropping_events_lets_a_held_back_answer_through() {
    let mut pair = Pair::with_options(c"amp111", ServerConfig::default(), |opts| {
        opts.event_queue = 1;
        opts.queue_policy = AMI_QUEUE_BACKPRESSURE;
    });
    pair.settle();
    let id = pair.send(c"Ping", 0).expect("ping queued");
    pair.settle(); // the fake server's own answer: taken, completion drained
    let id2 = pair.send(c"Ping", 0).expect("second ping queued");
    assert_ne!(id, id2);
    // Events nobody reads, then the second Ping's answer behind them.
    let mut bytes = Vec::new();
    for n in 0..5 {
        bytes.extend_from_slice(format!("Event: UserEvent\r\nN: {n}\r\n\r\n").as_bytes());
    }
    bytes.extend_from_slice(
        format!("Response: Success\r\nActionID: {id2}\r\nPing: Pong\r\n\r\n").as_bytes(),
    );
    // SAFETY: `pair.conn` is live; `bytes` is readable.
    let rc = unsafe { ami_conn_input(pair.conn, bytes.as_ptr(), bytes.len(), pair.now_ms) };
    assert_eq!(rc, AMI_OK);
    let stats = |pair: &Pair| {
        let mut s = AmiStats::default();
        // SAFETY: `pair.conn` is live; `s` is writable.
        assert_eq!(unsafe { ami_conn_stats(pair.conn, &mut s) }, AMI_OK);
        s
    };
    // SAFETY: `pair.conn` is live.
    assert_eq!(
        unsafe { ami_conn_wants_read(pair.conn) },
        0,
        "queue full: held back"
    );
    assert_eq!(
        stats(&pair).pending,
        1,
        "the answer is held behind the events"
    );
    let mut dropped = 0;
    while stats(&pair).pending > 0 {
        // SAFETY: `pair.conn` is live.
        assert_eq!(unsafe { ami_conn_drop_event(pair.conn) }, 1);
        dropped += 1;
        assert!(dropped <= 5, "never more drops than events ahead of it");
    }
    let outs = pair.poll();
    assert_eq!(
        (outs[0].kind, outs[0].fail),
        (AMI_OUTPUT_COMPLETION, AMI_FAIL_NONE),
        "{outs:?}"
    );
    assert_eq!(stats(&pair).events_dropped_full, dropped);
    // With nothing queued there is nothing to drop.
    // SAFETY: `pair.conn` is live.
    assert_eq!(unsafe { ami_conn_drop_event(pair.conn) }, 0);
}

#[test]
fn a_chosen_action_id_is_passed_as_a_header_and_checked() {
    let mut pair = Pair::new(c"amp111", ServerConfig::default());
    pair.settle();
    let chosen = [(c"ActionID", c"php-worker-3.17")];
    let id = pair.send_with(c"Ping", &chosen, 0).expect("queued");
    assert_eq!(id, "php-worker-3.17");
    // Pending: the same id again is refused, with nothing queued.
    assert_eq!(
        pair.send_with(c"Ping", &chosen, 0),
        Err(AMI_E_SEND_DUPLICATE_ACTION_ID)
    );
    let bad = [(c"ActionID", c"two words")];
    assert_eq!(
        pair.send_with(c"Ping", &bad, 0),
        Err(AMI_E_SEND_INVALID_ACTION_ID)
    );
    let long = std::ffi::CString::new("x".repeat(65)).expect("no NUL");
    assert_eq!(
        pair.send_with(c"Ping", &[(c"ActionID", &long)], 0),
        Err(AMI_E_SEND_INVALID_ACTION_ID)
    );
    assert!(last_error().contains("at most 64"), "{}", last_error());
    // The completion names the chosen id.
    let outs = pair.settle();
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].id.as_deref(), Some("php-worker-3.17"));
    assert_eq!(outs[0].fail, AMI_FAIL_NONE);
}

#[test]
fn a_refused_login_closes_with_the_login_error() {
    let server = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::default()
    };
    let mut pair = Pair::new(c"wrong", server);
    let outs = pair.settle();
    let last = outs.last().expect("a state change");
    assert_eq!(last.state, Some((AMI_STATE_CLOSED, AMI_CLOSE_LOGIN_FAILED)));
    assert_eq!(last.fail, AMI_FAIL_LOGIN_AUTH);
    assert!(
        last.error.contains("Authentication failed"),
        "{}",
        last.error
    );
    // Closed: nothing to read, no deadline.
    // SAFETY: `pair.conn` is live.
    assert_eq!(unsafe { ami_conn_wants_read(pair.conn) }, 0);
    assert_eq!(pair.next_timeout(), None);
}

#[test]
fn deadlines_are_in_the_callers_milliseconds() {
    // No server at all: the login deadline is 10 s after creation.
    let mut pair = Pair::new(c"amp111", ServerConfig::default());
    let created = pair.now_ms;
    assert_eq!(pair.next_timeout(), Some(created + 10_000));
    assert!(
        pair.timeout_at(created + 9_999).is_empty(),
        "early calls do nothing"
    );
    let outs = pair.timeout_at(created + 10_000);
    assert_eq!(
        outs[0].state,
        Some((AMI_STATE_CLOSED, AMI_CLOSE_LOGIN_FAILED))
    );
    assert_eq!(outs[0].fail, AMI_FAIL_LOGIN_TIMEOUT);

    // An action's own timeout, counted from the `now_ms` of its send.
    let mut pair = Pair::new(c"amp111", ServerConfig::default());
    pair.settle();
    pair.now_ms += 5_000;
    let id = pair.send(c"Ping", 250).expect("queued");
    // Not settled: the server never sees it.
    assert_eq!(pair.next_timeout(), Some(pair.now_ms + 250));
    let outs = pair.timeout_at(pair.now_ms + 250);
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].fail, AMI_FAIL_TIMEOUT);
    // SAFETY: `pair.conn` is live; the id is a valid C string.
    let id = std::ffi::CString::new(id).expect("no NUL");
    assert_eq!(
        unsafe { ami_conn_cancel(pair.conn, id.as_ptr(), pair.now_ms) },
        0
    );
    // SAFETY: `pair.conn` is live.
    assert_eq!(unsafe { ami_conn_wants_write(pair.conn) }, 1);
}

/// The ActionID of the first Ping of a new, logged-in connection.
fn first_id(seed: u64) -> String {
    let mut pair = Pair::with_seed(c"amp111", ServerConfig::default(), seed);
    pair.settle();
    pair.send(c"Ping", 0).expect("ping queued")
}

/// `<prefix>-<instance>` of a generated `<prefix>-<instance>-<seq>` id.
fn instance(id: &str) -> &str {
    id.rsplit_once('-').expect("prefix-instance-seq").0
}

#[test]
fn default_options_draw_a_random_action_id_instance_per_connection() {
    // Issue 15 item 1: `ami_options_init` left seed 0, so every connection
    // of every process made the same ids, and one session's
    // OriginateResponse could complete another's Originate.
    let (a, b) = (first_id(0), first_id(0));
    assert_ne!(instance(&a), instance(&b), "{a} / {b}");
    // A seed set explicitly is kept: the same ids each time (for tests).
    let (a, b) = (first_id(42), first_id(42));
    assert_eq!(a, b);
}
