//! `ami command 'core show channels'`: a CLI command's output lines.
//!
//! Both output styles are handled by the core: one `Output:` header per line
//! (Asterisk 14 and later) and the legacy `Response: Follows` body.

use std::io::Write;
use std::process::ExitCode;

use ami_proto::Action;

use crate::cmd::send_once;
use crate::config::ServerArgs;
use crate::exit::Fail;

/// Flags of `ami command`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The CLI command; several words are joined with spaces.
    #[arg(required = true, num_args = 1.., value_name = "COMMAND")]
    words: Vec<String>,
    /// Seconds to wait for the output (default: the configured action timeout).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
}

/// Runs `ami command`.
pub(crate) fn run(server_args: &ServerArgs, args: Args) -> Result<ExitCode, Fail> {
    let text = args.words.join(" ");
    if text.contains(['\r', '\n']) {
        return Err(Fail::Usage(
            "the command may not contain a line break".into(),
        ));
    }
    let (_, completion) = send_once(server_args, Action::command(&text), args.timeout)?;
    let mut out = std::io::stdout().lock();
    let write = |out: &mut std::io::StdoutLock<'_>| -> std::io::Result<()> {
        // Anything but Command output is not expected for `Command`: print
        // what the server said all the same.
        let lines: Box<dyn Iterator<Item = &[u8]>> = match completion.command_lines() {
            Some(lines) => Box::new(lines.iter().map(|line| &line[..])),
            None => Box::new(completion.response().output_lines()),
        };
        for line in lines {
            out.write_all(line)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    write(&mut out).map_err(|e| Fail::Other(format!("stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
