import Cgroups
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import OCISpec

extension Container {
    /// Creates a container from a spec and starts its init, which waits for `start`.
    ///
    /// - Parameters:
    ///   - bundle: the bundle directory (a relative root.path is taken from here).
    ///   - rootfs: overrides root.path (the agent's /run/kata-containers/<id>/rootfs).
    ///   - guestHooks: the sandbox's guest hooks, run after the spec's hooks of the same type.
    public static func create(
        id: String, bundle: String, spec original: Spec, rootfs: String? = nil, guestHooks: Hooks? = nil, engine: Engine
    ) async throws -> Container {
        // Merged into the spec (as upstream's append_guest_hooks does) so that every later
        // step (startContainer, poststart, poststop) sees the same hook list.
        var spec = original
        if let guestHooks, guestHooks != Hooks() {
            spec.hooks = HookOrdering.merged(spec: spec.hooks, guest: guestHooks)
        }
        let rootPath = rootfs ?? spec.root.map { $0.path.hasPrefix("/") ? $0.path : bundle + "/" + $0.path } ?? ""
        try SpecValidation.validate(id: id, spec: spec, rootfs: rootPath)
        try InitSecurityCheck.validate(spec, id: id)
        let cgroupPath: String
        do {
            cgroupPath = try CgroupPath.resolve(cgroupsPath: spec.linux?.cgroupsPath ?? "", containerID: id)
        } catch {
            throw EngineError(.invalidSpec, "create", container: id, "spec.linux.cgroupsPath: \(error)")
        }
        let cgroup = engine.cgroupLayout.map { CgroupManagers.make(layout: $0, path: cgroupPath) }
        let container = Container(id: id, bundle: bundle, spec: spec, rootfs: rootPath, engine: engine, cgroup: cgroup)
        try engine.reserve(id, container)
        do {
            // prestart/createRuntime run from InitLauncher when the init asks (before its
            // pivot_root), createContainer in the init itself: see ContainerInit.runCreateHooks.
            try await container.createInit(cgroupPath: cgroupPath)
        } catch {
            if let pid = container.pid {
                try? engine.reaper.signal(pid, SIGKILL)
                _ = try? await container.process("").wait()
                engine.reaper.forget(pid)
            }
            await container.cleanUpFailedCreate()
            engine.unregister(id)
            throw container.fail("create", error)
        }
        container.logger.info("container created", metadata: ["pid": "\(container.pid ?? 0)"])
        return container
    }

    private func createInit(cgroupPath: String) async throws {
        guard let process = spec.process else { throw EngineError(.invalidSpec, "create", container: id, "spec.process is missing") }
        if let cgroup {
            do {
                try cgroup.create()
                try cgroup.apply(Self.resourcesWithDefaultDevices(spec))
            } catch {
                throw EngineError(.system, "create cgroup", container: id, "\(cgroupPath): \(error)")
            }
        }
        if spec.process?.apparmorProfile != nil || spec.process?.selinuxLabel != nil {
            logger.debug("apparmor/selinux settings ignored in the guest")
        }
        let plan = NamespacePlan(spec: spec)
        let stdio = try ProcessStdio(
            terminal: process.terminal ?? false, pipeSize: engine.options.pipeSize,
            rows: UInt16(clamping: process.consoleSize?.height ?? 0), cols: UInt16(clamping: process.consoleSize?.width ?? 0))
        let config = InitConfig(
            mode: .create, containerID: id, process: process, spec: spec, rootfs: rootfs,
            joinNamespaces: plan.join, inNewUserNamespace: plan.cloneFlags & LinuxConstants.cloneNewUser != 0,
            unshareCgroup: plan.unshareCgroup, newPidNamespace: plan.cloneFlags & LinuxConstants.cloneNewPID != 0,
            cgroupUnifiedOnly: engine.cgroupLayout?.mode == .v2, cgroupPath: cgroupPath)
        let request = InitLauncher.Request(
            config: config, cloneFlags: plan.cloneFlags, pidNamespacePath: plan.pidPath,
            uidMappings: spec.linux?.uidMappings ?? [], gidMappings: spec.linux?.gidMappings ?? [], cgroup: cgroup,
            createState: hookState(status: "creating", pid: nil),
            runtimeHooks: { [self] pid in
                // runc runs both with the init's pid and status "creating", in this order.
                let state = hookState(status: "creating", pid: pid)
                try await runHooks(.prestart, state: state)
                try await runHooks(.createRuntime, state: state)
            },
            hookBudgetMilliseconds: InitLauncher.budget(HookKind.createContainer.hooks(in: spec.hooks)))
        let launched: InitLauncher.Launched
        do {
            launched = try await InitLauncher(engine: engine).launch(request, stdio: stdio)
        } catch {
            stdio.release()
            stdio.processExited()
            throw error
        }
        let initProcess = ContainerProcess(execID: "", pid: launched.pid, stdio: stdio, reaper: engine.reaper) { [weak self] code in
            self?.initExited(code)
        }
        state.withLock { state in
            state.initProcess = initProcess
            state.initSocket = launched.socket
            state.status = .created
        }
    }

