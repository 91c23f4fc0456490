//! Without `extension-module` (a workspace `cargo build` or `test`), the
//! crate links libpython like any embedding program: point the loader at
//! it, so test binaries start without `LD_LIBRARY_PATH`.

fn main() {
    if std::env::var_os("CARGO_FEATURE_EXTENSION_MODULE").is_none() {
        pyo3_build_config::add_libpython_rpath_link_args();
    }
}
