//! What the crate's test binaries share.

/// A fresh runtime for a test: tokio's current-thread runtime, or a
/// multi-thread one with two workers (so that the client's task and the
/// callers can run at once on this 2-core CI).
pub(crate) fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    let rt = match multi_thread {
        true => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        false => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    rt.expect("a tokio runtime")
}
