//! The decode-only C API (`ami_decoder_*`): bytes in, frames out, with or
//! without a banner, the core's decoder behind it. And the names of the
//! numeric codes (`ami_state_name` and friends).

// These tests call the `extern "C"` functions as C would, through raw pointers.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr};
use std::path::Path;
use std::ptr::{null, null_mut};

use ami_ffi::*;
use ami_proto::{Decoder, Frame};

/// What a test reads of one decoder output.
#[derive(Debug, PartialEq)]
struct Decoded {
    kind: c_int,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    lines: Vec<Vec<u8>>,
    fail: c_int,
}

fn lent(ptr: *const c_char, len: usize) -> Vec<u8> {
    // SAFETY: the C API lends `len` readable bytes at `ptr`.
    unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }.to_vec()
}

fn read_output(out: *const AmiOutput) -> Decoded {
    // SAFETY: `out` is a live output; every out-pointer is writable.
    unsafe {
        let headers = (0..ami_output_header_count(out))
            .map(|i| {
                let (mut n, mut nl, mut v, mut vl) = (null(), 0, null(), 0);
                assert_eq!(ami_output_header_name(out, i, &mut n, &mut nl), AMI_OK);
                assert_eq!(ami_output_header_value(out, i, &mut v, &mut vl), AMI_OK);
                (lent(n, nl), lent(v, vl))
            })
            .collect();
        let lines = (0..ami_output_line_count(out))
            .map(|i| {
                let (mut p, mut l) = (null(), 0);
                assert_eq!(ami_output_line(out, i, &mut p, &mut l), AMI_OK);
                lent(p, l)
            })
            .collect();
        let (mut fail, mut msg, mut len) = (0, null(), 0);
        assert_eq!(ami_output_error(out, &mut fail, &mut msg, &mut len), AMI_OK);
        Decoded {
            kind: ami_output_kind(out),
            headers,
            lines,
            fail,
        }
    }
}

/// Decodes `bytes` through the C API, fed in chunks of `chunk` bytes.
fn decode_c(bytes: &[u8], banner: bool, max_frame: u64, chunk: usize) -> Vec<Decoded> {
    let mut dec = null_mut();
    // SAFETY: `dec` is writable.
    let rc = unsafe { ami_decoder_new(max_frame, c_int::from(banner), &mut dec) };
    assert_eq!(rc, AMI_OK);
    let mut got = Vec::new();
    for piece in bytes.chunks(chunk) {
        // SAFETY: `dec` is live; `piece` is readable.
        assert_eq!(
            unsafe { ami_decoder_input(dec, piece.as_ptr(), piece.len()) },
            AMI_OK
        );
        let mut out = null_mut();
        // SAFETY: `dec` is live; `out` is writable.
        while unsafe { ami_decoder_next(dec, &mut out) } == 1 {
            got.push(read_output(out));
            // SAFETY: `out` came from `ami_decoder_next` and is freed once.
            unsafe { ami_output_free(out) };
        }
        assert!(out.is_null(), "0 leaves *out NULL");
    }
    // SAFETY: `dec` came from `ami_decoder_new` and is freed once.
    unsafe { ami_decoder_free(dec) };
    got
}

/// What the core's decoder makes of the same bytes, in the C API's terms.
fn decode_core(bytes: &[u8], banner: bool, max_frame: usize) -> Vec<Decoded> {
    let mut decoder = match banner {
        true => Decoder::new(max_frame),
        false => Decoder::without_banner(max_frame),
    };
    decoder.push(bytes);
    let fields = |h: &ami_proto::Headers| h.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
    std::iter::from_fn(|| decoder.next_frame())
        .map(|item| match item {
            Ok(Frame::Banner(text)) => Decoded {
                kind: AMI_OUTPUT_BANNER,
                headers: Vec::new(),
                lines: vec![text.to_vec()],
                fail: AMI_FAIL_NONE,
            },
            Ok(Frame::Response(r)) => Decoded {
                kind: AMI_OUTPUT_RESPONSE,
                headers: fields(r.headers()),
                lines: r.output_lines().map(<[u8]>::to_vec).collect(),
                fail: AMI_FAIL_NONE,
            },
            Ok(Frame::Event(e)) => Decoded {
                kind: AMI_OUTPUT_EVENT,
                headers: fields(e.headers()),
                lines: Vec::new(),
                fail: AMI_FAIL_NONE,
            },
            Ok(Frame::Other(m)) => Decoded {
                kind: AMI_OUTPUT_FRAME,
                headers: fields(m.headers()),
                lines: Vec::new(),
                fail: AMI_FAIL_NONE,
            },
            Err(ami_proto::DecodeError::FrameTooLarge { .. }) => Decoded {
                kind: AMI_OUTPUT_DECODE_ERROR,
                headers: Vec::new(),
                lines: Vec::new(),
                fail: AMI_FAIL_FRAME_TOO_LARGE,
            },
            Err(_) => Decoded {
                kind: AMI_OUTPUT_DECODE_ERROR,
                headers: Vec::new(),
                lines: Vec::new(),
                fail: AMI_FAIL_GARBAGE,
            },
        })
        .collect()
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/asterisk-22");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "raw" || e == "sent"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("readable"))
        })
        .collect()
}

