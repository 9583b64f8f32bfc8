import Foundation
import KataProtocols
import XCTest

/// Fails when protos/ changed without `make proto`, so stale generated code cannot ship.
final class StampTests: XCTestCase {
    private var protosDirectory: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("protos")
    }

    func testEveryProtoIsStamped() throws {
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: protosDirectory.path)
            .filter { $0.hasSuffix(".proto") }
        XCTAssertEqual(Set(onDisk), Set(ProtoStamp.sha256.keys),
                       "protos/*.proto and ProtoStamp.swift disagree: run `make proto`")
    }

    func testGeneratedCodeMatchesProtos() throws {
        for (name, stamped) in ProtoStamp.sha256.sorted(by: { $0.key < $1.key }) {
            let path = protosDirectory.appendingPathComponent(name).path
            XCTAssertEqual(try sha256(path), stamped,
                           "\(name) changed since Sources/KataProtocols was generated: run `make proto`")
        }
    }

    private func sha256(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let line = String(data: data, encoding: .utf8),
              let hash = line.split(separator: " ").first
        else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return String(hash)
    }
}
