import CLinuxShim

/// Gives the allocator's free memory back to the kernel.
///
/// glibc keeps freed memory in its arenas for reuse, per thread that allocated it. A container's
/// output can buffer up to 16 MiB per stream, allocated by whichever threads pumped and answered
/// it; once the container is gone that memory is free but stays in the agent's RSS for the
/// VM's lifetime. The agent is PID 1 of a guest sized for its workload, so after a removal it
/// returns the pages (malloc_trim also releases free pages inside the arenas, not only at a
/// heap's top). Costs a walk over the arenas: call it after removals, not per request.
public enum HeapTrim {
    /// True when memory was returned.
    @discardableResult
    public static func releaseFreeMemory() -> Bool {
        core_heap_trim() == 1
    }
}
