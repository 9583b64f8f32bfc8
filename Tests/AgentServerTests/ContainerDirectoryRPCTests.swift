import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: what a container leaves in guest memory when it goes. Its writable layer under
/// /run/kata-containers/<id> goes with it; a memory emptyDir stays for the next container.
final class ContainerDirectoryRPCTests: ContainerRPCTestCase {

    func storage(_ driver: String, source: String, fsType: String, options: [String], at mountPoint: String) -> Grpc_Storage {
        var storage = Grpc_Storage()
        storage.driver = driver
        storage.source = source
        storage.fstype = fsType
        storage.options = options
        storage.mountPoint = mountPoint
        return storage
    }

    /// Runs `script` in a new container `id` with `storages`, waits for it, removes it.
    func run(_ agent: AgentProcess, id: String, root: String, storages: [Grpc_Storage], mounts: [Grpc_Mount] = [],
             script: String) async throws -> Int32 {
        var spec = ContainerRPCClient.spec(["sh", "-c", script], rootfs: root)
        spec.mounts += mounts
        var create = Grpc_CreateContainerRequest()
        create.containerID = id
        create.oci = spec
        create.storages = storages
        _ = try await agent.agentService.createContainer(create)
        var start = Grpc_StartContainerRequest()
        start.containerID = id
        _ = try await agent.agentService.startContainer(start)
        var wait = Grpc_WaitProcessRequest()
        wait.containerID = id
        let status = try await agent.agentService.waitProcess(wait).status
        var remove = Grpc_RemoveContainerRequest()
        remove.containerID = id
        remove.timeout = 10
        _ = try await agent.agentService.removeContainer(remove)
        return status
    }

    /// The overlay-rw layer (the erofs snapshotter's rootfs without an rw image) lives in
    /// /run/kata-containers/<id>/upper: what the container wrote must not stay in guest memory.
    func testRemoveContainerDeletesItsWritableLayer() async throws {
        let agent = try await AgentProcess.start(for: self)
        let id = ContainerRPCClient.uniqueID("dir")
        let directory = "/run/kata-containers/" + id
        let overlay = storage("overlayfs", source: "overlay", fsType: "overlay",
                              options: ["lowerdir=\(rootfs)", "io.katacontainers.fs-opt.overlay-rw"], at: directory + "/rootfs")
        let status = try await run(agent, id: id, root: directory + "/rootfs", storages: [overlay],
                                   script: "busybox mkdir -p /deep/a/b && echo written > /deep/a/b/file && busybox ln -s / /deep/escape")
        XCTAssertEqual(status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory), "RemoveContainer left \(directory)")
        // The symlink to / was removed, not followed.
        XCTAssertTrue(FileManager.default.fileExists(atPath: rootfs + "/bin/busybox"))
        XCTAssertFalse(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).contains(directory))
    }

    /// A CreateContainer answered DEADLINE_EXCEEDED (here a slow prestart hook) leaves nothing:
    /// the runtime rolls its side back and knows no container to remove.
    func testCreateContainerPastItsDeadlineIsRemovedAgain() async throws {
        let agent = try await AgentProcess.start(for: self)
        let id = ContainerRPCClient.uniqueID("late")
        var spec = ContainerRPCClient.spec(["true"], rootfs: rootfs)
        var hook = Grpc_Hook()
        hook.path = "/bin/sh"
        hook.args = ["sh", "-c", "sleep 3"]
        var hooks = Grpc_Hooks()
        hooks.prestart = [hook]
        spec.hooks = hooks
        var create = Grpc_CreateContainerRequest()
        create.containerID = id
        create.oci = spec
        do {
            _ = try await agent.agentService.createContainer(create, options: AgentProcess.callOptions(seconds: 1))
            XCTFail("CreateContainer returned before its hook ended")
        } catch let error as RPCError {
            XCTAssertEqual(error.code, .deadlineExceeded, "\(error)")
        }
        // The agent finishes the create after its answer, then removes the container: wait for it.
        var stats = Grpc_StatsContainerRequest()
        stats.containerID = id
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(30))
        var gone = false
        while clock.now < deadline {
            do {
                _ = try await agent.agentService.statsContainer(stats)
            } catch let error as RPCError where error.code == .notFound {
                gone = true
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertTrue(gone, "the container of the timed-out CreateContainer stayed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/kata-containers/" + id))
        // The id is free for the runtime's retry.
        create.oci.hooks = Grpc_Hooks()
        _ = try await agent.agentService.createContainer(create)
        var remove = Grpc_RemoveContainerRequest()
        remove.containerID = id
        remove.timeout = 10
        _ = try await agent.agentService.removeContainer(remove)
    }

    /// The runtime removes a container as soon as it exits: an init container's memory emptyDir
    /// must still hold what it wrote when the next container of the pod mounts it.
    func testMemoryEmptyDirOutlivesTheContainerThatWroteIt() async throws {
        let agent = try await AgentProcess.start(for: self)
        let tag = UUID().uuidString.prefix(8).lowercased()
        let volume = "/run/kata-containers/sandbox/ephemeral/cache-\(tag)"
        let emptyDir = storage("ephemeral", source: "tmpfs", fsType: "tmpfs", options: ["size=1M"], at: volume)
        var bind = Grpc_Mount()
        bind.destination = "/cache"
        bind.source = volume
        bind.type = "bind"
        bind.options = ["rbind", "rw"]
        addTeardownBlock { _ = umount2(volume, Int32(MNT_DETACH)); _ = rmdir(volume) }

        let wrote = try await run(agent, id: "init-\(tag)", root: rootfs, storages: [emptyDir], mounts: [bind],
                                  script: "echo from-init > /cache/data")
        XCTAssertEqual(wrote, 0)
        let read = try await run(agent, id: "app-\(tag)", root: rootfs, storages: [emptyDir], mounts: [bind],
                                 script: "test \"$(cat /cache/data)\" = from-init")
        XCTAssertEqual(read, 0, "the app container did not find what the init container wrote")
    }
}
