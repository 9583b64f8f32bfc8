import Foundation
import XCTest

/// The agent links FoundationEssentials only: full Foundation brings ICU and ~40 MB of its data.
final class AgentFootprintTests: XCTestCase {
    private func agentBinary() throws -> String {
        try builtAgentBinary()
    }

    /// Whether `needle` occurs in the file, read in chunks that overlap by the needle's length.
    private func file(_ path: String, contains needle: [UInt8]) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var carry: [UInt8] = []
        while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
            let window = carry + chunk
            if Self.search(window, for: needle) { return true }
            carry = Array(window.suffix(needle.count - 1))
        }
        return false
    }

    /// memchr for the first byte, then a compare: fast enough on a 170 MB debug binary.
    private static func search(_ haystack: [UInt8], for needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        return haystack.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            var offset = 0
            while offset <= buffer.count - needle.count {
                guard let hit = memchr(base + offset, Int32(first), buffer.count - offset) else { return false }
                let index = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
                if index + needle.count <= buffer.count && memcmp(base + index, needle, needle.count) == 0 { return true }
                offset = index + 1
            }
            return false
        }
    }

    func testAgentDoesNotLinkICU() throws {
        let agent = try agentBinary()
        // ICU's data symbol (icudt<N>_dat) and its data's table of contents (icudt<N>l/...) both
        // carry this prefix: a stripped binary still has the data's.
        XCTAssertFalse(try file(agent, contains: Array("icudt".utf8)),
                       "\(agent) contains ICU data: something in the agent imports full Foundation again "
                           + "(use FoundationEssentials; see Package.swift's staticExecutable)")
    }
}
