import Cgroups
import OCISpec

extension Container {
    /// Applies new resource limits to the container's cgroup.
    public func update(resources: LinuxResources) throws {
        do {
            try ResourceValidation.validate(resources, field: "resources")
        } catch {
            throw EngineError(.invalidSpec, "update", container: id, error.description)
        }
        guard let cgroup else { throw EngineError(.unsupported, "update", container: id, "no cgroups on this machine") }
        do {
            try cgroup.apply(resources)
        } catch {
            throw fail("update", EngineError(.system, "update resources", container: id, "\(error)"))
        }
    }

    /// After CPUs were hot-added (OnlineCPUMem): lets the container use them, within the cpus
    /// its spec asked for, as upstream's agent does (CgroupManager.refreshCpuset).
    public func refreshCpuset() throws {
        guard let cgroup else { return }
        do {
            try cgroup.refreshCpuset(containerCPUs: spec.linux?.resources?.cpu?.cpus)
        } catch {
            throw EngineError(.system, "refresh cpuset", container: id, "\(error)")
        }
    }
}
