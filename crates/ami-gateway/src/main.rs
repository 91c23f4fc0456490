//! `ami-gateway`: the AMI gateway on NATS JetStream.
//!
//! ```text
//! ami-gateway --config gateway.toml           # run until SIGINT/SIGTERM
//! ami-gateway --config gateway.toml --check   # validate the file and exit
//! ```
//!
//! Exit codes are the `ami` command's: 0 after a clean shutdown, 1 other
//! failures, 2 usage, 3 configuration, 4 NATS unreachable. On start it
//! prints one line on stdout, `ready gateway=<id> metrics=<addr>`, for
//! scripts and tests; logs go to stderr (`RUST_LOG`, default `info`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use ami_gateway::{Gateway, GatewayConfig, StartError};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The command line.
#[derive(Parser, Debug)]
#[command(name = "ami-gateway", version, about = "AMI gateway on NATS JetStream")]
struct Cli {
    /// TOML file: a [gateway] table, and [client] and [servers.NAME] tables as for `ami`.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Validate the configuration and exit (0 when valid, 3 when not).
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let config = match GatewayConfig::load(&cli.config, &|k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(e) => return fail(3, &e.to_string()),
    };
    if cli.check {
        println!("ok: {} server(s)", config.servers.len());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async {
        let gateway = match Gateway::start(config).await {
            Ok(gateway) => gateway,
            Err(e @ StartError::Nats(_)) => return fail(4, &e.to_string()),
            Err(e) => return fail(1, &e.to_string()),
        };
        println!(
            "ready gateway={} metrics={}",
            gateway.id(),
            gateway.metrics_addr()
        );
        let _ = std::io::stdout().flush();
        if let Err(e) = stop_signal().await {
            return fail(1, &format!("cannot wait for signals: {e}"));
        }
        gateway.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Waits for SIGINT or SIGTERM.
async fn stop_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Prints the one-line error and returns `code`.
fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("ami-gateway: error: {}", message.replace(['\r', '\n'], " "));
    ExitCode::from(code)
}
