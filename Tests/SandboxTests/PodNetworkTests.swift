import Glibc
import LinuxKit
import Logging
import Synchronization
import XCTest

@testable import Sandbox

/// Pod-network logic against the in-memory rtnetlink fake: what UpdateInterface, UpdateRoutes
/// and AddARPNeighbors change, in which order, what they refuse, and what a failure undoes.
final class PodNetworkTests: XCTestCase {
    private let logger = Logger(label: "test")
    private let nicMAC = HardwareAddress(bytes: [0x02, 0x42, 0xac, 0x11, 0x00, 0x02])

    private func makeNetwork(_ netlink: InMemoryRouteNetlink, waiter: any NetworkDeviceWaiter = NoDevices(),
                             commands: any CapturingCommandRunner = FakeCommands()) -> PodNetwork {
        PodNetwork(netlink: netlink, deviceWaiter: waiter, commands: commands, logger: logger)
    }

    private func baseLinks() -> [NetlinkLink] {
        [NetlinkLink(index: 1, name: "lo", mtu: 65536, flags: RTNL.interfaceUp | RTNL.interfaceLoopback),
         NetlinkLink(index: 2, name: "eth0", hardwareAddress: nicMAC, mtu: 1500)]
    }

    private func link(_ netlink: InMemoryRouteNetlink, _ index: Int32) -> NetlinkLink? {
        netlink.state.withLock { $0.links.first { $0.index == index } }
    }

    // MARK: UpdateInterface

