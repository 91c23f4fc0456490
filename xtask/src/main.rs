//! Workspace chores, run as `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`).
//!
//! One module per chore; only `std`, plus serde and serde_json to read the AMI
//! catalogue for `codegen`, so the chores build fast and pull nothing into the
//! libraries. Every cargo call uses the cargo that runs us (the `CARGO`
//! environment variable, else `cargo` on `PATH`) and runs from the workspace root,
//! whatever the caller's current directory.
//!
//! ```text
//! cargo xtask ci
//! cargo xtask fuzz-smoke --seconds 30
//! cargo xtask bench --quick
//! cargo xtask corpus --sync
//! cargo xtask codegen --check
//! cargo xtask py-test
//! ```

mod bench;
mod ci;
mod codegen;
mod corpus;
mod fuzz_smoke;
mod py;
mod rust_version;

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// What `cargo xtask help` prints.
const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci                       rustc >= rust-version, fmt check, clippy -D warnings, tests,
                           the Python package's tests, fuzz smoke, cargo-deny
  fuzz-smoke [--seconds N] the deterministic fuzz smoke test of ami-proto (default 5 s)
  bench [ARGS...]          decoder, multiplexer, loopback and Python package benchmarks
                           (`--quick` for short runs)
  corpus [--sync]          compare tests/corpus/asterisk-22 with ../shared/corpus/asterisk-22,
                           or with --sync copy the shared files in
  codegen [--check]        regenerate crates/ami-proto/src/generated/ from catalogue/,
                           or with --check fail if a generated file is stale
  py-test                  build the Python package's wheel in a fresh virtual environment
                           (target/py-venv) and run its pytest suite against `ami serve`
  help                     this text";

/// A failure to report: `main` prints it on stderr and exits with status 1.
type Result<T> = std::result::Result<T, String>;

/// One parsed `cargo xtask` invocation.
#[derive(Debug, PartialEq, Eq)]
enum Task {
    /// `ci`: every check CI runs, in order, failing fast.
    Ci,
    /// `fuzz-smoke [--seconds N]`.
    FuzzSmoke {
        /// The time budget handed to the test as `AMI_FUZZ_SECONDS`.
        seconds: u64,
    },
    /// `bench [ARGS...]`.
    Bench {
        /// Passed through to `ami-bench`.
        args: Vec<String>,
    },
    /// `corpus [--sync]`.
    Corpus {
        /// Copy the shared corpus in instead of only comparing.
        sync: bool,
    },
    /// `codegen [--check]`.
    Codegen {
        /// Write stale files, or only report them.
        mode: codegen::Mode,
    },
    /// `py-test`.
    PyTest,
    /// `help`, `-h`, `--help`.
    Help,
}

/// Parses the arguments that follow `cargo xtask`.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Task> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Err("no command given".to_owned());
    };
    let rest: Vec<String> = args.collect();
    let no_more = |task: Task| match rest.first() {
        None => Ok(task),
        Some(extra) => Err(format!("`{command}` takes no argument `{extra}`")),
    };
    match command.as_str() {
        "ci" => no_more(Task::Ci),
        "py-test" => no_more(Task::PyTest),
        "help" | "-h" | "--help" => no_more(Task::Help),
        "fuzz-smoke" => parse_fuzz_smoke(&rest),
        "bench" => {
            // `cargo xtask bench -- --flag` and `cargo xtask bench --flag` mean the same.
            let args = match rest.split_first() {
                Some((first, tail)) if first == "--" => tail.to_vec(),
                _ => rest,
            };
            Ok(Task::Bench { args })
        }
        "corpus" => match rest.as_slice() {
            [] => Ok(Task::Corpus { sync: false }),
            [flag] if flag == "--sync" => Ok(Task::Corpus { sync: true }),
            [other, ..] => Err(format!("`corpus` takes only `--sync`, not `{other}`")),
        },
        "codegen" => match rest.as_slice() {
            [] => Ok(Task::Codegen {
                mode: codegen::Mode::Write,
            }),
            [flag] if flag == "--check" => Ok(Task::Codegen {
                mode: codegen::Mode::Check,
            }),
            [other, ..] => Err(format!("`codegen` takes only `--check`, not `{other}`")),
        },
        other => Err(format!("unknown command `{other}`")),
    }
}

/// Parses the flags of `fuzz-smoke`: `--seconds N` or `--seconds=N`.
fn parse_fuzz_smoke(rest: &[String]) -> Result<Task> {
    let value = match rest {
        [] => {
            return Ok(Task::FuzzSmoke {
                seconds: fuzz_smoke::DEFAULT_SECONDS,
            })
        }
        [flag, value] if flag == "--seconds" => value.as_str(),
        [flag] if flag.starts_with("--seconds=") => &flag["--seconds=".len()..],
        [flag] if flag == "--seconds" => return Err("`--seconds` needs a value".to_owned()),
        [other, ..] => {
            return Err(format!(
                "`fuzz-smoke` takes only `--seconds N`, not `{other}`"
            ))
        }
    };
    match value.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Task::FuzzSmoke { seconds }),
        _ => Err(format!(
            "`--seconds` wants a whole number of seconds above 0, not `{value}`"
        )),
    }
}

