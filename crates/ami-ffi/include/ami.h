/*
 * ami.h - C API of ami-ffi: the ami-proto sans-IO Asterisk Manager Interface
 * (AMI) core behind a C ABI.
 *
 * The library is the protocol engine; the caller owns the socket and the
 * clock. It never opens a socket, starts a thread or sleeps. One ami_conn is
 * one TCP (or TLS) session: create it right after connecting, and make a new
 * one after a reconnect.
 *
 * THE LOOP (after every input or command, in this order):
 *   1. ami_conn_transmit: write the lent bytes, then ami_conn_advance(n)
 *      with how many the socket took; repeat until it returns 0.
 *   2. ami_conn_poll: handle and ami_output_free each output until it
 *      returns 0. A CLOSED state means: close the socket, ami_conn_free.
 *   3. Wait until the socket is readable (ami_conn_wants_read), writable
 *      (ami_conn_wants_write) or ami_conn_next_timeout_ms passes; then call
 *      ami_conn_input (or ami_conn_input_buf, recv, ami_conn_input_commit)
 *      / ami_conn_closed (EOF or error) / ami_conn_timeout.
 *
 * TIME: every call that can act on time takes now_ms, milliseconds of the
 * caller's MONOTONIC clock (clock_gettime(CLOCK_MONOTONIC), time.monotonic(),
 * hrtime). Only differences matter; the wall clock must not be used.
 *
 * RETURN CODES: functions return AMI_OK (0) or a positive answer documented
 * with them, or a negative AMI_E_* code; ami_strerror(code) describes the
 * code and ami_last_error() the latest failure on the calling thread.
 *
 * OWNERSHIP:
 *   - ami_conn: created by ami_conn_new, owned by the caller, freed by
 *     ami_conn_free. Not thread-safe: one thread at a time.
 *   - ami_output: created by ami_conn_poll, owned by the caller, freed by
 *     ami_output_free (independently of its connection).
 *   - Strings and bytes passed IN are only read during the call (copied
 *     when kept). They must be NUL-terminated UTF-8 unless a length is given.
 *   - Strings lent OUT by ami_output_* stay valid until ami_output_free of
 *     that output. They are NUL-terminated, but the length is authoritative
 *     (AMI values are bytes and may contain NUL).
 *   - Bytes lent by ami_conn_transmit stay valid until the next call on
 *     that connection.
 *   - ami_strerror's strings are static; ami_last_error's stays valid until
 *     the next failing call on the same thread. Never free either.
 *   - Every pointer argument is checked: NULL gives AMI_E_NULL, never a
 *     crash. A Rust panic (a bug) never unwinds into C: the call returns
 *     AMI_E_PANIC and that connection must only be freed.
 *
 * VERSIONING: this header describes C API AMI_FFI_VERSION; ami_version()
 * says which the library implements. Different major numbers are
 * incompatible; a higher minor number only adds.
 *
 * Kept in step with crates/ami-ffi/src by tests/header_drift.rs (functions,
 * parameter types, struct fields, constants), and by tests/c/session.c,
 * which calls every function and is compiled with -Wall -Wextra -Werror.
 */
#ifndef AMI_H
#define AMI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ---------------------------------------------------------- */

#define AMI_FFI_VERSION_MAJOR 0
#define AMI_FFI_VERSION_MINOR 3
#define AMI_FFI_VERSION_PATCH 0
/* (major << 16) | (minor << 8) | patch */
#define AMI_FFI_VERSION 0x000300

/* Buffer size for ami_conn_send's id_out: the longest ActionID (64 bytes
 * by default) and its NUL. */
#define AMI_ACTION_ID_CAP 65

/* The C API version the library implements, packed like AMI_FFI_VERSION. */
uint32_t ami_version(void);

/* ---- return codes ----------------------------------------------------- */

