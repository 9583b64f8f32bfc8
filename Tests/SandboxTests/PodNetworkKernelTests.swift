import Foundation
import Glibc
import LinuxKit
import Logging
import XCTest

@testable import Sandbox

/// PodNetwork against the kernel, in a network namespace the test creates (veth pair and dummy
/// links; the namespace is always deleted). The netlink socket is opened inside the namespace;
/// what the RPC logic did is read back with `ip -j`, and iptables runs under `ip netns exec`.
final class PodNetworkKernelTests: XCTestCase {
    private var namespace = ""
    private let logger = Logger(label: "net-test")
    private let guestMAC = "02:5a:00:00:00:0a"

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to create network namespaces") }
        namespace = "ksw-pn-\(getpid())-\(Int.random(in: 0..<100_000))"
        try NetShell.run("/usr/sbin/ip", ["netns", "add", namespace])
        addTeardownBlock { [namespace] in _ = try? NetShell.run("/usr/sbin/ip", ["netns", "del", namespace]) }
        // The guest NIC (v0, the runtime's MAC) and its peer, both in the namespace; DAD off so
        // IPv6 addresses are usable at once.
        try ipn(["link", "add", "v0", "address", guestMAC, "type", "veth", "peer", "name", "v1"])
        try ipn(["link", "set", "v1", "up"])
        try NetShell.run("/usr/sbin/ip", ["netns", "exec", namespace, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0",
                                        "net.ipv6.conf.default.accept_dad=0"])
    }

    private func network(commands: (any CapturingCommandRunner)? = nil) throws -> PodNetwork {
        let runner = try commands ?? NetnsRunner(namespace: namespace, reaper: Reaper(mode: .registeredOnly, logger: logger))
        return PodNetwork(netlink: LinuxRouteNetlink(namespacePath: "/run/netns/\(namespace)"),
                          deviceWaiter: UeventNetworkDeviceWaiter(locator: DeviceLocator(hub: UeventHub(logger: logger))), commands: runner, logger: logger)
    }

    func testRuntimeSequenceIPv4AndIPv6MatchesIproute2() async throws {
        let network = try network()
        let interface = try await network.updateInterface(PodInterface(
            device: "eth0", name: "eth0",
            addresses: [InterfaceAddress(family: 0, address: "10.88.0.2", mask: "24"), InterfaceAddress(family: 1, address: "fd88::2", mask: "64")],
            mtu: 1400, hardwareAddress: guestMAC.uppercased(), type: "virtual"))
        XCTAssertEqual(interface.name, "eth0")

        let shown = try XCTUnwrap(try ipJSON(["addr", "show", "dev", "eth0"]).first)
        XCTAssertEqual(shown["mtu"] as? Int, 1400)
        XCTAssertEqual(shown["address"] as? String, guestMAC)
        XCTAssertTrue((shown["flags"] as? [String] ?? []).contains("UP"))
        let kernelAddresses = Set((shown["addr_info"] as? [[String: Any]] ?? []).map { "\($0["local"] ?? "")/\($0["prefixlen"] ?? "")" })
        XCTAssertTrue(kernelAddresses.isSuperset(of: ["10.88.0.2/24", "fd88::2/64"]), "\(kernelAddresses)")
        XCTAssertEqual(Set(interface.addresses.map { "\($0.address)/\($0.mask)" }), kernelAddresses, "the answer is the link as the kernel has it")
        XCTAssertEqual(interface.addresses.first { $0.address == "fd88::2" }?.family, 1)

        let routes = try await network.updateRoutes([
            PodRoute(dest: "", gateway: "10.88.0.1", device: "eth0", family: 0),
            PodRoute(dest: "10.99.0.0/16", gateway: "10.88.0.1", device: "eth0", family: 0, mtu: 1300),
            PodRoute(dest: "192.168.50.0/24", device: "eth0", source: "10.88.0.2", scope: 253, family: 0),
            PodRoute(dest: "fd99::/64", gateway: "fd88::1", device: "eth0", family: 1),
            PodRoute(dest: "", gateway: "fd88::1", device: "eth0", family: 1),
        ])
        let v4 = try ipJSON(["route", "show"]), v6 = try ipJSON(["-6", "route", "show"])
        XCTAssertEqual(Set(v4.map { Self.normalized($0, family: 0) }) .union(v6.map { Self.normalized($0, family: 1) }),
                       Set(routes.map { "\($0.dest.isEmpty ? "default" : $0.dest) via \($0.gateway) dev \($0.device)" }),
                       "UpdateRoutes answers the whole main table")
        let defaultV4 = try XCTUnwrap(v4.first { $0["dst"] as? String == "default" })
        XCTAssertEqual(defaultV4["gateway"] as? String, "10.88.0.1")
        XCTAssertNil(defaultV4["protocol"], "proto boot, which iproute2 does not print")
        let metric = try XCTUnwrap(v4.first { $0["dst"] as? String == "10.99.0.0/16" })
        XCTAssertEqual((metric["metrics"] as? [[String: Any]])?.first?["mtu"] as? Int, 1300)
        let scoped = try XCTUnwrap(v4.first { $0["dst"] as? String == "192.168.50.0/24" })
        XCTAssertEqual(scoped["scope"] as? String, "link")
        XCTAssertEqual(scoped["prefsrc"] as? String, "10.88.0.2")
        XCTAssertEqual(v6.first { $0["dst"] as? String == "fd99::/64" }?["gateway"] as? String, "fd88::1")

        let listed = try await network.listRoutes()
        XCTAssertEqual(listed.first { $0.dest == "fd99::/64" }, PodRoute(dest: "fd99::/64", gateway: "fd88::1", device: "eth0", family: 1),
                       "a gateway route keeps its destination and its family")
        // Replacing is idempotent: the same request again changes nothing and fails nothing.
        let again = try await network.updateRoutes([PodRoute(dest: "", gateway: "10.88.0.1", device: "eth0", family: 0)])
        XCTAssertEqual(again.count, listed.count)

        try await network.addNeighbours([
            PodNeighbour(destination: InterfaceAddress(family: 0, address: "10.88.0.1", mask: ""), device: "eth0", linkLayerAddress: "02:5a:00:00:00:01"),
            PodNeighbour(destination: InterfaceAddress(family: 1, address: "fd88::1", mask: ""), device: "eth0", linkLayerAddress: "02:5a:00:00:00:01"),
        ])
        let neighbours = try ipJSON(["neigh", "show", "dev", "eth0", "nud", "permanent"])
        XCTAssertEqual(Set(neighbours.map { "\($0["dst"] ?? "") \($0["lladdr"] ?? "")" }),
                       ["10.88.0.1 02:5a:00:00:00:01", "fd88::1 02:5a:00:00:00:01"])

        let interfaces = try await network.listInterfaces()
        XCTAssertEqual(Set(interfaces.map(\.name)), Set(try ipJSON(["link", "show"]).compactMap { $0["ifname"] as? String }))
        let eth0 = try XCTUnwrap(interfaces.first { $0.name == "eth0" })
        XCTAssertEqual(eth0.hardwareAddress, guestMAC.uppercased())
        XCTAssertTrue(eth0.addresses.contains(InterfaceAddress(family: 1, address: "fd88::2", mask: "64")))
        XCTAssertTrue(eth0.addresses.contains(InterfaceAddress(family: 0, address: "10.88.0.2", mask: "24")))
    }

    func testRenameSwapsWithAnUpLinkHoldingTheName() async throws {
        // (veth: this host's kernel may lack the dummy driver.)
        try ipn(["link", "add", "eth0", "type", "veth", "peer", "name", "w1"])
        try ipn(["link", "set", "eth0", "up"])
        try ipn(["link", "set", "v0", "up"])
        let before = try ipJSON(["link", "show"])
        let dummyIndex = try XCTUnwrap(before.first { $0["ifname"] as? String == "eth0" }?["ifindex"] as? Int)
        let nicIndex = try XCTUnwrap(before.first { $0["ifname"] as? String == "v0" }?["ifindex"] as? Int)

        _ = try await network().updateInterface(PodInterface(name: "eth0", mtu: 1450, hardwareAddress: guestMAC))
        let after = try ipJSON(["link", "show"])
        let nic = try XCTUnwrap(after.first { $0["ifindex"] as? Int == nicIndex })
        let dummy = try XCTUnwrap(after.first { $0["ifindex"] as? Int == dummyIndex })
        XCTAssertEqual(nic["ifname"] as? String, "eth0")
        XCTAssertEqual(nic["mtu"] as? Int, 1450)
        XCTAssertEqual(dummy["ifname"] as? String, "v0", "the link that held the name takes the NIC's old one")
        XCTAssertTrue((dummy["flags"] as? [String] ?? []).contains("UP"), "and is up again")
    }

    func testNOARPFromRawFlagsAndLinkNotFound() async throws {
        let network = try network()
        _ = try await network.updateInterface(PodInterface(name: "v0", hardwareAddress: guestMAC, rawFlags: RTNL.interfaceNoARP))
        XCTAssertTrue((try ipJSON(["link", "show", "v0"]).first?["flags"] as? [String] ?? []).contains("NOARP"))
        _ = try await network.updateInterface(PodInterface(name: "v0", hardwareAddress: guestMAC, rawFlags: 0))
        XCTAssertFalse((try ipJSON(["link", "show", "v0"]).first?["flags"] as? [String] ?? []).contains("NOARP"))
        do {
            _ = try await network.updateInterface(PodInterface(name: "eth7", hardwareAddress: "02:00:00:00:77:77"))
            XCTFail("expected Link not found")
        } catch {
            XCTAssertTrue(error.message.contains("Link not found"), error.message)
        }
    }

    func testBadInputChangesNothingAndKernelRefusalsRollBack() async throws {
        try ipn(["link", "set", "v0", "up"])
        let network = try network()
        let before = try NetShell.run("/usr/sbin/ip", ["-n", namespace, "-j", "addr", "show"])
        do {
            _ = try await network.updateInterface(PodInterface(name: "eth0", addresses: [InterfaceAddress(family: 0, address: "10.1.1.1", mask: "99")],
                                                               hardwareAddress: guestMAC))
            XCTFail("accepted mask 99")
        } catch {
            XCTAssertEqual(error.kind, .invalidArgument)
        }
        do {
            _ = try await network.updateRoutes([PodRoute(dest: "10.5.0.0/16", device: "v0", scope: 253),
                                                PodRoute(dest: "10.6.0.0/16", device: "v0", scope: 9)])
            XCTFail("accepted scope 9")
        } catch {
            XCTAssertTrue(error.message.hasPrefix("routes[1].scope:"), error.message)
        }
        XCTAssertEqual(try NetShell.run("/usr/sbin/ip", ["-n", namespace, "-j", "addr", "show"]), before)
        XCTAssertEqual(try ipJSON(["route", "show"]).count, 0)

        // The kernel refuses the unreachable gateway; the connected route added before it goes again.
        do {
            _ = try await network.updateRoutes([PodRoute(dest: "10.5.0.0/16", device: "v0", scope: 253),
                                                PodRoute(dest: "10.7.0.0/16", gateway: "172.31.0.1", device: "v0")])
            XCTFail("the kernel should refuse an unreachable gateway")
        } catch {
            XCTAssertEqual(error.errno, ENETUNREACH, error.message)
            XCTAssertTrue(error.message.contains("rolled back"), error.message)
        }
        XCTAssertEqual(try ipJSON(["route", "show"]).count, 0, "rolled back")
    }

    func testIPTablesSaveAndRestoreInTheNamespace() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/iptables-restore") else {
            throw XCTSkip("iptables is not installed (make deps)")
        }
        let network = try network()
        let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d 10.88.0.1/32 -p tcp -m tcp --dport 80 -j DROP\nCOMMIT\n"
        _ = try await network.setIPTables(ipv6: false, rules: Array(rules.utf8))
        let saved = String(decoding: try await network.getIPTables(ipv6: false), as: UTF8.self)
        XCTAssertTrue(saved.contains("-A OUTPUT -d 10.88.0.1/32 -p tcp -m tcp --dport 80 -j DROP"), saved)
        XCTAssertEqual(try NetShell.run("/usr/sbin/ip", ["netns", "exec", namespace, "iptables", "-S", "OUTPUT"]),
                       "-P OUTPUT ACCEPT\n-A OUTPUT -d 10.88.0.1/32 -p tcp -m tcp --dport 80 -j DROP\n")
        _ = try await network.setIPTables(ipv6: true, rules: Array("*filter\n-A INPUT -s fd88::9/128 -j DROP\nCOMMIT\n".utf8))
        let savedV6 = String(decoding: try await network.getIPTables(ipv6: true), as: UTF8.self)
        XCTAssertTrue(savedV6.contains("-A INPUT -s fd88::9/128 -j DROP"), savedV6)
        do {
            _ = try await network.setIPTables(ipv6: false, rules: Array("*filter\n-A NOSUCHCHAIN -j DROP\nCOMMIT\n".utf8))
            XCTFail("iptables-restore should refuse an unknown chain")
        } catch {
            XCTAssertEqual(error.kind, .system)
            XCTAssertTrue(error.message.contains("iptables-restore --wait 5 exited"), error.message)
            XCTAssertTrue(error.message.lowercased().contains("line"), "carries the tool's stderr: \(error.message)")
        }
    }

    // MARK: helpers

    private func ipn(_ arguments: [String]) throws {
        try NetShell.run("/usr/sbin/ip", ["-n", namespace] + arguments)
    }

    private func ipJSON(_ arguments: [String]) throws -> [[String: Any]] {
        let output = try NetShell.run("/usr/sbin/ip", ["-n", namespace, "-j"] + arguments)
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
    }

    /// An `ip -j route` entry as "dest via gateway dev name" (host routes get their full prefix).
    static func normalized(_ entry: [String: Any], family: Int) -> String {
        var dst = entry["dst"] as? String ?? ""
        if dst != "default" && !dst.contains("/") { dst += family == 0 ? "/32" : "/128" }
        return "\(dst) via \(entry["gateway"] as? String ?? "") dev \(entry["dev"] as? String ?? "")"
    }
}

/// Runs the real iptables tools through the agent's capture path, inside the test's namespace.
private struct NetnsRunner: CapturingCommandRunner {
    let namespace: String
    let reaper: Reaper

    func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }

    func run(path: String, arguments: [String], input: [UInt8]) async throws(SandboxError) -> CapturedOutput {
        try await ReaperCapturingRunner(reaper: reaper).run(
            path: "/usr/sbin/ip", arguments: ["ip", "netns", "exec", namespace, path] + arguments.dropFirst(), input: input)
    }
}

/// Runs a host tool for the test's setup and checks; throws with its stderr on failure.
enum NetShell {
    @discardableResult
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
