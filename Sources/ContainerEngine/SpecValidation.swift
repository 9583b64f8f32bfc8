#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import LinuxKit
import OCISpec

/// Checks a spec before anything is created, so mistakes answer with the field at fault and
/// leave nothing behind.
enum SpecValidation {
    static let namespaceTypes: Set<String> = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup"]
    static let specialMountTypes: Set<String> = ["bind", "cgroup", "cgroup2"]

    static func validate(id: String, spec: Spec, rootfs: String) throws {
        func bad(_ message: String) -> EngineError { EngineError(.invalidSpec, "create", container: id, message) }
        try validateID(id)
        guard let process = spec.process else { throw bad("spec.process is missing") }
        try validateProcess(process, id: id, operation: "create")
        guard spec.root != nil else { throw bad("spec.root is missing") }
        var status = stat()
        guard stat(rootfs, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw bad("spec.root.path: rootfs \(rootfs) does not exist or is not a directory")
        }
        let known = knownFilesystems()
        for (index, mount) in (spec.mounts ?? []).enumerated() {
            guard mount.destination.hasPrefix("/") else {
                throw bad("spec.mounts[\(index)].destination '\(mount.destination)' is not absolute")
            }
            let options = MountOptions(mount.options ?? [])
            let type = mount.type ?? ""
            if type.isEmpty && !options.isBind {
                throw bad("spec.mounts[\(index)] (\(mount.destination)): no type and not a bind mount")
            }
            if !type.isEmpty && !specialMountTypes.contains(type) && !options.isBind && !known.contains(type) {
                throw bad("spec.mounts[\(index)].type '\(type)' (\(mount.destination)) is not a filesystem this kernel knows")
            }
            if type == "bind" || options.isBind {
                guard let source = mount.source, FileManager.default.fileExists(atPath: source) else {
                    throw bad("spec.mounts[\(index)].source '\(mount.source ?? "")' (\(mount.destination)) does not exist")
                }
            }
        }
        var seen: Set<String> = []
        for namespace in spec.linux?.namespaces ?? [] {
            guard namespaceTypes.contains(namespace.type) else {
                throw bad("spec.linux.namespaces: unknown type '\(namespace.type)'")
            }
            guard seen.insert(namespace.type).inserted else {
                throw bad("spec.linux.namespaces: '\(namespace.type)' appears twice")
            }
            if let path = namespace.path, !path.isEmpty, !FileManager.default.fileExists(atPath: path) {
                throw bad("spec.linux.namespaces: \(namespace.type) path \(path) does not exist")
            }
        }
        guard seen.contains("mount") else { throw bad("spec.linux.namespaces: a mount namespace is required") }
        let hasUserNS = seen.contains("user")
        if hasUserNS && (spec.linux?.uidMappings ?? []).isEmpty && (spec.linux?.namespaces?.first { $0.type == "user" }?.path ?? "").isEmpty {
            throw bad("spec.linux.uidMappings: a new user namespace needs uid and gid mappings")
        }
        for (index, device) in (spec.linux?.devices ?? []).enumerated() {
            guard ["c", "b", "u", "p"].contains(device.type) else {
                throw bad("spec.linux.devices[\(index)].type '\(device.type)' is not c, b, u or p")
            }
            guard device.path.hasPrefix("/dev/") else {
                throw bad("spec.linux.devices[\(index)].path '\(device.path)' is not under /dev")
            }
            do {
                try ResourceValidation.checkDeviceNumbers(
                    major: device.major, minor: device.minor, wildcardAllowed: false, field: "spec.linux.devices[\(index)]")
            } catch {
                throw bad(error.description)
            }
        }
        if let resources = spec.linux?.resources {
            do {
                try ResourceValidation.validate(resources, field: "spec.linux.resources")
            } catch {
                throw bad(error.description)
            }
        }
        try validateHooks(spec.hooks, id: id)
        if let propagation = spec.linux?.rootfsPropagation, !propagation.isEmpty,
           MountOptions.propagationFlags[propagation] == nil {
            throw bad("spec.linux.rootfsPropagation '\(propagation)' is unknown")
        }
    }

    static func validateProcess(_ process: OCISpec.Process, id: String, operation: String) throws {
        func bad(_ message: String) -> EngineError { EngineError(.invalidSpec, operation, container: id, message) }
        guard let first = process.args?.first, !first.isEmpty else { throw bad("process.args is empty") }
        guard process.cwd.hasPrefix("/") else { throw bad("process.cwd '\(process.cwd)' is not absolute") }
        for limit in process.rlimits ?? [] {
            guard Rlimits.resource(limit.type) != nil else { throw bad("process.rlimits: unknown type '\(limit.type)'") }
            guard limit.soft <= limit.hard else { throw bad("process.rlimits: \(limit.type) soft \(limit.soft) > hard \(limit.hard)") }
            // The kernel refuses an open-file limit above fs.nr_open even for root (EPERM).
            if limit.type == "RLIMIT_NOFILE", let ceiling = nrOpen(), limit.hard > ceiling {
                throw bad("process.rlimits: RLIMIT_NOFILE hard \(limit.hard) is above the kernel's fs.nr_open \(ceiling)")
            }
        }
        for entry in process.env ?? [] where !entry.contains("=") {
            throw bad("process.env entry '\(entry)' has no '='")
        }
        if let adj = process.oomScoreAdj, adj < -1000 || adj > 1000 {
            throw bad("process.oomScoreAdj \(adj) is outside -1000...1000")
        }
    }

    /// The longest hook timeout accepted: a deadline further away would overflow the clock's
    /// arithmetic (a request once sent Int64.max), and no hook legitimately needs a year.
    static let maxHookTimeoutSeconds = 365 * 24 * 3600

    static func validateHooks(_ hooks: Hooks?, id: String) throws {
        guard let hooks else { return }
        let lists: [(String, [Hook]?)] = [
            ("prestart", hooks.prestart), ("createRuntime", hooks.createRuntime), ("createContainer", hooks.createContainer),
            ("startContainer", hooks.startContainer), ("poststart", hooks.poststart), ("poststop", hooks.poststop),
        ]
        for (kind, list) in lists {
            for (index, hook) in (list ?? []).enumerated() {
                if let timeout = hook.timeout, timeout <= 0 || timeout > maxHookTimeoutSeconds {
                    throw EngineError(
                        .invalidSpec, "create", container: id,
                        "spec.hooks.\(kind)[\(index)].timeout \(timeout) is outside 1...\(maxHookTimeoutSeconds) seconds")
                }
            }
        }
    }

    /// fs.nr_open, the ceiling of RLIMIT_NOFILE; nil when it cannot be read (the kernel then decides).
    static func nrOpen() -> UInt64? {
        guard let text = try? WholeFile.text("/proc/sys/fs/nr_open") else { return nil }
        return UInt64(text.trimmingWhitespace())
    }

    /// Container ids become paths (cgroups, bundles): keep them to a safe alphabet.
    static func validateID(_ id: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
        guard !id.isEmpty, id.count <= 1024, id.allSatisfy({ allowed.contains($0) }), id != ".", id != ".." else {
            throw EngineError(.invalidSpec, "create", container: id, "container id '\(id)' must be non-empty [A-Za-z0-9_.-]")
        }
    }

    static func knownFilesystems() -> Set<String> {
        guard let text = try? WholeFile.text("/proc/filesystems") else { return [] }
        return Set(text.split(separator: "\n").compactMap { $0.split(separator: "\t").last.map(String.init) })
    }
}
