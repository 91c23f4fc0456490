//! Shared helpers of the integration tests: the captured corpus.

use std::path::PathBuf;

/// The folder of the Asterisk 22 transcripts copied into this repository.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus/asterisk-22")
}
