//! The supervisor: the client's task. It connects, runs sessions through
//! the driver, and reconnects per the core's [`ReconnectPolicy`].
//!
//! Between sessions it keeps serving commands ([`Ctx::idle`]): sends fail
//! at once with [`ClientError::Disconnected`](crate::ClientError::Disconnected)
//! (or wait for the next session, with `resend_on_reconnect`), and a close
//! ends the task without a new attempt.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use ami_proto::{AuthMethod, CloseReason, ConnState, Connection, Failure, LoginError};
use futures_lite::{future, FutureExt};

use crate::driver;
use crate::error::ConnectError;
use crate::runtime::{sleep_until, Runtime, Socket};
use crate::task::Ctx;
use crate::transport::Transport;

/// The client's TLS setup: the options and, once built, the rustls
/// configuration (built at the first attempt, again after a failed build).
#[cfg(feature = "tls")]
struct TlsPrep {
    options: ami_tls::TlsConfig,
    built: Option<std::sync::Arc<ami_tls::rustls::ClientConfig>>,
}

#[cfg(feature = "tls")]
impl TlsPrep {
    async fn session<R: Runtime>(
        &mut self,
        rt: &R,
        addr: &str,
        server: &str,
    ) -> Result<ami_tls::TlsSession, ConnectError> {
        let config = match &self.built {
            Some(c) => c.clone(),
            None => {
                // Reads the CA file or the system trust store: file I/O, so
                // off the executor. Its log lines name the server, as the
                // span they leave behind on this thread would have.
                let (options, server) = (self.options.clone(), server.to_owned());
                let c = rt
                    .unblock(move || options.client_config_for(&server))
                    .await
                    .map_err(ConnectError::Tls)?;
                self.built.insert(c).clone()
            }
        };
        ami_tls::TlsSession::new(&self.options, config, ami_tls::host_of(addr))
            .map_err(ConnectError::Tls)
    }
}

#[cfg(not(feature = "tls"))]
struct TlsPrep;

/// DNS, TCP connect and the TLS handshake (if configured), bounded together
/// by `connect_timeout`; refusal is immediate.
async fn connect<R: Runtime>(
    rt: &R,
    (addr, timeout, server): (&str, Duration, &str),
    tls: Option<&mut TlsPrep>,
) -> Result<Transport<R::Socket>, ConnectError> {
    let attempt = async {
        let mut last = None;
        for a in rt.resolve(addr).await.map_err(ConnectError::Connect)? {
            match rt.connect(a).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    #[cfg(feature = "tls")]
                    if let Some(prep) = tls {
                        let session = prep.session(rt, addr, server).await?;
                        return Transport::tls(s, session).await.map_err(ConnectError::Tls);
                    }
                    #[cfg(not(feature = "tls"))]
                    let _ = tls;
                    return Ok(Transport::plain(s));
                }
                Err(e) => last = Some(e),
            }
        }
        let none = || std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        Err(ConnectError::Connect(last.unwrap_or_else(none)))
    };
    let timeout = ami_proto::instant_after(Instant::now(), timeout);
    let timer = async {
        sleep_until(rt, Some(timeout)).await;
        Err(ConnectError::Timeout)
    };
    future::or(attempt, timer).await
}

/// Whether a plaintext secret sent on this connection would be exposed: no
/// TLS and a peer outside the loopback range (warned once per server).
pub(crate) fn plaintext_secret_exposed(
    plain_auth: bool,
    tls: bool,
    peer: Option<std::net::IpAddr>,
) -> bool {
    plain_auth && !tls && peer.is_some_and(|ip| !ip.is_loopback())
}

/// The client's task: runs the client until it ends, whatever ends it.
///
/// A panic anywhere in the task (the core, the driver, a tracing layer...)
/// is caught here: it is logged, the client closes with
/// [`CloseReason::Internal`], pending actions fail, every stream ends, and
/// the executor that runs the task never sees the panic. A task dropped
/// before its end (by a [`spawn_with`](crate::ClientBuilder::spawn_with)
/// executor, or never spawned) ends the client the same way, from `Ctx`'s
/// `Drop`: `ctx` is made before the task, so even a task never polled ends
/// the client.
pub(crate) async fn supervise<R: Runtime>(mut ctx: Ctx<R>) {
    ctx.started = true;
    let last = match AssertUnwindSafe(run(&mut ctx)).catch_unwind().await {
        Ok(last) => last,
        Err(panic) => {
            let panic = crate::panic::message(&*panic);
            log!(error, ctx.shared, %panic, "the client's task panicked: client closed");
            ConnState::Closed(CloseReason::Internal(format!(
                "the client's task panicked: {panic}"
            )))
        }
    };
    ctx.finish(last);
}

