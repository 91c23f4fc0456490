//! `ami decode FILE...`: a captured server byte stream as JSON lines.
//!
//! Each file (or `-` for stdin) gets a fresh [`Decoder`], fed in 64 KiB
//! reads. One JSON line per frame goes to stdout; decoding problems (an
//! oversized frame, garbage) are reported on stderr and decoding goes on.
//! The counts go to stderr: `frames=N responses=R events=E banner=B
//! errors=X`, where `frames` excludes the banner (as the corpus `INDEX.json`
//! counts) and includes `other` frames; a legacy `follows` frame is a
//! response. With several files each gets a `FILE: ...` line, then the total.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use ami_proto::{Decoder, Frame};

use crate::exit::Fail;
use crate::json;

/// Flags of `ami decode`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Files holding bytes as the server sent them; `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Largest frame accepted, in bytes; larger ones are skipped and reported.
    #[arg(long, default_value_t = 16 << 20)]
    max_frame: usize,
    /// The stream starts mid-session: do not expect a banner line.
    #[arg(long)]
    no_banner: bool,
}

/// Frame counts of one stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    frames: u64,
    responses: u64,
    events: u64,
    banner: u64,
    errors: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.frames += o.frames;
        self.responses += o.responses;
        self.events += o.events;
        self.banner += o.banner;
        self.errors += o.errors;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "frames={} responses={} events={} banner={} errors={}",
            self.frames, self.responses, self.events, self.banner, self.errors
        )
    }
}

/// Runs `ami decode`. Exit 1 when a file could not be read (the others are
/// still decoded), else 0, whatever the decoding errors.
pub(crate) fn run(args: Args) -> Result<ExitCode, Fail> {
    if args.max_frame < 1024 {
        return Err(Fail::Usage("--max-frame must be at least 1024".into()));
    }
    let mut total = Counts::default();
    let mut unreadable = 0;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let many = args.files.len() > 1;
    for path in &args.files {
        let name = path.display().to_string();
        let input: Box<dyn Read> = if name == "-" {
            Box::new(io::stdin().lock())
        } else {
            match File::open(path) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    eprintln!("ami: error: cannot read {name}: {e}");
                    unreadable += 1;
                    continue;
                }
            }
        };
        let mut decoder = if args.no_banner {
            Decoder::without_banner(args.max_frame)
        } else {
            Decoder::new(args.max_frame)
        };
        let counts = match decode(input, &mut decoder, &name, &mut out) {
            Ok(counts) => counts,
            // The reader went away (`ami decode x | head`): stop quietly.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => return Err(Fail::Other(format!("stdout: {e}"))),
        };
        if many {
            eprintln!("{name}: {counts}");
        }
        total.add(counts);
    }
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        other => other.map_err(|e| Fail::Other(format!("stdout: {e}")))?,
    }
    eprintln!("{total}");
    Ok(if unreadable > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Decodes one stream, writing a JSON line per frame to `out`.
fn decode(
    mut input: impl Read,
    decoder: &mut Decoder,
    name: &str,
    out: &mut impl Write,
) -> io::Result<Counts> {
    let mut counts = Counts::default();
    let mut buf = vec![0u8; 64 << 10];
    let mut offset = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // A read error ends this stream, like its end would.
                eprintln!("ami: error: {name}: read failed after {offset} bytes: {e}");
                counts.errors += 1;
                break;
            }
        };
        offset += n as u64;
        decoder.push(&buf[..n]);
        while let Some(item) = decoder.next_frame() {
            match item {
                Ok(frame) => {
                    match &frame {
                        Frame::Banner(_) => counts.banner += 1,
                        Frame::Response(_) => counts.responses += 1,
                        Frame::Event(_) => counts.events += 1,
                        Frame::Other(_) => {}
                    }
                    if !matches!(frame, Frame::Banner(_)) {
                        counts.frames += 1;
                    }
                    writeln!(out, "{}", json::frame(&frame))?;
                }
                Err(e) => {
                    counts.errors += 1;
                    eprintln!("ami: decode: {name}: {e}");
                }
            }
        }
    }
    if decoder.buffered() > 0 {
        counts.errors += 1;
        eprintln!(
            "ami: decode: {name}: {} bytes at the end are not a complete frame",
            decoder.buffered()
        );
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_and_decoding_goes_on() {
        let bytes = b"Asterisk Call Manager/11.0.0\r\n\
            Response: Success\r\nMessage: ok\r\n\r\n\
            garbage without colon\r\n\r\n\
            Event: Hangup\r\nChannel: x\r\n\r\n\
            Event: Trunc";
        let mut d = Decoder::new(1 << 20);
        let mut out = Vec::new();
        let c = decode(&bytes[..], &mut d, "t", &mut out).unwrap();
        assert_eq!(
            c,
            Counts {
                frames: 2,
                responses: 1,
                events: 1,
                banner: 1,
                errors: 2,
            }
        );
        let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[2].contains(r#"["Channel","x"]"#), "{}", lines[2]);
    }
}