#[test]
fn every_corpus_stream_decodes_as_the_core_decodes_it() {
    let files = corpus();
    assert!(files.len() >= 20, "{} corpus files", files.len());
    let (mut events, mut responses, mut actions) = (0, 0, 0);
    for (name, bytes) in files {
        // Server bytes start with the banner; the client's do not.
        let banner = name.ends_with(".raw");
        let want = decode_core(&bytes, banner, 4 << 20);
        for chunk in [1, 7, 4096, bytes.len().max(1)] {
            let got = decode_c(&bytes, banner, 0, chunk);
            assert_eq!(got, want, "{name} in chunks of {chunk}");
        }
        let kinds = |k| want.iter().filter(|d| d.kind == k).count();
        if banner {
            assert_eq!(want[0].kind, AMI_OUTPUT_BANNER, "{name}");
        }
        events += kinds(AMI_OUTPUT_EVENT);
        responses += kinds(AMI_OUTPUT_RESPONSE);
        actions += kinds(AMI_OUTPUT_FRAME);
    }
    assert!(events > 100 && responses > 20 && actions > 20);
}

#[test]
fn oversized_frames_and_garbage_come_out_as_decode_errors_and_decoding_goes_on() {
    let big = format!("Event: Big\r\nData: {}\r\n\r\n", "x".repeat(70_000));
    let stream = format!(
        "Event: A\r\n\r\n{big}garbage line\r\n\r\nResponse: Success\r\nMessage: ok\r\n\r\n"
    );
    let got = decode_c(stream.as_bytes(), false, 64 << 10, 1000);
    let kinds: Vec<_> = got.iter().map(|d| (d.kind, d.fail)).collect();
    assert_eq!(
        kinds,
        [
            (AMI_OUTPUT_EVENT, AMI_FAIL_NONE),
            (AMI_OUTPUT_DECODE_ERROR, AMI_FAIL_FRAME_TOO_LARGE),
            (AMI_OUTPUT_DECODE_ERROR, AMI_FAIL_GARBAGE),
            (AMI_OUTPUT_RESPONSE, AMI_FAIL_NONE),
        ]
    );
    assert_eq!(got, decode_core(stream.as_bytes(), false, 64 << 10));
}

#[test]
fn a_legacy_follows_body_is_the_responses_lines() {
    let stream = b"Asterisk Call Manager/1.1\r\nResponse: Follows\r\nPrivilege: Command\r\n\
                   Channel  Context\r\n0 active channels\r\n--END COMMAND--\r\n\r\n";
    let got = decode_c(stream, true, 0, 5);
    assert_eq!(got[0].lines, [b"Asterisk Call Manager/1.1".to_vec()]);
    assert_eq!(got[1].kind, AMI_OUTPUT_RESPONSE);
    assert_eq!(
        got[1].lines,
        [b"Channel  Context".to_vec(), b"0 active channels".to_vec()]
    );
}

#[test]
fn decoder_arguments_are_checked() {
    let mut dec = null_mut();
    // SAFETY: NULL and out-of-range arguments are what is tested.
    unsafe {
        assert_eq!(ami_decoder_new(0, 1, null_mut()), AMI_E_NULL);
        assert_eq!(ami_decoder_new(100, 1, &mut dec), AMI_E_CONFIG);
        assert!(dec.is_null());
        assert_eq!(ami_decoder_new(0, 2, &mut dec), AMI_E_CONFIG);
        assert_eq!(ami_decoder_input(null_mut(), null(), 0), AMI_E_NULL);
        let mut out = null_mut();
        assert_eq!(ami_decoder_next(null_mut(), &mut out), AMI_E_NULL);
        assert_eq!(ami_decoder_new(1024, 0, &mut dec), AMI_OK);
        assert_eq!(ami_decoder_input(dec, null(), 0), AMI_OK);
        assert_eq!(ami_decoder_input(dec, null(), 3), AMI_E_NULL);
        assert_eq!(ami_decoder_next(dec, null_mut()), AMI_E_NULL);
        assert_eq!(ami_decoder_next(dec, &mut out), 0);
        ami_decoder_free(dec);
        ami_decoder_free(null_mut());
    }
}

fn name(p: *const c_char) -> &'static str {
    // SAFETY: the name functions return static NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_str().expect("ASCII")
}

#[test]
fn every_code_has_its_name() {
    let states = [
        (AMI_STATE_LOGGING_IN, "AMI_STATE_LOGGING_IN"),
        (AMI_STATE_READY, "AMI_STATE_READY"),
        (AMI_STATE_CLOSED, "AMI_STATE_CLOSED"),
    ];
    for (code, want) in states {
        assert_eq!(name(ami_state_name(code)), want);
    }
    assert_eq!(
        name(ami_close_reason_name(AMI_CLOSE_LOGGED_OFF)),
        "AMI_CLOSE_LOGGED_OFF"
    );
    assert_eq!(name(ami_fail_name(AMI_FAIL_DESYNC)), "AMI_FAIL_DESYNC");
    assert_eq!(name(ami_fail_name(AMI_FAIL_GARBAGE)), "AMI_FAIL_GARBAGE");
    assert_eq!(
        name(ami_output_kind_name(AMI_OUTPUT_BANNER)),
        "AMI_OUTPUT_BANNER"
    );
    for unknown in [-1, 42, 1000] {
        assert_eq!(name(ami_state_name(unknown)), "unknown");
        assert_eq!(name(ami_close_reason_name(unknown)), "unknown");
        assert_eq!(name(ami_fail_name(unknown)), "unknown");
        assert_eq!(name(ami_output_kind_name(unknown)), "unknown");
    }
}
