/// One kernel uevent (NETLINK_KOBJECT_UEVENT): the action, the sysfs DEVPATH and the
/// KEY=VALUE environment the kernel sent with it.
public struct Uevent: Sendable, Equatable, CustomStringConvertible {
    /// "add", "remove", "change", "online", "bind", ...
    public var action: String
    /// The sysfs path below /sys, e.g. "/devices/pci0000:00/0000:00:02.0/virtio2/block/vda".
    public var devpath: String
    /// Every KEY=VALUE pair of the message (ACTION, DEVPATH and SUBSYSTEM included).
    public var fields: [String: String]

    public init(action: String, devpath: String, fields: [String: String] = [:]) {
        self.action = action
        self.devpath = devpath
        var fields = fields
        fields["ACTION"] = fields["ACTION"] ?? action
        fields["DEVPATH"] = fields["DEVPATH"] ?? devpath
        self.fields = fields
    }

    /// SUBSYSTEM ("block", "net", "memory", "pci"...), empty when absent.
    public var subsystem: String { fields["SUBSYSTEM"] ?? "" }
    /// DEVNAME: the node below /dev ("vda", "sda", "pmem0", "vfio/3"), empty when absent.
    public var devname: String { fields["DEVNAME"] ?? "" }
    /// INTERFACE of a net device ("eth1"), empty when absent.
    public var interface: String { fields["INTERFACE"] ?? "" }
    /// SEQNUM as the kernel numbered the event, nil when absent or not a number.
    public var seqnum: UInt64? { fields["SEQNUM"].flatMap { UInt64($0) } }

    public var description: String {
        "\(action)@\(devpath) subsystem=\(subsystem)" + (devname.isEmpty ? "" : " devname=\(devname)")
    }

    /// The largest message the parser accepts; the kernel's own limit is 2048 bytes of
    /// environment (UEVENT_BUFFER_SIZE) plus the header.
    public static let maximumMessageSize = 8192

    /// Parses one kernel message: "ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0...".
    ///
    /// Returns nil for anything that is not a kernel uevent: udev's "libudev" messages,
    /// a missing or malformed header, a header that disagrees with ACTION/DEVPATH, bytes
    /// that are not UTF-8, oversized messages. Never traps on hostile input.
    public static func parse(_ bytes: some Collection<UInt8>) -> Uevent? {
        guard !bytes.isEmpty, bytes.count <= maximumMessageSize else { return nil }
        var segments: [String] = []
        for raw in bytes.split(separator: 0, omittingEmptySubsequences: true) {
            guard let text = String(validating: raw, as: UTF8.self) else { return nil }
            segments.append(text)
        }
        guard let header = segments.first, let at = header.firstIndex(of: "@") else { return nil }
        let action = String(header[..<at])
        let devpath = String(header[header.index(after: at)...])
        guard !action.isEmpty, devpath.hasPrefix("/"), !action.contains("/") else { return nil }

        var fields: [String: String] = [:]
        for segment in segments.dropFirst() {
            guard let equals = segment.firstIndex(of: "="), equals != segment.startIndex else { continue }
            fields[String(segment[..<equals])] = String(segment[segment.index(after: equals)...])
        }
        // The header and the environment must tell the same story; a message where they
        // differ was not written by the kernel.
        if let named = fields["ACTION"], named != action { return nil }
        if let named = fields["DEVPATH"], named != devpath { return nil }
        return Uevent(action: action, devpath: devpath, fields: fields)
    }

    /// The message as the kernel would send it (tests and fakes build events with this).
    public func encoded() -> [UInt8] {
        var bytes = Array("\(action)@\(devpath)".utf8)
        bytes.append(0)
        for key in fields.keys.sorted() {
            bytes += Array("\(key)=\(fields[key] ?? "")".utf8)
            bytes.append(0)
        }
        return bytes
    }
}