/// Attempts, runs sessions, waits per the policy, again; returns the
/// client's last state once it must end.
async fn run<R: Runtime>(ctx: &mut Ctx<R>) -> ConnState {
    let mut sessions = 0u64;
    #[cfg(feature = "tls")]
    let mut tls = ctx.config.tls.clone().map(|options| TlsPrep {
        options,
        built: None,
    });
    #[cfg(not(feature = "tls"))]
    let mut tls: Option<TlsPrep> = None;
    let fatal_first = ctx.first.is_some();
    let mut last = ConnState::Closed(CloseReason::Lost);
    loop {
        // Wait until the backoff and the breaker allow an attempt.
        loop {
            let now = Instant::now();
            if ctx.policy.may_attempt(now) {
                break;
            }
            // Never a busy wait, even if the policy answers `now`.
            let until = ctx
                .policy
                .next_allowed(now)
                .max(now + Duration::from_millis(1));
            ctx.shared.update_stats(|s| s.next_attempt = Some(until));
            if !ctx.idle(Some(until)).await {
                return last;
            }
        }
        ctx.shared.update_stats(|s| s.next_attempt = None);
        let (rt, addr, name) = (
            ctx.rt.clone(),
            ctx.config.addr.clone(),
            ctx.shared.name.clone(),
        );
        let target = (addr.as_str(), ctx.config.connect_timeout, &*name);
        let connected = future::or(
            async { Some(connect(&rt, target, tls.as_mut()).await) },
            async {
                ctx.idle(None).await;
                None
            },
        )
        .await;
        match connected {
            None => return last,
            Some(Err(err)) => {
                log!(warn, ctx.shared, error = %err, "connect failed");
                if fatal_first && ctx.first.is_some() {
                    ctx.shared.set_state(last.clone());
                    let _ = ctx.first.take().map(|f| f.try_send(Err(err)));
                    return last;
                }
                let failure = match err {
                    // A refused certificate will not fix itself: no retry storm.
                    #[cfg(feature = "tls")]
                    ConnectError::Tls(e) if e.is_verification_failure() => Failure::AuthFailed,
                    _ => Failure::Connect,
                };
                ctx.count_failure(failure);
                ctx.shared.set_state(last.clone());
            }
            Some(Ok(sock)) => {
                ctx.policy.on_connected();
                let plain = ctx.config.proto.auth == AuthMethod::Plain;
                if plaintext_secret_exposed(plain, sock.is_tls(), sock.peer_ip())
                    && !std::mem::replace(&mut ctx.warned_plaintext, true)
                {
                    log!(
                        warn,
                        ctx.shared,
                        addr = %ctx.config.addr,
                        "sending the AMI secret in clear text (AuthMethod::Plain) over an \
                         unencrypted connection to a non-loopback address: use TLS or MD5 login"
                    );
                }
                sessions += 1;
                let mut proto = ctx.config.proto.clone();
                proto.seed = ctx.config.proto.session_seed(sessions);
                let conn = match Connection::new(proto, Instant::now()) {
                    Ok(conn) => conn,
                    Err(err) => {
                        let _ = ctx
                            .first
                            .take()
                            .map(|f| f.try_send(Err(ConnectError::Config(err))));
                        return last;
                    }
                };
                let reason = driver::run_session(ctx, sock, conn).await;
                last = ConnState::Closed(reason.clone());
                if ctx.closing.is_some() || reason == CloseReason::LoggedOff {
                    return last;
                }
                if fatal_first && ctx.first.is_some() {
                    let err = match reason {
                        CloseReason::LoginFailed(e) => e,
                        _ => LoginError::ConnectionLost,
                    };
                    let _ = ctx
                        .first
                        .take()
                        .map(|f| f.try_send(Err(ConnectError::Login(err))));
                    return last;
                }
                // The driver counted the end (`Ctx::count_failure`) before
                // it published it.
            }
        }
        if !ctx.config.reconnect {
            return last;
        }
    }
}
