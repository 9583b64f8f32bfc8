import Foundation
import Glibc
import XCTest

@testable import LinuxKit

/// `LinuxRouteNetlink` against the kernel, in a network namespace the test creates (and always
/// deletes); what it changes is read back with `ip -j`.
final class RouteNetlinkKernelTests: XCTestCase {
    private var namespace = ""

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to create network namespaces") }
        namespace = "ksw-nl-\(getpid())-\(Int.random(in: 0..<100_000))"
        try ip(["netns", "add", namespace])
        addTeardownBlock { [namespace] in _ = try? Self.run("/usr/sbin/ip", ["netns", "del", namespace]) }
        // veth rather than dummy: not every host kernel has the dummy driver.
        try ip(["-n", namespace, "link", "add", "d0", "type", "veth", "peer", "name", "d1"])
    }

    private var netlink: LinuxRouteNetlink { LinuxRouteNetlink(namespacePath: "/run/netns/\(namespace)") }

    func testDumpsAndChangesMatchIproute2() throws {
        let links = try netlink.links()
        XCTAssertEqual(Set(links.map(\.name)), ["lo", "d0", "d1"])
        let dummy = try XCTUnwrap(links.first { $0.name == "d0" })
        XCTAssertEqual(dummy.kind, "veth")

        try netlink.setLink(index: dummy.index, LinkChange(name: "n0", mtu: 1400, hardwareAddress: HardwareAddress("02:11:22:33:44:55"), up: true))
        try netlink.addAddress(NetlinkAddress(index: dummy.index, address: try XCTUnwrap(IPAddress("10.9.0.2")), prefixLength: 24), replace: true)
        try netlink.addAddress(NetlinkAddress(index: dummy.index, address: try XCTUnwrap(IPAddress("fd00::2")), prefixLength: 64), replace: true)
        var route = NetlinkRoute(family: .inet)
        route.destination = IPAddress("10.20.0.0")
        route.destinationPrefix = 16
        route.gateway = IPAddress("10.9.0.1")
        route.outputInterface = dummy.index
        route.mtu = 1300
        try netlink.addRoute(route, replace: true)
        try netlink.addNeighbour(NetlinkNeighbour(index: dummy.index, address: try XCTUnwrap(IPAddress("10.9.0.7")),
                                                  linkLayerAddress: HardwareAddress("02:aa:bb:cc:dd:ee"), state: RTNL.neighbourPermanent),
                                 replace: true)

        let shown = try json(["-n", namespace, "-j", "addr", "show", "dev", "n0"])
        let entry = try XCTUnwrap(shown.first)
        XCTAssertEqual(entry["mtu"] as? Int, 1400)
        XCTAssertEqual(entry["address"] as? String, "02:11:22:33:44:55")
        XCTAssertTrue((entry["flags"] as? [String] ?? []).contains("UP"))
        let locals = (entry["addr_info"] as? [[String: Any]] ?? []).map { "\($0["local"] ?? "")/\($0["prefixlen"] ?? "")" }
        XCTAssertTrue(locals.contains("10.9.0.2/24"), "\(locals)")
        XCTAssertTrue(locals.contains("fd00::2/64"), "\(locals)")

        let routes = try json(["-n", namespace, "-j", "route", "show", "10.20.0.0/16"])
        XCTAssertEqual(routes.first?["gateway"] as? String, "10.9.0.1")
        XCTAssertNil(routes.first?["protocol"], "proto boot, which iproute2 does not print")
        XCTAssertEqual((routes.first?["metrics"] as? [[String: Any]])?.first?["mtu"] as? Int, 1300)
        let dumped = try netlink.routes(family: .inet).first { $0.destination == IPAddress("10.20.0.0") }
        XCTAssertEqual(dumped?.gateway, IPAddress("10.9.0.1"))
        XCTAssertEqual(dumped?.mtu, 1300)
        XCTAssertEqual(dumped?.table, 254)

        let neighbours = try json(["-n", namespace, "-j", "neigh", "show", "dev", "n0"])
        XCTAssertEqual(neighbours.first?["dst"] as? String, "10.9.0.7")
        XCTAssertEqual(neighbours.first?["lladdr"] as? String, "02:aa:bb:cc:dd:ee")
        XCTAssertEqual(neighbours.first?["state"] as? [String], ["PERMANENT"])
        XCTAssertEqual(try netlink.neighbours(family: .inet).first?.state, RTNL.neighbourPermanent)

        let addresses = try netlink.addresses(family: nil).filter { $0.index == dummy.index }
        XCTAssertTrue(addresses.contains { $0.address == IPAddress("10.9.0.2") && $0.prefixLength == 24 })
    }

    func testKernelRefusalsCarryErrnoAndRequest() throws {
        let dummy = try XCTUnwrap(try netlink.links().first { $0.name == "d0" })
        let address = NetlinkAddress(index: dummy.index, address: try XCTUnwrap(IPAddress("10.9.0.2")), prefixLength: 24)
        try netlink.addAddress(address, replace: false)
        XCTAssertThrowsError(try netlink.addAddress(address, replace: false)) { error in
            XCTAssertEqual((error as? SyscallError)?.errno, EEXIST)
            XCTAssertEqual((error as? SyscallError)?.operation, "RTM_NEWADDR")
        }
        XCTAssertNoThrow(try netlink.addAddress(address, replace: true))
        XCTAssertThrowsError(try netlink.setLink(index: 99999, LinkChange(mtu: 1400))) { error in
            XCTAssertEqual((error as? SyscallError)?.errno, ENODEV)
        }
        XCTAssertThrowsError(try netlink.setLink(index: dummy.index, LinkChange(name: "lo"))) { error in
            XCTAssertEqual((error as? SyscallError)?.errno, EEXIST)
        }
        try netlink.deleteAddress(address)
        XCTAssertFalse(try netlink.addresses(family: .inet).contains { $0.index == dummy.index })
    }

    // MARK: helpers

    private func ip(_ arguments: [String]) throws {
        _ = try Self.run("/usr/sbin/ip", arguments)
    }

    private func json(_ arguments: [String]) throws -> [[String: Any]] {
        let output = try Self.run("/usr/sbin/ip", arguments)
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
    }

    static func run(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "\(path) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                          + String(decoding: errors, as: UTF8.self), code: Int(process.terminationStatus))
        }
        return String(decoding: data, as: UTF8.self)
    }
}
