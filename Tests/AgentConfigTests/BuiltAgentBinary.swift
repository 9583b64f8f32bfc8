import Foundation
import XCTest

/// The kata-agent these tests run: $KATA_AGENT_BIN, else the package's debug build; a skip
/// with a message when neither exists.
func builtAgentBinary(file: String = #filePath) throws -> String {
    if let path = ProcessInfo.processInfo.environment["KATA_AGENT_BIN"] { return path }
    let package = URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let path = package.appendingPathComponent(".build/debug/kata-agent").path
    guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("kata-agent not built at \(path)") }
    return path
}
