//! Memory settings of the C allocator. A `/metrics` scrape of a large fleet makes a
//! few buffers of megabytes that live for milliseconds; by default glibc keeps such
//! memory once freed, so the resident size of a long-running monitor would grow by
//! the size of its largest scrape and never come back.

/// Makes every allocation of 256 KiB or more its own mapping, returned to the
/// system when freed. glibc otherwise raises that threshold after the first large
/// free and then keeps the freed space in its heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_large_frees() {
    // SAFETY: mallopt only changes allocator parameters; it is called once at
    // start-up, before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        // One heap for every thread: the history writer would otherwise get an
        // arena of its own, megabytes of resident memory for a thread that
        // allocates little and mostly waits.
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Other allocators give large blocks back on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_large_frees() {}
