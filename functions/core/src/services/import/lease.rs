//! Leases on running import jobs. A worker that is killed (Ctrl-C, OOM, a Lambda timeout)
//! cannot record its own end, so the job record carries a lease the worker renews while it
//! works; whoever reads the job after the lease ran out, or after the worker's process is seen
//! gone, fails it with a conditional write. A renewal bumps the record's version, so that
//! write can never land over a live worker, and a worker that finds its job taken stops
//! before it swaps in any data.

use std::time::{Duration, Instant};

use crate::domain::{now_epoch, DatasetImportJob, ImportLease, Status, WorkerProcess};

/// How long a lease runs without renewal. Every step between renewals (a batch of rows, one
/// data file written) takes far less.
pub const LEASE_SECS: f64 = 120.0;
/// How often a working import renews its lease.
pub(super) const RENEW_EVERY: Duration = Duration::from_secs(20);
/// How long a job recorded in progress without a lease (by a version before leases) may run:
/// the longest a Lambda can.
const UNLEASED_SECS: f64 = 900.0;

/// The failureReason of a job whose worker stopped.
pub const WORKER_STOPPED: &str = "the import worker stopped before finishing; import again";

/// A fresh lease for this process.
pub(super) fn new_lease() -> ImportLease {
    ImportLease {
        expires: now_epoch() + LEASE_SECS,
        process: WorkerProcess::of(std::process::id()),
    }
}

/// When the job's current lease was last renewed, as this worker measures it.
pub(super) struct Renewal {
    pub at: Instant,
}

impl Renewal {
    pub fn due(&self) -> bool {
        self.at.elapsed() >= RENEW_EVERY
    }
}

/// Whether `job` is in progress (or pending) with nobody working on it (as of epoch second
/// `now`). A pending job waits for its worker to start it, however long: only the process that
/// created it being seen gone abandons it.
pub(super) fn abandoned(job: &DatasetImportJob, now: f64) -> bool {
    if job.status == Status::CreatePending {
        return job
            .lease
            .as_ref()
            .and_then(|l| l.process.as_ref())
            .is_some_and(|p| p.is_gone());
    }
    if job.status != Status::CreateInProgress {
        return false;
    }
    match &job.lease {
        None => now > job.last_updated_date_time + UNLEASED_SECS,
        Some(lease) => now > lease.expires || lease.process.as_ref().is_some_and(|p| p.is_gone()),
    }
}

/// `job` as failed because its worker stopped.
pub(super) fn failed(job: DatasetImportJob) -> DatasetImportJob {
    failed_with(job, WORKER_STOPPED)
}

/// `job` as failed for `reason`, its lease released.
pub(super) fn failed_with(mut job: DatasetImportJob, reason: &str) -> DatasetImportJob {
    job.status = Status::CreateFailed;
    job.failure_reason = Some(reason.into());
    job.lease = None;
    job.last_updated_date_time = now_epoch();
    job
}

impl WorkerProcess {
    /// Process `pid` as seen from here (None off Linux, or if it is not running).
    pub fn of(pid: u32) -> Option<WorkerProcess> {
        Some(WorkerProcess {
            host: this_host()?,
            pid,
            started: start_time(pid)?,
        })
    }

    /// True only when this process can tell for sure: same kernel and pid namespace, and no
    /// process with that pid and start time. A process elsewhere is left to its lease.
    pub fn is_gone(&self) -> bool {
        if this_host().as_deref() != Some(self.host.as_str()) {
            return false;
        }
        let dir = std::path::PathBuf::from(format!("/proc/{}", self.pid));
        match std::fs::metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(_) => false,
            // Exists: the same process unless its start time differs (the pid was reused).
            Ok(_) => start_time(self.pid).is_some_and(|t| t != self.started),
        }
    }
}

/// The kernel boot and pid namespace of this process: pids compare only within one.
/// Containers share a boot id but not a pid namespace; Lambda sandboxes have their own kernel.
fn this_host() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

/// Field 22 of `/proc/<pid>/stat`, the process's start time in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; the fields after its
    // closing parenthesis are fixed, starting with field 3.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split(' ').nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_an_exited_child_is_gone() {
        let Some(me) = WorkerProcess::of(std::process::id()) else {
            return; // no /proc: leases alone decide
        };
        assert!(!me.is_gone());
        let reused = WorkerProcess {
            started: me.started + 1,
            ..me.clone()
        };
        assert!(reused.is_gone(), "same pid, another start time");
        let elsewhere = WorkerProcess {
            host: "another-kernel/pid:[1]".into(),
            pid: u32::MAX,
            ..me
        };
        assert!(!elsewhere.is_gone(), "unknowable from here");
    }
}
