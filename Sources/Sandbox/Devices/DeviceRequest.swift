/// One agent.proto Device of CreateContainer, as plain values (the server converts it).
public struct DeviceRequest: Sendable, Equatable {
    /// "blk", "mmioblk", "scsi", "nvdimm", "vfio-pci", "vfio-pci-gk".
    public var type: String
    /// What identifies it to the VMM: a PCI path, a SCSI address, an IOMMU group.
    public var id: String
    /// Its node in the guest when the runtime knows it ("/dev/vdb", "/dev/pmem0").
    public var vmPath: String
    /// Where the container sees it: the `linux.devices` entry of the spec with this path.
    public var containerPath: String
    /// vfio: "<host BDF>=<guest PCI path>" per function.
    public var options: [String]

    public init(type: String, id: String = "", vmPath: String = "", containerPath: String, options: [String] = []) {
        self.type = type
        self.id = id
        self.vmPath = vmPath
        self.containerPath = containerPath
        self.options = options
    }
}

/// A guest device node as the device cgroup and `linux.devices` name it.
public struct DeviceNumber: Sendable, Hashable {
    /// "b" or "c".
    public var type: String
    public var major: Int64
    public var minor: Int64

    public init(type: String, major: Int64, minor: Int64) {
        self.type = type
        self.major = major
        self.minor = minor
    }
}

/// stat(2) of device nodes, behind a seam: unit tests have no hot-plugged disks.
public protocol DeviceNodeInspector: Sendable {
    /// The node's type and numbers; nil when it is missing or not a block/char device.
    func deviceNumber(_ path: String) -> DeviceNumber?
    /// The character device nodes directly in `directory`, by name (none when it is missing).
    func characterDevices(in directory: String) -> [CharacterDeviceNode]
}

/// A character device node as the guest has it: its numbers, permission bits and owner.
public struct CharacterDeviceNode: Sendable, Equatable {
    public var name: String
    public var major: Int64
    public var minor: Int64
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32

    public init(name: String, major: Int64, minor: Int64, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0) {
        self.name = name
        self.major = major
        self.minor = minor
        self.mode = mode
        self.uid = uid
        self.gid = gid
    }
}
