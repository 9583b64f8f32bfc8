import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

final class SandboxStateTests: XCTestCase {
    private func makeSandbox(_ system: InMemorySystemCalls, isInit: Bool = false) -> SandboxState {
        let logger = Logger(label: "test")
        let modules = KernelModuleLoader(system: system, logger: logger)
        return SandboxState(environment: SandboxEnvironment(system: system, modules: modules, isInit: isInit, logger: logger))
    }

    func testCreateSetsHostnameDNSAndRecordsState() async throws {
        let system = InMemorySystemCalls()
        system.addFile("/etc/resolv.conf", "")
        let sandbox = makeSandbox(system)
        try await sandbox.create(CreateSandboxRequest(
            hostname: "pod-1", dns: ["  nameserver 10.0.0.2 ", "search svc.local"], sandboxPidns: true, sandboxID: "sb-1"))
        XCTAssertEqual(system.state.withLock { $0.hostname }, "pod-1")
        XCTAssertEqual(try system.readFile("/etc/resolv.conf"), "nameserver 10.0.0.2\nsearch svc.local\n")
        let id = await sandbox.id
        let pidns = await sandbox.sandboxPidns
        let created = await sandbox.created
        XCTAssertEqual(id, "sb-1")
        XCTAssertTrue(pidns)
        XCTAssertTrue(created)
    }

    func testEmptyDNSLeavesResolvConfAlone() async throws {
        let system = InMemorySystemCalls()
        system.addFile("/etc/resolv.conf", "nameserver 1.1.1.1\n")
        try await makeSandbox(system).create(CreateSandboxRequest())
        XCTAssertEqual(try system.readFile("/etc/resolv.conf"), "nameserver 1.1.1.1\n")
        XCTAssertFalse(system.calls.contains { $0.hasPrefix("sethostname") }, "empty hostname must not be set")
    }

