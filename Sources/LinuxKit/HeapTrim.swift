import CLinuxShim

/// When the allocator's free memory goes back to the kernel.
///
/// glibc keeps freed memory in its arenas for reuse, per thread that allocated it. A container's
/// output can buffer up to 16 MiB per stream, allocated by whichever threads pumped and answered
/// it; once the container is gone that memory is free but stays in the agent's RSS for the
/// VM's lifetime. The agent is PID 1 of a guest sized for its workload, so after a removal it
/// returns the pages (malloc_trim also releases free pages inside the arenas, not only at a
/// heap's top). Costs a walk over the arenas: call it after removals, not per request.
public enum HeapTrim {
    /// Free space a heap keeps at its top, and the smallest block given its own mapping.
    public static let servingThreshold = 1 << 20

    /// True when memory was returned.
    @discardableResult
    public static func releaseFreeMemory() -> Bool {
        core_heap_trim() == 1
    }

    /// Keeps up to `servingThreshold` of free space at each heap's top between removals.
    ///
    /// glibc's defaults give a heap's top back as soon as 128 KiB are free there. A 32 KiB
    /// ReadStdout left a thread's heap just past that line, so every call returned a page
    /// (madvise, with a TLB flush across the agent's threads) and faulted it in again on the
    /// next: 8-12 us of the agent's 70-80 us of CPU per call. Blocks under the threshold come
    /// from the heaps instead of a mapping of their own for the same reason (a mapping is
    /// unmapped, with its flush, at every free). False if glibc refused the values.
    @discardableResult
    public static func keepFreedMemoryUntilRelease() -> Bool {
        core_heap_set_thresholds(servingThreshold, servingThreshold) == 0
    }

    /// Bytes the heaps hold from the kernel, and bytes in blocks with a mapping of their own.
    public static func usage() -> (heap: Int, mapped: Int) {
        var heap = 0
        var mapped = 0
        core_heap_usage(&heap, &mapped)
        return (heap, mapped)
    }
}
