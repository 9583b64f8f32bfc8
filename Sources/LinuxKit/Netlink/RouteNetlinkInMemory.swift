import Glibc
import Synchronization

/// A `RouteNetlink` over in-memory tables that refuses what the kernel refuses (duplicate
/// names, renaming an up link, unknown links, duplicate entries without replace, a gateway no
/// route reaches) and records every change: pod-network logic is tested without root.
public final class InMemoryRouteNetlink: RouteNetlink {
    /// The tables, the recorded changes and injected failures.
    public struct State: Sendable {
        public var links: [NetlinkLink] = []
        public var addresses: [NetlinkAddress] = []
        public var routes: [NetlinkRoute] = []
        public var neighbours: [NetlinkNeighbour] = []
        /// Each change in order, e.g. "setlink 2 name eth0 up", "newaddr 10.0.0.2/24 dev 2".
        public var calls: [String] = []
        /// Operation ("setlink", "newaddr", "deladdr", "newroute", "delroute", "newneigh",
        /// "delneigh", "dump") -> errno to fail with; `failAfter` delays it by that many successes,
        /// `failTimes` limits how often it fails (absent: every time).
        public var failures: [String: Int32] = [:]
        public var failAfter: [String: Int] = [:]
        public var failTimes: [String: Int] = [:]
    }

    public let state = Mutex(State())

    public init(links: [NetlinkLink] = []) {
        state.withLock { $0.links = links }
    }

    /// Adds a link (tests: a NIC appearing).
    public func addLink(_ link: NetlinkLink) {
        state.withLock { $0.links.append(link) }
    }

    public func links() throws(SyscallError) -> [NetlinkLink] {
        try state.withLock { (state) throws(SyscallError) in
            try Self.injected("dump", &state, "all links")
            return state.links
        }
    }

    public func addresses(family: AddressFamily?) throws(SyscallError) -> [NetlinkAddress] {
        try state.withLock { (state) throws(SyscallError) in
            try Self.injected("dump", &state, "all addresses")
            return state.addresses.filter { family == nil || $0.address.family == family }
        }
    }

    public func routes(family: AddressFamily) throws(SyscallError) -> [NetlinkRoute] {
        try state.withLock { (state) throws(SyscallError) in
            try Self.injected("dump", &state, "all routes")
            return state.routes.filter { $0.family == family }
        }
    }

    public func neighbours(family: AddressFamily?) throws(SyscallError) -> [NetlinkNeighbour] {
        try state.withLock { (state) throws(SyscallError) in
            try Self.injected("dump", &state, "all neighbours")
            return state.neighbours.filter { family == nil || $0.address.family == family }
        }
    }

    public func setLink(index: Int32, _ change: LinkChange) throws(SyscallError) {
        try state.withLock { (state) throws(SyscallError) in
            let what = "link \(index) \(RouteNetlinkCodec.describe(change))"
            try Self.injected("setlink", &state, what)
            guard let position = state.links.firstIndex(where: { $0.index == index }) else {
                throw SyscallError("RTM_SETLINK", target: what, errno: ENODEV)
            }
            var link = state.links[position]
            if let name = change.name, name != link.name {
                if state.links.contains(where: { $0.name == name }) { throw SyscallError("RTM_SETLINK", target: what, errno: EEXIST) }
                // Like the kernel (dev_change_name): a running interface keeps its name.
                if link.flags & RTNL.interfaceUp != 0 && change.up != false {
                    throw SyscallError("RTM_SETLINK", target: what, errno: EBUSY)
                }
                link.name = name
            }
            if let mtu = change.mtu { link.mtu = mtu }
            if let address = change.hardwareAddress { link.hardwareAddress = address }
            if let noARP = change.noARP { link.flags = noARP ? link.flags | RTNL.interfaceNoARP : link.flags & ~RTNL.interfaceNoARP }
            if let up = change.up { link.flags = up ? link.flags | RTNL.interfaceUp : link.flags & ~RTNL.interfaceUp }
            state.links[position] = link
            state.calls.append("setlink \(index) \(RouteNetlinkCodec.describe(change))")
        }
    }

    public func addAddress(_ address: NetlinkAddress, replace: Bool) throws(SyscallError) {
        try state.withLock { (state) throws(SyscallError) in
            let what = "\(address.address)/\(address.prefixLength) dev \(address.index)"
            try Self.injected("newaddr", &state, what)
            guard state.links.contains(where: { $0.index == address.index }) else { throw SyscallError("RTM_NEWADDR", target: what, errno: ENODEV) }
            if let existing = state.addresses.firstIndex(where: { Self.sameKey($0, address) }) {
                guard replace else { throw SyscallError("RTM_NEWADDR", target: what, errno: EEXIST) }
                state.addresses[existing] = address
            } else {
                state.addresses.append(address)
            }
            state.calls.append("newaddr \(what)")
        }
    }

    /// The kernel's identity of an address on a link: IPv6 by the address alone, IPv4 by the
    /// address and prefix length (10.0.0.2/16 added beside 10.0.0.2/24 is a second address).
    static func sameKey(_ a: NetlinkAddress, _ b: NetlinkAddress) -> Bool {
        a.index == b.index && a.address == b.address && (a.address.family == .inet6 || a.prefixLength == b.prefixLength)
    }

    public func deleteAddress(_ address: NetlinkAddress) throws(SyscallError) {
        try state.withLock { (state) throws(SyscallError) in
            let what = "\(address.address)/\(address.prefixLength) dev \(address.index)"
            try Self.injected("deladdr", &state, what)
            guard let existing = state.addresses.firstIndex(where: { Self.sameKey($0, address) }) else {
                throw SyscallError("RTM_DELADDR", target: what, errno: EADDRNOTAVAIL)
            }
            state.addresses.remove(at: existing)
            state.calls.append("deladdr \(what)")
        }
    }

