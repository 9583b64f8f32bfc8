import LinuxKit

/// GetDiagnosticData{log_type: termination_log} (used with shared_fs=none, where the host
/// cannot read the file): the container's io.kubernetes.container.terminationMessagePath
/// annotation names a mount destination; the guest source file of that mount is returned,
/// at most 4096 bytes (kubelet's limit), lossy UTF-8; a missing file is "".
public enum TerminationLog {
    public static let annotation = "io.kubernetes.container.terminationMessagePath"
    public static let limit = 4096

    /// `mounts` are (destination, source) pairs of the container's spec.
    public static func read(annotations: [String: String], mounts: [(destination: String, source: String)],
                            files: any StorageSystemCalls, containerID: String) throws(SandboxError) -> String {
        guard let path = annotations[annotation], !path.isEmpty else {
            throw SandboxError(.failedPrecondition, "container \(containerID) has no \(annotation) annotation")
        }
        let wanted = MountTable.normalized(path)
        guard let mount = mounts.first(where: { MountTable.normalized($0.destination) == wanted }) else {
            throw SandboxError(.failedPrecondition, "container \(containerID) has no mount at its termination message path \(path)")
        }
        guard files.status(mount.source, followLinks: true) != nil else { return "" }
        do {
            return String(decoding: try files.readBytes(mount.source, limit: limit), as: UTF8.self)
        } catch {
            throw SandboxError.system("read termination log of container \(containerID)", error)
        }
    }
}
