//! Why each default is what it is, beside the failure it prevents.
//!
//! | option | default | why |
//! |---|---|---|
//! | `max_frame` | 4 MiB | Real event frames are 300–930 bytes and `ListCommands` about 7 KB; 4 MiB leaves room for huge `Command` replies from old servers while bounding memory. The PHP client's hard 64 KiB cap broke legitimate replies. |
//! | `max_command_output` | 16 MiB | `Command` output has no server-side limit; it gets its own bound, above `max_frame`. |
//! | `max_action_id` | 64 bytes, also the most allowed (16 ..= 64) | Some server handlers copy ActionIDs into 80-byte buffers, and 1.8-era `OriginateResponse` events keep only about 67 bytes of one: a longer id comes back cut, matches nothing, and its Originate can only time out. The PHP client's ids grew without bound. |
//! | `max_pending` | 10,000 | A dialer's burst is hundreds of actions; ten thousand means the server stopped answering. |
//! | `max_write_buffer` | 4 MiB | A server that stops reading must give back-pressure, not unbounded memory. |
//! | `event_queue` | 10,000 events | About one second of a busy node; drop-oldest by default, counted. |
//! | `action_timeout` | 10 s | A response normally comes within milliseconds. An `Originate` (synchronous or async) gets its dial timeout (`Timeout` header, else 30 s) plus 5 s when that is longer: the server answers only when the call is answered or that time has passed. |
//! | `login_timeout` | 10 s | Covers banner, challenge and login; a wrong password costs the server's ~1 s delay. |
//! | `heartbeat_interval` | 15 s | Detects half-open TCP within about 45 s (interval + two missed pongs). |
//! | backoff | 100 ms base, 30 s cap, full jitter | Spreads reconnects of many clients after a server restart. |
//! | circuit breaker | open after 5 failures, 30 s cooldown, 1 probe | Stops reconnect storms against a dead or misconfigured node. |
//!
//! Pitfalls of the PHP `apn/ami-client` answered by design: no synthetic
//! success (a missing response is `Timeout` or `ConnectionLost`), logs carry
//! `queue_depth`, redaction covers keys by name, pattern and value, ActionIDs
//! are bounded, and frame errors are scoped to the frame, never the connection.
