//! A consumer of the gateway's stream that survives its own restarts: it
//! stores the stream sequence of each message it has handled in a file, and
//! on start replays the stream from the message after it. Nothing is missed
//! and nothing is handled twice, as long as the stream still holds the
//! message (its `max_age` and `max_bytes` bound what can be replayed).
//!
//! Each message is printed as `<stream sequence> <subject> <server>
//! <event or marker> <seq>`. Markers (`ami.<server>.gateway`) say that a
//! gateway took a node (events of the gap are missing) or let it go.
//!
//! ```text
//! cargo run -p ami-gateway --example consumer -- \
//!     --nats nats://127.0.0.1:4222 --state /var/lib/wallboard/position
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use clap::Parser;
use futures_util::StreamExt;

#[derive(Parser, Debug)]
struct Args {
    /// The NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The gateway's stream.
    #[arg(long, default_value = "AMI_EVENTS")]
    stream: String,
    /// The file that keeps the stream sequence of the last message handled.
    #[arg(long)]
    state: PathBuf,
    /// Stop after this many messages (a demonstration of a restart).
    #[arg(long)]
    max: Option<u64>,
    /// Stop after this long without a message (milliseconds); never by default.
    #[arg(long)]
    idle_ms: Option<u64>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), async_nats::Error> {
    let args = Args::parse();
    let last = read_position(&args.state)?;
    let client = async_nats::connect(&args.nats).await?;
    let js = jetstream::new(client.clone());
    let stream = js.get_stream(&args.stream).await?;
    // An ordered push consumer of our own: the server streams from the
    // position, and the client re-creates it if a message goes missing.
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: last + 1,
            },
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let idle = args.idle_ms.map_or(Duration::MAX, Duration::from_millis);
    let mut handled = 0;
    while args.max.is_none_or(|max| handled < max) {
        let next = match tokio::time::timeout(idle, messages.next()).await {
            Ok(Some(next)) => next?,
            Ok(None) | Err(_) => break,
        };
        let position = next.info()?.stream_sequence;
        let body: serde_json::Value = serde_json::from_slice(&next.payload)?;
        let what = body["event"]
            .as_str()
            .or(body["marker"].as_str())
            .unwrap_or("?");
        println!(
            "{position} {} {} {what} {}",
            next.subject,
            body["server"].as_str().unwrap_or("?"),
            body["seq"]
        );
        // Handled: remember it, so a restart begins after it.
        write_position(&args.state, position)?;
        handled += 1;
    }
    Ok(())
}

/// The stored position, 0 before the first run.
fn read_position(path: &Path) -> std::io::Result<u64> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().parse().unwrap_or(0)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Stores `position` so that a crash never leaves half a file behind.
fn write_position(path: &Path, position: u64) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, position.to_string())?;
    std::fs::rename(tmp, path)
}
