/// MemHotplugByProbe: tell the kernel about hot-added memory by writing each block's physical
/// address to the sysfs probe file.
public enum GuestMemoryProbe {
    /// Upstream writes `{:#X}`, i.e. "0x" then upper-case hex.
    static func format(_ address: UInt64) -> String {
        "0x" + String(address, radix: 16, uppercase: true)
    }

    public static func probe(addresses: [UInt64], roots: GuestRoots) throws(GuestOperationError) {
        let path = roots.memoryProbeFile
        guard try GuestFileIO.exists(path, operation: "memory hotplug by probe") else {
            throw GuestOperationError(
                .unsupported, operation: "memory hotplug by probe", path: path,
                reason: "the guest kernel has no memory probe interface")
        }
        for address in addresses {
            try GuestFileIO.write(path, format(address), operation: "probe memory at \(format(address))")
        }
    }
}
