import Glibc
import LinuxKit
import XCTest

final class NetlinkUeventSocketTests: XCTestCase {
    /// The kernel's own announcement of a new loop device arrives, parsed.
    func testReceivesTheLoopDeviceAddUevent() async throws {
        let loop = try LoopDevice(megabytes: 4)
        defer { loop.destroy() }
        let socket = try NetlinkUeventSocket()
        defer { socket.close() }
        let events = socket.events()
        let devpath = loop.devpath
        try loop.attach()
        let found = try await withThrowingTaskGroup(of: Uevent?.self) { group in
            group.addTask {
                for await event in events where event.action == "add" && event.devpath == devpath {
                    return event
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(20))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let event = try XCTUnwrap(found, "no add uevent for \(devpath) within 20 s")
        XCTAssertEqual(event.subsystem, "block")
        XCTAssertEqual(event.devname, "loop\(loop.index)")
        XCTAssertNotNil(event.seqnum)
    }

    func testCloseEndsTheStream() async throws {
        let socket = try NetlinkUeventSocket()
        let events = socket.events()
        socket.close()
        for await _ in events {}
        // A second consumer gets a finished stream rather than a second reader thread.
        for await _ in socket.events() {}
    }
}
