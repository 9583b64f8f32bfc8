import CLinuxShim
import Glibc
import OCISpec

/// The last steps before exec: user and groups, capabilities, cwd, umask, no_new_privs and
/// seccomp, the exec-target check, the start handshake, exec.
struct InitProcessSetup {
    let config: InitConfig
    var process: Process { config.process }

    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    func finish(socket: SyncSocket) throws {
        var env = process.env ?? []
        if !env.contains(where: { $0.hasPrefix("HOME=") }) {
            // As runc: HOME from the container's /etc/passwd, else "/".
            env.append("HOME=" + (Self.home(of: process.user.uid) ?? "/"))
        }
        let noNewPrivileges = process.noNewPrivileges ?? false
        try InitSecurity.prepareCapabilities(process.capabilities)
        try switchUser(process.user)
        try InitSecurity.applyCapabilities(process.capabilities, seccomp: config.spec.linux?.seccomp, noNewPrivileges: noNewPrivileges)
        try enterCwd(process.cwd)
        umask(mode_t(process.user.umask ?? 0o022))
        let args = process.args ?? []
        guard let first = args.first, !first.isEmpty else {
            throw InitFailure("exec", "process.args is empty")
        }
        let executable = try Self.lookPath(first, env: env)
        if noNewPrivileges {
            try InitFailure.check(engine_prctl(LinuxConstants.prSetNoNewPrivs, 1), "prctl LinuxConstants.prSetNoNewPrivs")
        }
        if config.mode == .create {
            try socket.send(SyncMessage(kind: .ready))
            let message = try socket.receive()
            guard message.kind == .start else {
                throw InitFailure("wait for start", "unexpected message \(message.kind.rawValue)")
            }
            // runc's moment: after the start signal, as the container's user with its
            // capabilities (and a seccomp filter applied before them), in its namespaces and
            // root, right before the exec; a failure fails start and this init exits.
            try InitHooks.run(.startContainer, hooks: HookKind.startContainer.hooks(in: config.spec.hooks), state: message.state)
        }
        if noNewPrivileges {
            // Last, so the filter constrains only the workload, not our handshake.
            try InitSecurity.applySeccomp(config.spec.linux?.seccomp)
        }
        // From here on a successful exec closes the socket: the agent's signal of success.
        try InitFailure.checkLibc(fcntl(ContainerInit.syncFD, F_SETFD, FD_CLOEXEC), "set sync socket CLOEXEC")
        let rc = Self.exec(executable, args: args, env: env)
        throw InitFailure("exec \(executable)", errno: -rc)
    }

    /// The home directory of `uid` in the container's /etc/passwd (read after pivot_root).
    static func home(of uid: UInt32) -> String? {
        guard let text = readText("/etc/passwd") else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 6, UInt32(fields[2]) == uid, !fields[5].isEmpty { return String(fields[5]) }
        }
        return nil
    }

    private func switchUser(_ user: User) throws {
        let groups = user.additionalGids ?? []
        // setgroups is refused in a user namespace whose setgroups file says deny; runc skips it then.
        let denied = readText("/proc/self/setgroups")?.hasPrefix("deny") ?? false
        if !denied {
            let rc = groups.withUnsafeBufferPointer { engine_setgroups(Int32($0.count), $0.baseAddress) }
            try InitFailure.check(rc, "setgroups \(groups)")
        }
        try InitFailure.check(engine_setresgid(user.gid), "setresgid \(user.gid)")
        try InitFailure.check(engine_setresuid(user.uid), "setresuid \(user.uid)")
    }

    private func enterCwd(_ cwd: String) throws {
        guard cwd.hasPrefix("/") else { throw InitFailure("chdir", "cwd '\(cwd)' is not absolute") }
        if chdir(cwd) != 0 {
            // runc creates a missing cwd.
            let first = errno
            guard first == ENOENT else { throw InitFailure("chdir \(cwd)", errno: first) }
            try Filesystem.mkdirAll(cwd, step: "create cwd \(cwd)")
            try InitFailure.checkLibc(chdir(cwd), "chdir \(cwd)")
        }
    }

    /// Resolves args[0] the way execvp does, using the container's PATH, so a missing binary
    /// fails create instead of start.
    static func lookPath(_ name: String, env: [String]) throws -> String {
        if name.contains("/") {
            try checkExecutable(name)
            return name
        }
        let pathValue = env.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? defaultPath
        var lastError: Int32 = ENOENT
        for dir in pathValue.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            var st = stat()
            guard stat(candidate, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR { lastError = EACCES; continue }
            if access(candidate, X_OK) == 0 { return candidate }
            lastError = errno
        }
        throw InitFailure("exec", errno: lastError, "executable file '\(name)' not found in $PATH (\(pathValue))")
    }

    private static func checkExecutable(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw InitFailure("exec", errno: errno, "executable \(path)") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw InitFailure("exec", errno: EACCES, "executable \(path) is a directory") }
        if access(path, X_OK) != 0 { throw InitFailure("exec", errno: errno, "executable \(path)") }
    }

    private static func exec(_ path: String, args: [String], env: [String]) -> Int32 {
        var cArgs = args.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        return cArgs.withUnsafeMutableBufferPointer { argv in
            cEnv.withUnsafeMutableBufferPointer { envp in
                engine_execve(path, argv.baseAddress, envp.baseAddress)
            }
        }
    }
}
