import Foundation
import Glibc
import XCTest
@testable import LinuxKit

final class KernelModuleTests: XCTestCase {
    private let dir = "/lib/modules/6.1.0-test"

    private func fixture() -> InMemorySystemCalls {
        let system = InMemorySystemCalls()
        system.addFile(dir + "/modules.dep", """
            kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
            kernel/drivers/virtio/virtio_pci_modern_dev.ko:
            kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/virtio/virtio_ring.ko:
            kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
            kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko kernel/net/vmw_vsock/vsock.ko
            kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko: kernel/net/vmw_vsock/vsock.ko
            kernel/net/vmw_vsock/vsock.ko:
            kernel/drivers/net/e1000e.ko: kernel/missing/ptp.ko
            kernel/a/loop_a.ko: kernel/a/loop_b.ko
            kernel/a/loop_b.ko: kernel/a/loop_a.ko
            """)
        system.addFile(dir + "/modules.alias", """
            # Aliases extracted from modules themselves.
            alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
            alias virtio:d00000003v* virtio_console
            alias fs-overlay overlay
            """)
        system.addFile(dir + "/modules.builtin", "kernel/fs/overlayfs/overlay.ko\nkernel/fs/ext4/ext4.ko\n")
        return system
    }

    private func loader(_ system: InMemorySystemCalls) -> KernelModuleLoader {
        KernelModuleLoader(system: system)
    }

    private func loaded(_ system: InMemorySystemCalls) -> [String] {
        system.calls.filter { $0.hasPrefix("finit_module") }.map {
            KernelModuleIndex.moduleName(fromPath: String($0.split(separator: " ")[1]))
        }
    }

    func testDependenciesFirstEachOnce() throws {
        let system = fixture()
        try loader(system).load("virtio_pci")
        XCTAssertEqual(loaded(system), ["virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci"])
        // A second module sharing dependencies loads only itself.
        try loader(system).load("virtio_console")
        XCTAssertEqual(loaded(system).last, "virtio_console")
        XCTAssertEqual(loaded(system).count, 6)
    }

    func testParametersGoToTheRequestedModuleOnly() throws {
        let system = fixture()
        try loader(system).load("virtio-console", parameters: ["a=1", "b=2,3"])
        let calls = system.calls.filter { $0.hasPrefix("finit_module") }
        XCTAssertEqual(calls.last, "finit_module \(dir)/kernel/drivers/char/virtio_console.ko params=a=1 b=2,3 compressed=false")
        XCTAssertTrue(calls.first?.contains("params= ") ?? false, calls.first ?? "")
    }

    func testCompressedModuleUsesCompressedFlag() throws {
        let system = fixture()
        try loader(system).load("vmw_vsock_virtio_transport")
        XCTAssertEqual(system.calls.filter { $0.hasPrefix("finit_module") }.last,
                       "finit_module \(dir)/kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz params= compressed=true")
    }

    func testCompressedModuleOnOldKernelHasClearError() {
        let system = fixture()
        system.state.withLock { $0.failures["finit_module"] = EINVAL }
        XCTAssertThrowsError(try loader(system).load("vsock")) { error in
            XCTAssertFalse("\(error)".contains("CONFIG_MODULE_DECOMPRESS"), "vsock.ko is not compressed")
        }
        let other = fixture()
        other.addEntry("/sys/module/vsock", kind: FileKind(kind: .directory, permissions: 0o755))
        other.addEntry("/sys/module/vmw_vsock_virtio_transport_common", kind: FileKind(kind: .directory, permissions: 0o755))
        other.state.withLock { $0.failures["finit_module"] = EINVAL }
        XCTAssertThrowsError(try loader(other).load("vmw_vsock_virtio_transport")) { error in
            XCTAssertTrue("\(error)".contains("CONFIG_MODULE_DECOMPRESS"), "\(error)")
        }
    }

    func testBuiltinAndLoadedAreSuccess() throws {
        let system = fixture()
        try loader(system).load("overlay")
        try loader(system).load("ext4")
        system.addEntry("/sys/module/virtio_pci", kind: FileKind(kind: .directory, permissions: 0o755))
        try loader(system).load("virtio_pci")
        XCTAssertEqual(loaded(system), [])
    }