#define AMI_OK 0
#define AMI_E_NULL (-1)   /* a pointer argument was NULL */
#define AMI_E_UTF8 (-2)   /* a string argument was not UTF-8 */
#define AMI_E_PANIC (-3)  /* internal error (caught panic): free the conn */
#define AMI_E_CONFIG (-4) /* options rejected; see ami_last_error() */
#define AMI_E_BUFFER (-5) /* caller's buffer too small; nothing done */
#define AMI_E_RANGE (-6)  /* index out of range */
#define AMI_E_KIND (-7)   /* accessor does not apply to this output kind */
/* ami_conn_send refusals: nothing was queued, no completion will come. */
#define AMI_E_SEND_LINE_BREAK (-10)        /* CR or LF in a name or value */
#define AMI_E_SEND_INVALID_NAME (-11)      /* empty name, or ':' in it */
#define AMI_E_SEND_LINE_TOO_LONG (-12)     /* a line > 1024 bytes */
#define AMI_E_SEND_TOO_MANY_LINES (-13)    /* more than 128 lines */
#define AMI_E_SEND_ACTION_ID_SET (-14)     /* retired in 0.2: never returned */
#define AMI_E_SEND_TOO_MANY_PENDING (-15)  /* wait for completions */
#define AMI_E_SEND_WRITE_BUFFER_FULL (-16) /* server not reading: wait */
#define AMI_E_SEND_NOT_READY (-17)         /* logging in, or closed */
#define AMI_E_SEND_OTHER (-18)             /* a newer reason */
#define AMI_E_SEND_NO_CALL_EVENTS (-19)    /* async Originate, call events off */
#define AMI_E_SEND_MISSING_PARAMETER (-20) /* a required parameter; see ami_last_error() */
#define AMI_E_SEND_INVALID_ACTION_ID (-21) /* chosen ActionID: empty, too long, not
                                            * printable ASCII, or twice */
#define AMI_E_SEND_DUPLICATE_ACTION_ID (-22) /* chosen ActionID already pending */

/* A static description of a return code. Never NULL; do not free. */
const char* ami_strerror(int code);

/* The message of the latest failing call on this thread ("" if none).
 * Valid until the next failing call on this thread. Never NULL. */
const char* ami_last_error(void);

/* ---- options ---------------------------------------------------------- */

#define AMI_AUTH_MD5 0   /* Challenge + MD5 key; the secret never travels */
#define AMI_AUTH_PLAIN 1 /* clear-text Secret: TLS or loopback only */

#define AMI_QUEUE_DROP_OLDEST 0  /* full event queue drops the oldest */
#define AMI_QUEUE_DROP_NEWEST 1  /* ... or the newest */
#define AMI_QUEUE_BACKPRESSURE 2 /* ... or stops reading (wants_read = 0) */

/* Options of one connection. Fill with ami_options_init, then set what
 * differs. Zero numbers and NULL strings mean the default, except
 * heartbeat_ms, where 0 turns heartbeats off. Strings are copied by
 * ami_conn_new and need not outlive it. */
typedef struct ami_options {
    const char* server;         /* name in logs; NULL: "ami" */
    const char* username;       /* AMI user; NULL: "" */
    const char* secret;         /* AMI secret; NULL: "" */
    int auth;                   /* AMI_AUTH_MD5 (default) or AMI_AUTH_PLAIN */
    const char* events;         /* Login Events: "on", "off", "call,system"; NULL: "on" */
    uint64_t max_frame;         /* bytes, 64 KiB..256 MiB; 0: 4 MiB */
    uint64_t event_queue;       /* queued events; 0: 10000 */
    int queue_policy;           /* AMI_QUEUE_*; 0: drop oldest */
    uint64_t action_timeout_ms; /* default per action; 0: 10000 */
    uint64_t login_timeout_ms;  /* connect to logged in; 0: 10000 */
    uint64_t heartbeat_ms;      /* idle time before a Ping; 0: off (init: 15000) */
    uint64_t seed;              /* ActionID instance seed; 0: random per connection.
                                 * Any other value gives the same ids every
                                 * time: set it only in tests. */
} ami_options;

/* Fills *opts with the defaults (NULL strings, MD5, 4 MiB frames, 10000
 * events, drop oldest, 10 s timeouts, 15 s heartbeat, seed 0: random per
 * connection).
 * Returns AMI_OK or AMI_E_NULL. */
