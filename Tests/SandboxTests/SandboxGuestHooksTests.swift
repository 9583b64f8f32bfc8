import ContainerEngine
import LinuxKit
import Logging
import OCISpec
import XCTest
@testable import Sandbox

/// CreateSandbox's guest hooks reach the pod's containers, as OCI hooks with args [path, type].
final class SandboxGuestHooksTests: XCTestCase {
    func testCreateSandboxHandsGuestHooksToTheAttachedContainers() async throws {
        let system = InMemorySystemCalls()
        let exec = FileKind(kind: .regular, permissions: 0o755)
        system.addEntry("/hooks/prestart/a", kind: exec)
        system.addEntry("/hooks/poststop/z", kind: exec)
        let logger = Logger(label: "test")
        let sandbox = SandboxState(environment: SandboxEnvironment(
            system: system, modules: KernelModuleLoader(system: system, logger: logger), isInit: false, logger: logger))
        let reaper = try Reaper(mode: .registeredOnly, logger: logger)
        defer { reaper.shutdown() }
        let pod = PodContainers(engine: Engine(reaper: reaper, logger: logger), logger: logger)
        await sandbox.attach(containers: pod)
        XCTAssertNil(pod.guestHooks.ociHooks)

        try await sandbox.create(CreateSandboxRequest(guestHookPath: "/hooks"))
        let hooks = try XCTUnwrap(pod.guestHooks.ociHooks)
        XCTAssertEqual(hooks.prestart, [Hook(path: "/hooks/prestart/a", args: ["/hooks/prestart/a", "prestart"])])
        XCTAssertNil(hooks.poststart)
        XCTAssertEqual(hooks.poststop, [Hook(path: "/hooks/poststop/z", args: ["/hooks/poststop/z", "poststop"])])
    }
}
