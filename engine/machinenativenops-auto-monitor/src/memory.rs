//! The process' heap: glibc malloc settings for a long-running agent with a small heap, and
//! handing freed memory back to the system (docs/performance.md, "Where the agent's memory
//! goes"). Elsewhere (musl, other systems) these do nothing.

/// Tune glibc's malloc, unless the environment sets the same knob (`MALLOC_ARENA_MAX`,
/// `MALLOC_MMAP_THRESHOLD_`). Call it first thing in `main`, before any thread exists.
///
/// - One arena. glibc gives each thread that allocates its own arena (up to 8 per core), and
///   each arena keeps freed memory resident; with the tokio worker, blocking threads, the store
///   thread and the per-tick statvfs threads that added megabytes of VmRSS. One arena, shared
///   by all threads under its lock, kept about 1 MiB less resident than two; the agent is not
///   allocation-bound, and scrape throughput stayed hundreds of times node_exporter's.
/// - Blocks of 64 KiB and more are mapped and unmapped on their own. Each tick the gzip forms
///   of /metrics take a deflate compressor's ~300 KB of buffers for a moment (four blocks of
///   64 KiB or more). With glibc's default, whose threshold climbs once the first such block
///   is freed, they came from the heap and kept it large between ticks; mapped, they are
///   returned as soon as the body is compressed. The cost is a few system calls a tick.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's <malloc.h>: `int mallopt(int param, int value)`; `M_ARENA_MAX` is -8,
        // `M_MMAP_THRESHOLD` is -3.
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_ARENA_MAX: std::ffi::c_int = -8;
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        // SAFETY: mallopt only changes allocator tuning; it is called before any thread exists.
        unsafe {
            if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
                mallopt(M_ARENA_MAX, 1);
            }
            if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
                mallopt(M_MMAP_THRESHOLD, 64 * 1024);
            }
        }
    }
}

/// Hand the heap's free pages back to the system (`malloc_trim(0)`).
///
/// glibc returns freed memory only from the top of the heap. The agent's heap is small but
/// churns every tick (the batch, the rendered bodies, the head's growing streams), so free
/// space collects between live blocks and stays resident: 0.5 MB after three minutes at a
/// 1 s interval, measured by calling this through gdb in a running agent. `malloc_trim`
/// releases every whole free page (`MADV_DONTNEED`). It walks the free lists under the
/// arena's lock, tens of microseconds on this heap, so the agent calls it at most every
/// [`TRIM_EVERY`], off the async worker.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes the allocator's own locks and only releases free pages.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// How often the agent calls [`release_free_memory`] (after a tick is rendered).
pub const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