    func testUpdateInterfaceByMACSetsAddressesMTUNoARPAndUp() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        let result = try await makeNetwork(netlink).updateInterface(PodInterface(
            device: "eth0", name: "eth0",
            addresses: [InterfaceAddress(family: 0, address: "10.244.1.5", mask: "24"),
                        InterfaceAddress(family: 1, address: "fd00::5", mask: "64")],
            mtu: 1450, hardwareAddress: "02:42:AC:11:00:02", type: "virtual", rawFlags: RTNL.interfaceNoARP))
        let updated = try XCTUnwrap(link(netlink, 2))
        XCTAssertEqual(updated.mtu, 1450)
        XCTAssertNotEqual(updated.flags & RTNL.interfaceUp, 0)
        XCTAssertNotEqual(updated.flags & RTNL.interfaceNoARP, 0)
        XCTAssertEqual(result.name, "eth0")
        XCTAssertEqual(result.mtu, 1450)
        XCTAssertEqual(result.hardwareAddress, "02:42:AC:11:00:02")
        XCTAssertEqual(result.addresses, [InterfaceAddress(family: 0, address: "10.244.1.5", mask: "24"),
                                          InterfaceAddress(family: 1, address: "fd00::5", mask: "64")])
        // A link with the right name and MAC is neither taken down nor renamed.
        let calls = netlink.state.withLock { $0.calls }
        XCTAssertEqual(calls, ["newaddr 10.244.1.5/24 dev 2", "newaddr fd00::5/64 dev 2", "setlink 2 mtu 1450 arp off up"])
    }

    func testExistingAddressesAreKeptAndEqualOnesReplaced() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        netlink.state.withLock {
            $0.addresses = [NetlinkAddress(index: 2, address: IPAddress("192.168.9.9")!, prefixLength: 16),
                            NetlinkAddress(index: 2, address: IPAddress("10.244.1.5")!, prefixLength: 24, scope: RouteScope.link)]
        }
        _ = try await makeNetwork(netlink).updateInterface(PodInterface(
            name: "eth0", addresses: [InterfaceAddress(family: 0, address: "10.244.1.5", mask: "24")], hardwareAddress: "02:42:ac:11:00:02"))
        let addresses = netlink.state.withLock { $0.addresses.map { "\($0.address)/\($0.prefixLength) scope \($0.scope)" } }
        XCTAssertEqual(addresses.sorted(), ["10.244.1.5/24 scope \(RouteScope.universe)", "192.168.9.9/16 scope \(RouteScope.universe)"])
    }

    /// IPv4 keys an address by address and prefix: 10.1.0.2/16 requested over 10.1.0.2/24 is
    /// added beside it, so undoing it must delete the /16, not only put the /24 back.
    func testRollbackOfAnAddressWithANewPrefixLeavesOnlyTheOldOne() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        netlink.state.withLock {
            $0.addresses = [NetlinkAddress(index: 2, address: IPAddress("10.1.0.2")!, prefixLength: 24)]
            $0.failures["setlink"] = EIO
        }
        do {
            _ = try await makeNetwork(netlink).updateInterface(PodInterface(
                name: "eth0", addresses: [InterfaceAddress(family: 0, address: "10.1.0.2", mask: "16")], hardwareAddress: "\(nicMAC)"))
            XCTFail("expected the injected failure")
        } catch {
            XCTAssertEqual(error.errno, EIO)
            XCTAssertTrue(error.message.contains("rolled back: address 10.1.0.2/16 back to /24"), error.message)
        }
        let addresses = netlink.state.withLock { $0.addresses.map { "\($0.address)/\($0.prefixLength)" } }
        XCTAssertEqual(addresses, ["10.1.0.2/24"])
    }

    func testLinkFoundByNameGetsTheMAC() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        _ = try await makeNetwork(netlink).updateInterface(PodInterface(name: "eth0", hardwareAddress: "02:00:00:00:00:77"))
        XCTAssertEqual(link(netlink, 2)?.hardwareAddress.description, "02:00:00:00:00:77")
    }

    func testMissingLinkSaysLinkNotFound() async {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        do {
            _ = try await makeNetwork(netlink).updateInterface(PodInterface(name: "eth5", hardwareAddress: "02:00:00:00:00:99"))
            XCTFail("expected Link not found")
        } catch {
            XCTAssertTrue(error.message.contains("Link not found"), error.message)
            XCTAssertEqual(netlink.state.withLock { $0.calls }, [])
        }
    }

    func testRenameSwapsWithTheLinkHoldingTheName() async throws {
        let target = HardwareAddress(bytes: [2, 0, 0, 0, 0, 3])
        let netlink = InMemoryRouteNetlink(links: [
            NetlinkLink(index: 1, name: "lo", flags: RTNL.interfaceUp),
            NetlinkLink(index: 2, name: "eth0", hardwareAddress: nicMAC, flags: RTNL.interfaceUp),
            NetlinkLink(index: 3, name: "ens3", hardwareAddress: target, flags: RTNL.interfaceUp),
        ])
        _ = try await makeNetwork(netlink).updateInterface(PodInterface(name: "eth0", hardwareAddress: "\(target)"))
        XCTAssertEqual(link(netlink, 3)?.name, "eth0")
        XCTAssertEqual(link(netlink, 2)?.name, "ens3")
        XCTAssertNotEqual((link(netlink, 2)?.flags ?? 0) & RTNL.interfaceUp, 0, "the link that gave its name up is up again")
        XCTAssertNotEqual((link(netlink, 3)?.flags ?? 0) & RTNL.interfaceUp, 0)
        XCTAssertEqual(netlink.state.withLock { $0.calls }, [
            "setlink 3 down", "setlink 2 down", "setlink 2 name kt2_sw", "setlink 3 name eth0 arp on up",
            "setlink 2 name ens3", "setlink 2 up",
        ])
    }

    func testAFailedStepRollsBackEarlierOnesAndSaysSo() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        netlink.state.withLock {
            $0.links[1].flags = RTNL.interfaceUp
            $0.addresses = [NetlinkAddress(index: 2, address: IPAddress("10.0.0.9")!, prefixLength: 8)]
            // Found by name, so the MAC is set; the second address fails.
            $0.failures["newaddr"] = ENOSPC
            $0.failAfter["newaddr"] = 1
            $0.failTimes["newaddr"] = 1
        }
        do {
            _ = try await makeNetwork(netlink).updateInterface(PodInterface(
                name: "eth0", addresses: [InterfaceAddress(family: 0, address: "10.0.0.9", mask: "24"),
                                          InterfaceAddress(family: 0, address: "10.1.0.2", mask: "16")],
                mtu: 9000, hardwareAddress: "02:00:00:00:00:42"))
            XCTFail("expected the injected failure")
        } catch {
            XCTAssertEqual(error.errno, ENOSPC)
            XCTAssertTrue(error.message.contains("add address 10.1.0.2/16"), error.message)
            XCTAssertTrue(error.message.contains("rolled back:"), error.message)
        }
        let after = try XCTUnwrap(link(netlink, 2))
        XCTAssertEqual(after.name, "eth0")
        XCTAssertEqual(after.mtu, 1500)
        XCTAssertEqual(after.hardwareAddress, nicMAC, "MAC restored")
        XCTAssertNotEqual(after.flags & RTNL.interfaceUp, 0, "up again")
        XCTAssertEqual(netlink.state.withLock { $0.addresses.map { "\($0.address)/\($0.prefixLength)" } }, ["10.0.0.9/8"],
                       "the replaced address has its old prefix back")
    }

    func testARollbackThatFailsTooIsReportedExactly() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        netlink.state.withLock {
            $0.links[1].flags = RTNL.interfaceUp
            // Renaming: down succeeds, then the final name/MTU/up step and every later setlink fail.
            $0.failures["setlink"] = EIO
            $0.failAfter["setlink"] = 1
        }
        do {
            _ = try await makeNetwork(netlink).updateInterface(PodInterface(
                name: "eth1", addresses: [InterfaceAddress(family: 0, address: "10.1.0.2", mask: "16")], hardwareAddress: "\(nicMAC)"))
            XCTFail("expected the injected failure")
        } catch {
            XCTAssertEqual(error.errno, EIO)
            XCTAssertTrue(error.message.contains("rollback INCOMPLETE: could not undo eth0 up again"), error.message)
            XCTAssertTrue(error.message.contains("undone: address 10.1.0.2/16 removed"), error.message)
        }
        XCTAssertEqual(netlink.state.withLock { $0.addresses }, [])
    }

    func testBadInterfaceRequestsNameTheFieldAndChangeNothing() async {
        let cases: [(PodInterface, String)] = [
            (PodInterface(name: ""), "interface.name"),
            (PodInterface(name: "a-name-longer-than-15"), "interface.name"),
            (PodInterface(name: "eth/0"), "interface.name"),
            (PodInterface(name: "eth0", hardwareAddress: "02:42:ac:11:00"), "interface.hwAddr"),
            (PodInterface(name: "eth0", hardwareAddress: "zz:42:ac:11:00:02"), "interface.hwAddr"),
            (PodInterface(name: "eth0", mtu: 20), "interface.mtu"),
            (PodInterface(name: "eth0", mtu: 1 << 40), "interface.mtu"),
            (PodInterface(name: "eth0", addresses: [InterfaceAddress(family: 0, address: "10.0.0.1", mask: "33")]), "interface.IPAddresses[0].mask"),
            (PodInterface(name: "eth0", addresses: [InterfaceAddress(family: 0, address: "10.0.0.1", mask: "")]), "interface.IPAddresses[0].mask"),
            (PodInterface(name: "eth0", addresses: [InterfaceAddress(family: 0, address: "fd00::1", mask: "64")]), "interface.IPAddresses[0].address"),
            (PodInterface(name: "eth0", addresses: [InterfaceAddress(family: 7, address: "10.0.0.1", mask: "8")]), "interface.IPAddresses[0].family"),
            (PodInterface(name: "eth0", addresses: [InterfaceAddress(family: 0, address: "10.0.0", mask: "8")]), "interface.IPAddresses[0].address"),
            (PodInterface(name: "eth0", devicePath: "002"), "interface.devicePath"),
            (PodInterface(name: "eth0", devicePath: "02//03"), "interface.devicePath"),
            (PodInterface(name: "eth0", devicePath: "02/+1"), "interface.devicePath"),
            (PodInterface(name: "eth0", devicePath: "zz"), "interface.devicePath"),
        ]
        for (request, field) in cases {
            let netlink = InMemoryRouteNetlink(links: baseLinks())
            do {
                _ = try await makeNetwork(netlink).updateInterface(request)
                XCTFail("accepted \(request)")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument, "\(request)")
                XCTAssertTrue(error.message.hasPrefix(field + ":"), "\(error.message) should name \(field)")
            }
            XCTAssertEqual(netlink.state.withLock { $0.calls }, [])
        }
    }

    func testDevicePathUsesTheInterfaceAtThatPCIPath() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks() + [NetlinkLink(index: 3, name: "eth1", hardwareAddress: HardwareAddress(bytes: [2, 9, 9, 9, 9, 9]))])
        let waiter = FixedDevice(pciPath: "01/02", name: "eth1")
        let result = try await makeNetwork(netlink, waiter: waiter).updateInterface(
            PodInterface(name: "net1", hardwareAddress: "02:aa:aa:aa:aa:aa", devicePath: "01/02"))
        XCTAssertEqual(result.name, "net1")
        XCTAssertEqual(link(netlink, 3)?.name, "net1")
        XCTAssertEqual(link(netlink, 3)?.hardwareAddress.description, "02:aa:aa:aa:aa:aa", "the NIC at the PCI path gets the MAC")
        XCTAssertEqual(result.devicePath, "01/02")
    }

    // MARK: UpdateRoutes

    func testRoutesWithoutGatewayGoFirstAndTheAnswerIsTheWholeTable() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        let routes = try await makeNetwork(netlink).updateRoutes([
            PodRoute(dest: "", gateway: "10.244.1.1", device: "eth0", family: 0),
            PodRoute(dest: "10.244.1.0/24", device: "eth0", source: "10.244.1.5", scope: 253, family: 0),
            PodRoute(dest: "2001:db8::/64", gateway: "fd00::1", device: "eth0", family: 1, mtu: 1400),
            PodRoute(dest: "fd00::/64", device: "eth0", source: "fd00::5/128", scope: 253, family: 1, flags: 0),
        ])
        XCTAssertEqual(netlink.state.withLock { $0.calls }, [
            "newroute 10.244.1.0/24 dev 2 src 10.244.1.5 scope 253 table 254",
            "newroute fd00::/64 from fd00::5/128 dev 2 scope 253 table 254",
            "newroute default via 10.244.1.1 dev 2 scope 0 table 254",
            "newroute 2001:db8::/64 via fd00::1 dev 2 scope 0 table 254 mtu 1400",
        ])
        let expected = [
            PodRoute(dest: "10.244.1.0/24", device: "eth0", source: "10.244.1.5", scope: 253, family: 0),
            PodRoute(dest: "", gateway: "10.244.1.1", device: "eth0", family: 0),
            PodRoute(dest: "fd00::/64", device: "eth0", source: "fd00::5/128", scope: 253, family: 1),
            PodRoute(dest: "2001:db8::/64", gateway: "fd00::1", device: "eth0", family: 1, mtu: 1400),
        ]
        XCTAssertEqual(routes, expected, "IPv4 then IPv6, as the table holds them")
    }

    func testRouteFailureRemovesTheRoutesThisRequestAdded() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        var existing = NetlinkRoute(family: .inet)
        existing.destination = IPAddress("10.9.0.0")
        existing.destinationPrefix = 16
        existing.outputInterface = 2
        existing.scope = RouteScope.link
        existing.routeProtocol = RTNL.protocolKernel
        netlink.state.withLock { $0.routes = [existing] }
        do {
            _ = try await makeNetwork(netlink).updateRoutes([
                PodRoute(dest: "10.9.0.0/16", device: "eth0", scope: 253, family: 0, mtu: 1300),
                PodRoute(dest: "10.244.0.0/16", device: "eth0", scope: 253, family: 0),
                // Unreachable gateway: the kernel (and the fake) refuse it.
                PodRoute(dest: "", gateway: "172.16.0.1", device: "eth0", family: 0),
            ])
            XCTFail("expected ENETUNREACH")
        } catch {
            XCTAssertEqual(error.errno, ENETUNREACH)
            XCTAssertTrue(error.message.contains("routes[2]"), error.message)
            XCTAssertTrue(error.message.contains("rolled back"), error.message)
        }
        XCTAssertEqual(netlink.state.withLock { $0.routes }, [existing], "replaced route restored, added route removed")
    }

    func testBadRoutesNameTheFieldAndChangeNothing() async {
        let cases: [(PodRoute, String)] = [
            (PodRoute(dest: "10.0.0.0/24", device: "eth0", scope: 7), "routes[0].scope"),
            (PodRoute(dest: "10.0.0.5/24", device: "eth0"), "routes[0].dest"),
            (PodRoute(dest: "10.0.0.0/40", device: "eth0"), "routes[0].dest"),
            (PodRoute(dest: "10.0.0.0/24", device: "eth0", family: 1), "routes[0].dest"),
            (PodRoute(dest: "10.0.0.0/24", gateway: "nope", device: "eth0"), "routes[0].gateway"),
            (PodRoute(dest: "10.0.0.0/24", device: "eth0", source: "10.0.0.1/99"), "routes[0].source"),
            (PodRoute(dest: "10.0.0.0/24", device: ""), "routes[0].device"),
            (PodRoute(dest: "10.0.0.0/24", device: "eth0", family: 2), "routes[0].family"),
            (PodRoute(dest: "10.0.0.0/24", device: "eth0", mtu: 3), "routes[0].mtu"),
        ]
        for (route, field) in cases {
            let netlink = InMemoryRouteNetlink(links: baseLinks())
            do {
                _ = try await makeNetwork(netlink).updateRoutes([route])
                XCTFail("accepted \(route)")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument, "\(route): \(error.message)")
                XCTAssertTrue(error.message.hasPrefix(field + ":"), "\(error.message) should name \(field)")
            }
            XCTAssertEqual(netlink.state.withLock { $0.calls }, [])
        }
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        do {
            _ = try await makeNetwork(netlink).updateRoutes([PodRoute(dest: "10.0.0.0/24", device: "eth0", scope: 253),
                                                             PodRoute(dest: "10.1.0.0/24", device: "eth9", scope: 253)])
            XCTFail("accepted a missing device")
        } catch {
            XCTAssertEqual(error.kind, .failedPrecondition)
            XCTAssertTrue(error.message.hasPrefix("routes[1].device:"), error.message)
        }
        XCTAssertEqual(netlink.state.withLock { $0.calls }, [], "nothing added before every device was found")
    }

    // MARK: listings

    func testListingsReportTheRightFamilyAndKeepGatewayDestinations() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        var route = NetlinkRoute(family: .inet6)
        route.destination = IPAddress("2001:db8::")
        route.destinationPrefix = 64
        route.gateway = IPAddress("fd00::1")
        route.outputInterface = 2
        var local = NetlinkRoute(family: .inet)
        local.destination = IPAddress("10.0.0.1")
        local.destinationPrefix = 32
        local.table = 255
        netlink.state.withLock {
            $0.routes = [route, local]
            $0.addresses = [NetlinkAddress(index: 2, address: IPAddress("fd00::5")!, prefixLength: 64)]
        }
        let network = makeNetwork(netlink)
        let routes = try await network.listRoutes()
        XCTAssertEqual(routes, [PodRoute(dest: "2001:db8::/64", gateway: "fd00::1", device: "eth0", family: 1)],
                       "main table only; a gateway route keeps its destination")
        let interfaces = try await network.listInterfaces()
        XCTAssertEqual(interfaces.map(\.name), ["lo", "eth0"])
        XCTAssertEqual(interfaces.last?.addresses, [InterfaceAddress(family: 1, address: "fd00::5", mask: "64")])
        XCTAssertEqual(interfaces.last?.hardwareAddress, "02:42:AC:11:00:02")
    }

    // MARK: AddARPNeighbors

    func testNeighboursStateZeroIsPermanentAndBadOnesAreRefused() async throws {
        let netlink = InMemoryRouteNetlink(links: baseLinks())
        let network = makeNetwork(netlink)
        try await network.addNeighbours([
            PodNeighbour(destination: InterfaceAddress(family: 0, address: "10.244.1.1", mask: ""), device: "eth0", linkLayerAddress: "02:00:00:00:00:01"),
            PodNeighbour(destination: InterfaceAddress(family: 1, address: "fd00::1", mask: ""), device: "eth0", linkLayerAddress: "02:00:00:00:00:02",
                         state: Int32(RTNL.neighbourReachable), flags: 0),
        ])
        let neighbours = netlink.state.withLock { $0.neighbours }
        XCTAssertEqual(neighbours.map(\.state), [RTNL.neighbourPermanent, RTNL.neighbourReachable])
        XCTAssertEqual(neighbours.first?.linkLayerAddress?.description, "02:00:00:00:00:01")

        let bad: [(PodNeighbour, String)] = [
            (PodNeighbour(destination: nil, device: "eth0"), "neighbors[0].toIPAddress"),
            (PodNeighbour(destination: InterfaceAddress(family: 0, address: "fd00::1", mask: ""), device: "eth0"), "neighbors[0].toIPAddress.address"),
            (PodNeighbour(destination: InterfaceAddress(family: 0, address: "10.0.0.1", mask: ""), device: "eth0", linkLayerAddress: "xx"), "neighbors[0].lladdr"),
            (PodNeighbour(destination: InterfaceAddress(family: 0, address: "10.0.0.1", mask: ""), device: "eth0", state: 300), "neighbors[0].state"),
            (PodNeighbour(destination: InterfaceAddress(family: 0, address: "10.0.0.1", mask: ""), device: "eth0", flags: -1), "neighbors[0].flags"),
        ]
        for (neighbour, field) in bad {
            do {
                try await network.addNeighbours([neighbour])
                XCTFail("accepted \(neighbour)")
            } catch {
                XCTAssertEqual(error.kind, .invalidArgument)
                XCTAssertTrue(error.message.hasPrefix(field + ":"), "\(error.message) should name \(field)")
            }
        }
    }

    // MARK: iptables

    func testIPTablesToolsPathsArgumentsAndErrors() async throws {
        let commands = FakeCommands(executables: ["/usr/sbin/iptables-save", "/sbin/iptables-restore"],
                                    results: ["/usr/sbin/iptables-save": CapturedOutput(status: 0, standardOutput: Array("*filter\nCOMMIT\n".utf8), standardError: []),
                                              "/sbin/iptables-restore": CapturedOutput(status: 2, standardOutput: [], standardError: Array("iptables-restore: line 2 failed\n".utf8))])
        let network = makeNetwork(InMemoryRouteNetlink(), commands: commands)
        let saved = try await network.getIPTables(ipv6: false)
        XCTAssertEqual(String(decoding: saved, as: UTF8.self), "*filter\nCOMMIT\n")
        do {
            _ = try await network.setIPTables(ipv6: false, rules: Array("*filter\nbogus\n".utf8))
            XCTFail("expected the tool's failure")
        } catch {
            XCTAssertEqual(error.kind, .system)
            XCTAssertTrue(error.message.contains("iptables-restore: line 2 failed"), error.message)
        }
        XCTAssertEqual(commands.runs.withLock { $0 }.last?.arguments, ["iptables-restore", "--wait", "5"])
        XCTAssertEqual(commands.runs.withLock { $0 }.last?.input, Array("*filter\nbogus\n".utf8))
        do {
            _ = try await network.getIPTables(ipv6: true)
            XCTFail("ip6tables-save is missing")
        } catch {
            XCTAssertEqual(error.kind, .failedPrecondition)
            XCTAssertTrue(error.message.contains("ip6tables-save"), error.message)
        }
    }

    // MARK: device waiter

    func testHotPluggedNICIsFoundThroughItsUevent() async throws {
        let hub = UeventHub(paths: DevicePaths(sysfs: "/nonexistent-sysfs", dev: "/nonexistent-dev"), timeout: .seconds(30), logger: logger)
        let waiter = UeventNetworkDeviceWaiter(locator: DeviceLocator(hub: hub))
        let waiting = Task { try await waiter.interfaceName(pciPath: "02", timeout: .seconds(30)) }
        // Another device first: only the net add event below 0000:00:02.0 ends the wait.
        while hub.pendingWaiters == 0 { await Task.yield() }
        hub.ingest(Uevent(action: "add", devpath: "/devices/pci0000:00/0000:00:03.0/virtio2/net/eth2",
                          fields: ["SUBSYSTEM": "net", "INTERFACE": "eth2"]))
        hub.ingest(Uevent(action: "add", devpath: "/devices/pci0000:00/0000:00:02.0/virtio1/net/eth1",
                          fields: ["SUBSYSTEM": "net", "INTERFACE": "eth1"]))
        let name = try await waiting.value
        XCTAssertEqual(name, "eth1")
    }

    func testANICThatNeverComesSaysLinkNotFound() async throws {
        let hub = UeventHub(paths: DevicePaths(sysfs: "/nonexistent-sysfs", dev: "/nonexistent-dev"), timeout: .seconds(30), logger: logger)
        let waiter = UeventNetworkDeviceWaiter(locator: DeviceLocator(hub: hub))
        do {
            _ = try await waiter.interfaceName(pciPath: "05", timeout: .milliseconds(20))
            XCTFail("no NIC at 05")
        } catch {
            XCTAssertTrue(error.message.hasPrefix("Link not found"), error.message)
        }
        XCTAssertEqual(hub.pendingWaiters, 0)
    }
}

