//! How the fake server reads client requests: Asterisk's own line reader
//! (`get_input` and `do_message` in `main/manager.c`), limits included.
//!
//! Lines end at `\n` (a `\r` just before it is dropped). A line whose end is
//! not within 1,024 bytes of its start makes the request fail with `Failed
//! to parse message: line too long`; lines past the 128th make it fail with
//! `Too many lines in message or allocation failure`. A blank line ends a
//! request, so a stray blank line is an empty request (`Missing action in
//! request`). The reader never holds more than 1,024 bytes of a line or 128
//! lines of a request.

use std::collections::VecDeque;

/// Asterisk's input buffer: a line must end within this many bytes.
const LINE_MAX: usize = 1024;
/// Asterisk's `AST_MAX_MANHEADERS`.
const LINES_MAX: usize = 128;

/// One client request: its header lines as sent, without line ends.
#[derive(Clone, Debug, Default)]
pub(crate) struct Request {
    lines: Vec<Vec<u8>>,
}

/// What a blank line ended.
#[derive(Debug)]
pub(crate) enum Input {
    /// A request to act on.
    Request(Request),
    /// A request with a line over 1,024 bytes.
    LineTooLong(Request),
    /// A request of more than 128 lines.
    TooManyLines(Request),
}

impl Request {
    /// The header lines, as sent.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.lines.iter().map(Vec::as_slice)
    }

    /// Every value of header `name` (any case), leading blanks skipped,
    /// trailing ones kept, as `astman_get_header` reads them.
    pub(crate) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.lines
            .iter()
            .filter_map(move |line| header_value(line, name))
    }

    /// The first value of header `name`; the first one wins, as in Asterisk.
    pub(crate) fn value(&self, name: &str) -> Option<&[u8]> {
        self.lines.iter().find_map(|line| header_value(line, name))
    }

    /// The first value of `name` as text (lossy UTF-8), `""` when absent:
    /// Asterisk does not tell a missing header from an empty one.
    pub(crate) fn text(&self, name: &str) -> String {
        self.value(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    }

    /// The ActionID to echo, byte for byte (`None` when absent or empty).
    pub(crate) fn action_id(&self) -> Option<&[u8]> {
        self.value("ActionID").filter(|v| !v.is_empty())
    }
}

/// The value of `line` if it is header `name` (`Name:` in any case).
fn header_value<'a>(line: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let n = name.len();
    if line.len() <= n || !line[..n].eq_ignore_ascii_case(name.as_bytes()) || line[n] != b':' {
        return None;
    }
    let v = &line[n + 1..];
    let skip = v.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    Some(&v[skip..])
}

/// Splits client bytes into requests the way Asterisk does; bounded memory.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    /// Bytes of the current line (at most `LINE_MAX`).
    line: Vec<u8>,
    /// The current request's lines (at most `LINES_MAX`).
    current: Vec<Vec<u8>>,
    too_long: bool,
    too_many: bool,
    ready: VecDeque<Input>,
}

impl Reader {
    /// Feeds bytes from the client; finished requests wait in [`Reader::next`].
    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = LINE_MAX - self.line.len();
            let take = bytes.len().min(room);
            match memchr::memchr(b'\n', &bytes[..take]) {
                Some(i) => {
                    self.line.extend_from_slice(&bytes[..i]);
                    bytes = &bytes[i + 1..];
                    if self.line.last() == Some(&b'\r') {
                        self.line.pop();
                    }
                    let line = std::mem::take(&mut self.line);
                    self.end_line(line);
                }
                None => {
                    self.line.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if self.line.len() >= LINE_MAX {
                        // Asterisk keeps the last byte (half of a CRLF, maybe).
                        let last = self.line[LINE_MAX - 1];
                        self.line.clear();
                        self.line.push(last);
                        self.too_long = true;
                    }
                }
            }
        }
    }

    /// The next finished request, in arrival order.
    pub(crate) fn next(&mut self) -> Option<Input> {
        self.ready.pop_front()
    }

    fn end_line(&mut self, line: Vec<u8>) {
        if !line.is_empty() {
            if self.current.len() < LINES_MAX {
                self.current.push(line);
            } else {
                self.too_many = true;
            }
            return;
        }
        let request = Request {
            lines: std::mem::take(&mut self.current),
        };
        let input = if self.too_many {
            Input::TooManyLines(request)
        } else if self.too_long {
            Input::LineTooLong(request)
        } else {
            Input::Request(request)
        };
        self.too_long = false;
        self.too_many = false;
        self.ready.push_back(input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Vec<Input> {
        let mut r = Reader::default();
        r.push(bytes);
        std::iter::from_fn(|| r.next()).collect()
    }

    #[test]
    fn lines_values_and_first_wins() {
        let got = read(b"Action:Ping\nActionID:   padded   \r\nactionid: dup\r\n\r\n");
        let [Input::Request(r)] = &got[..] else {
            panic!("{got:?}")
        };
        assert_eq!(r.value("action"), Some(&b"Ping"[..]));
        assert_eq!(r.action_id(), Some(&b"padded   "[..]));
        assert_eq!(r.text("Missing"), "");
        assert_eq!(r.values("ActionID").count(), 2);
    }

    #[test]
    fn stray_blank_line_is_an_empty_request() {
        let got = read(b"\r\nAction: Ping\r\n\r\n");
        assert!(matches!(&got[0], Input::Request(r) if r.lines().count() == 0));
        assert!(matches!(&got[1], Input::Request(r) if r.text("Action") == "Ping"));
    }

    #[test]
    fn line_limit_is_asterisks_and_keeps_the_other_headers() {
        // 1,022 bytes and CRLF fit in the 1,024-byte buffer; longer do not.
        // (With exactly 1,023, Asterisk keeps the CR, which then ends the
        // request early: a quirk mirrored here, not tested.)
        for (len, too_long) in [(1022, false), (1100, true), (8000, true)] {
            let mut req = b"Action: Ping\r\nX: ".to_vec();
            req.resize(req.len() + len - 3, b'x');
            req.extend_from_slice(b"\r\nActionID: a\r\n\r\n");
            let got = read(&req);
            assert_eq!(got.len(), 1);
            match &got[0] {
                Input::LineTooLong(r) if too_long => assert_eq!(r.action_id(), Some(&b"a"[..])),
                Input::Request(r) if !too_long => assert_eq!(r.action_id(), Some(&b"a"[..])),
                other => panic!("{len}: {other:?}"),
            }
        }
    }

    #[test]
    fn more_than_128_lines_fail_and_byte_by_byte_works() {
        let mut req = b"Action: UserEvent\r\nActionID: many\r\n".to_vec();
        for i in 0..200 {
            req.extend_from_slice(format!("H{i}: {i}\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        let mut r = Reader::default();
        for b in &req {
            r.push(std::slice::from_ref(b));
        }
        match r.next() {
            Some(Input::TooManyLines(req)) => assert_eq!(req.action_id(), Some(&b"many"[..])),
            other => panic!("{other:?}"),
        }
        assert!(r.next().is_none());
    }
}
