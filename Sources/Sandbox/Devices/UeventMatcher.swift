import LinuxKit

/// A predicate over uevents plus what it waits for, in words: the timeout error names it.
/// Other areas (networking's NIC at a PCI path) build their own with `init(_:_:)`.
public struct UeventMatcher: Sendable, CustomStringConvertible {
    /// What the waiter awaits, e.g. "virtio-blk disk at PCI path 02/01".
    public let what: String
    private let predicate: @Sendable (Uevent) -> Bool

    public init(_ what: String, _ predicate: @escaping @Sendable (Uevent) -> Bool) {
        self.what = what
        self.predicate = predicate
    }

    public func matches(_ event: Uevent) -> Bool { predicate(event) }

    public var description: String { what }
}

extension UeventMatcher {
    /// A block disk (not a partition) whose DEVPATH is `<parent>/virtio<N>/block/<name>`.
    public static func virtioBlock(under parent: String, what: String) -> UeventMatcher {
        UeventMatcher(what) { event in
            guard event.subsystem == "block", !event.devname.isEmpty,
                  let rest = event.devpath.dropPrefix(parent + "/virtio") else { return false }
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let name = rest.dropFirst(digits.count).dropPrefix("/block/") else { return false }
            return DeviceName.isPlain(name)
        }
    }

    /// A virtio-mmio (or any) block disk named `name`: DEVPATH ends in `/block/<name>`.
    public static func blockNamed(_ name: String, what: String) -> UeventMatcher {
        UeventMatcher(what) { event in
            event.subsystem == "block" && !event.devname.isEmpty && event.devpath.hasSuffix("/block/" + name)
        }
    }

    /// A SCSI disk at target `id`, LUN `lun` on channel 0 of any host:
    /// `…/<host>:0:<id>:<lun>/block/<sdX>`.
    public static func scsiDisk(id: UInt32, lun: UInt32, what: String) -> UeventMatcher {
        UeventMatcher(what) { event in
            guard event.subsystem == "block", !event.devname.isEmpty else { return false }
            let components = event.devpath.split(separator: "/", omittingEmptySubsequences: false)
            guard components.count >= 3, components[components.count - 2] == "block",
                  DeviceName.isPlain(components[components.count - 1]) else { return false }
            return SCSIAddress.component(components[components.count - 3], isTarget: id, lun: lun)
        }
    }

    /// An NVDIMM namespace's block device: DEVPATH `/devices/LNXSYSTM…/block/pmem<N>`.
    public static func pmem(_ name: String, what: String) -> UeventMatcher {
        UeventMatcher(what) { event in
            event.subsystem == "block" && event.devpath.hasPrefix("/devices/LNXSYSTM")
                && event.devpath.hasSuffix("/block/" + name)
        }
    }

    /// The PCI device itself at exactly `devpath` (`/devices/pci0000:00/0000:00:02.0/…`).
    public static func pciDevice(devpath: String, what: String) -> UeventMatcher {
        UeventMatcher(what) { event in event.devpath == devpath }
    }

    /// A network interface below the PCI device at `devpath` (SUBSYSTEM=net, INTERFACE set).
    public static func netInterface(under devpath: String, what: String) -> UeventMatcher {
        UeventMatcher(what) { event in
            event.subsystem == "net" && !event.interface.isEmpty && event.devpath.hasPrefix(devpath + "/")
        }
    }

    /// The VFIO group character device `/devices/virtual/vfio/<group>`.
    public static func vfioGroup(_ group: String, what: String) -> UeventMatcher {
        UeventMatcher(what) { event in event.devpath == "/devices/virtual/vfio/" + group }
    }
}

/// Names of device nodes below /dev as the kernel reports them.
enum DeviceName {
    /// One path component: not empty, no slash, not "." or "..", no NUL.
    static func isPlain(_ name: some StringProtocol) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.utf8.contains(0)
            && name.utf8.count <= 255
    }
}

extension StringProtocol {
    /// The rest after `prefix`, or nil when it does not start with it.
    func dropPrefix(_ prefix: String) -> SubSequence? {
        hasPrefix(prefix) ? self[index(startIndex, offsetBy: prefix.count)...] : nil
    }
}
