import LinuxKit
import XCTest

final class UeventParserTests: XCTestCase {
    private func message(_ parts: [String]) -> [UInt8] {
        parts.flatMap { Array($0.utf8) + [0] }
    }

    func testParsesKernelBlockAdd() throws {
        let bytes = message([
            "add@/devices/pci0000:00/0000:00:02.0/virtio2/block/vda",
            "ACTION=add", "DEVPATH=/devices/pci0000:00/0000:00:02.0/virtio2/block/vda",
            "SUBSYSTEM=block", "MAJOR=254", "MINOR=0", "DEVNAME=vda", "DEVTYPE=disk", "SEQNUM=1234",
        ])
        let event = try XCTUnwrap(Uevent.parse(bytes))
        XCTAssertEqual(event.action, "add")
        XCTAssertEqual(event.devpath, "/devices/pci0000:00/0000:00:02.0/virtio2/block/vda")
        XCTAssertEqual(event.subsystem, "block")
        XCTAssertEqual(event.devname, "vda")
        XCTAssertEqual(event.seqnum, 1234)
        XCTAssertEqual(event.fields["MAJOR"], "254")
        XCTAssertEqual(Uevent.parse(event.encoded()), event)
    }

    func testValueMayContainEqualsAndEmptyValue() throws {
        let event = try XCTUnwrap(Uevent.parse(message(["change@/devices/x", "ACTION=change", "DEVPATH=/devices/x", "K=a=b", "EMPTY="])))
        XCTAssertEqual(event.fields["K"], "a=b")
        XCTAssertEqual(event.fields["EMPTY"], "")
        XCTAssertEqual(event.subsystem, "")
        XCTAssertNil(event.seqnum)
    }

    func testRefusesWhatTheKernelDoesNotSend() {
        // udev's re-broadcast starts with "libudev" and binary header bytes.
        XCTAssertNil(Uevent.parse(Array("libudev".utf8) + [0, 0xfe, 0xed, 0xca, 0xfe]))
        XCTAssertNil(Uevent.parse([UInt8]()))
        XCTAssertNil(Uevent.parse(message(["add"])))                  // no @
        XCTAssertNil(Uevent.parse(message(["@/devices/x"])))          // no action
        XCTAssertNil(Uevent.parse(message(["add@devices/x"])))        // relative devpath
        XCTAssertNil(Uevent.parse(message(["add@/devices/x", "ACTION=remove"])))       // header disagrees
        XCTAssertNil(Uevent.parse(message(["add@/devices/x", "DEVPATH=/devices/y"])))  // header disagrees
        XCTAssertNil(Uevent.parse(message(["add@/devices/\u{FF}"]).map { $0 == 0xC3 ? 0xFF : $0 }))  // not UTF-8
        XCTAssertNil(Uevent.parse([UInt8](repeating: 65, count: Uevent.maximumMessageSize + 1)))
    }

    func testHostileBytesNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        var parsed = 0
        for length in 0..<600 {
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if length > 8, Bool.random(using: &generator) {
                bytes.replaceSubrange(0..<5, with: Array("add@/".utf8))
            }
            if Uevent.parse(bytes) != nil { parsed += 1 }
        }
        // Only that nothing trapped matters; a few random buffers may happen to parse.
        XCTAssertLessThanOrEqual(parsed, 600)
        XCTAssertNotNil(Uevent.parse(message(["add@/a", "\u{0}", "=novalue", "KEY"])))
    }

    func testInMemorySourceDeliversInOrderAndCountsRejects() async {
        let source = InMemoryUeventSource()
        let stream = source.events()
        source.send(Uevent(action: "add", devpath: "/devices/a", fields: ["SUBSYSTEM": "block"]))
        source.send(raw: Array("garbage".utf8))
        source.send(raw: message(["remove@/devices/a", "SUBSYSTEM=block"]))
        source.finish()
        var seen: [String] = []
        for await event in stream { seen.append("\(event.action)@\(event.devpath)") }
        XCTAssertEqual(seen, ["add@/devices/a", "remove@/devices/a"])
        XCTAssertEqual(source.rejected.withLock { $0 }, 1)
    }
}
