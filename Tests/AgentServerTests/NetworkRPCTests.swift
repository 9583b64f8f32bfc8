import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// The network RPCs through the real agent binary and gRPC stack, the agent running in a
/// network namespace the test creates (`ip netns exec`; always deleted) with a veth pair as
/// the pod NIC. Results are compared with `ip -j` in that namespace.
final class NetworkRPCTests: XCTestCase {
    private var namespace = ""
    private let mac = "02:5a:00:00:01:0a"
    private func options() -> CallOptions { AgentProcess.callOptions() }

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("needs root to create network namespaces") }
        namespace = "ksw-rpc-\(getpid())-\(Int.random(in: 0..<100_000))"
        try Self.ip(["netns", "add", namespace])
        addTeardownBlock { [namespace] in _ = try? Self.ip(["netns", "del", namespace]) }
        try Self.ip(["-n", namespace, "link", "add", "veth-pod", "address", mac, "type", "veth", "peer", "name", "veth-peer"])
        try Self.ip(["-n", namespace, "link", "set", "veth-peer", "up"])
        try Self.ip(["netns", "exec", namespace, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"])
    }

    private func startAgent() async throws -> AgentProcess {
        try await AgentProcess.start(for: self, launcher: ["/usr/sbin/ip", "netns", "exec", namespace])
    }

    func testRuntimeNetworkSequence() async throws {
        let agent = try await startAgent()
        let interface = Types_Interface.with {
            $0.device = "eth0"
            $0.name = "eth0"
            $0.hwAddr = mac
            $0.mtu = 1420
            $0.type = "virtual"
            $0.ipaddresses = [
                Types_IPAddress.with { $0.family = .v4; $0.address = "10.77.0.2"; $0.mask = "24" },
                Types_IPAddress.with { $0.family = .v6; $0.address = "fd77::2"; $0.mask = "64" },
            ]
        }
        let updated = try await agent.agentService.updateInterface(.with { $0.interface = interface }, options: options())
        XCTAssertEqual(updated.name, "eth0")
        XCTAssertEqual(updated.mtu, 1420)
        XCTAssertEqual(updated.devicePath, "")
        XCTAssertEqual(Set(updated.ipaddresses.filter { $0.family == .v6 }.map(\.address)).contains("fd77::2"), true)

        let link = try XCTUnwrap(try ipJSON(["addr", "show", "dev", "eth0"]).first)
        XCTAssertEqual(link["mtu"] as? Int, 1420)
        XCTAssertTrue((link["flags"] as? [String] ?? []).contains("UP"))
        let locals = Set((link["addr_info"] as? [[String: Any]] ?? []).map { "\($0["local"] ?? "")/\($0["prefixlen"] ?? "")" })
        XCTAssertTrue(locals.isSuperset(of: ["10.77.0.2/24", "fd77::2/64"]), "\(locals)")

        let routes = try await agent.agentService.updateRoutes(.with {
            $0.routes.routes = [
                Types_Route.with { $0.dest = ""; $0.gateway = "10.77.0.1"; $0.device = "eth0"; $0.family = .v4 },
                Types_Route.with { $0.dest = "10.78.0.0/16"; $0.device = "eth0"; $0.scope = 253; $0.family = .v4 },
                Types_Route.with { $0.dest = ""; $0.gateway = "fd77::1"; $0.device = "eth0"; $0.family = .v6 },
            ]
        }, options: options())
        let v4 = try ipJSON(["route", "show"])
        XCTAssertEqual(v4.first { $0["dst"] as? String == "default" }?["gateway"] as? String, "10.77.0.1")
        XCTAssertEqual(v4.first { $0["dst"] as? String == "10.78.0.0/16" }?["scope"] as? String, "link")
        XCTAssertEqual(try ipJSON(["-6", "route", "show", "default"]).first?["gateway"] as? String, "fd77::1")
        XCTAssertTrue(routes.routes.contains { $0.dest == "" && $0.gateway == "10.77.0.1" && $0.family == .v4 && $0.device == "eth0" })
        XCTAssertTrue(routes.routes.contains { $0.dest == "" && $0.gateway == "fd77::1" && $0.family == .v6 })

        _ = try await agent.agentService.addARPNeighbors(.with {
            $0.neighbors.arpneighbors = [Types_ARPNeighbor.with {
                $0.toIpaddress = Types_IPAddress.with { $0.family = .v4; $0.address = "10.77.0.1" }
                $0.device = "eth0"
                $0.lladdr = "02:5a:00:00:01:01"
            }]
        }, options: options())
        let neighbour = try XCTUnwrap(try ipJSON(["neigh", "show", "10.77.0.1", "dev", "eth0"]).first)
        XCTAssertEqual(neighbour["lladdr"] as? String, "02:5a:00:00:01:01")
        XCTAssertEqual(neighbour["state"] as? [String], ["PERMANENT"])

        let interfaces = try await agent.agentService.listInterfaces(Grpc_ListInterfacesRequest(), options: options())
        XCTAssertEqual(Set(interfaces.interfaces.map(\.name)), ["lo", "eth0", "veth-peer"])
        let eth0 = try XCTUnwrap(interfaces.interfaces.first { $0.name == "eth0" })
        XCTAssertEqual(eth0.hwAddr, mac.uppercased())
        XCTAssertTrue(eth0.ipaddresses.contains { $0.family == .v6 && $0.address == "fd77::2" && $0.mask == "64" },
                      "IPv6 is reported as v6 (upstream reports v4)")
        let listed = try await agent.agentService.listRoutes(Grpc_ListRoutesRequest(), options: options())
        XCTAssertEqual(listed.routes.count, routes.routes.count)
        XCTAssertTrue(listed.routes.contains { $0.dest == "10.78.0.0/16" && $0.gateway == "" })
    }

    func testBadRequestsAreInvalidArgumentNamingTheField() async throws {
        let agent = try await startAgent()
        await assertRPCError(.invalidArgument, containing: "interface") {
            try await agent.agentService.updateInterface(Grpc_UpdateInterfaceRequest(), options: options())
        }
        await assertRPCError(.invalidArgument, containing: "interface.hwAddr") {
            try await agent.agentService.updateInterface(.with { $0.interface = .with { $0.name = "eth0"; $0.hwAddr = "02:5a" } }, options: options())
        }
        await assertRPCError(.invalidArgument, containing: "interface.IPAddresses[0].mask") {
            try await agent.agentService.updateInterface(.with {
                $0.interface = .with {
                    $0.name = "eth0"
                    $0.hwAddr = mac
                    $0.ipaddresses = [.with { $0.address = "10.0.0.1"; $0.mask = "255.255.255.0" }]
                }
            }, options: options())
        }
        await assertRPCError(.invalidArgument, containing: "routes[0].scope") {
            try await agent.agentService.updateRoutes(.with {
                $0.routes.routes = [.with { $0.dest = "10.1.0.0/16"; $0.device = "veth-pod"; $0.scope = 100 }]
            }, options: options())
        }
        await assertRPCError(.invalidArgument, containing: "neighbors[0].toIPAddress") {
            try await agent.agentService.addARPNeighbors(.with { $0.neighbors.arpneighbors = [.with { $0.device = "veth-pod" }] }, options: options())
        }
        // Go retries UpdateInterface only on this text.
        await assertRPCError(.internalError, containing: "Link not found") {
            try await agent.agentService.updateInterface(.with { $0.interface = .with { $0.name = "eth9"; $0.hwAddr = "02:00:00:00:09:09" } }, options: options())
        }
        let untouched = try ipJSON(["addr", "show", "dev", "veth-pod"]).first?["addr_info"] as? [[String: Any]] ?? []
        XCTAssertTrue(untouched.isEmpty, "nothing was applied: \(untouched)")
    }

    func testIPTablesRoundTrip() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/iptables-restore") else {
            throw XCTSkip("iptables is not installed (make deps)")
        }
        let agent = try await startAgent()
        let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d 10.77.0.1/32 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n"
        _ = try await agent.agentService.setIPTables(.with { $0.data = Data(rules.utf8) }, options: options())
        let saved = try await agent.agentService.getIPTables(Grpc_GetIPTablesRequest(), options: options())
        XCTAssertTrue(String(decoding: saved.data, as: UTF8.self).contains("-A OUTPUT -d 10.77.0.1/32 -j REJECT"))
        XCTAssertTrue(try Self.ip(["netns", "exec", namespace, "iptables", "-S", "OUTPUT"]).contains("-A OUTPUT -d 10.77.0.1/32 -j REJECT"))
        await assertRPCError(.internalError, containing: "iptables-restore --wait 5 exited") {
            try await agent.agentService.setIPTables(.with { $0.data = Data("*filter\n-A NOPE -j DROP\nCOMMIT\n".utf8) }, options: options())
        }
        _ = try await agent.agentService.setIPTables(.with {
            $0.isIpv6 = true
            $0.data = Data("*filter\n-A INPUT -s fd77::9/128 -j DROP\nCOMMIT\n".utf8)
        }, options: options())
        let v6 = try await agent.agentService.getIPTables(.with { $0.isIpv6 = true }, options: options())
        XCTAssertTrue(String(decoding: v6.data, as: UTF8.self).contains("-A INPUT -s fd77::9/128 -j DROP"))
    }

    // MARK: helpers

    private func ipJSON(_ arguments: [String]) throws -> [[String: Any]] {
        let output = try Self.ip(["-n", namespace, "-j"] + arguments)
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
    }

    @discardableResult
    static func ip(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "ip \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                          + String(decoding: errors, as: UTF8.self), code: Int(process.terminationStatus))
        }
        return String(decoding: data, as: UTF8.self)
    }
}
