//! One module per subcommand, plus what the connecting ones share.

pub(crate) mod action;
pub(crate) mod actions;
pub(crate) mod command;
pub(crate) mod decode;
pub(crate) mod demo;
pub(crate) mod listen;
pub(crate) mod serve;
pub(crate) mod state;
pub(crate) mod top;

use std::sync::Arc;
use std::time::Duration;

use ami_proto::{Action, Completion};
use ami_smol::Client;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use smol::channel::Receiver;

use crate::config::{self, Server, ServerArgs};
use crate::exit::Fail;

/// How long a one-shot command lets the server answer its Logoff.
pub(crate) const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// Every server the flags select, environment included.
pub(crate) fn servers(args: &ServerArgs) -> Result<Vec<Server>, Fail> {
    config::resolve(args, &|k| std::env::var(k).ok()).map_err(Fail::from)
}

/// The one server a one-shot command talks to; several is a usage error.
pub(crate) fn one_server(args: &ServerArgs) -> Result<Server, Fail> {
    let mut all = servers(args)?;
    if all.len() > 1 {
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        return Err(Fail::Usage(format!(
            "the config file defines {} servers ({}): choose one with --server NAME",
            all.len(),
            names.join(", ")
        )));
    }
    all.pop()
        .ok_or_else(|| Fail::Config("no server selected".into()))
}

/// Sends one action to the selected server: connect, send, log off. The
/// one-shot path of `ami action` and `ami command`; returns the server's
/// name with the completion.
pub(crate) fn send_once(
    args: &ServerArgs,
    action: Action,
    timeout_secs: Option<f64>,
) -> Result<(String, Completion), Fail> {
    let action = match timeout_secs {
        Some(secs) => action.with_timeout(action::seconds(secs)?),
        None => action,
    };
    let server = one_server(args)?;
    smol::block_on(async {
        let client = connect_once(&server).await?;
        let result = client.send(action).await;
        client.close_within(CLOSE_WITHIN).await;
        let completion = result.map_err(|e| Fail::action(&server.name, e))?;
        Ok((server.name.clone(), completion))
    })
}

/// Connects to every server at once, each client keeping a live model;
/// fails as the first server that could not log in (the others, logged
/// off). With `reconnect`, each client then replaces lost sessions.
pub(crate) async fn connect_with_models(
    servers: &[Server],
    reconnect: bool,
) -> Result<Vec<(Arc<str>, Client)>, Fail> {
    let attempts: Vec<_> = servers
        .iter()
        .map(|server| {
            let mut config = server.client.clone();
            config.reconnect = reconnect;
            let name: Arc<str> = server.name.as_str().into();
            smol::spawn(async move {
                let builder = Client::builder(config).with_model(ami_state::Limits::default());
                (name, builder.connect().await)
            })
        })
        .collect();
    let mut clients = Vec::new();
    let mut failed = None;
    for attempt in attempts {
        match attempt.await {
            (name, Ok(client)) => clients.push((name, client)),
            (name, Err(e)) => {
                failed.get_or_insert(Fail::connect(&name, e));
            }
        }
    }
    if let Some(fail) = failed {
        for (_, client) in &clients {
            client.close_within(CLOSE_WITHIN).await;
        }
        return Err(fail);
    }
    Ok(clients)
}

/// SIGINT and SIGTERM as a channel, read by a thread of their own; close
/// the handle when done.
pub(crate) fn signals() -> Result<(Receiver<i32>, Handle), Fail> {
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Fail::Other(format!("cannot install signal handlers: {e}")))?;
    let handle = signals.handle();
    let (tx, rx) = smol::channel::unbounded::<i32>();
    std::thread::Builder::new()
        .name("ami-signals".into())
        .spawn(move || {
            for s in signals.forever() {
                if tx.send_blocking(s).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Fail::Other(format!("cannot start the signal thread: {e}")))?;
    Ok((rx, handle))
}

/// Connects and logs in once, without reconnecting afterwards: a one-shot
/// command should fail, not wait, when the server goes away.
pub(crate) async fn connect_once(server: &Server) -> Result<Client, Fail> {
    let mut config = server.client.clone();
    config.reconnect = false;
    tracing::debug!(server = %server.name, addr = %config.addr, "connecting");
    Client::connect(config)
        .await
        .map_err(|e| Fail::connect(&server.name, e))
}