// MARK: fakes

private struct NoDevices: NetworkDeviceWaiter {
    func interfaceName(pciPath: String, timeout: Duration) async throws(SandboxError) -> String {
        throw SandboxError(.system, "Link not found: no devices in this test")
    }
}

private struct FixedDevice: NetworkDeviceWaiter {
    let pciPath: String
    let name: String
    func interfaceName(pciPath: String, timeout: Duration) async throws(SandboxError) -> String {
        guard pciPath == self.pciPath else { throw SandboxError(.system, "Link not found at \(pciPath)") }
        return name
    }
}

private final class FakeCommands: CapturingCommandRunner {
    struct Run: Sendable { var path: String; var arguments: [String]; var input: [UInt8] }
    let executables: Set<String>
    let results: [String: CapturedOutput]
    let runs = Mutex<[Run]>([])

    init(executables: Set<String> = [], results: [String: CapturedOutput] = [:]) {
        self.executables = executables
        self.results = results
    }

    func isExecutable(_ path: String) -> Bool { executables.contains(path) }

    func run(path: String, arguments: [String], input: [UInt8]) async throws(SandboxError) -> CapturedOutput {
        runs.withLock { $0.append(Run(path: path, arguments: arguments, input: input)) }
        return results[path] ?? CapturedOutput(status: 127, standardOutput: [], standardError: [])
    }
}
