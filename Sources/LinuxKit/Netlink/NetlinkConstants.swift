// The rtnetlink ABI numbers this layer uses (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
// linux/if_addr.h, linux/neighbour.h). Swift's Glibc module does not import the uapi headers,
// and these values are kernel ABI: they never change.

/// Netlink message types, header flags and attribute numbers for NETLINK_ROUTE.
public enum RTNL {
    // Message types.
    public static let noop: UInt16 = 1
    public static let error: UInt16 = 2
    public static let done: UInt16 = 3
    public static let newLink: UInt16 = 16
    public static let delLink: UInt16 = 17
    public static let getLink: UInt16 = 18
    public static let setLink: UInt16 = 19
    public static let newAddress: UInt16 = 20
    public static let delAddress: UInt16 = 21
    public static let getAddress: UInt16 = 22
    public static let newRoute: UInt16 = 24
    public static let delRoute: UInt16 = 25
    public static let getRoute: UInt16 = 26
    public static let newNeighbour: UInt16 = 28
    public static let delNeighbour: UInt16 = 29
    public static let getNeighbour: UInt16 = 30

    // nlmsghdr flags.
    public static let request: UInt16 = 0x1
    public static let multi: UInt16 = 0x2
    public static let ack: UInt16 = 0x4
    public static let dumpInterrupted: UInt16 = 0x10
    public static let dump: UInt16 = 0x300
    public static let replace: UInt16 = 0x100
    public static let exclusive: UInt16 = 0x200
    public static let create: UInt16 = 0x400
    // Flags of an NLMSG_ERROR reply.
    public static let ackCapped: UInt16 = 0x100
    public static let ackTLVs: UInt16 = 0x200

    // Link attributes (IFLA_*).
    public static let linkAddress: UInt16 = 1
    public static let linkName: UInt16 = 3
    public static let linkMTU: UInt16 = 4
    public static let linkInfo: UInt16 = 18
    public static let linkInfoKind: UInt16 = 1

    // Address attributes (IFA_*).
    public static let addrAddress: UInt16 = 1
    public static let addrLocal: UInt16 = 2
    public static let addrLabel: UInt16 = 3
    public static let addrFlags: UInt16 = 8

    // Route attributes (RTA_*, RTAX_*).
    public static let routeDestination: UInt16 = 1
    public static let routeSource: UInt16 = 2
    public static let routeOutputInterface: UInt16 = 4
    public static let routeGateway: UInt16 = 5
    public static let routePriority: UInt16 = 6
    public static let routePreferredSource: UInt16 = 7
    public static let routeMetrics: UInt16 = 8
    public static let routeTable: UInt16 = 15
    public static let metricMTU: UInt16 = 2

    // Neighbour attributes (NDA_*).
    public static let neighbourDestination: UInt16 = 1
    public static let neighbourLinkLayerAddress: UInt16 = 2

    // Extended ack attributes (NLMSGERR_ATTR_*).
    public static let extendedAckMessage: UInt16 = 1

    // Attribute type bits that are flags, not part of the type.
    public static let attributeTypeMask: UInt16 = 0x3FFF
    public static let nestedFlag: UInt16 = 0x8000

    // Routing table, protocol, type and scope values.
    public static let tableMain: UInt8 = 254
    public static let protocolKernel: UInt8 = 2
    public static let protocolBoot: UInt8 = 3
    public static let typeUnicast: UInt8 = 1

    // ifi_flags bits.
    public static let interfaceUp: UInt32 = 0x1
    public static let interfaceLoopback: UInt32 = 0x8
    public static let interfaceNoARP: UInt32 = 0x80

    // Neighbour states.
    public static let neighbourPermanent: UInt16 = 0x80
    public static let neighbourReachable: UInt16 = 0x02
}

/// Route scopes (rtm_scope) with names as iproute2 prints them.
public enum RouteScope {
    public static let universe: UInt8 = 0
    public static let site: UInt8 = 200
    public static let link: UInt8 = 253
    public static let host: UInt8 = 254
    public static let nowhere: UInt8 = 255
}
