import Glibc
import LinuxKit
import Logging
import XCTest
@testable import Sandbox

/// A fake kernel for the storage drivers: both syscall seams over one in-memory tree.
struct FakeStorageKernel {
    let system = InMemorySystemCalls()
    let files: InMemoryStorageSystemCalls

    init() {
        files = InMemoryStorageSystemCalls(base: system)
    }

    func context(containerID: String? = nil, paths: StoragePaths = StoragePaths()) -> StorageContext {
        StorageContext(system: system, files: files, paths: paths, containerID: containerID, logger: Logger(label: "storage-test"))
    }

    func manager(_ registry: StorageDriverRegistry = .standard()) -> StorageManager {
        StorageManager(registry: registry) { owner in
            var context = self.context()
            if case .container(let id) = owner { context.containerID = id }
            return context
        }
    }

    var calls: [String] { system.calls }

    /// Mount points mounted and not unmounted since, from the recorded calls.
    var mounted: [String] {
        var points: [String] = []
        for call in system.calls {
            let words = call.split(separator: " ").map(String.init)
            if words.first == "mount", words.count >= 4 {
                points.append(words[3])
            } else if words.first == "umount", words.count >= 2, let index = points.lastIndex(of: words[1]) {
                points.remove(at: index)
            }
        }
        return points
    }
}

/// A driver that fails (after its mount, like a failing fs_group) or mounts a tmpfs.
struct ScriptedDriver: StorageDriver {
    let names: [String]
    let fails: Bool

    func mount(_ storage: StorageRequest, context: StorageContext) async throws(SandboxError) -> MountedStorage {
        if fails { throw SandboxError(.system, "scripted failure at \(storage.mountPoint)", errno: EIO) }
        do {
            try context.system.mount(source: "tmpfs", target: storage.mountPoint, fsType: "tmpfs", flags: [], data: "")
        } catch {
            throw SandboxError.system("scripted", error)
        }
        return MountedStorage(driver: storage.driver, mountPoint: storage.mountPoint, isMount: true)
    }
}

func assertSandboxError<T>(_ kind: SandboxError.Kind, containing text: String, file: StaticString = #filePath, line: UInt = #line,
                           _ body: () async throws -> T) async {
    do {
        _ = try await body()
        XCTFail("expected a \(kind) error containing \"\(text)\"", file: file, line: line)
    } catch let error as SandboxError {
        XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
        XCTAssertTrue(error.message.contains(text), "\"\(error.message)\" lacks \"\(text)\"", file: file, line: line)
    } catch {
        XCTFail("expected a SandboxError, got \(error)", file: file, line: line)
    }
}
