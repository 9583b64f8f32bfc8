import XCTest

@testable import AgentServer

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

    func testText() {
        XCTAssertNoThrow(try RequestValidation.text("host", field: "hostname", maximumLength: 64))
        XCTAssertThrowsError(try RequestValidation.text(String(repeating: "h", count: 65), field: "hostname", maximumLength: 64))
        XCTAssertThrowsError(try RequestValidation.text("a\u{0}", field: "hostname", maximumLength: 64))
        XCTAssertThrowsError(try RequestValidation.text("", field: "hostname", maximumLength: 64, allowEmpty: false))
    }
}
