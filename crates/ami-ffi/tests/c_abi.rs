//! The C API driven from outside Rust, against a fake Asterisk on TCP:
//! `tests/c/session.c` built with the system C compiler and linked against
//! the static library, and `examples/python/ami_ctypes.py` loading the shared
//! library with `ctypes`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use ami_ffi::AMI_FAIL_SERVER;
use ami_ffi::{AmiOptions, AmiStats, AMI_CLOSE_LOGGED_OFF, AMI_FAIL_CANCELLED, AMI_FAIL_NONE};
use ami_testkit::{Faults, ServerConfig, TcpServer};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The directory holding this crate's `libami_ffi.a` and `.so` for the
/// profile the test was built with.
///
/// `cargo test` builds the library with all its crate types next to the
/// test binary, in `target/<profile>/deps/`, from the same compilation as
/// the rlib the tests link, so those files are never stale. Should they be
/// missing (another build tool), `cargo build -p ami-ffi` makes them, in the
/// target directory of the running test (`CARGO_TARGET_DIR` is inherited).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("target/<profile>/deps").to_path_buf();
    let profile = deps.parent().expect("target/<profile>").to_path_buf();
    let has_libs = |dir: &Path| dir.join("libami_ffi.a").exists();
    if has_libs(&deps) {
        return deps;
    }
    if !has_libs(&profile) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "ami-ffi", "--lib"]);
        if profile.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p ami-ffi failed");
    }
    assert!(
        has_libs(&profile),
        "no libami_ffi.a in {}",
        profile.display()
    );
    profile
}

fn shared_lib(dir: &Path) -> PathBuf {
    let name = if cfg!(target_os = "macos") {
        "libami_ffi.dylib"
    } else {
        "libami_ffi.so"
    };
    dir.join(name)
}

/// A fake Asterisk with four channels that fails logins without delay.
fn server() -> TcpServer {
    let config = ServerConfig {
        channels: 4,
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::default()
    };
    TcpServer::start(config, Faults::default()).expect("start the fake server")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Compiles the C program `source` (relative to this crate) with
/// `cc -Wall -Wextra -Werror -std=c11` against `include/ami.h` and the
/// static library, as `exe` in the tests' scratch directory.
fn build_c(source: &str, exe: &str) -> PathBuf {
    let root = Path::new(MANIFEST_DIR);
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join(exe);
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.args(["-Wall", "-Wextra", "-Werror", "-std=c11", "-I"])
        .arg(root.join("include"))
        .arg(root.join(source))
        .arg(lib_dir().join("libami_ffi.a"))
        .arg("-o")
        .arg(&exe);
    // What a Rust staticlib needs from the system (`--print native-static-libs`).
    if cfg!(target_os = "linux") {
        cc.args(["-lpthread", "-ldl", "-lm"]);
    }
    let out = cc.output().expect("run the C compiler `cc`");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "cc failed:\n{stdout}\n{stderr}");
    exe
}

