import CLinuxShim
import Glibc
import OCISpec

/// Builds the container's filesystem view inside its new mount namespace (runc's
/// prepareRootfs / rustjail's init_rootfs): propagation, mounts, /dev, pivot_root, sysctls,
/// read-only and masked paths.
struct InitRootfs {
    let config: InitConfig
    var spec: Spec { config.spec }
    var rootfs: String { config.rootfs }

    /// Default device nodes every container gets (runc's DefaultSimpleDevices).
    static let defaultDevices: [LinuxDevice] = [
        LinuxDevice(path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0),
        LinuxDevice(path: "/dev/zero", type: "c", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0),
        LinuxDevice(path: "/dev/full", type: "c", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0),
        LinuxDevice(path: "/dev/tty", type: "c", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0),
        LinuxDevice(path: "/dev/random", type: "c", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0),
        LinuxDevice(path: "/dev/urandom", type: "c", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0),
    ]

    /// Everything up to and including pivot_root and the read-only root; `beforePivot` runs
    /// once the mounts and devices are in place (the create-time hooks' moment).
    func setUp(beforePivot: () throws -> Void) throws {
        let propagation = try rootPropagation()
        try InitFailure.check(engine_mount(nil, "/", nil, propagation, nil), "make / \(propagationName) recursively")
        try InitFailure.check(engine_mount(rootfs, rootfs, nil, UInt(MS_BIND | MS_REC), nil), "bind mount rootfs \(rootfs)")
        let mounts = spec.mounts ?? []
        for mount in mounts {
            try mountEntry(mount)
        }
        let devIsBound = mounts.contains { $0.destination.trimmingSlashes == "dev" && MountOptions($0.options ?? []).isBind }
        if !devIsBound {
            try createDevices(Self.defaultDevices + (spec.linux?.devices ?? []))
            try createDevSymlinks(hasDevpts: mounts.contains { $0.destination.trimmingSlashes == "dev/pts" })
        } else {
            try createDevices(spec.linux?.devices ?? [])
        }
        if config.process.terminal == true {
            try bindConsole()
        }
        try beforePivot()
        try pivotRoot()
        if let name = spec.linux?.rootfsPropagation, let flag = MountOptions.propagationFlags[name] {
            try InitFailure.check(engine_mount(nil, "/", nil, flag, nil), "set rootfsPropagation \(name)")
        }
        // runc's order: sysctls while /proc/sys is still writable, then read-only paths, then
        // masked paths (so the mount table matches), then the read-only root.
        try InitSecurity.applySysctls(spec.linux?.sysctl ?? [:])
        for path in spec.linux?.readonlyPaths ?? [] {
            try readonlyPath(path)
        }
        for path in spec.linux?.maskedPaths ?? [] {
            try maskPath(path)
        }
        if spec.root?.readonly == true {
            try remountReadonly("/", recursive: false)
        }
    }

    private var propagationName: String { spec.linux?.rootfsPropagation ?? "rslave" }

    private func rootPropagation() throws -> UInt {
        guard let name = spec.linux?.rootfsPropagation, !name.isEmpty else { return UInt(MS_SLAVE | MS_REC) }
        guard let flag = MountOptions.propagationFlags[name] else {
            throw InitFailure("rootfsPropagation", "unknown value '\(name)'")
        }
        // The rootfs mount must not be shared for pivot_root; runc makes the parent private.
        return flag | UInt(MS_REC)
    }

    // MARK: mounts

