import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// CreateSandbox and DestroySandbox through the real agent. The agent runs on this machine, so
/// the requests keep the machine's hostname and resolv.conf (empty hostname and dns) and put
/// their storages in a directory of their own below /run.
final class SandboxRPCTests: XCTestCase {
    private var base = ""

    override func setUp() async throws {
        try requireRoot("CreateSandbox mounts tmpfs storages")
        base = "/run/kata-swift-sandbox-test-\(UUID().uuidString.prefix(8))"
        let path = base
        addTeardownBlock {
            // If a test failed half-way, do not leave a tmpfs behind.
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = ["-l", path + "/shm"]
            umount.standardError = FileHandle.nullDevice
            if (try? umount.run()) != nil { umount.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    private func storage(_ driver: String, _ mountPoint: String, options: [String] = []) -> Grpc_Storage {
        var storage = Grpc_Storage()
        storage.driver = driver
        storage.mountPoint = mountPoint
        storage.options = options
        if driver == "ephemeral" {
            storage.source = "tmpfs"
            storage.fstype = "tmpfs"
        }
        return storage
    }

    private func isMountPoint(_ path: String) throws -> Bool {
        let mountinfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        return mountinfo.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first == Substring(path) }
    }

    /// A module that is loaded already, so loading it again changes nothing on this machine.
    private func loadedModule() -> String? {
        guard let modules = try? String(contentsOfFile: "/proc/modules", encoding: .utf8) else { return nil }
        return modules.split(separator: "\n").first.flatMap { $0.split(separator: " ").first }.map(String.init)
    }

    func testBadRequestsNameTheFieldAndTheAgentKeepsServing() async throws {
        let agent = try await AgentProcess.start(for: self)
        let options = AgentProcess.callOptions()

        var noID = Grpc_CreateSandboxRequest()
        noID.sandboxID = ""
        await assertRPCError(.invalidArgument, containing: "sandbox_id") {
            try await agent.agentService.createSandbox(noID, options: options)
        }
        await agent.assertServing()

        var badID = Grpc_CreateSandboxRequest()
        badID.sandboxID = "../escape"
        await assertRPCError(.invalidArgument, containing: "sandbox_id") {
            try await agent.agentService.createSandbox(badID, options: options)
        }
        await agent.assertServing()

        var badPath = Grpc_CreateSandboxRequest()
        badPath.sandboxID = "s1"
        badPath.storages = [storage("local", base + "/../etc")]
        await assertRPCError(.invalidArgument, containing: "storages[0].mount_point") {
            try await agent.agentService.createSandbox(badPath, options: options)
        }
        await agent.assertServing()

        var badDNS = Grpc_CreateSandboxRequest()
        badDNS.sandboxID = "s1"
        badDNS.dns = ["nameserver 10.0.0.1\nnameserver 6.6.6.6"]
        await assertRPCError(.invalidArgument, containing: "dns[0]") {
            try await agent.agentService.createSandbox(badDNS, options: options)
        }
        await agent.assertServing()

        var badHooks = Grpc_CreateSandboxRequest()
        badHooks.sandboxID = "s1"
        badHooks.guestHookPath = "relative/hooks"
        await assertRPCError(.invalidArgument, containing: "guest_hook_path") {
            try await agent.agentService.createSandbox(badHooks, options: options)
        }
        await agent.assertServing()

        var unknownDriver = Grpc_CreateSandboxRequest()
        unknownDriver.sandboxID = "s1"
        unknownDriver.storages = [storage("9p", base + "/shared")]
        await assertRPCError(.unimplemented, containing: "9p") {
            try await agent.agentService.createSandbox(unknownDriver, options: options)
        }
        await agent.assertServing()

        var badModule = Grpc_CreateSandboxRequest()
        badModule.sandboxID = "s1"
        var module = Grpc_KernelModule()
        module.name = "kata_swift_no_such_module"
        badModule.kernelModules = [module]
        do {
            _ = try await agent.agentService.createSandbox(badModule, options: options)
            XCTFail("loading a module that does not exist succeeded")
        } catch let error as RPCError {
            XCTAssertTrue(error.message.contains("kata_swift_no_such_module"), "\(error)")
        }
        await agent.assertServing()
    }

    func testCreateThenDestroy() async throws {
        let agent = try await AgentProcess.start(for: self)
        let options = AgentProcess.callOptions()
        var request = Grpc_CreateSandboxRequest()
        request.sandboxID = "sandbox-\(UUID().uuidString.prefix(8))"
        request.storages = [
            storage("local", base + "/local", options: ["mode=0750"]),
            storage("ephemeral", base + "/shm", options: ["size=1M"]),
        ]
        if let module = loadedModule() {
            var kernelModule = Grpc_KernelModule()
            kernelModule.name = module
            request.kernelModules = [kernelModule]
        }
        _ = try await agent.agentService.createSandbox(request, options: options)

        let local = try FileManager.default.attributesOfItem(atPath: base + "/local")
        XCTAssertEqual(local[.type] as? FileAttributeType, .typeDirectory)
        XCTAssertEqual(local[.posixPermissions] as? Int, 0o750)
        XCTAssertTrue(try isMountPoint(base + "/shm"), "ephemeral storage is not mounted")

        // One sandbox per agent.
        await assertRPCError(.failedPrecondition, containing: "already") {
            try await agent.agentService.createSandbox(request, options: options)
        }
        await agent.assertServing()

        _ = try await agent.agentService.destroySandbox(Grpc_DestroySandboxRequest(), options: options)
        XCTAssertFalse(try isMountPoint(base + "/shm"), "DestroySandbox left the ephemeral storage mounted")
    }
}
