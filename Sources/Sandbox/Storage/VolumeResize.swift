import LinuxKit

/// ResizeVolume (upstream never implemented it): grows the filesystem of a mounted block
/// volume online after the host grew the disk. The volume's mount is looked up in the mount
/// table; a SCSI disk is told to re-read its capacity first (virtio-blk learns it by itself);
/// then `resize2fs <device> [<KiB>K]` for ext2/3/4 or `xfs_growfs [-D <blocks>] <mount point>`
/// for xfs. Shrinking is refused: neither tool shrinks a mounted filesystem.
public struct VolumeResize: Sendable {
    /// The mount behind a volume path.
    public struct Mount: Sendable, Equatable {
        public var mountPoint: String
        public var source: String
        public var fsType: String
    }

    let runner: any CommandRunner
    let paths: DevicePaths

    public init(runner: any CommandRunner, paths: DevicePaths = DevicePaths()) {
        self.runner = runner
        self.paths = paths
    }

    /// Grows the filesystem mounted at `path` to `size` bytes (0: to fill its device).
    public func grow(path: String, size: UInt64, context: StorageContext) async throws(SandboxError) -> Mount {
        let what = "resize volume \(path)"
        let table: String
        do {
            table = try context.system.readFile(context.paths.mountInfo)
        } catch {
            throw SandboxError.system(what + ": read the mount table", error)
        }
        guard let mount = Self.mount(at: path, in: table) else {
            throw SandboxError(.invalidArgument, "\(what): no filesystem is mounted there")
        }
        guard mount.source.hasPrefix("/dev/") else {
            throw SandboxError(.invalidArgument, "\(what): mounted from \(mount.source), not a block device")
        }
        let name = DeviceLocator.lastComponent(mount.source)
        if name.hasPrefix("sd") {
            // A SCSI disk keeps its old capacity until asked to rescan.
            let rescan = paths.sysfs + "/class/block/" + name + "/device/rescan"
            do {
                try Sysfs.write("1", to: rescan)
            } catch {
                context.logger.warning("SCSI rescan before resize failed", metadata: ["path": "\(rescan)", "error": "\(error)"])
            }
        }
        switch mount.fsType {
        case "ext2", "ext3", "ext4":
            var arguments = ["resize2fs", mount.source]
            if size > 0 {
                arguments.append("\(size / 1024)K")
            }
            try await run(arguments, what: what)
        case "xfs":
            var arguments = ["xfs_growfs"]
            if size > 0 {
                let blockSize: UInt64
                do {
                    blockSize = try context.files.fileSystemStats(mount.mountPoint).blockSize
                } catch {
                    throw SandboxError.system(what + ": statfs", error)
                }
                guard blockSize > 0 else { throw SandboxError(.system, "\(what): statfs reports block size 0") }
                arguments += ["-D", "\(size / blockSize)"]
            }
            arguments.append(mount.mountPoint)
            try await run(arguments, what: what)
        default:
            throw SandboxError(.invalidArgument, "\(what): filesystem \(mount.fsType) cannot be grown online by this agent (ext4, xfs)")
        }
        context.logger.info("volume grown", metadata: [
            "path": "\(path)", "device": "\(mount.source)", "fstype": "\(mount.fsType)", "size": "\(size)",
        ])
        return mount
    }

    func run(_ arguments: [String], what: String) async throws(SandboxError) {
        guard let tool = arguments.first else { return }
        let result = try await runner.run(tool, arguments: Array(arguments.dropFirst()))
        guard result.status == 0 else {
            throw SandboxError(.system, "\(what): \(arguments.joined(separator: " ")) exited with \(result.status): \(result.output)")
        }
    }

    /// The last mount at `path` in /proc/self/mountinfo text (the one visible there).
    static func mount(at path: String, in table: String) -> Mount? {
        let wanted = MountTable.normalized(path)
        var found: Mount?
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4, let separator = fields.firstIndex(of: "-"), separator + 2 < fields.count else { continue }
            let mountPoint = MountTable.unescape(fields[4])
            guard MountTable.normalized(mountPoint) == wanted else { continue }
            found = Mount(mountPoint: mountPoint, source: MountTable.unescape(fields[separator + 2]),
                          fsType: String(fields[separator + 1]))
        }
        return found
    }
}
