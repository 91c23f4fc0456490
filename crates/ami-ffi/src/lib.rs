//! The `ami-proto` core as a C ABI, so that clients in other languages (C,
//! PHP FFI, Python ctypes, Go cgo, Node N-API) reuse its state machine and
//! keep only their own socket loop.
//!
//! The API is declared in `include/ami.h`, which is hand-written and kept in
//! the repository; its comments state every ownership rule. This crate adds
//! no protocol logic: each function converts C arguments, calls one method
//! of [`ami_proto::Connection`] and converts the answer back.
//!
//! **What it never does:** let a Rust panic cross the boundary (each body
//! runs under `catch_unwind` and answers `AMI_E_PANIC`), dereference a NULL
//! pointer argument (each is checked: `AMI_E_NULL`), accept a string that is
//! not UTF-8 (`AMI_E_UTF8`), open a socket, start a thread, or read the clock
//! except once per connection, to anchor the caller's monotonic
//! milliseconds (see `clock`).
//!
//! The session loop on the C side is the core's: after every input or
//! command, write what `ami_conn_transmit` lends (then `ami_conn_advance`),
//! drain `ami_conn_poll` until 0, then wait for the socket or for
//! `ami_conn_next_timeout_ms`. `tests/c/session.c` is a complete example;
//! `examples/python/ami_ctypes.py` is the same with Python's `ctypes`.
//!
//! Without a session, `ami_decoder_*` is the frame decoder alone: bytes in,
//! frames out (a capture, a proxy); `examples/c/decode.c` prints a
//! capture's frames. `ami_state_name` and friends name the numeric codes.
//!
//! Build: `cargo build -p ami-ffi --release` leaves `libami_ffi.so` (or
//! `.dylib`) and `libami_ffi.a` in `target/release/`. A static link also
//! needs `-lpthread -ldl -lm` on Linux; `examples/c/decode.c` opens with
//! both link lines.

// FFI needs raw pointers and `#[no_mangle]`; every unsafe operation sits in
// an `unsafe` block with a `// SAFETY:` comment saying why it holds.
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod clock;
mod conn;
mod decode;
mod names;
mod options;
mod output;
mod status;
mod version;

pub use conn::{
    ami_conn_advance, ami_conn_cancel, ami_conn_cancelled, ami_conn_closed, ami_conn_drop_event,
    ami_conn_free, ami_conn_input, ami_conn_input_buf, ami_conn_input_commit, ami_conn_new,
    ami_conn_next_timeout_ms, ami_conn_poll, ami_conn_send, ami_conn_stats, ami_conn_timeout,
    ami_conn_transmit, ami_conn_wants_read, ami_conn_wants_write, AmiConn, AmiStats,
};
pub use decode::{
    ami_decoder_free, ami_decoder_input, ami_decoder_new, ami_decoder_next, AmiDecoder,
    AMI_DECODE_BANNER, AMI_DECODE_NO_BANNER,
};
pub use names::{ami_close_reason_name, ami_fail_name, ami_output_kind_name, ami_state_name};
pub use options::{
    ami_options_init, AmiOptions, AMI_AUTH_MD5, AMI_AUTH_PLAIN, AMI_QUEUE_BACKPRESSURE,
    AMI_QUEUE_DROP_NEWEST, AMI_QUEUE_DROP_OLDEST,
};
pub use output::{
    ami_output_action_id, ami_output_error, ami_output_free, ami_output_get,
    ami_output_header_count, ami_output_header_name, ami_output_header_value,
    ami_output_item_count, ami_output_item_get, ami_output_item_header_count,
    ami_output_item_header_name, ami_output_item_header_value, ami_output_kind, ami_output_line,
    ami_output_line_count, ami_output_state, AmiOutput, AMI_CLOSE_HEARTBEAT_TIMEOUT,
    AMI_CLOSE_LOGGED_OFF, AMI_CLOSE_LOGIN_FAILED, AMI_CLOSE_LOST, AMI_CLOSE_NONE, AMI_CLOSE_OTHER,
    AMI_OUTPUT_BANNER, AMI_OUTPUT_COMPLETION, AMI_OUTPUT_DECODE_ERROR, AMI_OUTPUT_EVENT,
    AMI_OUTPUT_FRAME, AMI_OUTPUT_OTHER, AMI_OUTPUT_RESPONSE, AMI_OUTPUT_STATE, AMI_STATE_CLOSED,
    AMI_STATE_DEGRADED, AMI_STATE_LOGGING_IN, AMI_STATE_LOGGING_OFF, AMI_STATE_OTHER,
    AMI_STATE_READY,
};
pub use status::*;
pub use version::{
    ami_version, AMI_ACTION_ID_CAP, AMI_FFI_VERSION, AMI_FFI_VERSION_MAJOR, AMI_FFI_VERSION_MINOR,
    AMI_FFI_VERSION_PATCH,
};
