/// A network interface as RTM_NEWLINK describes it.
public struct NetlinkLink: Sendable, Equatable {
    public var index: Int32
    public var name: String
    public var hardwareAddress: HardwareAddress
    public var mtu: UInt32
    /// ifi_flags (IFF_UP, IFF_NOARP, ...).
    public var flags: UInt32
    /// IFLA_INFO_KIND ("veth", "dummy", ...); "" for devices without one (physical NICs, lo).
    public var kind: String

    public init(index: Int32, name: String, hardwareAddress: HardwareAddress = HardwareAddress(bytes: []),
                mtu: UInt32 = 1500, flags: UInt32 = 0, kind: String = "") {
        self.index = index
        self.name = name
        self.hardwareAddress = hardwareAddress
        self.mtu = mtu
        self.flags = flags
        self.kind = kind
    }
}

/// An interface address (RTM_NEWADDR).
public struct NetlinkAddress: Sendable, Equatable {
    public var index: Int32
    public var address: IPAddress
    public var prefixLength: UInt8
    public var scope: UInt8

    public init(index: Int32, address: IPAddress, prefixLength: UInt8, scope: UInt8 = RouteScope.universe) {
        self.index = index
        self.address = address
        self.prefixLength = prefixLength
        self.scope = scope
    }
}

/// A route (RTM_NEWROUTE). `destination` nil with prefix 0 is the default route.
public struct NetlinkRoute: Sendable, Equatable {
    public var family: AddressFamily
    public var table: UInt32 = UInt32(RTNL.tableMain)
    public var destination: IPAddress?
    public var destinationPrefix: UInt8 = 0
    public var source: IPAddress?
    public var sourcePrefix: UInt8 = 0
    public var gateway: IPAddress?
    public var preferredSource: IPAddress?
    public var outputInterface: Int32 = 0
    public var scope: UInt8 = RouteScope.universe
    public var routeProtocol: UInt8 = RTNL.protocolBoot
    public var type: UInt8 = RTNL.typeUnicast
    /// rtm_flags (RTNH_F_ONLINK, ...).
    public var flags: UInt32 = 0
    /// RTAX_MTU in RTA_METRICS; 0 means none.
    public var mtu: UInt32 = 0
    /// RTA_PRIORITY (the metric); nil when the kernel reported none.
    public var priority: UInt32?

    public init(family: AddressFamily) { self.family = family }
}

/// A neighbour table entry (RTM_NEWNEIGH).
public struct NetlinkNeighbour: Sendable, Equatable {
    public var index: Int32
    public var address: IPAddress
    public var linkLayerAddress: HardwareAddress?
    /// NUD_* state bits.
    public var state: UInt16
    /// NTF_* flags.
    public var flags: UInt8

    public init(index: Int32, address: IPAddress, linkLayerAddress: HardwareAddress?, state: UInt16, flags: UInt8 = 0) {
        self.index = index
        self.address = address
        self.linkLayerAddress = linkLayerAddress
        self.state = state
        self.flags = flags
    }
}

/// What one RTM_SETLINK changes; nil fields are left alone.
public struct LinkChange: Sendable, Equatable {
    public var name: String?
    public var mtu: UInt32?
    public var hardwareAddress: HardwareAddress?
    public var up: Bool?
    public var noARP: Bool?

    public init(name: String? = nil, mtu: UInt32? = nil, hardwareAddress: HardwareAddress? = nil, up: Bool? = nil, noARP: Bool? = nil) {
        self.name = name
        self.mtu = mtu
        self.hardwareAddress = hardwareAddress
        self.up = up
        self.noARP = noARP
    }
}

/// The rtnetlink operations pod networking needs: dumps and change requests, each acknowledged
/// by the kernel (an errno is thrown with the request it refused). The seam for unit tests:
/// `LinuxRouteNetlink` talks to the kernel, `InMemoryRouteNetlink` keeps tables in memory.
public protocol RouteNetlink: Sendable {
    func links() throws(SyscallError) -> [NetlinkLink]
    func addresses(family: AddressFamily?) throws(SyscallError) -> [NetlinkAddress]
    /// Every route of the family in every table (callers filter on `table`).
    func routes(family: AddressFamily) throws(SyscallError) -> [NetlinkRoute]
    func neighbours(family: AddressFamily?) throws(SyscallError) -> [NetlinkNeighbour]

    func setLink(index: Int32, _ change: LinkChange) throws(SyscallError)
    /// RTM_NEWADDR with NLM_F_CREATE, plus NLM_F_REPLACE when `replace`.
    func addAddress(_ address: NetlinkAddress, replace: Bool) throws(SyscallError)
    func deleteAddress(_ address: NetlinkAddress) throws(SyscallError)
    /// RTM_NEWROUTE with NLM_F_CREATE, plus NLM_F_REPLACE when `replace`.
    func addRoute(_ route: NetlinkRoute, replace: Bool) throws(SyscallError)
    func deleteRoute(_ route: NetlinkRoute) throws(SyscallError)
    func addNeighbour(_ neighbour: NetlinkNeighbour, replace: Bool) throws(SyscallError)
    func deleteNeighbour(_ neighbour: NetlinkNeighbour) throws(SyscallError)
}
