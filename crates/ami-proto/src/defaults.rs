//! Why each default is what it is, beside the failure it prevents.
//!
//! | option | default | why |
//! |---|---|---|
//! | `max_frame` | 4 MiB | Real event frames are 300–930 bytes and `ListCommands` about 7 KB; 4 MiB leaves room for huge `Command` replies from old servers while bounding memory. The PHP client's hard 64 KiB cap broke legitimate replies. It also bounds the receive chunks the decoder keeps to read into again once their frames are dropped (a list's, say), instead of fresh memory faulted in page by page: at most this much, held while the connection lives. |
//! | `max_command_output` | 16 MiB | `Command` output has no server-side limit; it gets its own bound, above `max_frame`. |
//! | `max_action_id` | 64 bytes, also the most allowed (16 ..= 64) | Some server handlers copy ActionIDs into 80-byte buffers, and 1.8-era `OriginateResponse` events keep only about 67 bytes of one: a longer id comes back cut, matches nothing, and its Originate can only time out. The PHP client's ids grew without bound. |
//! | `max_pending` | 10,000 | A dialer's burst is hundreds of actions; ten thousand means the server stopped answering. |
//! | `max_write_buffer` | 4 MiB | A server that stops reading must give back-pressure, not unbounded memory. |
//! | `event_queue` | 10,000 events | About one second of a busy node; drop-oldest by default, counted. |
//! | `action_timeout` | 10 s | A response normally comes within milliseconds. An `Originate` (synchronous or async) gets its dial timeout (`Timeout` header, else 30 s) plus 5 s when that is longer: the server answers only when the call is answered or that time has passed. |
//! | `login_timeout` | 10 s | Covers banner, challenge and login; a wrong password costs the server's ~1 s delay. |
//! | `heartbeat_interval` | 15 s | Detects half-open TCP within about 45 s (interval + two missed pongs). |
//! | backoff | 100 ms base doubling to a 30 s cap, each ceiling at most `max(1.6 s, 10%` of the outage so far`)`, equal jitter (delays in the upper half of the ceiling) | After an outage of up to 16 s a client is ready within 1.6 s of the server's return (2 s with connect and login), after a longer one within 10% of it (at most 30 s), and past the first four attempts it tries under once a second (1.2 s apart on average). Jitter spreads many clients of one restarted server. The old plain doubling (to 30 s in seconds) turned a 3 s PBX restart into up to 30 s of downtime. |
//! | circuit breaker | open after 5 failures for 5% of the outage (0.8 s to 15 s), 1 probe | Never longer than the backoff's own wait, so it delays nothing the backoff allows; it is the floor under a faster custom backoff and lets one probe through at a time. A fixed 30 s cooldown opened after four refused connects (1.5 s) and cost 30 s after every restart. |
//! | healthy after | 10 s | Backoff and breaker reset only after a session has stayed up this long (invariant 13): a server that accepts logins and drops them at once sees a handful of logins in 10 s, not one every 100 ms. Sessions ended sooner (flaps) wait from 1.6 s, doubling. |
//! | after refused credentials | 30 to 45 s (the cap, at least 5 s, plus up to half, jittered) | A wrong password does not fix itself; jitter keeps processes restarted together from retrying in lockstep. |
//!
//! Pitfalls of the PHP `apn/ami-client` answered by design: no synthetic
//! success (a missing response is `Timeout` or `ConnectionLost`), logs carry
//! `queue_depth`, redaction covers keys by name, pattern and value, ActionIDs
//! are bounded, and frame errors are scoped to the frame, never the connection.