    private func mountEntry(_ mount: Mount) throws {
        let options = MountOptions(mount.options ?? [])
        let type = mount.type ?? ""
        let step = "mount \(type.isEmpty ? "bind" : type) on \(mount.destination)"
        let relative = try resolved(mount.destination, step: step)
        guard !relative.isEmpty else {
            throw InitFailure("mount \(mount.destination)", "destination is the container root")
        }
        // Every mount call targets a descriptor opened inside the root (RootedTarget); after a
        // mount, the path is opened again so that remounts and propagation changes reach the
        // new mount and not the directory beneath it.
        let directory: Bool
        if type == "bind" || options.isBind {
            let source = mount.source ?? ""
            var st = stat()
            guard stat(source, &st) == 0 else { throw InitFailure(step, errno: errno, "source \(source)") }
            directory = (st.st_mode & S_IFMT) == S_IFDIR
            let target = try RootedTarget(root: rootfs, path: relative, directory: directory, step: step)
            defer { target.close() }
            let bindFlags = options.flags & UInt(MS_BIND | MS_REC)
            try InitFailure.check(engine_mount(source, target.procPath, nil, bindFlags, nil), step)
            // Bind mounts ignore other flags until a remount applies them.
            let rest = options.flags & ~UInt(MS_BIND | MS_REC | MS_REMOUNT)
            if rest != 0 {
                let mounted = try RootedTarget(root: rootfs, path: relative, directory: directory, step: step)
                defer { mounted.close() }
                try InitFailure.check(
                    engine_mount(nil, mounted.procPath, nil, rest | preservedFlags(mounted.procPath) | UInt(MS_BIND | MS_REMOUNT), nil),
                    "\(step): remount with options")
            }
        } else if type == "cgroup" || type == "cgroup2" {
            directory = true
            try RootedTarget(root: rootfs, path: relative, directory: true, step: step).close()
            // Mounted by path: the cgroup tree is built below the tmpfs mounted here, inside the
            // container's own /sys, which no other container shares.
            try mountCgroup(rootfs + "/" + relative, options: options, step: step)
        } else {
            directory = true
            let target = try RootedTarget(root: rootfs, path: relative, directory: true, step: step)
            defer { target.close() }
            let source = mount.source ?? type
            let data = options.dataString
            try InitFailure.check(
                engine_mount(source, target.procPath, type, options.flags, data.isEmpty ? nil : data), step)
        }
        if !options.propagation.isEmpty {
            let mounted = try RootedTarget(root: rootfs, path: relative, directory: directory, step: step)
            defer { mounted.close() }
            for flag in options.propagation {
                try InitFailure.check(engine_mount(nil, mounted.procPath, nil, flag, nil), "\(step): set propagation")
            }
        }
    }

    /// `path` resolved inside the root, relative to it; a symlink loop fails `step`.
    private func resolved(_ path: String, step: String) throws -> String {
        do {
            return try SecureJoin.resolve(root: rootfs, path)
        } catch {
            throw InitFailure(step, "\(error)")
        }
    }

    /// `rootfs` + `path` resolved inside it; a symlink loop fails `step`.
    private func joined(_ path: String, step: String) throws -> String {
        do {
            return try SecureJoin.join(root: rootfs, path)
        } catch {
            throw InitFailure(step, "\(error)")
        }
    }

