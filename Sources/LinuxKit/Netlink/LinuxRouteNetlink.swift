import Glibc

/// `RouteNetlink` on the kernel: one NETLINK_ROUTE socket per operation (a few microseconds;
/// no socket state shared between concurrent RPCs).
public struct LinuxRouteNetlink: RouteNetlink {
    /// The network namespace to act in (a /run/netns/<name> or /proc/<pid>/ns/net path); nil
    /// is the caller's own. Tests use it to work in a namespace they created.
    public let namespacePath: String?

    public init(namespacePath: String? = nil) {
        self.namespacePath = namespacePath
    }

    private func socket() throws(SyscallError) -> NetlinkSocket { try NetlinkSocket(namespacePath: namespacePath) }

    // MARK: dumps

    public func links() throws(SyscallError) -> [NetlinkLink] {
        var request = NetlinkRequest(type: RTNL.getLink, flags: RTNL.dump, summary: "all links")
        request.appendFixed(RouteNetlinkCodec.linkHeader(family: 0, index: 0, flags: 0, change: 0))
        var links: [NetlinkLink] = []
        for message in try socket().dump(request, expecting: RTNL.newLink) {
            links.append(try RouteNetlinkCodec.decodeLink(message.payload))
        }
        return links
    }

    public func addresses(family: AddressFamily?) throws(SyscallError) -> [NetlinkAddress] {
        var request = NetlinkRequest(type: RTNL.getAddress, flags: RTNL.dump, summary: "all addresses")
        request.appendFixed([family?.rawValue ?? 0, 0, 0, 0, 0, 0, 0, 0])
        var entries: [NetlinkAddress] = []
        for message in try socket().dump(request, expecting: RTNL.newAddress) {
            if let entry = try RouteNetlinkCodec.decodeAddress(message.payload) { entries.append(entry) }
        }
        return entries
    }

    public func routes(family: AddressFamily) throws(SyscallError) -> [NetlinkRoute] {
        var request = NetlinkRequest(type: RTNL.getRoute, flags: RTNL.dump, summary: "all \(family == .inet ? "IPv4" : "IPv6") routes")
        request.appendFixed([family.rawValue] + [UInt8](repeating: 0, count: 11))
        var entries: [NetlinkRoute] = []
        for message in try socket().dump(request, expecting: RTNL.newRoute) {
            if let entry = try RouteNetlinkCodec.decodeRoute(message.payload) { entries.append(entry) }
        }
        return entries
    }

    public func neighbours(family: AddressFamily?) throws(SyscallError) -> [NetlinkNeighbour] {
        var request = NetlinkRequest(type: RTNL.getNeighbour, flags: RTNL.dump, summary: "all neighbours")
        request.appendFixed([family?.rawValue ?? 0] + [UInt8](repeating: 0, count: 11))
        var entries: [NetlinkNeighbour] = []
        for message in try socket().dump(request, expecting: RTNL.newNeighbour) {
            if let entry = try RouteNetlinkCodec.decodeNeighbour(message.payload) { entries.append(entry) }
        }
        return entries
    }

    // MARK: changes

    public func setLink(index: Int32, _ change: LinkChange) throws(SyscallError) {
        try socket().change(RouteNetlinkCodec.setLinkRequest(index: index, change))
    }

    public func addAddress(_ address: NetlinkAddress, replace: Bool) throws(SyscallError) {
        try socket().change(RouteNetlinkCodec.addressRequest(address, type: RTNL.newAddress,
                                                             flags: RTNL.create | (replace ? RTNL.replace : RTNL.exclusive)))
    }

    public func deleteAddress(_ address: NetlinkAddress) throws(SyscallError) {
        try socket().change(RouteNetlinkCodec.addressRequest(address, type: RTNL.delAddress, flags: 0))
    }

    public func addRoute(_ route: NetlinkRoute, replace: Bool) throws(SyscallError) {
        try socket().change(RouteNetlinkCodec.routeRequest(route, type: RTNL.newRoute,
                                                           flags: RTNL.create | (replace ? RTNL.replace : RTNL.exclusive)))
    }

    public func deleteRoute(_ route: NetlinkRoute) throws(SyscallError) {
        try socket().change(RouteNetlinkCodec.routeRequest(route, type: RTNL.delRoute, flags: 0))
    }

    public func addNeighbour(_ neighbour: NetlinkNeighbour, replace: Bool) throws(SyscallError) {
        try socket().change(RouteNetlinkCodec.neighbourRequest(neighbour, type: RTNL.newNeighbour,
                                                               flags: RTNL.create | (replace ? RTNL.replace : RTNL.exclusive)))
    }

    public func deleteNeighbour(_ neighbour: NetlinkNeighbour) throws(SyscallError) {
        try socket().change(RouteNetlinkCodec.neighbourRequest(neighbour, type: RTNL.delNeighbour, flags: 0))
    }
}
