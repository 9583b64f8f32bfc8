import LinuxKit

/// One address of an interface as the runtime sends it: family code (types.IPFamily: 0 v4,
/// 1 v6), the address text and the prefix length as decimal text ("24").
public struct InterfaceAddress: Sendable, Equatable {
    public var family: Int
    public var address: String
    public var mask: String

    public init(family: Int, address: String, mask: String) {
        self.family = family
        self.address = address
        self.mask = mask
    }
}

/// types.Interface as plain values (UpdateInterface's request and ListInterfaces' entries).
public struct PodInterface: Sendable, Equatable {
    public var device: String
    public var name: String
    public var addresses: [InterfaceAddress]
    public var mtu: UInt64
    public var hardwareAddress: String
    /// PCI path ("02", "01/02") of a hot-plugged NIC; "" for cold-plugged ones.
    public var devicePath: String
    public var type: String
    public var rawFlags: UInt32

    public init(device: String = "", name: String = "", addresses: [InterfaceAddress] = [], mtu: UInt64 = 0,
                hardwareAddress: String = "", devicePath: String = "", type: String = "", rawFlags: UInt32 = 0) {
        self.device = device
        self.name = name
        self.addresses = addresses
        self.mtu = mtu
        self.hardwareAddress = hardwareAddress
        self.devicePath = devicePath
        self.type = type
        self.rawFlags = rawFlags
    }
}

/// types.Route as plain values. `dest` "" is the default route.
public struct PodRoute: Sendable, Equatable {
    public var dest: String
    public var gateway: String
    public var device: String
    public var source: String
    public var scope: UInt32
    /// types.IPFamily code: 0 v4, 1 v6.
    public var family: Int
    public var flags: UInt32
    public var mtu: UInt32

    public init(dest: String = "", gateway: String = "", device: String = "", source: String = "", scope: UInt32 = 0,
                family: Int = 0, flags: UInt32 = 0, mtu: UInt32 = 0) {
        self.dest = dest
        self.gateway = gateway
        self.device = device
        self.source = source
        self.scope = scope
        self.family = family
        self.flags = flags
        self.mtu = mtu
    }
}

/// types.ARPNeighbor as plain values. `state` 0 means NUD_PERMANENT (as upstream).
public struct PodNeighbour: Sendable, Equatable {
    public var destination: InterfaceAddress?
    public var device: String
    public var linkLayerAddress: String
    public var state: Int32
    public var flags: Int32

    public init(destination: InterfaceAddress?, device: String, linkLayerAddress: String = "", state: Int32 = 0, flags: Int32 = 0) {
        self.destination = destination
        self.device = device
        self.linkLayerAddress = linkLayerAddress
        self.state = state
        self.flags = flags
    }
}
