import Foundation
import LinuxKit
import XCTest

/// The agent's heap policy: blocks under a MiB come from the heaps and stay there when freed,
/// until a removal releases them.
final class HeapTrimTests: XCTestCase {
    private static let probeVariable = "KATA_HEAP_TRIM_PROBE"
    private static let marker = "heap-probe:"
    private static let block = 768 << 10

    /// What the probe does in a fresh process: glibc raises its thresholds on the fly after
    /// large frees, so this test process's own history could hide defaults that were never
    /// changed.
    private static func probe() {
        // A sanitizer's allocator stands in for glibc's and refuses mallopt.
        guard HeapTrim.keepFreedMemoryUntilRelease() else { return print(marker, "refused") }
        let before = HeapTrim.usage()
        guard let pointer = malloc(block) else { return print(marker, "malloc failed") }
        memset(pointer, 1, block)
        let allocated = HeapTrim.usage()
        free(pointer)
        let freed = HeapTrim.usage()
        HeapTrim.releaseFreeMemory()
        let released = HeapTrim.usage()
        print(marker, allocated.mapped - before.mapped, freed.heap - allocated.heap, released.heap - freed.heap)
    }

    func testBlocksUnderAMiBStayInTheHeapUntilReleased() throws {
        if ProcessInfo.processInfo.environment[Self.probeVariable] == "1" { return Self.probe() }
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = ["LinuxKitTests.HeapTrimTests/testBlocksUnderAMiBStayInTheHeapUntilReleased"]
        child.environment = ProcessInfo.processInfo.environment.merging([Self.probeVariable: "1"]) { $1 }
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix(Self.marker) }, text)
        if line.hasSuffix(" refused") { throw XCTSkip("the allocator refused mallopt: not glibc's (a sanitizer build?)") }
        let fields = line.dropFirst(Self.marker.count).split(separator: " ").map { Int($0) }
        XCTAssertEqual(fields.count, 3, String(line))
        guard fields.count == 3, let mapped = fields[0], let kept = fields[1], let released = fields[2] else { return }
        XCTAssertEqual(mapped, 0, "a \(Self.block)-byte block got a mapping of its own")
        XCTAssertEqual(kept, 0, "freeing the block shrank the heap by \(-kept) bytes")
        XCTAssertLessThanOrEqual(released, -Self.block / 2, "releaseFreeMemory returned only \(-released) bytes")
    }
}