    func testAliasResolution() throws {
        let system = fixture()
        try loader(system).load("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
        XCTAssertEqual(loaded(system).last, "virtio_pci")
        try loader(system).load("fs-overlay")  // alias to a built-in
        XCTAssertEqual(loaded(system).count, 5)
    }

    func testFailuresNameModuleAndErrno() {
        let system = fixture()
        XCTAssertThrowsError(try loader(system).load("nonexistent")) { error in
            let moduleError = error as? KernelModuleError
            XCTAssertEqual(moduleError?.module, "nonexistent")
            XCTAssertEqual(moduleError?.errno, ENOENT)
        }
        XCTAssertThrowsError(try loader(system).load("e1000e")) { error in
            XCTAssertTrue("\(error)".contains("ptp"), "\(error)")
        }
        XCTAssertThrowsError(try loader(system).load("loop_a")) { error in
            XCTAssertEqual((error as? KernelModuleError)?.errno, ELOOP)
        }
        system.state.withLock { $0.failures["finit_module"] = EPERM }
        XCTAssertThrowsError(try loader(system).load("virtio_ring")) { error in
            XCTAssertEqual((error as? KernelModuleError)?.errno, EPERM)
            XCTAssertTrue("\(error)".contains("virtio_ring"))
            XCTAssertTrue("\(error)".contains("Operation not permitted"), "\(error)")
        }
        XCTAssertThrowsError(try loader(system).load("../../etc/passwd"))
    }

    func testMissingIndexIsAnError() {
        let system = InMemorySystemCalls()
        XCTAssertThrowsError(try loader(system).load("virtio_pci")) { error in
            XCTAssertTrue("\(error)".contains("modules.dep"))
        }
    }

    func testModulesLoadDirectory() {
        XCTAssertEqual(KernelModuleLoader.parseModulesLoad("# vsock\nvsock\n\n  virtio_console  \n; old\n"), ["vsock", "virtio_console"])
        let system = fixture()
        system.addFile("/etc/modules-load.d/b.conf", "virtio_console\nnope\n")
        system.addFile("/etc/modules-load.d/a.conf", "vsock # trailing words are not comments in this format\n")
        system.addFile("/etc/modules-load.d/c.txt", "virtio_pci\n")
        let failures = loader(system).loadModulesLoadDirectory()
        XCTAssertEqual(failures.count, 2)  // "vsock # ..." and "nope"
        XCTAssertEqual(loaded(system), ["virtio_ring", "virtio", "virtio_console"])
    }

    /// A boot's module list reads the index once, not once per module (under TCG each parse
    /// of modules.dep and modules.builtin was a visible part of PID 1's start).
    func testModulesLoadDirectoryReadsTheIndexOnce() {
        let system = fixture()
        system.addFile("/etc/modules-load.d/kata.conf", "virtio_console\nvirtio_pci\nnope\nvirtio_ring\n")
        let failures = loader(system).loadModulesLoadDirectory()
        XCTAssertEqual(failures.count, 1)  // "nope"
        let reads = system.state.withLock { $0.reads }
        let indexReads = reads.filter { $0.key.hasSuffix("/modules.dep") }
        XCTAssertEqual(indexReads.count, 1, "\(reads)")
        XCTAssertEqual(indexReads.first?.value, 1, "\(reads)")
        // Separate calls still read it afresh: a module directory may change between them.
        XCTAssertNoThrow(try loader(system).load("overlay"))   // built in: never in /sys/module
        XCTAssertNoThrow(try loader(system).load("ext4"))
        XCTAssertEqual(system.state.withLock { $0.reads.filter { $0.key.hasSuffix("/modules.dep") }.first?.value }, 3)
    }

    /// Resolves the real module graph of the guest kernel when the e2e cache has one.
    func testRealModulesDepWhenAvailable() throws {
        let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".cache/kernel").path
        guard let release = try? FileManager.default.contentsOfDirectory(atPath: root).first(where: { !$0.hasPrefix(".") }) else {
            throw XCTSkip("no cached guest kernel under \(root) (make e2e fetches one)")
        }
        let directory = "\(root)/\(release)/lib/modules/\(release)"
        let index = try KernelModuleIndex.load(directory: directory, system: LinuxSystemCalls())
        guard case let .load(order) = try index.resolve("virtio_console") else { return XCTFail("virtio_console is a module") }
        XCTAssertEqual(order.last, "virtio_console")
        XCTAssertLessThan(try XCTUnwrap(order.firstIndex(of: "virtio_ring")), try XCTUnwrap(order.firstIndex(of: "virtio")))
    }

    /// Root: loads a real module of the running kernel that is not loaded yet.
    func testLoadRealModuleAsRoot() throws {
        guard getuid() == 0 else { throw XCTSkip("loading a kernel module needs root") }
        let system = LinuxSystemCalls()
        let directory = "/lib/modules/\(system.kernelRelease())"
        guard let index = try? KernelModuleIndex.load(directory: directory, system: system) else {
            throw XCTSkip("no module index at \(directory): this kernel has no loadable modules installed")
        }
        let loader = KernelModuleLoader(system: system)
        // Small library modules with no side effects on devices or networking.
        guard let candidate = ["crc7", "crc_itu_t", "ts_kmp", "ts_bm", "ts_fsm"].first(where: { index.modules[$0] != nil && !loader.isLoaded($0) }) else {
            throw XCTSkip("no harmless unloaded module found in \(directory)")
        }
        try loader.load(candidate)
        XCTAssertTrue(loader.isLoaded(candidate))
    }
}