    public func addRoute(_ route: NetlinkRoute, replace: Bool) throws(SyscallError) {
        try state.withLock { (state) throws(SyscallError) in
            let what = RouteNetlinkCodec.describe(route)
            try Self.injected("newroute", &state, what)
            guard route.outputInterface == 0 || state.links.contains(where: { $0.index == route.outputInterface }) else {
                throw SyscallError("RTM_NEWROUTE", target: what, errno: ENODEV)
            }
            if let gateway = route.gateway, !Self.reaches(gateway, on: route.outputInterface, state) {
                throw SyscallError("RTM_NEWROUTE", target: what, errno: ENETUNREACH, detail: "Nexthop has invalid gateway")
            }
            if let existing = state.routes.firstIndex(where: { Self.sameKey($0, route) }) {
                guard replace else { throw SyscallError("RTM_NEWROUTE", target: what, errno: EEXIST) }
                state.routes[existing] = route
            } else {
                state.routes.append(route)
            }
            state.calls.append("newroute \(what)")
        }
    }

    public func deleteRoute(_ route: NetlinkRoute) throws(SyscallError) {
        try state.withLock { (state) throws(SyscallError) in
            let what = RouteNetlinkCodec.describe(route)
            try Self.injected("delroute", &state, what)
            guard let existing = state.routes.firstIndex(where: { Self.sameKey($0, route) }) else {
                throw SyscallError("RTM_DELROUTE", target: what, errno: ESRCH)
            }
            state.routes.remove(at: existing)
            state.calls.append("delroute \(what)")
        }
    }

    public func addNeighbour(_ neighbour: NetlinkNeighbour, replace: Bool) throws(SyscallError) {
        try state.withLock { (state) throws(SyscallError) in
            let what = "\(neighbour.address) dev \(neighbour.index)"
            try Self.injected("newneigh", &state, what)
            guard state.links.contains(where: { $0.index == neighbour.index }) else { throw SyscallError("RTM_NEWNEIGH", target: what, errno: ENODEV) }
            if let existing = state.neighbours.firstIndex(where: { $0.index == neighbour.index && $0.address == neighbour.address }) {
                guard replace else { throw SyscallError("RTM_NEWNEIGH", target: what, errno: EEXIST) }
                state.neighbours[existing] = neighbour
            } else {
                state.neighbours.append(neighbour)
            }
            state.calls.append("newneigh \(what) lladdr \(neighbour.linkLayerAddress?.description ?? "-") state \(neighbour.state)")
        }
    }

    public func deleteNeighbour(_ neighbour: NetlinkNeighbour) throws(SyscallError) {
        try state.withLock { (state) throws(SyscallError) in
            let what = "\(neighbour.address) dev \(neighbour.index)"
            try Self.injected("delneigh", &state, what)
            guard let existing = state.neighbours.firstIndex(where: { $0.index == neighbour.index && $0.address == neighbour.address }) else {
                throw SyscallError("RTM_DELNEIGH", target: what, errno: ENOENT)
            }
            state.neighbours.remove(at: existing)
            state.calls.append("delneigh \(what)")
        }
    }

    // MARK: kernel rules

    private static func injected(_ operation: String, _ state: inout State, _ what: String) throws(SyscallError) {
        guard let code = state.failures[operation] else { return }
        if let remaining = state.failAfter[operation], remaining > 0 {
            state.failAfter[operation] = remaining - 1
            return
        }
        if let times = state.failTimes[operation] {
            if times <= 1 {
                state.failures[operation] = nil
                state.failTimes[operation] = nil
            } else {
                state.failTimes[operation] = times - 1
            }
        }
        throw SyscallError("injected \(operation)", target: what, errno: code)
    }

    /// Routes are keyed like the kernel's FIB: family, table, destination/prefix, priority.
    private static func sameKey(_ a: NetlinkRoute, _ b: NetlinkRoute) -> Bool {
        a.family == b.family && a.table == b.table && a.destinationPrefix == b.destinationPrefix
            && masked(a.destination, a.destinationPrefix, a.family) == masked(b.destination, b.destinationPrefix, b.family)
            && (a.priority ?? 0) == (b.priority ?? 0)
    }

    /// A gateway must be inside a directly connected route (or an address's prefix) on that link.
    private static func reaches(_ gateway: IPAddress, on index: Int32, _ state: State) -> Bool {
        let viaRoute = state.routes.contains { route in
            route.family == gateway.family && route.gateway == nil && (index == 0 || route.outputInterface == index)
                && masked(gateway, route.destinationPrefix, route.family) == masked(route.destination, route.destinationPrefix, route.family)
        }
        let viaAddress = state.addresses.contains { address in
            address.address.family == gateway.family && (index == 0 || address.index == index)
                && masked(gateway, address.prefixLength, gateway.family) == masked(address.address, address.prefixLength, gateway.family)
        }
        return viaRoute || viaAddress
    }

    private static func masked(_ address: IPAddress?, _ prefix: UInt8, _ family: AddressFamily) -> [UInt8] {
        var bytes = address?.bytes ?? [UInt8](repeating: 0, count: family.addressLength)
        var remaining = Int(prefix)
        for index in bytes.indices {
            if remaining >= 8 {
                remaining -= 8
            } else {
                bytes[index] &= remaining == 0 ? 0 : ~UInt8(0) << (8 - remaining)
                remaining = 0
            }
        }
        return bytes
    }
}