    /// cgroup2 when the hierarchy is unified only; otherwise the container's own directory of
    /// each v1 controller, bind-mounted under a tmpfs as runc does without a cgroup namespace.
    /// Like runc's mountCgroupV1, only the per-controller mounts take `ro`; the tmpfs stays rw.
    private func mountCgroup(_ destination: String, options: MountOptions, step: String) throws {
        let readonly = options.flags & UInt(MS_RDONLY)
        let base = UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC)
        if config.cgroupUnifiedOnly {
            try InitFailure.check(engine_mount("cgroup2", destination, "cgroup2", base | readonly, nil), step)
            return
        }
        try InitFailure.check(engine_mount("tmpfs", destination, "tmpfs", base, "mode=755"), "\(step): tmpfs")
        let ownPaths = Self.ownCgroupPaths()
        for (hierarchy, controllers) in Self.v1Hierarchies() {
            let target = destination + "/" + hierarchy
            // Our own cgroup in each hierarchy (the agent put us there), as runc binds it.
            let key = Set(controllers.split(separator: ",").map(String.init))
            let ownPath = ownPaths.first { $0.0 == key }?.1 ?? config.cgroupPath
            let source = "/sys/fs/cgroup/" + hierarchy + (ownPath == "/" ? "" : ownPath)
            if !config.unshareCgroup && !FileStat.isDirectory(source) { continue }
            try makeTarget(target, directory: true, step: step)
            if config.unshareCgroup {
                let rc = engine_mount("cgroup", target, hierarchy == "unified" ? "cgroup2" : "cgroup",
                                      base | readonly, hierarchy == "unified" ? nil : controllers)
                try InitFailure.check(rc, "\(step): \(hierarchy)")
            } else {
                try InitFailure.check(engine_mount(source, target, nil, UInt(MS_BIND | MS_REC), nil), "\(step): bind \(source)")
                if readonly != 0 {
                    try InitFailure.check(engine_mount(nil, target, nil, base | readonly | UInt(MS_BIND | MS_REMOUNT), nil), "\(step): ro \(hierarchy)")
                }
            }
        }
    }

    /// /proc/self/cgroup as (controller set, path); the v2 line has the empty set.
    static func ownCgroupPaths() -> [(Set<String>, String)] {
        guard let text = readText("/proc/self/cgroup") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            return (Set(parts[1].split(separator: ",").map(String.init)), String(parts[2]))
        }
    }

    /// The agent's cgroup mounts: directory name under /sys/fs/cgroup -> mount options.
    static func v1Hierarchies() -> [(String, String)] {
        guard let text = readText("/proc/self/mountinfo") else { return [] }
        var out: [(String, String)] = []
        for line in text.split(separator: "\n") {
            // The optional fields end at a lone "-" (a plain split rather than Foundation's
            // components(separatedBy:), which is slow in a fresh process).
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-") else { continue }
            let left = Array(fields[..<dash])
            let right = Array(fields[(dash + 1)...])
            guard left.count >= 5, right.count >= 3 else { continue }
            let mountPoint = String(left[4])
            guard mountPoint.hasPrefix("/sys/fs/cgroup/") else { continue }
            let name = String(mountPoint.dropFirst("/sys/fs/cgroup/".count))
            guard !name.contains("/") else { continue }
            // The hybrid layout's cgroup2 hierarchy is left out, as runc does.
            if right[0] == "cgroup" {
                let ignored: Set<Substring> = ["rw", "ro", "relatime", "nosuid", "nodev", "noexec", "xattr", "clone_children", "noprefix", "cpuset_v2_mode"]
                let controllers = right[2].split(separator: ",").filter { !ignored.contains($0) && !$0.hasPrefix("release_agent=") }
                out.append((name, controllers.joined(separator: ",")))
            }
        }
        return out
    }

    private func makeTarget(_ path: String, directory: Bool, step: String) throws {
        if directory {
            try Filesystem.mkdirAll(path, step: step)
        } else {
            let parent = path.parentPath
            try Filesystem.mkdirAll(parent, step: step)
            let fd = open(path, O_CREAT | O_CLOEXEC | O_WRONLY, 0o644)
            if fd < 0 && errno != EISDIR { throw InitFailure(step, errno: errno, "create \(path)") }
            if fd >= 0 { close(fd) }
        }
    }

    /// Flags a bind remount must keep, or the kernel refuses it in a user namespace.
    private func preservedFlags(_ path: String) -> UInt {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return 0 }
        var flags: UInt = 0
        // ST_* values (glibc exposes them as an enum Swift does not import).
        let f = UInt(fs.f_flag)
        if f & 2 != 0 { flags |= UInt(MS_NOSUID) }
        if f & 4 != 0 { flags |= UInt(MS_NODEV) }
        if f & 8 != 0 { flags |= UInt(MS_NOEXEC) }
        if f & 1024 != 0 { flags |= UInt(MS_NOATIME) }
        if f & 2048 != 0 { flags |= UInt(MS_NODIRATIME) }
        if f & 4096 != 0 { flags |= UInt(MS_RELATIME) }
        return flags
    }

    // MARK: /dev

    private func createDevices(_ devices: [LinuxDevice]) throws {
        for device in devices {
            let target = try joined(device.path, step: "device \(device.path)")
            let step = "create device \(device.path)"
            try Filesystem.mkdirAll(target.parentPath, step: step)
            let kind: UInt32
            switch device.type {
            case "c", "u": kind = UInt32(S_IFCHR)
            case "b": kind = UInt32(S_IFBLK)
            case "p": kind = UInt32(S_IFIFO)
            default: throw InitFailure(step, "unknown device type '\(device.type)'")
            }
            guard device.major >= 0, device.minor >= 0, device.major <= Int64(UInt32.max), device.minor <= Int64(UInt32.max) else {
                throw InitFailure(step, "invalid major/minor \(device.major):\(device.minor)")
            }
            _ = unlink(target)
            if config.inNewUserNamespace {
                // mknod is not allowed in a user namespace: bind the agent's node instead.
                let fd = open(target, O_CREAT | O_CLOEXEC | O_WRONLY, 0o644)
                if fd >= 0 { close(fd) }
                try InitFailure.check(engine_mount(device.path, target, nil, UInt(MS_BIND), nil), step + " (bind)")
                continue
            }
            let mode = kind | ((device.fileMode ?? 0o666) & 0o7777)
            try InitFailure.check(engine_mknod(target, mode, UInt32(device.major), UInt32(device.minor)), step)
            // mknod applies the umask; the spec's mode is exact.
            try InitFailure.checkLibc(chmod(target, mode_t(mode & 0o7777)), step + ": chmod")
            try InitFailure.checkLibc(chown(target, device.uid ?? 0, device.gid ?? 0), step + ": chown")
        }
    }

    private func createDevSymlinks(hasDevpts: Bool) throws {
        var links = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                     ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]
        if FileStat.exists("/proc/kcore") { links.append(("/proc/kcore", "/dev/core")) }
        if hasDevpts { links.append(("pts/ptmx", "/dev/ptmx")) }
        for (target, link) in links {
            let path = try joined(link, step: "symlink \(link)")
            if link == "/dev/ptmx" { _ = unlink(path) }
            if symlink(target, path) != 0 && errno != EEXIST {
                throw InitFailure("symlink \(link) -> \(target)", errno: errno)
            }
        }
    }

    /// The PTY slave (our stdin) bind-mounted on /dev/console, as runc does. The fd belongs
    /// to the agent's mount namespace, which a bind refuses: bind its path in ours instead.
    private func bindConsole() throws {
        guard let slave = SecureJoin.readLink("/proc/self/fd/0"), slave.hasPrefix("/dev/") else {
            throw InitFailure("bind /dev/console", "stdin is not a terminal device")
        }
        let target = try joined("/dev/console", step: "bind /dev/console")
        _ = unlink(target)
        let fd = open(target, O_CREAT | O_CLOEXEC | O_WRONLY, 0o600)
        if fd >= 0 { close(fd) }
        try InitFailure.check(engine_mount(slave, target, nil, UInt(MS_BIND), nil), "bind \(slave) on /dev/console")
    }

    // MARK: pivot

    private func pivotRoot() throws {
        let oldRoot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC)
        guard oldRoot >= 0 else { throw InitFailure("open /", errno: errno) }
        defer { close(oldRoot) }
        let newRoot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC)
        guard newRoot >= 0 else { throw InitFailure("open rootfs \(rootfs)", errno: errno) }
        defer { close(newRoot) }
        try InitFailure.checkLibc(fchdir(newRoot), "chdir rootfs")
        let rc = engine_pivot_root(".", ".")
        if rc == -EINVAL {
            // pivot_root refuses a root on the initramfs. A chroot instead would let a container
            // with CAP_SYS_CHROOT escape to the guest's root, so there is no fallback: the agent
            // as PID 1 puts a bind mount of an initramfs root over it first (core_initramfs_root.c).
            throw InitFailure(
                "pivot_root \(rootfs): the agent's root cannot be pivoted (an initramfs root with no bind "
                    + "mount over it); refusing to fall back to chroot", errno: EINVAL)
        } else {
            try InitFailure.check(rc, "pivot_root \(rootfs)")
            try InitFailure.checkLibc(fchdir(oldRoot), "chdir old root")
            // The old root must not propagate its unmount back to the agent's namespace.
            try InitFailure.check(engine_mount(nil, ".", nil, UInt(MS_SLAVE | MS_REC), nil), "make old root rslave")
            try InitFailure.checkLibc(umount2(".", Int32(MNT_DETACH)), "detach old root")
        }
        try InitFailure.checkLibc(chdir("/"), "chdir /")
    }

    // MARK: after pivot

    private func maskPath(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw InitFailure("mask \(path)", errno: errno)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            try InitFailure.check(engine_mount("tmpfs", path, "tmpfs", UInt(MS_RDONLY), nil), "mask \(path)")
        } else {
            try InitFailure.check(engine_mount("/dev/null", path, nil, UInt(MS_BIND), nil), "mask \(path)")
        }
    }

    private func readonlyPath(_ path: String) throws {
        let rc = engine_mount(path, path, nil, UInt(MS_BIND | MS_REC), nil)
        if rc == -ENOENT { return }
        try InitFailure.check(rc, "bind readonly path \(path)")
        try remountReadonly(path, recursive: true)
    }

    private func remountReadonly(_ path: String, recursive: Bool) throws {
        var flags = UInt(MS_BIND | MS_REMOUNT | MS_RDONLY) | preservedFlags(path)
        if recursive { flags |= UInt(MS_REC) }
        try InitFailure.check(engine_mount(nil, path, nil, flags, nil), "remount \(path) read-only")
    }
}

extension String {
    var trimmingSlashes: String {
        split(separator: "/").joined(separator: "/")
    }

    var parentPath: String {
        guard let index = lastIndex(of: "/") else { return "." }
        return index == startIndex ? "/" : String(self[..<index])
    }
}
