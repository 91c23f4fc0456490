//! Running part of the bench on one CPU: the calling thread's affinity is
//! inherited by the server threads it starts and the client processes it
//! spawns, so both sides of a round trip share the CPU it is on.

use rustix::thread::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};

/// Runs `work` with this thread (and what it starts) on the CPU it is on,
/// then gives the thread its former CPUs back.
pub(crate) fn on_one_cpu<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    let all = sched_getaffinity(None).map_err(|e| format!("sched_getaffinity: {e}"))?;
    let mut one = CpuSet::new();
    one.set(sched_getcpu());
    sched_setaffinity(None, &one).map_err(|e| format!("sched_setaffinity: {e}"))?;
    let out = work();
    sched_setaffinity(None, &all).map_err(|e| format!("restoring the CPU set: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inside, only one CPU is allowed; after, the former set again.
    #[test]
    fn work_runs_on_one_cpu_and_the_set_comes_back() {
        let before = sched_getaffinity(None).unwrap();
        let inside = on_one_cpu(|| sched_getaffinity(None).unwrap().count()).unwrap();
        assert_eq!(inside, 1);
        assert_eq!(sched_getaffinity(None).unwrap(), before);
    }
}
