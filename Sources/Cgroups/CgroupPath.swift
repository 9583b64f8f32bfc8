/// Resolves an OCI `linux.cgroupsPath` to a path inside each hierarchy (always starting with "/").
public enum CgroupPath {
    /// Empty -> "/<containerID>" (upstream's default); "slice:prefix:name" (systemd form) ->
    /// "/slice/prefix/name" as upstream's cgroupfs driver does; absolute -> itself; relative ->
    /// under `parent`. ".." may not climb above the hierarchy root.
    public static func resolve(cgroupsPath: String, containerID: String, parent: String = "/") throws -> String {
        guard !cgroupsPath.utf8.contains(0), !containerID.utf8.contains(0), !parent.utf8.contains(0) else {
            throw CgroupError.invalidPath("NUL byte in cgroups path for container \(containerID)")
        }
        let raw: String
        if cgroupsPath.isEmpty {
            guard !containerID.isEmpty, !containerID.contains("/"), containerID != ".", containerID != ".." else {
                throw CgroupError.invalidPath("cannot derive a cgroup from container id '\(containerID)'")
            }
            raw = "/" + containerID
        } else if !cgroupsPath.contains("/") && cgroupsPath.contains(":") {
            raw = "/" + cgroupsPath.split(separator: ":", omittingEmptySubsequences: true).joined(separator: "/")
        } else if cgroupsPath.hasPrefix("/") {
            raw = cgroupsPath
        } else {
            raw = parent + "/" + cgroupsPath
        }
        return try clean(raw, original: cgroupsPath)
    }

    /// Collapses "//", "." and ".."; refuses paths that leave the root.
    static func clean(_ path: String, original: String) throws -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/") {
            switch component {
            case ".": continue
            case "..":
                guard !components.isEmpty else {
                    throw CgroupError.invalidPath("'\(original)' escapes the cgroup root")
                }
                components.removeLast()
            default: components.append(component)
            }
        }
        guard !components.isEmpty else {
            throw CgroupError.invalidPath("'\(original)' resolves to the cgroup root, which cannot be a container's")
        }
        return "/" + components.joined(separator: "/")
    }
}
