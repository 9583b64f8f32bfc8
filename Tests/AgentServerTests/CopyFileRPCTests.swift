import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// CopyFile through the real agent: it writes below the real /run, so these tests use a
/// directory of their own there and remove it afterwards.
final class CopyFileRPCTests: XCTestCase {
    private var base = ""
    private var agent: AgentProcess?

    override func setUp() async throws {
        try requireRoot("CopyFile writes below /run/kata-containers/shared/containers")
        base = "/run/kata-containers/shared/containers/kata-swift-copyfile-test-\(UUID().uuidString.prefix(8))"
        let path = base
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        agent = try await AgentProcess.start(for: self)
    }

    private func copy(
        _ path: String, data: Data = Data(), fileSize: Int64? = nil, mode: UInt32 = 0o100644, dirMode: UInt32 = 0o755,
        offset: Int64 = 0, uid: Int32 = 0, gid: Int32 = 0
    ) async throws {
        var request = Grpc_CopyFileRequest()
        request.path = path
        request.data = data
        request.fileSize = fileSize ?? Int64(data.count)
        request.fileMode = mode
        request.dirMode = dirMode
        request.offset = offset
        request.uid = uid
        request.gid = gid
        _ = try await XCTUnwrap(agent).agentService.copyFile(request, options: AgentProcess.callOptions())
    }

    func testChunkedFileWithModeAndOwner() async throws {
        let path = base + "/sub/dir/file.bin"
        let content = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let chunk = 40_000
        var offset = 0
        while offset < content.count {
            let end = min(offset + chunk, content.count)
            try await copy(path, data: content.subdata(in: offset..<end), fileSize: Int64(content.count), mode: 0o100600,
                           offset: Int64(offset), uid: 1234, gid: 4321)
            // Until the last chunk, the destination does not exist.
            XCTAssertEqual(FileManager.default.fileExists(atPath: path), end == content.count)
            offset = end
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), content)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual(attributes[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(attributes[.ownerAccountID] as? Int, 1234)
        XCTAssertEqual(attributes[.groupOwnerAccountID] as? Int, 4321)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: base + "/sub/dir"), ["file.bin"])
    }

    func testDirectoryAndSymlink() async throws {
        try await copy(base + "/d", mode: 0o040711)
        let attributes = try FileManager.default.attributesOfItem(atPath: base + "/d")
        XCTAssertEqual(attributes[.type] as? FileAttributeType, .typeDirectory)
        XCTAssertEqual(attributes[.posixPermissions] as? Int, 0o711)
        try await copy(base + "/d/link", data: Data("../target".utf8), mode: 0o120777)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: base + "/d/link"), "../target")
    }

    /// What the Go runtime sends with shared_fs=none (vc/kata_agent.go copyFile): dir_mode is
    /// Go's os.ModeDir|0750 (0x800001E8), file_mode carries the type bits, directories have
    /// size 0, symlinks carry their target in data, files come in 1 MiB chunks.
    func testGoRuntimeCopySequence() async throws {
        let goDirMode: UInt32 = 0x8000_01E8
        let share = base + "/C-0123456789abcdef-config"
        try await copy(share, mode: 0o040755, dirMode: goDirMode)
        try await copy(share + "/..2026_01_01", mode: 0o040755, dirMode: goDirMode)
        let content = Data((0..<(2_621_440)).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        let chunk = 1 << 20
        var offset = 0
        while offset < content.count {
            let end = min(offset + chunk, content.count)
            try await copy(share + "/..2026_01_01/app.conf", data: content.subdata(in: offset..<end), fileSize: Int64(content.count),
                           mode: 0o100644, dirMode: goDirMode, offset: Int64(offset))
            offset = end
        }
        try await copy(share + "/..data", data: Data("..2026_01_01".utf8), mode: 0o120777, dirMode: goDirMode)
        try await copy(share + "/app.conf", data: Data("..data/app.conf".utf8), mode: 0o120777, dirMode: goDirMode)
        // A file whose parents do not exist yet: created with dir_mode & 0777.
        try await copy(base + "/new/parent/hostname", data: Data("pod\n".utf8), mode: 0o100644, dirMode: goDirMode)

        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: share + "/app.conf")), content)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: share + "/..data"), "..2026_01_01")
        let directory = try FileManager.default.attributesOfItem(atPath: share + "/..2026_01_01")
        XCTAssertEqual(directory[.posixPermissions] as? Int, 0o755)
        let parent = try FileManager.default.attributesOfItem(atPath: base + "/new/parent")
        XCTAssertEqual(parent[.posixPermissions] as? Int, 0o750)
        XCTAssertEqual(try String(contentsOfFile: base + "/new/parent/hostname", encoding: .utf8), "pod\n")
    }

    func testBadDestinationsAreRefusedAndTheAgentKeepsServing() async throws {
        let agent = try XCTUnwrap(agent)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        let outside = "/tmp/kata-swift-copyfile-outside-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.createSymbolicLink(atPath: base + "/escape", withDestinationPath: outside)

        let cases: [(String, String)] = [
            ("relative/file", "path"),
            ("", "path"),
            ("/etc/kata-swift-should-not-exist", "path"),
            ("/run", "path"),
            ("/run/kata-swift-outside-the-share", "path"),
            (base + "/../etc/passwd", "path"),
            (base + "//x", "path"),
            (base + "/x/", "path"),
            (base + "/escape/evil", "path"),
        ]
        for (path, field) in cases {
            await assertRPCError(.invalidArgument, containing: field) {
                try await self.copy(path, data: Data("evil".utf8))
            }
            await agent.assertServing()
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outside), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/kata-swift-should-not-exist"))

        await assertRPCError(.invalidArgument, containing: "offset") {
            try await self.copy(self.base + "/f", data: Data("abc".utf8), fileSize: 2)
        }
        await assertRPCError(.invalidArgument, containing: "file_mode") {
            try await self.copy(self.base + "/fifo", mode: 0o010644)
        }
        await agent.assertServing()
    }
}