int ami_options_init(ami_options* opts);

/* ---- connection ------------------------------------------------------- */

/* One AMI session. Opaque. */
typedef struct ami_conn ami_conn;
/* One state change, completion or event (see OUTPUTS). Opaque. */
typedef struct ami_output ami_output;

/* Creates a connection whose transport has just connected, at now_ms; the
 * login deadline starts now. On AMI_OK *out owns it (ami_conn_free). On
 * AMI_E_NULL, AMI_E_UTF8 or AMI_E_CONFIG, *out is NULL (if out is not). */
int ami_conn_new(const ami_options* opts, uint64_t now_ms, ami_conn** out);

/* Frees a connection (NULL is ignored). Polled outputs stay valid; bytes
 * lent by ami_conn_transmit do not. Close the socket yourself. */
void ami_conn_free(ami_conn* conn);

/* Inputs. Each returns AMI_OK or AMI_E_NULL; then drain (see THE LOOP). */

/* Feeds len bytes read from the socket (copied; data may be NULL if len 0). */
int ami_conn_input(ami_conn* conn, const uint8_t* data, size_t len, uint64_t now_ms);
/* Or read in place, without that copy: lends room for the next read at the
 * end of the receive buffer, *buf_out, *len_out bytes (at most max; less
 * when the buffer has 4 KiB or more left), valid until the next call on
 * conn. Read at most *len_out bytes into it, then commit the count. */
int ami_conn_input_buf(ami_conn* conn, size_t max, uint8_t** buf_out, size_t* len_out);
/* n bytes were read into the room last lent: decodes them. AMI_E_RANGE
 * (nothing done) if n is more than the room, or no room was lent since the
 * last commit or ami_conn_input. */
int ami_conn_input_commit(ami_conn* conn, size_t n, uint64_t now_ms);
/* Fires every deadline due at now_ms; calling early does nothing. */
int ami_conn_timeout(ami_conn* conn, uint64_t now_ms);
/* The transport closed (EOF or error): pending actions fail with
 * AMI_FAIL_CONNECTION_LOST, the state becomes AMI_STATE_CLOSED. */
int ami_conn_closed(ami_conn* conn, uint64_t now_ms);

/* Queues action `action` with headers names[i]: values[i] (i < count; the
 * arrays may be NULL when count is 0), and writes its ActionID, NUL-
 * terminated, to id_out (id_cap >= AMI_ACTION_ID_CAP). timeout_ms overrides
 * the default action timeout (0: default). The completion comes later from
 * ami_conn_poll with the same id, exactly once.
 * The library generates the ActionID unless one header is named "ActionID"
 * (any case): then that value is the id, for an outcome another process
 * must match. It must be 1 to 64 bytes of printable ASCII ('!' to '~'), and
 * no other action of this connection may be pending under it
 * (AMI_E_SEND_INVALID_ACTION_ID, AMI_E_SEND_DUPLICATE_ACTION_ID). Its
 * uniqueness across processes is the caller's.
 * Returns AMI_OK, AMI_E_NULL, AMI_E_UTF8, AMI_E_BUFFER or an AMI_E_SEND_*
 * code; on any error nothing was queued. */
int ami_conn_send(ami_conn* conn, const char* action, const char* const* names,
                  const char* const* values, size_t count, uint64_t timeout_ms,
                  uint64_t now_ms, char* id_out, size_t id_cap);

/* Cancels a pending action: its completion (AMI_FAIL_CANCELLED) is queued
 * now; late answers are absorbed. Returns 1 if it was pending, 0 if not,
 * or AMI_E_NULL / AMI_E_UTF8. */
int ami_conn_cancel(ami_conn* conn, const char* id, uint64_t now_ms);

/* Outputs. */

/* Lends the bytes to write: returns 1 with *data, *len (> 0) set, or 0 with
 * *data = NULL, *len = 0. Valid until the next call on conn. Write them,
 * then ami_conn_advance with what the socket took. */
