//! One module per subcommand, plus what the connecting ones share.

pub(crate) mod action;
pub(crate) mod actions;
pub(crate) mod command;
pub(crate) mod decode;
pub(crate) mod demo;
pub(crate) mod listen;
pub(crate) mod serve;

use std::time::Duration;

use ami_proto::{Action, Completion};
use ami_smol::Client;

use crate::config::{self, Server, ServerArgs};
use crate::exit::Fail;

/// How long a one-shot command lets the server answer its Logoff.
pub(crate) const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// Every server the flags select, environment included.
pub(crate) fn servers(args: &ServerArgs) -> Result<Vec<Server>, Fail> {
    config::resolve(args, &|k| std::env::var(k).ok())
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
