//! Shared helpers of the integration tests: the captured corpus, and the
//! fake Asterisk the README's examples run against.

use std::path::PathBuf;
use std::time::Duration;

use ami_testkit::{Destination, Dialplan, Faults, ServerConfig, TcpServer};

/// The folder of the Asterisk 22 transcripts copied into this repository.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/asterisk-22")
}

/// A fake Asterisk on 127.0.0.1 as the README's examples expect it, like
/// `ami serve --dest 100=answer`: user `admin`, secret `amp111`, the
/// corpus PBX's channels and dialplan, and `Local/100@default` answering
/// at once and hanging up after a moment.
pub fn readme_server() -> TcpServer {
    let answer = Destination::answer_after(Duration::ZERO, Duration::from_millis(300));
    let dialplan = Dialplan::asterisk_corpus().destination("100@default", answer);
    let config = ServerConfig {
        channels: 4,
        ..ServerConfig::asterisk_corpus()
    }
    .with_dialplan(dialplan);
    TcpServer::start(config, Faults::default()).expect("the fake server starts")
}

/// The README's examples, compiled and run as doctests: here, where every
/// adapter is a dependency (`cargo test -p ami-tests --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