int ami_conn_transmit(ami_conn* conn, const uint8_t** data, size_t* len);
/* Drops n written bytes (more than waiting counts as all). AMI_OK / AMI_E_NULL. */
int ami_conn_advance(ami_conn* conn, size_t n);

/* Takes the next output: returns 1 with *out owned by the caller (free with
 * ami_output_free), or 0 with *out = NULL. States and completions come
 * before queued events. */
int ami_conn_poll(ami_conn* conn, ami_output** out);

/* The now_ms at which ami_conn_timeout is next due: returns 1 with *out_ms
 * set (possibly already past: call it at once), or 0 when none. Ask again
 * after every input or command. */
int ami_conn_next_timeout_ms(ami_conn* conn, uint64_t* out_ms);

/* Getters: 1 or 0, or AMI_E_NULL. wants_read is 0 once closed and while a
 * back-pressure event queue is full (poll events to resume). */
int ami_conn_wants_read(const ami_conn* conn);
int ami_conn_wants_write(const ami_conn* conn);

/* Drops the oldest queued event (counted in events_dropped_full): 1 if there
 * was one, 0 if not, or AMI_E_NULL; then drain ami_conn_poll. Under
 * AMI_QUEUE_BACKPRESSURE, when wants_read is 0 while actions are pending and
 * your own queue cannot take events now, an answer may sit behind the
 * unread events: drop events until it comes out, rather than time it out. */
int ami_conn_drop_event(ami_conn* conn);

/* Counters of one connection. */
typedef struct ami_stats {
    uint64_t bytes_in;                 /* bytes received */
    uint64_t bytes_out;                /* bytes the socket took */
    uint64_t frames;                   /* frames decoded (banner excluded) */
    uint64_t responses;                /* responses decoded */
    uint64_t events;                   /* events decoded */
    uint64_t events_queued;            /* events delivered to the queue */
    uint64_t events_dropped_full;      /* dropped: queue full */
    uint64_t events_dropped_oversized; /* dropped: over max_frame */
    uint64_t oversized_frames;         /* frames skipped for size */
    uint64_t garbage;                  /* garbage runs discarded */
    uint64_t desyncs;                  /* unmatched or out-of-order responses */
    uint64_t actions_sent;             /* actions sent */
    uint64_t actions_ok;               /* completed successfully */
    uint64_t actions_failed;           /* completed with an error (timeouts and cancels
                                        * included; cancels: ami_conn_cancelled) */
    uint64_t timeouts;                 /* timed out */
    uint64_t pending;                  /* awaiting completion now */
    uint64_t queue_depth;              /* events waiting now */
    uint64_t queue_high_water;         /* highest queue depth */
    uint64_t write_buffered;           /* bytes waiting to be written */
    uint64_t heartbeats;               /* heartbeat pings sent */
    uint64_t heartbeat_misses;         /* heartbeat pongs missed */
} ami_stats;

/* Copies the counters to *out. AMI_OK or AMI_E_NULL. */
int ami_conn_stats(const ami_conn* conn, ami_stats* out);

/* Since 0.3. Writes to *out how many actions ami_conn_cancel cancelled:
 * they are in actions_failed too; subtract them to see the failures the
 * server or the network caused. (Not a field of ami_stats, whose size
 * callers built against an older header rely on.) AMI_OK or AMI_E_NULL. */
int ami_conn_cancelled(const ami_conn* conn, uint64_t* out);

/* ---- OUTPUTS ---------------------------------------------------------- */

#define AMI_OUTPUT_STATE 1        /* ami_output_state */
#define AMI_OUTPUT_COMPLETION 2   /* ami_output_action_id, ami_output_error */
#define AMI_OUTPUT_EVENT 3        /* headers */
/* Only from ami_decoder_next (see DECODER): */
#define AMI_OUTPUT_RESPONSE 4     /* headers; Command output as lines */
#define AMI_OUTPUT_BANNER 5       /* the banner text is line 0 */
#define AMI_OUTPUT_FRAME 6        /* another frame (an Action: in client bytes): headers */
#define AMI_OUTPUT_DECODE_ERROR 7 /* bytes skipped: ami_output_error says why */
#define AMI_OUTPUT_OTHER 99       /* newer than this API: skip */