    /// The spec's resources with the device rules every container's cgroup gets
    /// (DeviceRule.containerRules: deny all first, so a spec without rules is not left with
    /// its parent cgroup's allow-everything).
    static func resourcesWithDefaultDevices(_ spec: Spec) -> LinuxResources {
        var resources = spec.linux?.resources ?? LinuxResources()
        resources.devices = DeviceRule.containerRules(resources: resources.devices, devices: spec.linux?.devices)
        return resources
    }

    func initExited(_ code: Int32) {
        let socket: SyncSocket? = state.withLock { state in
            state.status = .stopped
            defer { state.initSocket = nil }
            return state.initSocket
        }
        if let socket { close(socket.fd) }
        logger.info("container init exited", metadata: ["status": "\(code)"])
    }

    private func cleanUpFailedCreate() async {
        if let cgroup {
            do {
                try cgroup.destroy(timeout: .seconds(10))
            } catch {
                logger.error("remove cgroup after failed create", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// How the init's namespaces come about: created by the clone, joined by path, or (cgroup)
/// unshared by the init once it is in its cgroup.
struct NamespacePlan {
    var cloneFlags: Int32 = 0
    var join: [LinuxNamespace] = []
    var pidPath: String?
    var unshareCgroup = false

    init(spec: Spec) {
        for namespace in spec.linux?.namespaces ?? [] {
            let path = namespace.path ?? ""
            if !path.isEmpty {
                if namespace.type == "pid" { pidPath = path } else { join.append(namespace) }
                continue
            }
            if namespace.type == "cgroup" {
                unshareCgroup = true
            } else if let flag = NamespaceType.cloneFlag(namespace.type) {
                cloneFlags |= flag
            }
        }
    }
}

/// Checks the security parts of a spec with engine-security's parsers before anything is
/// created, so a bad capability name, seccomp profile or sysctl names its field.
enum InitSecurityCheck {
    static func validate(_ spec: Spec, id: String) throws {
        func bad(_ message: String) -> EngineError { EngineError(.invalidSpec, "create", container: id, message) }
        try validateProcess(spec.process, id: id)
        if let seccomp = spec.linux?.seccomp {
            do {
                _ = try SeccompProfile(seccomp)
            } catch {
                throw bad("linux.seccomp: \(error)")
            }
        }
        if let sysctls = spec.linux?.sysctl, !sysctls.isEmpty {
            let types = Set((spec.linux?.namespaces ?? []).map(\.type))
            do {
                try Sysctls.validate(sysctls, hasIPCNamespace: types.contains("ipc"), hasUTSNamespace: types.contains("uts"))
            } catch let error as SysctlError {
                throw bad("linux.sysctl[\(error.key)]: \(error)")
            }
        }
    }

    static func validateProcess(_ process: OCISpec.Process?, id: String) throws {
        guard let capabilities = process?.capabilities else { return }
        do {
            _ = try CapabilitySets(capabilities)
        } catch {
            throw EngineError(.invalidSpec, "create", container: id, "process.capabilities: \(error)")
        }
    }
}
