//! Helpers shared by the `ami` binary's end-to-end tests: a clean
//! command, bounded runs, scratch files, the fake server's credentials.
#![allow(dead_code)] // Each test binary uses its own share.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ami_testkit::TcpServer;

const AMI: &str = env!("CARGO_BIN_EXE_ami");

/// `ami` with a clean environment: no `AMI_*`, no `RUST_LOG`.
pub(crate) fn ami() -> Command {
    let mut cmd = Command::new(AMI);
    for var in ["AMI_HOST", "AMI_PORT", "AMI_USER", "AMI_SECRET", "RUST_LOG"] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to the end, killing it (and failing) after `limit`.
pub(crate) fn run(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ami");
    wait(child, limit)
}

/// Waits for `child`, reading its piped stdout and stderr meanwhile (so a
/// full pipe cannot stall it), killing it (and failing) after `limit`.
pub(crate) fn wait(mut child: Child, limit: Duration) -> Output {
    fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ami did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                text(&stdout.join().expect("stdout")),
                text(&stderr.join().expect("stderr"))
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch directory unique to this test, removed with what it holds
/// (secret files among it) when the test is done with it.
pub(crate) struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new [`Scratch`] directory named after `tag`.
pub(crate) fn scratch(tag: &str) -> Scratch {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ami-cli-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    Scratch(dir)
}

pub(crate) fn write(path: &Path, content: &str) -> PathBuf {
    std::fs::write(path, content).expect("write");
    path.to_path_buf()
}

/// Flags that reach `server` as admin, the secret in a file.
pub(crate) fn creds(server: &TcpServer, dir: &Path) -> Vec<String> {
    let secret = write(&dir.join("secret"), "amp111\n");
    vec![
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        server.port().to_string(),
        "--user".into(),
        "admin".into(),
        "--secret-file".into(),
        secret.display().to_string(),
    ]
}