#define AMI_STATE_LOGGING_IN 1  /* waiting for banner / challenge / login */
#define AMI_STATE_READY 2       /* logged in: send actions */
#define AMI_STATE_DEGRADED 3    /* heartbeat pongs missed; still usable */
#define AMI_STATE_LOGGING_OFF 4 /* Logoff sent */
#define AMI_STATE_CLOSED 5      /* over: close the socket, free the conn */
#define AMI_STATE_OTHER 99

#define AMI_CLOSE_NONE 0              /* not closed */
#define AMI_CLOSE_LOGIN_FAILED 1      /* ami_output_error says why */
#define AMI_CLOSE_LOST 2              /* peer closed / transport failed */
#define AMI_CLOSE_HEARTBEAT_TIMEOUT 3 /* pongs missed too often */
#define AMI_CLOSE_LOGGED_OFF 4        /* after our Logoff */
#define AMI_CLOSE_OTHER 99

/* Failure codes of ami_output_error (not return codes). */
#define AMI_FAIL_NONE 0                  /* success, or no outcome */
#define AMI_FAIL_SERVER 1                /* Response: Error; message = Message */
#define AMI_FAIL_TIMEOUT 2               /* may still have been carried out */
#define AMI_FAIL_CONNECTION_LOST 3       /* may or may not have been carried out */
#define AMI_FAIL_FRAME_TOO_LARGE 4       /* answer over its limit, discarded */
#define AMI_FAIL_CANCELLED 5             /* ami_conn_cancel */
#define AMI_FAIL_DESYNC 6                /* answers could not be matched */
#define AMI_FAIL_LOGIN_AUTH 7            /* credentials refused: do not retry at once */
#define AMI_FAIL_LOGIN_REFUSED 8         /* login refused otherwise */
#define AMI_FAIL_LOGIN_TIMEOUT 9         /* no answer within login_timeout_ms */
#define AMI_FAIL_LOGIN_CONNECTION_LOST 10 /* closed during login */
#define AMI_FAIL_LOGIN_BAD_BANNER 11     /* not an AMI server */
#define AMI_FAIL_REFUSED 12              /* Response: Failure or another status */
#define AMI_FAIL_LOGIN_FAILED 13         /* login answered Failure or another status */
#define AMI_FAIL_GARBAGE 14              /* decoder: non-frame bytes skipped */
#define AMI_FAIL_OTHER 99                /* newer: see the message */

/* Every string below is lent until ami_output_free(out): NUL-terminated,
 * with *len (excluding the NUL) authoritative. */

/* AMI_OUTPUT_STATE, _COMPLETION, _EVENT or _OTHER (from ami_conn_poll),
 * or a decoder's kind (see DECODER); AMI_E_NULL. */
int ami_output_kind(const ami_output* out);
/* For a state: AMI_STATE_* and, if CLOSED, AMI_CLOSE_* (else AMI_CLOSE_NONE).
 * AMI_OK, AMI_E_KIND (not a state), AMI_E_NULL. */
int ami_output_state(const ami_output* out, int* state, int* close_reason);
/* For a completion: the ActionID ami_conn_send wrote. AMI_OK, AMI_E_KIND. */
int ami_output_action_id(const ami_output* out, const char** id, size_t* len);
/* AMI_FAIL_* and message: a failed completion's error, a CLOSED state's
 * login error, or a decode error's cause; else AMI_FAIL_NONE and "".
 * AMI_OK or AMI_E_NULL. */
int ami_output_error(const ami_output* out, int* code, const char** msg, size_t* len);

/* Headers in wire order: an event's, a successful completion's response,
 * or a decoded frame's (none for states, failed completions, banners and
 * decode errors). Repeated names are kept; a line without a colon has an
 * empty name. Count is 0 for NULL. */