#[test]
fn c_program_runs_a_full_session_through_the_c_api() {
    let exe = build_c("tests/c/session.c", "ami_ffi_c_session");
    let server = server();
    let out = Command::new(&exe)
        .arg(server.port().to_string())
        .output()
        .expect("run the C session");
    let (stdout, stderr) = text(&out);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "C session failed:\n{stdout}\n{stderr}"
    );
    let has = |line: &str| {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing line {line:?} in:\n{stdout}"
        )
    };
    has("version: 0.3.0");
    has(&format!(
        "sizes: options={} stats={}",
        std::mem::size_of::<AmiOptions>(),
        std::mem::size_of::<AmiStats>()
    ));
    has("null: a pointer argument was NULL");
    assert!(
        stdout.contains("config: -4 invalid options: max_frame = 1024 is outside"),
        "{stdout}"
    );
    has("early send: send refused: connection not ready");
    has("ready");
    has("state: AMI_STATE_READY AMI_CLOSE_NONE AMI_FAIL_NONE");
    has("state: AMI_STATE_CLOSED AMI_CLOSE_LOGGED_OFF AMI_FAIL_NONE");
    has("ping: Success Pong");
    has("channels: 4");
    has("  channel: Local/long@test-00000000;1 (20 headers)");
    has("  channel: Local/long@test-00000001;2 (20 headers)");
    has("  first: Event: CoreShowChannel");
    has("item range: index out of range");
    has("line: Asterisk 22.10.1 built by ami-testkit @ localhost on a x86_64 running Linux");
    assert!(
        stdout.contains(&format!(
            "bogus: fail {AMI_FAIL_SERVER} Command output follows\nNo such command 'bogus command'"
        )),
        "{stdout}"
    );
    has("bogus headers: 0 lines 0");
    has("injection: send refused: a header contains CR or LF");
    has("chosen id: c-worker-1.1");
    has("chosen again: send refused: ActionID already pending");
    has(&format!("chosen done: fail {AMI_FAIL_NONE}"));
    has("actionid: send refused: invalid ActionID");
    has("small buffer: buffer too small");
    has("bad utf8: a string argument was not valid UTF-8");
    has("cancel: 1 again: 0");
    has(&format!("cancelled: fail {AMI_FAIL_CANCELLED} cancelled"));
    has("kind check: not applicable to this kind of output");
    has("AMI_OUTPUT_EVENT: FullyBooted (5 headers)");
    has("AMI_OUTPUT_EVENT: SuccessfulAuth (12 headers)");
    has("events seen: 2");
    has(&format!("closed: reason {AMI_CLOSE_LOGGED_OFF}"));
    // Challenge, Login, Ping, CoreShowChannels, two Commands, the Ping
    // under a chosen id, the cancelled Ping, Logoff; 4 list items, the
    // list's end and 2 events decoded. Failed: the bogus Command (the
    // server's) and the cancelled Ping (the caller's own).
    assert!(
        stdout.contains(
            "stats: sent 9 ok 5 failed 2 cancelled 1 timeouts 0 events 7 pending 0 in>0 1 out>0 1"
        ),
        "{stdout}"
    );
    has("cancelled null: a pointer argument was NULL");
    has("done");
    // The fake server saw exactly the actions the C side queued (the login
    // pair included), never a refused one.
    assert_eq!(
        server.received_actions(),
        [
            "Challenge",
            "Login",
            "Ping",
            "CoreShowChannels",
            "Command",
            "Command",
            "Ping",
            "Ping",
            "Logoff"
        ]
    );
}

#[test]
fn python_ctypes_example_runs_the_same_session() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if Command::new(&python).arg("--version").output().is_err() {
        println!("note: {python} not found; the ctypes example was not run");
        return;
    }
    let server = server();
    let script = Path::new(MANIFEST_DIR).join("examples/python/ami_ctypes.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["127.0.0.1", &server.port().to_string()])
        .env("AMI_FFI_LIB", shared_lib(&lib_dir()))
        .output()
        .expect("run the ctypes example");
    let (stdout, stderr) = text(&out);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "ctypes example failed:\n{stdout}\n{stderr}"
    );
    for line in [
        "ami-ffi C API 0.3.0",
        "state: ready",
        "ping: Pong",
        "channels: 4",
        "channel: Local/long@test-00000000;1",
        "line: Asterisk 22.10.1 built by ami-testkit @ localhost on a x86_64 running Linux",
        "event: FullyBooted",
        "state: closed (logged off)",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing line {line:?} in:\n{stdout}"
        );
    }
    // No cancel in this session: the caller's cancels, read through ctypes.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("stats: ") && l.ends_with(" cancelled=0")),
        "{stdout}"
    );
}

/// `examples/c/decode.c`, built as its comment says (static link), prints
/// the frames of a corpus capture as the corpus index counts them.
#[test]
fn c_decode_example_prints_the_frames_of_a_capture() {
    let exe = build_c("examples/c/decode.c", "ami_ffi_c_decode");
    let corpus = Path::new(MANIFEST_DIR).join("../../tests/corpus/asterisk-22");
    let run = |args: &[&str], file: &str| {
        let out = Command::new(&exe)
            .args(args)
            .arg(corpus.join(file))
            .output()
            .expect("run the decode example");
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "decode failed:\n{stdout}\n{stderr}");
        stdout
    };
    // 25 frames after the banner: 2 responses and 23 events (INDEX.json).
    let server = run(&[], "10-coreshowchannels-20.raw");
    assert!(
        server.starts_with("AMI_OUTPUT_BANNER Asterisk Call Manager/11.0.0\n"),
        "{server}"
    );
    assert!(
        server.contains("AMI_OUTPUT_EVENT Event: CoreShowChannel (20 headers)\n"),
        "{server}"
    );
    assert!(
        server.ends_with("frames: banner 1 responses 2 events 23 other 0 skipped 0\n"),
        "{server}"
    );
    // The client's side: its two actions, no banner.
    let client = run(&["--no-banner"], "10-coreshowchannels-20.sent");
    assert!(
        client.starts_with("AMI_OUTPUT_FRAME Action: Login"),
        "{client}"
    );
    assert!(
        client.ends_with("frames: banner 0 responses 0 events 0 other 2 skipped 0\n"),
        "{client}"
    );
}
