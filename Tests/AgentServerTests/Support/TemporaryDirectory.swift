import Foundation
import XCTest

/// A fresh directory under /tmp, removed when the test ends.
func makeTemporaryDirectory(for testCase: XCTestCase, _ label: String = "test") throws -> String {
    let path = "/tmp/kata-\(label)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// Writes `text` to `path`, creating parent directories.
func writeFile(_ path: String, _ text: String) throws {
    try FileManager.default.createDirectory(
        atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

func readFile(_ path: String) throws -> String {
    try String(contentsOfFile: path, encoding: .utf8)
}

/// Skips when not root, saying why root is needed.
func requireRoot(_ why: String) throws {
    if getuid() != 0 { throw XCTSkip("needs root: \(why)") }
}