/// Parses the command line, runs the chore, and turns its outcome into an exit status.
fn main() -> ExitCode {
    let task = match parse(env::args().skip(1)) {
        Ok(task) => task,
        Err(message) => {
            eprintln!("xtask: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match task {
        Task::Ci => ci::run(),
        Task::FuzzSmoke { seconds } => fuzz_smoke::run(seconds),
        Task::Bench { args } => bench::run(&args),
        Task::Corpus { sync } => corpus::run(sync),
        Task::Codegen { mode } => codegen::run(mode),
        Task::PyTest => py::test(),
        Task::Help => {
            println!("{USAGE}");
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// A `cargo` command with `args`, run from the workspace root.
fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args).current_dir(project_root());
    cmd
}

/// Shows `cmd` as a person would type it: `cargo fmt --all -- --check`.
fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    let mut shown = name.to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        shown.push(' ');
        shown.push_str(&arg.to_string_lossy());
    }
    shown
}

/// Runs `cmd` with the terminal's stdin, stdout and stderr; fails unless it exits 0.
fn exec(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|err| format!("could not start `{}`: {err}", display(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", display(cmd)))
    }
}

/// Whether `cmd` starts and exits 0; its output is discarded.
fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Argument parsing.
#[cfg(test)]
mod tests {
    use super::{codegen, parse, Task};

    /// Parses a command line written as one string.
    fn parse_str(line: &str) -> Result<Task, String> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    /// Each command and its flags.
    #[test]
    fn commands_parse() {
        assert_eq!(parse_str("ci"), Ok(Task::Ci));
        assert_eq!(parse_str("help"), Ok(Task::Help));
        assert_eq!(parse_str("py-test"), Ok(Task::PyTest));
        assert_eq!(parse_str("--help"), Ok(Task::Help));
        assert_eq!(parse_str("corpus"), Ok(Task::Corpus { sync: false }));
        assert_eq!(parse_str("corpus --sync"), Ok(Task::Corpus { sync: true }));
        assert_eq!(
            parse_str("codegen"),
            Ok(Task::Codegen {
                mode: codegen::Mode::Write
            })
        );
        assert_eq!(
            parse_str("codegen --check"),
            Ok(Task::Codegen {
                mode: codegen::Mode::Check
            })
        );
    }

    /// `--seconds` in both spellings, its default, and bad values.
    #[test]
    fn fuzz_smoke_seconds() {
        assert_eq!(parse_str("fuzz-smoke"), Ok(Task::FuzzSmoke { seconds: 5 }));
        assert_eq!(
            parse_str("fuzz-smoke --seconds 30"),
            Ok(Task::FuzzSmoke { seconds: 30 })
        );
        assert_eq!(
            parse_str("fuzz-smoke --seconds=7"),
            Ok(Task::FuzzSmoke { seconds: 7 })
        );
        assert!(parse_str("fuzz-smoke --seconds").is_err());
        assert!(parse_str("fuzz-smoke --seconds 0").is_err());
        assert!(parse_str("fuzz-smoke --seconds ten").is_err());
        assert!(parse_str("fuzz-smoke --seconds 3 --seconds 4").is_err());
        assert!(parse_str("fuzz-smoke 30").is_err());
    }

    /// Everything after `bench` goes to ami-bench; one leading `--` is dropped.
    #[test]
    fn bench_passes_arguments_through() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(parse_str("bench"), Ok(Task::Bench { args: vec![] }));
        assert_eq!(
            parse_str("bench --events 10 -v"),
            Ok(Task::Bench {
                args: args(&["--events", "10", "-v"])
            })
        );
        assert_eq!(
            parse_str("bench -- --events 10"),
            Ok(Task::Bench {
                args: args(&["--events", "10"])
            })
        );
        assert_eq!(
            parse_str("bench -- --"),
            Ok(Task::Bench {
                args: args(&["--"])
            })
        );
    }

    /// Unknown commands and flags are errors, not silently ignored.
    #[test]
    fn mistakes_are_refused() {
        assert!(parse_str("").is_err());
        assert!(parse_str("deploy").is_err());
        assert!(parse_str("ci --fast").is_err());
        assert!(parse_str("corpus --force").is_err());
        assert!(parse_str("corpus --sync --sync").is_err());
        assert!(parse_str("codegen --write").is_err());
    }
}
