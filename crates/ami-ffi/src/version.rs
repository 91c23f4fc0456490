//! The C API's own version, apart from the crate's.
//!
//! It follows semantic versioning of the C ABI: the major number changes
//! when a function, struct field or constant changes meaning or layout; the
//! minor number when something is added; the patch for fixes only.

use std::ffi::c_int;

/// Major version of the C API.
pub const AMI_FFI_VERSION_MAJOR: c_int = 0;
/// Minor version of the C API.
pub const AMI_FFI_VERSION_MINOR: c_int = 3;
/// Patch version of the C API.
pub const AMI_FFI_VERSION_PATCH: c_int = 0;
/// `(major << 16) | (minor << 8) | patch`, as `ami_version` returns it.
pub const AMI_FFI_VERSION: u32 = 0x000300;

/// Longest ActionID `ami_conn_send` writes, NUL included, with the default
/// id length (64 bytes).
pub const AMI_ACTION_ID_CAP: usize = 65;

/// The version of the C API this library implements, as
/// `(major << 16) | (minor << 8) | patch` (`0x000300` is 0.3.0).
///
/// Compare with `AMI_FFI_VERSION` from the header the caller was compiled
/// with: a different major number means an incompatible library.
#[no_mangle]
pub extern "C" fn ami_version() -> u32 {
    AMI_FFI_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packed_version_matches_its_parts() {
        let packed =
            (AMI_FFI_VERSION_MAJOR << 16) | (AMI_FFI_VERSION_MINOR << 8) | AMI_FFI_VERSION_PATCH;
        assert_eq!(ami_version(), packed as u32);
    }
}
