import XCTest

@testable import AgentServer
import KataProtocols

final class RequestValidationTests: XCTestCase {
    func testAcceptsValidIDs() throws {
        for id in ["a", "abc-DEF_0.9", String(repeating: "x", count: 128), "0", "a.b", "-x", "_"] {
            XCTAssertNoThrow(try RequestValidation.id(id, field: "container_id"), id)
        }
    }

    func testRejectsBadIDsNamingTheField() {
        let bad: [(String, String)] = [
            ("", "must not be empty"),
            (".hidden", "must not start with '.'"),
            ("..", "must not start with '.'"),
            (String(repeating: "x", count: 129), "at most 128"),
            ("a/b", "'/'"),
            ("a b", "byte 0x20"),
            ("a\u{0}b", "byte 0x0"),
            ("ü", "byte 0xC3"),
            ("a;rm", "';'"),
        ]
        for (id, reason) in bad {
            XCTAssertThrowsError(try RequestValidation.id(id, field: "exec_id"), id.debugDescription) { error in
                guard let error = error as? ValidationError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.field, "exec_id")
                XCTAssertTrue(error.reason.contains(reason), "\(id.debugDescription): \(error.reason)")
            }
        }
    }

    func testEmptyIDAllowedWhereUpstreamGivesItAMeaning() throws {
        XCTAssertNoThrow(try RequestValidation.id("", field: "exec_id", allowEmpty: true))
        XCTAssertThrowsError(try RequestValidation.id(".x", field: "exec_id", allowEmpty: true))
    }

    func testAcceptsCleanAbsolutePaths() {
        for path in ["/", "/run", "/run/kata-containers/shared/containers/abc", "/a.b/..c/c..", "/.hidden"] {
            XCTAssertNoThrow(try RequestValidation.absolutePath(path, field: "path"), path)
        }
    }

    func testRejectsUncleanPaths() {
        let bad: [(String, String)] = [
            ("", "must not be empty"),
            ("run/x", "not absolute"),
            ("./x", "not absolute"),
            ("/run//x", "'//'"),
            ("/run/./x", "'.'"),
            ("/run/../etc", "'..'"),
            ("/run/x/..", "'..'"),
            ("/run/x/", "trailing"),
            ("/run/\u{0}x", "NUL"),
            ("/" + String(repeating: "a", count: 4100), "4096"),
        ]
        for (path, reason) in bad {
            XCTAssertThrowsError(try RequestValidation.absolutePath(path, field: "storages[1].mount_point")) { error in
                guard let error = error as? ValidationError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.field, "storages[1].mount_point")
                XCTAssertTrue(error.reason.contains(reason), "\(path.prefix(40).debugDescription): \(error.reason)")
            }
        }
        XCTAssertNoThrow(try RequestValidation.absolutePath("", field: "guest_hook_path", allowEmpty: true))
    }

    func testStorageMountPointsMayEndInASlashAndAreKeyedWithoutIt() {
        // The Go runtime's first storage: virtio-fs at ".../shared/containers/".
        let shared = "/run/kata-containers/shared/containers/"
        XCTAssertNoThrow(try RequestValidation.absolutePath(shared, field: "mount_point", allowTrailingSlash: true))
        XCTAssertEqual(RequestValidation.withoutTrailingSlash(shared), "/run/kata-containers/shared/containers")
        XCTAssertEqual(RequestValidation.withoutTrailingSlash("/"), "/")
        for bad in ["/run//", "/run/../", "/run/x//"] {
            XCTAssertThrowsError(try RequestValidation.absolutePath(bad, field: "mount_point", allowTrailingSlash: true), bad)
        }
    }

    func testText() {
        XCTAssertNoThrow(try RequestValidation.text("host", field: "hostname", maximumLength: 64))
        XCTAssertThrowsError(try RequestValidation.text(String(repeating: "h", count: 65), field: "hostname", maximumLength: 64))
        XCTAssertThrowsError(try RequestValidation.text("a\u{0}", field: "hostname", maximumLength: 64))
        XCTAssertThrowsError(try RequestValidation.text("", field: "hostname", maximumLength: 64, allowEmpty: false))
    }

    private func assertField(_ expected: String, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertEqual((error as? ValidationError)?.field, expected, "\(error)", line: line)
        }
    }

    private func validSandbox() -> Grpc_CreateSandboxRequest {
        var request = Grpc_CreateSandboxRequest()
        request.sandboxID = "sandbox-1"
        request.hostname = "pod.example"
        request.dns = ["nameserver 10.0.0.10", "search svc.cluster.local"]
        request.guestHookPath = "/usr/share/oci/hooks"
        var module = Grpc_KernelModule()
        module.name = "e1000e"
        module.parameters = ["InterruptThrottleRate=3000,3000,3000", "EEE=1"]
        request.kernelModules = [module]
        var storage = Grpc_Storage()
        storage.driver = "ephemeral"
        storage.source = "tmpfs"
        storage.fstype = "tmpfs"
        storage.mountPoint = "/run/kata-containers/sandbox/shm"
        storage.options = ["size=1M"]
        request.storages = [storage]
        return request
    }

    func testCreateSandboxAcceptsATypicalRequest() {
        XCTAssertNoThrow(try RequestValidation.createSandbox(validSandbox()))
        var minimal = Grpc_CreateSandboxRequest()
        minimal.sandboxID = "s"
        XCTAssertNoThrow(try RequestValidation.createSandbox(minimal))
    }

    func testCreateSandboxNamesTheBadField() {
        var request = validSandbox()
        request.sandboxID = ""
        assertField("sandbox_id") { try RequestValidation.createSandbox(request) }
        request = validSandbox()
        request.hostname = "bad host"
        assertField("hostname") { try RequestValidation.createSandbox(request) }
        request.hostname = String(repeating: "h", count: 65)
        assertField("hostname") { try RequestValidation.createSandbox(request) }
        request = validSandbox()
        request.dns.append("nameserver 1.1.1.1\nnameserver 6.6.6.6")
        assertField("dns[2]") { try RequestValidation.createSandbox(request) }
        request = validSandbox()
        request.guestHookPath = "hooks"
        assertField("guest_hook_path") { try RequestValidation.createSandbox(request) }
        request = validSandbox()
        request.kernelModules[0].name = "../evil"
        assertField("kernel_modules[0].name") { try RequestValidation.createSandbox(request) }
        request.kernelModules[0].name = ""
        assertField("kernel_modules[0].name") { try RequestValidation.createSandbox(request) }
        request = validSandbox()
        request.kernelModules[0].parameters.append("a\u{0}b")
        assertField("kernel_modules[0].parameters[2]") { try RequestValidation.createSandbox(request) }
        request = validSandbox()
        request.storages[0].mountPoint = "/run/../etc"
        assertField("storages[0].mount_point") { try RequestValidation.createSandbox(request) }
        request = validSandbox()
        request.storages[0].driver = ""
        assertField("storages[0].driver") { try RequestValidation.createSandbox(request) }
    }
}
