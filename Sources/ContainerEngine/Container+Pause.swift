import Cgroups

extension Container {
    /// Freezes every process of the container (cgroup freezer).
    public func pause() throws {
        guard status == .running || status == .created else {
            throw EngineError(.wrongState, "pause", container: id, "container is \(status.rawValue)")
        }
        guard let cgroup else { throw EngineError(.unsupported, "pause", container: id, "no cgroup freezer on this machine") }
        do {
            try cgroup.freeze(timeout: .seconds(10))
        } catch {
            throw fail("pause", EngineError(.system, "pause", container: id, "\(error)"))
        }
        setStatus(.paused)
    }

    /// Thaws a paused container.
    public func resume() throws {
        guard status == .paused else {
            throw EngineError(.wrongState, "resume", container: id, "container is \(status.rawValue), not paused")
        }
        guard let cgroup else { throw EngineError(.unsupported, "resume", container: id, "no cgroup freezer on this machine") }
        do {
            try cgroup.thaw()
        } catch {
            throw fail("resume", EngineError(.system, "resume", container: id, "\(error)"))
        }
        setStatus(.running)
    }
}
