//! Connects to an AMI server, prints its events, and originates a call.
//!
//! The server and credentials come from the environment; the call goes from
//! `AMI_CHANNEL` (default `Local/100@default`) to extension `AMI_EXTEN`
//! (default `200`) in context `AMI_CONTEXT` (default `default`):
//!
//! ```text
//! AMI_HOST=127.0.0.1 AMI_PORT=5038 AMI_USER=admin AMI_SECRET=amp111 \
//!     cargo run -p ami-smol --example originate
//! ```
//!
//! It prints every event for ten seconds after the Originate completes, then
//! logs off.

use std::env;
use std::time::Duration;

use ami_smol::{Action, Client, ClientConfig, Config, Originate};
use futures_lite::{future, StreamExt};

fn var(name: &str, default: &str) -> String {
    env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let addr = format!(
            "{}:{}",
            var("AMI_HOST", "127.0.0.1"),
            var("AMI_PORT", "5038")
        );
        let proto = Config::new("example", var("AMI_USER", "admin"), var("AMI_SECRET", ""));
        let (client, mut events) =
            Client::connect_with_events(ClientConfig::new(addr, proto)).await?;
        println!("logged in: {:?}", client.state());

        // Print events in the background while the call is set up.
        let printer = smol::spawn(async move {
            while let Some(event) = events.next().await {
                let channel = event.get_str("Channel").unwrap_or_default().into_owned();
                println!("event {:<20} {channel}", event.name_str());
            }
        });

        let call = Originate::new(var("AMI_CHANNEL", "Local/100@default"))
            .extension(var("AMI_CONTEXT", "default"), var("AMI_EXTEN", "200"), 1)
            .caller_id("ami-smol <100>")
            .timeout_ms(30_000)
            .async_(true);
        match client.send(Action::originate(call)).await {
            Ok(done) => match done.originate() {
                Some(outcome) => println!(
                    "originate finished: success={} reason={:?}",
                    outcome.is_success(),
                    outcome.reason()
                ),
                None => println!("originate answered: {:?}", done.response()),
            },
            Err(err) => println!("originate failed: {err}"),
        }

        future::or(printer, async {
            smol::Timer::after(Duration::from_secs(10)).await;
        })
        .await;
        client.close().await;
        println!("closed: {:?}", client.state());
        Ok(())
    })
}
