import XCTest
@testable import OSBuilder

final class KernelModulesTests: XCTestCase {
    static let dep = """
        kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
        kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
        kernel/drivers/virtio/virtio.ko:
        kernel/drivers/nvdimm/nd_pmem.ko: kernel/drivers/nvdimm/nd_btt.ko kernel/drivers/nvdimm/libnvdimm.ko
        kernel/drivers/nvdimm/nd_btt.ko: kernel/drivers/nvdimm/libnvdimm.ko
        kernel/drivers/nvdimm/libnvdimm.ko:
        kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko kernel/net/vmw_vsock/vsock.ko
        kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz: kernel/net/vmw_vsock/vsock.ko
        kernel/net/vmw_vsock/vsock.ko:
        kernel/fs/unused.ko:

        """

    func testClosureIsDependencyOrdered() throws {
        let index = try ModuleIndex(modulesDep: Self.dep, builtin: "kernel/fs/ext4/ext4.ko\n")
        let (ordered, builtin) = try index.closure(of: ["virtio_blk", "nd-pmem", "ext4"])
        XCTAssertEqual(ordered, ["virtio", "virtio_ring", "virtio_blk", "libnvdimm", "nd_btt", "nd_pmem"])
        XCTAssertEqual(builtin, ["ext4"])
        let (vsock, _) = try index.closure(of: ["vmw_vsock_virtio_transport"])
        XCTAssertEqual(vsock.last, "vmw_vsock_virtio_transport")
        for (position, name) in vsock.enumerated() {
            for dep in index.dependencies[name] ?? [] {
                XCTAssertLessThan(vsock.firstIndex(of: dep) ?? .max, position, "\(dep) before \(name)")
            }
        }
    }

    /// A kernel with everything built in (the kata kernel) gets no modules-load.d list to read at boot.
    func testAllBuiltInWritesNoLoadList() throws {
        let source = try TestSupport.temporaryDirectory() + "/6.1.0-test"
        let fm = FileManager.default
        try fm.createDirectory(atPath: source, withIntermediateDirectories: true)
        XCTAssertTrue(fm.createFile(atPath: "\(source)/modules.dep", contents: Data()))
        XCTAssertTrue(fm.createFile(atPath: "\(source)/modules.builtin", contents: Data("kernel/drivers/block/virtio_blk.ko\nkernel/net/vmw_vsock/vsock.ko\n".utf8)))
        let rootfs = try TestSupport.temporaryDirectory()
        let ordered = try ModuleInstaller(sourceDirectory: source, progress: BuildProgress(quiet: true)).install(["virtio_blk", "vsock"], into: rootfs)
        XCTAssertEqual(ordered, [])
        XCTAssertFalse(fm.fileExists(atPath: "\(rootfs)/etc/modules-load.d/kata.conf"))
        XCTAssertTrue(fm.fileExists(atPath: "\(rootfs)/lib/modules/6.1.0-test/modules.builtin"))
    }

    func testBadNamesFail() throws {
        let index = try ModuleIndex(modulesDep: Self.dep)
        XCTAssertThrowsError(try index.closure(of: ["nosuch"])) { XCTAssertTrue("\($0)".contains("no such module"), "\($0)") }
        XCTAssertThrowsError(try index.closure(of: ["../../etc/passwd"])) { XCTAssertTrue("\($0)".contains("bad module name"), "\($0)") }
        XCTAssertThrowsError(try index.closure(of: [""]))
    }

    func testInstallCopiesSubsetAndWritesMetadata() throws {
        let source = try TestSupport.temporaryDirectory() + "/6.1.0-test"
        let fm = FileManager.default
        for line in Self.dep.split(separator: "\n") {
            let path = String(line.split(separator: ":")[0])
            try fm.createDirectory(atPath: "\(source)/\((path as NSString).deletingLastPathComponent)", withIntermediateDirectories: true)
            XCTAssertTrue(fm.createFile(atPath: "\(source)/\(path)", contents: Data("module \(path)".utf8)))
        }
        XCTAssertTrue(fm.createFile(atPath: "\(source)/modules.dep", contents: Data(Self.dep.utf8)))
        XCTAssertTrue(fm.createFile(atPath: "\(source)/modules.alias", contents: Data("# Aliases\nalias virtio:d00000002v* virtio_blk\nalias fs-unused unused\n".utf8)))
        let rootfs = try TestSupport.temporaryDirectory()
        let ordered = try ModuleInstaller(sourceDirectory: source, progress: BuildProgress(quiet: true)).install(["virtio_blk"], into: rootfs)
        XCTAssertEqual(ordered, ["virtio", "virtio_ring", "virtio_blk"])
        let target = "\(rootfs)/lib/modules/6.1.0-test"
        XCTAssertTrue(fm.fileExists(atPath: "\(target)/kernel/drivers/block/virtio_blk.ko"))
        XCTAssertFalse(fm.fileExists(atPath: "\(target)/kernel/fs/unused.ko"))
        let dep = String(decoding: fm.contents(atPath: "\(target)/modules.dep") ?? Data(), as: UTF8.self)
        XCTAssertEqual(dep.split(separator: "\n").count, 3)
        XCTAssertFalse(dep.contains("unused"))
        let alias = String(decoding: fm.contents(atPath: "\(target)/modules.alias") ?? Data(), as: UTF8.self)
        XCTAssertTrue(alias.contains("virtio_blk"))
        XCTAssertFalse(alias.contains("unused"))
        let conf = String(decoding: fm.contents(atPath: "\(rootfs)/etc/modules-load.d/kata.conf") ?? Data(), as: UTF8.self)
        XCTAssertEqual(conf.split(separator: "\n").filter { !$0.hasPrefix("#") }, ["virtio", "virtio_ring", "virtio_blk"])
        // check accepts the result and notices a missing file.
        var report = Checker.Report(kind: "t")
        Checker().checkModules(DirectoryView(root: rootfs), report: &report)
        XCTAssertTrue(report.passed, report.rendered())
        try fm.removeItem(atPath: "\(target)/kernel/drivers/virtio/virtio.ko")
        report = Checker.Report(kind: "t")
        Checker().checkModules(DirectoryView(root: rootfs), report: &report)
        XCTAssertFalse(report.passed)
    }
}
