//! Thread priorities. Background work (notifications: rendering and storing a
//! storm's 10,000 items) runs on threads of its own; on a machine with few cores
//! the scheduler should still run the polling thread first when both are ready.

/// Lowers the calling thread's priority (nice 10). On Linux the nice value
/// belongs to the thread, so the rest of the process keeps its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn background() {
    // SAFETY: setpriority changes only the scheduling priority of the calling
    // thread (`who` = 0); failure leaves it as it was, which is harmless.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// Elsewhere the threads keep the normal priority.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn background() {}