    func testDNSLineInjectionRefused() async {
        let system = InMemorySystemCalls()
        do {
            try await makeSandbox(system).create(CreateSandboxRequest(dns: ["nameserver 1.1.1.1\noptions evil"]))
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.kind, .invalidArgument)
        }
    }

    func testSecondCreateIsRefused() async throws {
        let sandbox = makeSandbox(InMemorySystemCalls())
        try await sandbox.create(CreateSandboxRequest(sandboxID: "a"))
        do {
            try await sandbox.create(CreateSandboxRequest(sandboxID: "b"))
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.kind, .failedPrecondition)
        }
    }

    func testStorages() async throws {
        let system = InMemorySystemCalls()
        let sandbox = makeSandbox(system)
        try await sandbox.create(CreateSandboxRequest(storages: [
            StorageRequest(driver: "local", options: ["mode=0777"], mountPoint: "/run/kata-containers/shared/local/vol"),
            StorageRequest(driver: "ephemeral", source: "tmpfs", fsType: "tmpfs", options: ["nosuid", "size=64m"], mountPoint: "/run/kata-containers/sandbox/ephemeral/e1"),
        ]))
        XCTAssertEqual(system.fileKind("/run/kata-containers/shared/local/vol")?.permissions, 0o777)
        XCTAssertTrue(system.calls.contains("mount tmpfs tmpfs /run/kata-containers/sandbox/ephemeral/e1 flags=2 data=size=64m"), "\(system.calls)")
        let storages = await sandbox.storages
        XCTAssertEqual(storages.map(\.isMount), [false, true])

        await sandbox.destroy()
        XCTAssertEqual(system.calls.last, "umount /run/kata-containers/sandbox/ephemeral/e1")
    }

    func testUnknownDriverNamedAndNothingMounted() async {
        let system = InMemorySystemCalls()
        let sandbox = makeSandbox(system)
        do {
            try await sandbox.create(CreateSandboxRequest(storages: [
                StorageRequest(driver: "ephemeral", mountPoint: "/run/e"),
                StorageRequest(driver: "9p", source: "kataShared", mountPoint: "/run/shared"),
            ]))
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.kind, .unimplemented)
            XCTAssertTrue(error.message.contains("9p"), error.message)
        }
        // Drivers are resolved before anything is mounted.
        XCTAssertFalse(system.calls.contains { $0.hasPrefix("mount") }, "\(system.calls)")
        let created = await sandbox.created
        XCTAssertFalse(created)
    }

    func testBadStorageValues() async {
        for storage in [
            StorageRequest(driver: "local", mountPoint: "relative"),
            StorageRequest(driver: "local", mountPoint: "/run/../etc"),
            StorageRequest(driver: "local", options: ["mode=999"], mountPoint: "/run/x"),
            StorageRequest(driver: "ephemeral", fsType: "ext4", mountPoint: "/run/x"),
        ] {
            do {
                try await makeSandbox(InMemorySystemCalls()).create(CreateSandboxRequest(storages: [storage]))
                XCTFail("expected an error for \(storage)")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument, "\(storage)")
            }
        }
    }

    func testSyscallFailureCarriesErrno() async {
        let system = InMemorySystemCalls()
        system.state.withLock { $0.failures["mount"] = ENOSPC }
        do {
            try await makeSandbox(system).create(CreateSandboxRequest(storages: [StorageRequest(driver: "ephemeral", mountPoint: "/run/e")]))
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.kind, .system)
            XCTAssertEqual(error.errno, ENOSPC)
            XCTAssertTrue(error.message.contains("/run/e"))
        }
    }

    func testKernelModulesLoadedAndFailureNamesModule() async throws {
        let system = InMemorySystemCalls()
        system.addFile("/lib/modules/6.1.0-test/modules.dep", "kernel/a/dep.ko:\nkernel/b/e1000e.ko: kernel/a/dep.ko\n")
        try await makeSandbox(system).create(CreateSandboxRequest(kernelModules: [KernelModuleRequest(name: "e1000e", parameters: ["EEE=1"])]))
        XCTAssertEqual(system.calls.filter { $0.hasPrefix("finit_module") }, [
            "finit_module /lib/modules/6.1.0-test/kernel/a/dep.ko params= compressed=false",
            "finit_module /lib/modules/6.1.0-test/kernel/b/e1000e.ko params=EEE=1 compressed=false",
        ])
        do {
            try await makeSandbox(system).create(CreateSandboxRequest(kernelModules: [KernelModuleRequest(name: "i915")]))
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue(error.message.contains("i915"), error.message)
            XCTAssertEqual(error.errno, ENOENT)
        }
    }

    /// CreateSandbox's module list reads the module index once, as a boot's list does.
    func testKernelModulesReadTheIndexOnce() async throws {
        let system = InMemorySystemCalls()
        system.addFile("/lib/modules/6.1.0-test/modules.dep", "kernel/a/dep.ko:\nkernel/b/e1000e.ko: kernel/a/dep.ko\nkernel/c/igb.ko:\n")
        try await makeSandbox(system).create(CreateSandboxRequest(kernelModules: [
            KernelModuleRequest(name: "e1000e"), KernelModuleRequest(name: "igb"),
        ]))
        XCTAssertEqual(system.calls.filter { $0.hasPrefix("finit_module") }.count, 3)
        XCTAssertEqual(system.state.withLock { $0.reads["/lib/modules/6.1.0-test/modules.dep"] }, 1)
    }

    func testGuestHooksLexicographicRegularExecutablesOnly() async throws {
        let system = InMemorySystemCalls()
        let exec = FileKind(kind: .regular, permissions: 0o755)
        system.addEntry("/usr/share/oci/hooks/prestart/b-hook", kind: exec)
        system.addEntry("/usr/share/oci/hooks/prestart/a-hook", kind: exec)
        system.addEntry("/usr/share/oci/hooks/prestart/B-upper", kind: exec)
        system.addEntry("/usr/share/oci/hooks/prestart/not-exec", kind: FileKind(kind: .regular, permissions: 0o644))
        system.addEntry("/usr/share/oci/hooks/prestart/link", kind: FileKind(kind: .symlink, permissions: 0o777))
        system.addEntry("/usr/share/oci/hooks/prestart/dir", kind: FileKind(kind: .directory, permissions: 0o755))
        system.addEntry("/usr/share/oci/hooks/poststop/z", kind: exec)
        let sandbox = makeSandbox(system)
        try await sandbox.create(CreateSandboxRequest(guestHookPath: "/usr/share/oci/hooks"))
        let hooks = await sandbox.guestHooks
        XCTAssertEqual(hooks.prestart.map(\.path), [
            "/usr/share/oci/hooks/prestart/B-upper", "/usr/share/oci/hooks/prestart/a-hook", "/usr/share/oci/hooks/prestart/b-hook",
        ])
        XCTAssertEqual(hooks.prestart.first?.arguments, ["/usr/share/oci/hooks/prestart/B-upper", "prestart"])
        XCTAssertEqual(hooks.poststart, [])
        XCTAssertEqual(hooks.poststop.map(\.arguments), [["/usr/share/oci/hooks/poststop/z", "poststop"]])
    }

    func testDestroyEndsContainersThenSignalsShutdown() async throws {
        actor Record: SandboxContainers {
            var destroyed = 0
            func destroyAll(logger: Logger, release: @escaping @Sendable (String) async -> Void) async { destroyed += 1 }
            nonisolated func useGuestHooks(_ hooks: GuestHooks) {}
        }
        let record = Record()
        let sandbox = makeSandbox(InMemorySystemCalls(), isInit: true)
        await sandbox.attach(containers: record)
        try await sandbox.create(CreateSandboxRequest(sandboxID: "x"))
        let waiter = Task { await sandbox.waitForShutdown() }
        await sandbox.destroy()
        await waiter.value
        let count = await record.destroyed
        XCTAssertEqual(count, 1)
        await sandbox.waitForShutdown()  // returns at once once destroyed
    }
}
