import Glibc
import XCTest
@testable import LinuxKit

final class ProcessEnvironmentTests: XCTestCase {
    func testMatchesTheEnvironmentTheKernelGaveThisProcess() throws {
        // /proc/self/environ is what execve passed: NUL-separated NAME=VALUE entries.
        var expected: [String: String] = [:]
        for entry in try WholeFile.bytes("/proc/self/environ").split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            let name = String(text[..<equals])
            if expected[name] == nil { expected[name] = String(text[text.index(after: equals)...]) }
        }
        let current = ProcessEnvironment.current()
        for (name, value) in expected where getenv(name).map({ String(cString: $0) }) == value {
            XCTAssertEqual(current[name], value, name)
        }
        XCTAssertEqual(current["PATH"], getenv("PATH").map { String(cString: $0) })
    }
}
