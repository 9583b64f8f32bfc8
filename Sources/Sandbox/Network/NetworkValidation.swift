import LinuxKit

/// Checks network requests before anything changes, turning text into kernel values; every
/// failure is INVALID_ARGUMENT naming the request field.
enum NetworkValidation {
    /// The kernel's IFNAMSIZ less the NUL.
    static let maximumNameLength = 15
    /// ETH_MIN_MTU (IPv4's minimum) and the largest MTU any Linux link takes.
    static let mtuRange: ClosedRange<UInt64> = 68...65535

    static func invalid(_ field: String, _ reason: String) -> SandboxError {
        SandboxError(.invalidArgument, "\(field): \(reason)")
    }

    /// A name the kernel accepts for a link (dev_valid_name): 1...15 bytes, not "." or "..",
    /// no '/', ':', whitespace or NUL.
    static func linkName(_ name: String, field: String) throws(SandboxError) {
        guard !name.isEmpty else { throw invalid(field, "must not be empty") }
        guard name.utf8.count <= maximumNameLength else {
            throw invalid(field, "'\(name)' is \(name.utf8.count) bytes long; link names have at most \(maximumNameLength) (IFNAMSIZ)")
        }
        guard name != ".", name != ".." else { throw invalid(field, "'\(name)' is not a link name") }
        for byte in name.utf8 where byte == UInt8(ascii: "/") || byte == UInt8(ascii: ":") || byte <= 0x20 || byte == 0x7F {
            throw invalid(field, "'\(name)' contains a '/', ':', whitespace or control character")
        }
    }

    static func family(_ code: Int, field: String) throws(SandboxError) -> AddressFamily {
        switch code {
        case 0: return .inet
        case 1: return .inet6
        default: throw invalid(field, "\(code) is not an IP family (0 v4, 1 v6)")
        }
    }

    /// An address of the given family.
    static func address(_ text: String, family: AddressFamily, field: String) throws(SandboxError) -> IPAddress {
        guard let address = IPAddress(text) else { throw invalid(field, "'\(text)' is not an IP address") }
        guard address.family == family else {
            throw invalid(field, "'\(text)' is an \(address.family == .inet ? "IPv4" : "IPv6") address, the family says \(family == .inet ? "v4" : "v6")")
        }
        return address
    }

    /// A decimal prefix length within the family's range.
    static func prefix(_ text: String, family: AddressFamily, field: String) throws(SandboxError) -> UInt8 {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), text.utf8.count <= 3,
            let value = UInt8(text), value <= family.maximumPrefix
        else {
            throw invalid(field, "'\(text)' is not a prefix length (0...\(family.maximumPrefix))")
        }
        return value
    }

    /// "address/prefix" or a bare address (a host route: the whole prefix).
    static func network(_ text: String, family: AddressFamily, field: String) throws(SandboxError) -> (IPAddress, UInt8) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw invalid(field, "'\(text)' is not an address or address/prefix") }
        let address = try self.address(String(parts[0]), family: family, field: field)
        let length = parts.count == 2 ? try prefix(String(parts[1]), family: family, field: field) : family.maximumPrefix
        return (address, length)
    }

    static func hardwareAddress(_ text: String, field: String) throws(SandboxError) -> HardwareAddress {
        guard let address = HardwareAddress(text), address.bytes.count == 6 || address.bytes.count == 20 else {
            throw invalid(field, "'\(text)' is not a MAC address (six hex pairs separated by ':', or twenty for InfiniBand)")
        }
        return address
    }

    static func mtu(_ value: UInt64, field: String) throws(SandboxError) -> UInt32? {
        if value == 0 { return nil }
        guard mtuRange.contains(value), let mtu = UInt32(exactly: value) else {
            throw invalid(field, "\(value) is outside \(mtuRange.lowerBound)...\(mtuRange.upperBound)")
        }
        return mtu
    }

    /// rt_scope_t values: universe 0, site 200, link 253, host 254, nowhere 255.
    static func scope(_ value: UInt32, field: String) throws(SandboxError) -> UInt8 {
        guard let scope = UInt8(exactly: value),
            [RouteScope.universe, RouteScope.site, RouteScope.link, RouteScope.host, RouteScope.nowhere].contains(scope)
        else {
            throw invalid(field, "\(value) is not a route scope (0 universe, 200 site, 253 link, 254 host, 255 nowhere)")
        }
        return scope
    }

    /// A PCI path as the runtime writes it ("02", "01/02", a slot optionally with ".<function>"):
    /// checked here character by character, then parsed by the devices layer.
    static func pciPath(_ text: String, field: String) throws(SandboxError) {
        for part in text.split(separator: "/", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: ".", omittingEmptySubsequences: false)
            guard (1...2).contains(pieces.count), (1...2).contains(pieces[0].utf8.count),
                pieces[0].utf8.allSatisfy(HardwareAddress.isHexDigit),
                pieces.count == 1 || (pieces[1].utf8.count == 1 && pieces[1].utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) })
            else {
                throw invalid(field, "'\(text)' is not a PCI path like 02 or 01/02")
            }
        }
        if case .failure(let problem) = PCIPath.parse(text) {
            throw invalid(field, "\(problem)")
        }
    }
}
