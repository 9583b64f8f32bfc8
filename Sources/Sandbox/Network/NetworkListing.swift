import LinuxKit

/// ListInterfaces and ListRoutes: the kernel's links and main-table routes as the agent API's
/// types. Unlike upstream, an address's family is its own (upstream reports IPv6 as v4) and a
/// gateway route keeps its destination (upstream overwrites it with 0.0.0.0 or ::1).
enum NetworkListing {
    static func interfaces(netlink: any RouteNetlink) throws(SandboxError) -> [PodInterface] {
        let links = try networkDump("links") { () throws(SyscallError) in try netlink.links() }
        let addresses = try networkDump("addresses") { () throws(SyscallError) in try netlink.addresses(family: nil) }
        return links.map { interface($0, addresses: addresses) }
    }

    /// One link with its addresses. The MAC is upper-case hex as upstream's ListInterfaces writes it.
    static func interface(_ link: NetlinkLink, addresses: [NetlinkAddress]) -> PodInterface {
        PodInterface(
            name: link.name,
            addresses: addresses.filter { $0.index == link.index }.map {
                InterfaceAddress(family: $0.address.family == .inet ? 0 : 1, address: "\($0.address)", mask: "\($0.prefixLength)")
            },
            mtu: UInt64(link.mtu), hardwareAddress: link.hardwareAddress.description.uppercased(), type: link.kind, rawFlags: link.flags)
    }

    /// IPv4 then IPv6 routes of the main table.
    static func routes(netlink: any RouteNetlink) throws(SandboxError) -> [PodRoute] {
        let links = try networkDump("links") { () throws(SyscallError) in try netlink.links() }
        var names: [Int32: String] = [:]
        for link in links { names[link.index] = link.name }
        var result: [PodRoute] = []
        for family in [AddressFamily.inet, .inet6] {
            let routes = try networkDump("routes") { () throws(SyscallError) in try netlink.routes(family: family) }
            for route in routes where route.table == UInt32(RTNL.tableMain) {
                result.append(podRoute(route, names: names))
            }
        }
        return result
    }

    /// `dest` "" for a default route (what UpdateRoutes takes for one), else "address/prefix".
    static func podRoute(_ route: NetlinkRoute, names: [Int32: String]) -> PodRoute {
        var dest = ""
        if route.destinationPrefix > 0 || route.destination != nil {
            dest = "\(route.destination ?? .unspecified(route.family))/\(route.destinationPrefix)"
        }
        var source = ""
        if let from = route.source, route.sourcePrefix > 0 {
            source = "\(from)/\(route.sourcePrefix)"
        } else if let preferred = route.preferredSource {
            source = "\(preferred)"
        }
        return PodRoute(dest: dest, gateway: route.gateway.map { "\($0)" } ?? "", device: names[route.outputInterface] ?? "",
                        source: source, scope: UInt32(route.scope), family: route.family == .inet ? 0 : 1,
                        flags: route.flags, mtu: route.mtu)
    }
}
