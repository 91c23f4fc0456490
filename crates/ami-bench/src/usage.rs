//! A client process's CPU time and peak RSS, read from `/proc` (Linux).
//!
//! The server reads them when the client logs off: the client is still
//! alive, waiting for its Goodbye, and its teardown is not counted.

/// CPU time and peak resident set of one process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Usage {
    /// Time on a CPU, all its threads together.
    pub(crate) cpu_ns: u64,
    /// `VmHWM`: the most memory it has held at once.
    pub(crate) peak_rss_kb: u64,
}

impl Usage {
    /// The usage of the client that `pid` runs: `pid` itself, or the process
    /// it runs under a wrapper (`AMI_BENCH_WRAP`, e.g. `perf record`).
    pub(crate) fn of_client(pid: u32) -> Option<Usage> {
        Usage::of(leaf(pid))
    }

    fn of(pid: u32) -> Option<Usage> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let peak_rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        // Two lower bounds of the same time: the threads' own run times, to
        // the nanosecond but only for threads still alive, and the
        // process's user and system time, every thread's but in ticks.
        let cpu_ns = threads_ns(pid).max(ticks_ns(pid)?);
        Some(Usage {
            cpu_ns,
            peak_rss_kb,
        })
    }
}

/// The run time of each of `pid`'s live threads, summed: the first field
/// of `/proc/PID/task/TID/schedstat`, in nanoseconds.
fn threads_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The calling thread's run time so far.
pub(crate) fn this_thread_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `pid`'s user plus system time from `/proc/PID/stat`.
fn ticks_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses; utime and
    // stime are the 14th and 15th fields, the 12th and 13th after it.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let ticks = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks * 10_000_000)
}

/// Follows `pid`'s only child, and its only child, down to a process with
/// none: a wrapper's workload, or `pid` itself when it runs no other.
fn leaf(mut pid: u32) -> u32 {
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        let mut children = children.split_whitespace();
        match (children.next(), children.next()) {
            (Some(only), None) => match only.parse() {
                Ok(child) => pid = child,
                Err(_) => return pid,
            },
            _ => return pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_live_process_and_follows_a_wrapper_to_its_workload() {
        let own = Usage::of_client(std::process::id()).expect("our own /proc entry");
        assert!(own.peak_rss_kb > 0);
        let mut wrapper = std::process::Command::new("sh")
            .args(["-c", "sleep 10; true"])
            .spawn()
            .expect("sh runs");
        let pid = wrapper.id();
        // The shell forks `sleep` (it cannot exec it: `true` follows); the
        // fork is a copy of the shell until it has exec'ed.
        let comm =
            |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while comm(leaf(pid)).trim() != "sleep" && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let workload = leaf(pid);
        let found = comm(workload);
        if workload != pid {
            // Our own test's `sleep`: end it, and the shell with it.
            let _ = std::process::Command::new("kill")
                .arg(workload.to_string())
                .status();
        }
        wrapper.wait().expect("the shell ends after its sleep");
        assert_eq!(found.trim(), "sleep");
    }
}
