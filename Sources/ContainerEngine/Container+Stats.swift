import Cgroups

extension Container {
    /// Current cgroup usage.
    public func stats() throws -> CgroupStats {
        guard let cgroup else { throw EngineError(.unsupported, "stats", container: id, "no cgroups on this machine") }
        do {
            return try cgroup.stats()
        } catch {
            throw fail("stats", EngineError(.system, "stats", container: id, "\(error)"))
        }
    }

    /// OOM events of the container's memory cgroup.
    public func oomEvents() throws -> AsyncStream<OOMEvent> {
        guard let cgroup else { throw EngineError(.unsupported, "oom events", container: id, "no cgroups on this machine") }
        do {
            return try cgroup.oomEvents()
        } catch {
            throw EngineError(.system, "watch oom events", container: id, "\(error)")
        }
    }
}
