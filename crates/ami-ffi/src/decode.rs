//! `ami_decoder`: the core's frame decoder alone, for callers that read
//! AMI bytes without a session of their own (a capture, a proxy, a tap on
//! another client's socket). Bytes in, frames out, as `ami_output`s.

use std::ffi::c_int;

use ami_proto::Decoder;

use crate::output::AmiOutput;
use crate::status::{fail, guard, null, AMI_E_CONFIG, AMI_OK};

/// `ami_decoder_new`'s `banner`: the stream starts with a frame (a client's
/// bytes, a capture taken mid-session).
pub const AMI_DECODE_NO_BANNER: c_int = 0;
/// `ami_decoder_new`'s `banner`: the stream starts with the server's banner
/// line, as a server sends from its first byte.
pub const AMI_DECODE_BANNER: c_int = 1;

/// The default frame limit, as `ami_options`' `max_frame`.
const DEFAULT_MAX_FRAME: u64 = 4 << 20;
/// The smallest and largest frame limits a decoder takes.
const MAX_FRAME_RANGE: std::ops::RangeInclusive<u64> = 1024..=256 << 20;

/// A decoder of one byte stream, mirrored as the opaque `ami_decoder` in
/// `ami.h`. Created by `ami_decoder_new`, freed by `ami_decoder_free`; one
/// thread at a time.
#[derive(Debug)]
pub struct AmiDecoder {
    decoder: Decoder,
}

/// Runs `body` on the decoder behind `dec`, with panics caught.
///
/// # Safety
///
/// `dec` is NULL or a live decoder from `ami_decoder_new`, not used by
/// another thread during the call.
unsafe fn with_decoder(dec: *mut AmiDecoder, body: impl FnOnce(&mut Decoder) -> c_int) -> c_int {
    guard(|| {
        // SAFETY: NULL or live and unshared per the contract.
        match unsafe { dec.as_mut() } {
            Some(d) => body(&mut d.decoder),
            None => null("dec"),
        }
    })
}

/// Creates a decoder of frames of at most `max_frame` bytes (0: 4 MiB;
/// else 1024 to 256 MiB); a larger frame is skipped and reported. `banner`
/// is [`AMI_DECODE_BANNER`] or [`AMI_DECODE_NO_BANNER`].
///
/// On `AMI_OK`, `*out` owns the decoder: free it with `ami_decoder_free`.
/// Returns `AMI_E_NULL` or `AMI_E_CONFIG` (see `ami_last_error`) with
/// `*out` NULL.
///
/// # Safety
///
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_decoder_new(
    max_frame: u64,
    banner: c_int,
    out: *mut *mut AmiDecoder,
) -> c_int {
    guard(|| {
        if out.is_null() {
            return null("out");
        }
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out.write(std::ptr::null_mut()) };
        let max_frame = match max_frame {
            0 => DEFAULT_MAX_FRAME,
            n => n,
        };
        if !MAX_FRAME_RANGE.contains(&max_frame) {
            let (min, max) = MAX_FRAME_RANGE.into_inner();
            return fail(
                AMI_E_CONFIG,
                format_args!("max_frame = {max_frame} is outside {min}..={max}"),
            );
        }
        let max_frame = usize::try_from(max_frame).unwrap_or(usize::MAX);
        let decoder = match banner {
            AMI_DECODE_BANNER => Decoder::new(max_frame),
            AMI_DECODE_NO_BANNER => Decoder::without_banner(max_frame),
            other => return fail(AMI_E_CONFIG, format_args!("banner = {other}: 0 or 1")),
        };
        let dec = Box::new(AmiDecoder { decoder });
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out.write(Box::into_raw(dec)) };
        AMI_OK
    })
}

/// Frees a decoder (NULL is ignored); frames already taken stay valid.
///
/// # Safety
///
/// `dec` is NULL or a live decoder from `ami_decoder_new`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn ami_decoder_free(dec: *mut AmiDecoder) {
    guard(|| {
        if !dec.is_null() {
            // SAFETY: `dec` came from `Box::into_raw` in `ami_decoder_new`
            // and is freed once, per the contract.
            drop(unsafe { Box::from_raw(dec) });
        }
        AMI_OK
    });
}

/// Feeds `len` bytes of the stream, in any chunking (copied; `data` may be
/// NULL only when `len` is 0). Then take frames with `ami_decoder_next`
/// until it returns 0. Returns `AMI_OK` or `AMI_E_NULL`.
///
/// # Safety
///
/// `dec` is NULL or live; `data` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ami_decoder_input(
    dec: *mut AmiDecoder,
    data: *const u8,
    len: usize,
) -> c_int {
    let body = |d: &mut Decoder| {
        if len == 0 {
            return AMI_OK;
        }
        if data.is_null() {
            return null("data");
        }
        // SAFETY: non-NULL, and `len` readable bytes per this function's contract.
        d.push(unsafe { std::slice::from_raw_parts(data, len) });
        AMI_OK
    };
    // SAFETY: `dec` is NULL or live per this function's contract.
    unsafe { with_decoder(dec, body) }
}

/// Takes the next complete frame: returns 1 with `*out` an output the
/// caller owns (`ami_output_free`), or 0 with `*out` NULL until more bytes
/// come. Its kind is `AMI_OUTPUT_BANNER`, `_RESPONSE`, `_EVENT`, `_FRAME`,
/// or `_DECODE_ERROR` for bytes skipped (decoding goes on after them).
///
/// # Safety
///
/// `dec` is NULL or live; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ami_decoder_next(dec: *mut AmiDecoder, out: *mut *mut AmiOutput) -> c_int {
    let body = |d: &mut Decoder| {
        if out.is_null() {
            return null("out");
        }
        let next = d.next_frame().map_or(std::ptr::null_mut(), |item| {
            Box::into_raw(Box::new(AmiOutput::decoded(item)))
        });
        // SAFETY: non-NULL, and writable per this function's contract.
        unsafe { out.write(next) };
        c_int::from(!next.is_null())
    };
    // SAFETY: `dec` is NULL or live per this function's contract.
    unsafe { with_decoder(dec, body) }
}
