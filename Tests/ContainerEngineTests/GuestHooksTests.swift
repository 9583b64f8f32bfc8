import ContainerEngine
import Foundation
import LinuxKit
import OCISpec
import XCTest

/// Root tests: the sandbox's guest hooks given to `Container.create` run after the spec's
/// hooks of the same type, with args [path, hook-type] and the OCI state on stdin.
final class GuestHooksTests: XCTestCase {
    var rootfs: BusyboxRootfs?
    var reaper: Reaper?
    var engine: Engine?
    var hookDirectory: URL?

    override func setUpWithError() throws {
        try EngineTestSupport.requireRoot("containers need namespaces and mounts")
        let agent = try EngineTestSupport.agentBinary()
        let rootfs = try BusyboxRootfs()
        self.rootfs = rootfs
        let reaper = try Reaper(mode: .registeredOnly)
        self.reaper = reaper
        engine = Engine(reaper: reaper, options: Engine.Options(initExecutable: agent, initTimeoutMilliseconds: 20_000))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("guest-hooks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        hookDirectory = directory
    }

    override func tearDown() async throws {
        if let engine {
            for id in engine.containerIDs {
                try? await engine.container(id).delete(timeout: .seconds(10))
            }
        }
        reaper?.shutdown()
        rootfs?.remove()
        if let hookDirectory { try? FileManager.default.removeItem(at: hookDirectory) }
    }

    /// An executable script that appends "<name> <argv0> <argv1> <state JSON>" to `log`.
    func script(_ name: String, log: String) throws -> String {
        let directory = try XCTUnwrap(hookDirectory)
        let path = directory.appendingPathComponent(name).path
        let text = "#!/bin/sh\nread state\necho \"\(name) $0 $1 $state\" >> \(log)\n"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o755]))
        return path
    }

    func testGuestHooksRunAfterSpecHooksWithPathTypeArgsAndState() async throws {
        let engine = try XCTUnwrap(self.engine)
        let bundle = try XCTUnwrap(rootfs).bundle.path
        let log = try XCTUnwrap(hookDirectory).appendingPathComponent("marker").path
        let prestart = try script("guest-prestart", log: log)
        let poststop = try script("guest-poststop", log: log)
        let guest = Hooks(prestart: [Hook(path: prestart, args: [prestart, "prestart"])],
                          poststop: [Hook(path: poststop, args: [poststop, "poststop"])])
        var spec = TestSpecs.basic(["true"])
        spec.hooks = Hooks(prestart: [Hook(path: "/bin/sh", args: ["sh", "-c", "read s; echo spec-prestart >> \(log)"])])
        let id = "gh-\(UUID().uuidString.prefix(8).lowercased())"

        let container = try await Container.create(id: id, bundle: bundle, spec: spec, guestHooks: guest, engine: engine)
        let afterCreate = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(afterCreate.map { $0.split(separator: " ").first ?? "" }, ["spec-prestart", "guest-prestart"])
        let guestLine = String(afterCreate.last ?? "")
        XCTAssertTrue(guestLine.hasPrefix("guest-prestart \(prestart) prestart {"), guestLine)
        XCTAssertTrue(guestLine.contains("\"id\":\"\(id)\""), guestLine)

        try await container.start()
        _ = try await container.wait()
        try await container.delete(timeout: .seconds(10))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.map { $0.split(separator: " ").first ?? "" }, ["spec-prestart", "guest-prestart", "guest-poststop"])
        XCTAssertTrue(lines.last?.hasPrefix("guest-poststop \(poststop) poststop {") ?? false, String(lines.last ?? ""))
    }

    func testAFailingGuestPrestartHookFailsCreate() async throws {
        let engine = try XCTUnwrap(self.engine)
        let bundle = try XCTUnwrap(rootfs).bundle.path
        let guest = Hooks(prestart: [Hook(path: "/bin/false", args: ["/bin/false", "prestart"])])
        do {
            _ = try await Container.create(id: "gh-fail", bundle: bundle, spec: TestSpecs.basic(["true"]), guestHooks: guest, engine: engine)
            XCTFail("create succeeded with a failing guest prestart hook")
        } catch let error as EngineError {
            XCTAssertTrue(error.description.contains("prestart"), error.description)
        }
        XCTAssertEqual(engine.containerIDs, [])
    }
}
