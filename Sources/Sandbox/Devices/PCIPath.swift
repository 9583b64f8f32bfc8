/// A guest PCI path as the runtimes send it: slots from the root bus down through bridges,
/// "02" or "02/01" (hex, optional ".<function>"), optionally led by a pxb-pcie root complex
/// bus ("20/00/02", first segment >= 0x20 with at least three segments).
public struct PCIPath: Sendable, Equatable, CustomStringConvertible {
    /// One hop: the device (slot) and function on a bus.
    public struct SlotFunction: Sendable, Equatable {
        public var slot: UInt8
        public var function: UInt8
    }

    /// The root complex bus number as two hex digits ("00", or "20".. for pxb-pcie).
    public var rootComplex: String
    public var hops: [SlotFunction]
    /// As received.
    public let text: String

    /// Buses this deep are beyond any VMM's topology; a longer path is refused.
    static let maximumHops = 16
    private static let pxbRootBusMinimum: UInt8 = 0x20

    /// Parses the runtime's string; nil with the reason in `problem` when malformed.
    public static func parse(_ text: String) -> Result<PCIPath, PCIPathError> {
        let segments = text.split(separator: "/", omittingEmptySubsequences: false)
        guard !text.isEmpty, segments.count <= maximumHops + 1 else {
            return .failure(PCIPathError(text: text, reason: "must be 1 to \(maximumHops) slots separated by /"))
        }
        var rootComplex = "00"
        var pathSegments = segments[...]
        if segments.count >= 3, segments[0].utf8.count == 2, let bus = UInt8(segments[0], radix: 16), bus >= pxbRootBusMinimum {
            rootComplex = segments[0].lowercased()
            pathSegments = segments.dropFirst()
        }
        var hops: [SlotFunction] = []
        for segment in pathSegments {
            let parts = segment.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), (1...2).contains(parts[0].utf8.count),
                  let slot = UInt8(parts[0], radix: 16), slot <= 0x1f else {
                return .failure(PCIPathError(text: text, reason: "\"\(segment)\" is not a PCI slot (hex 00-1f)"))
            }
            var function: UInt8 = 0
            if parts.count == 2 {
                guard parts[1].utf8.count == 1, let value = UInt8(parts[1], radix: 16), value <= 7 else {
                    return .failure(PCIPathError(text: text, reason: "\"\(segment)\" has a function other than 0-7"))
                }
                function = value
            }
            hops.append(SlotFunction(slot: slot, function: function))
        }
        guard !hops.isEmpty, hops.count <= maximumHops else {
            return .failure(PCIPathError(text: text, reason: "must name 1 to \(maximumHops) slots"))
        }
        return .success(PCIPath(rootComplex: rootComplex, hops: hops, text: text))
    }

    public var description: String { text }

    /// `/devices/pci0000:<rc>`, the root bus' DEVPATH.
    public var rootBusDevpath: String { "/devices/pci0000:" + rootComplex }

    /// The DEVPATH of the device the path names (`/devices/pci0000:00/0000:00:02.0/0000:01:01.0`),
    /// following each bridge's secondary bus in sysfs (`<bridge>/pci_bus/<domain:bus>`).
    /// Fails when a bridge is missing or does not expose exactly one bus.
    public func devpath(sysfs: String) -> Result<String, PCIPathError> {
        var bus = "0000:" + rootComplex
        var devpath = rootBusDevpath
        for (index, hop) in hops.enumerated() {
            devpath += "/" + bus + ":" + Self.hex2(hop.slot) + "." + String(hop.function)
            if index == hops.count - 1 { break }
            let busDirectory = sysfs + devpath + "/pci_bus"
            guard let buses = Sysfs.list(busDirectory) else {
                return .failure(PCIPathError(text: text, reason: "bridge \(busDirectory) does not exist (yet)"))
            }
            guard buses.count == 1, let child = buses.first, Self.isBusName(child) else {
                return .failure(PCIPathError(text: text, reason: "expected exactly one PCI bus in \(busDirectory), found \(buses.sorted())"))
            }
            bus = child
        }
        return .success(devpath)
    }

    /// "0000:01" style: 4 hex digits, a colon, 2 hex digits.
    static func isBusName(_ name: String) -> Bool {
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2 && parts[0].utf8.count == 4 && parts[1].utf8.count == 2
            && UInt16(parts[0], radix: 16) != nil && UInt8(parts[1], radix: 16) != nil
    }

    static func hex2(_ value: UInt8) -> String {
        let text = String(value, radix: 16)
        return text.count == 1 ? "0" + text : text
    }
}

/// A PCI path that cannot be parsed or resolved.
public struct PCIPathError: Error, Sendable, Equatable, CustomStringConvertible {
    public let text: String
    public let reason: String
    public var description: String { "PCI path \"\(text)\": \(reason)" }
}

/// A PCI address "DDDD:BB:DD.F" (domain, bus, device, function), as in PCIDEVICE_* and
/// vfio device options.
public struct PCIAddress: Sendable, Hashable, CustomStringConvertible {
    public var domain: UInt16
    public var bus: UInt8
    public var device: UInt8
    public var function: UInt8

    /// Parses "DDDD:BB:DD.F" (also "BB:DD.F" with domain 0); nil otherwise.
    public init?(_ text: some StringProtocol) {
        var parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2 { parts.insert("0000", at: 0) }
        guard parts.count == 3, parts[0].utf8.count == 4, parts[1].utf8.count == 2,
              let domain = UInt16(parts[0], radix: 16), let bus = UInt8(parts[1], radix: 16) else { return nil }
        let slot = parts[2].split(separator: ".", omittingEmptySubsequences: false)
        guard slot.count == 2, slot[0].utf8.count == 2, slot[1].utf8.count == 1,
              let device = UInt8(slot[0], radix: 16), device <= 0x1f,
              let function = UInt8(slot[1], radix: 16), function <= 7 else { return nil }
        self.domain = domain
        self.bus = bus
        self.device = device
        self.function = function
    }

    public var description: String {
        var domainText = String(domain, radix: 16)
        while domainText.count < 4 { domainText = "0" + domainText }
        return "\(domainText):\(PCIPath.hex2(bus)):\(PCIPath.hex2(device)).\(function)"
    }
}