size_t ami_output_header_count(const ami_output* out);
/* AMI_OK, AMI_E_RANGE, AMI_E_NULL. */
int ami_output_header_name(const ami_output* out, size_t i, const char** ptr, size_t* len);
int ami_output_header_value(const ami_output* out, size_t i, const char** ptr, size_t* len);
/* First value of `name`, ASCII-case-insensitive: 1 found, 0 absent
 * (*ptr, *len untouched), AMI_E_NULL, AMI_E_UTF8. */
int ami_output_get(const ami_output* out, const char* name, const char** ptr, size_t* len);

/* Items of a successful completion: an event list's item events in order
 * (without the closing ...Complete event), or for an async Originate its
 * OriginateResponse event. Counts are 0 when absent or out of range. */
size_t ami_output_item_count(const ami_output* out);
size_t ami_output_item_header_count(const ami_output* out, size_t item);
/* AMI_OK, AMI_E_RANGE (either index), AMI_E_NULL. */
int ami_output_item_header_name(const ami_output* out, size_t item, size_t i,
                                const char** ptr, size_t* len);
int ami_output_item_header_value(const ami_output* out, size_t item, size_t i,
                                 const char** ptr, size_t* len);
/* 1 found, 0 absent, AMI_E_RANGE (item), AMI_E_NULL, AMI_E_UTF8. */
int ami_output_item_get(const ami_output* out, size_t item, const char* name,
                        const char** ptr, size_t* len);

/* Output lines of a successful Command or a decoded response (either server
 * style), without line ends; a decoded banner's text as its one line.
 * Count is 0 otherwise. ami_output_line: AMI_OK, AMI_E_RANGE, AMI_E_NULL. */
size_t ami_output_line_count(const ami_output* out);
int ami_output_line(const ami_output* out, size_t i, const char** ptr, size_t* len);

/* Frees an output (NULL is ignored); its lent strings become invalid. */
void ami_output_free(ami_output* out);

/* Names of the codes above, for logs: the #define's name ("AMI_STATE_READY",
 * "AMI_FAIL_TIMEOUT"), or "unknown". Static: never NULL, do not free. */
const char* ami_state_name(int state);
const char* ami_close_reason_name(int close_reason);
const char* ami_fail_name(int fail_code);
const char* ami_output_kind_name(int kind);

/* ---- DECODER ------------------------------------------------------------ */

/* The frame decoder alone, with no session: for bytes read elsewhere (a
 * capture, a proxy, a tap on another client's socket). Bytes in, in any
 * chunking; frames out as ami_outputs of kind AMI_OUTPUT_BANNER, _RESPONSE,
 * _EVENT, _FRAME or _DECODE_ERROR (bytes skipped: a frame over max_frame,
 * garbage; decoding goes on at the next frame). The accessors above read
 * them; free each with ami_output_free. examples/c/decode.c is a complete
 * program. */
typedef struct ami_decoder ami_decoder;

#define AMI_DECODE_NO_BANNER 0 /* the stream starts with a frame */
#define AMI_DECODE_BANNER 1    /* it starts with the server's banner line */

/* Creates a decoder of frames up to max_frame bytes (0: 4 MiB; else 1024
 * to 256 MiB). banner: AMI_DECODE_BANNER for what a server sends from its
 * first byte, AMI_DECODE_NO_BANNER for a client's bytes or a capture taken
 * mid-session. On AMI_OK *out owns it (ami_decoder_free); on AMI_E_NULL or
 * AMI_E_CONFIG *out is NULL (if out is not). One thread at a time. */
int ami_decoder_new(uint64_t max_frame, int banner, ami_decoder** out);
/* Frees a decoder (NULL is ignored); outputs taken stay valid. */
void ami_decoder_free(ami_decoder* dec);
/* Feeds len bytes (copied; data may be NULL if len 0). AMI_OK, AMI_E_NULL. */
int ami_decoder_input(ami_decoder* dec, const uint8_t* data, size_t len);
/* Takes the next frame: 1 with *out owned by the caller, or 0 with *out
 * NULL until more bytes come. AMI_E_NULL. */
int ami_decoder_next(ami_decoder* dec, ami_output** out);

#ifdef __cplusplus
}
#endif

#endif /* AMI_H */
