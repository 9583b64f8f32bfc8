import Foundation

/// What a rootless build cannot put on disk: owners other than the builder's own, and device
/// nodes. Stored inside the rootfs at /var/lib/osbuilder/attributes so `initrd` and `image`
/// can be run later on the same directory.
public struct TreeAttributes: Sendable, Equatable {
    /// A device node that exists only in the outputs.
    public struct Device: Sendable, Equatable {
        public var kind: Template.DeviceKind
        public var major: UInt32
        public var minor: UInt32
        public var mode: UInt32
    }

    public static let relativePath = "var/lib/osbuilder/attributes"

    public var owners: Template.OwnerPolicy = .root
    /// Explicit owners by absolute path.
    public var ownerOverrides: [String: Template.Owner] = [:]
    public var devices: [String: Device] = [:]

    public init(owners: Template.OwnerPolicy = .root) {
        self.owners = owners
    }

    public func serialized() -> String {
        var lines = ["# written by osbuilder: owners and device nodes applied when packing this tree", "owners \(owners.rawValue)"]
        for path in ownerOverrides.keys.sorted() {
            if let owner = ownerOverrides[path] { lines.append("owner \(path) \(owner.uid):\(owner.gid)") }
        }
        for path in devices.keys.sorted() {
            if let dev = devices[path] {
                lines.append("device \(path) \(dev.kind.rawValue) \(dev.major) \(dev.minor) \(String(dev.mode, radix: 8))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func parse(_ text: String, file: String) throws -> TreeAttributes {
        var result = TreeAttributes()
        for (index, line) in text.split(separator: "\n").enumerated() {
            let words = line.split(separator: " ").map(String.init)
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            func bad() -> OSBuilderError { OSBuilderError("read attributes", "\(file):\(index + 1)", "malformed line") }
            switch (first, words.count) {
            case ("owners", 2):
                guard let policy = Template.OwnerPolicy(rawValue: words[1]) else { throw bad() }
                result.owners = policy
            case ("owner", 3):
                let ids = words[2].split(separator: ":")
                guard ids.count == 2, let uid = UInt32(ids[0]), let gid = UInt32(ids[1]) else { throw bad() }
                result.ownerOverrides[words[1]] = Template.Owner(uid: uid, gid: gid)
            case ("device", 6):
                guard let kind = Template.DeviceKind(rawValue: words[2]), let major = UInt32(words[3]),
                    let minor = UInt32(words[4]), let mode = UInt32(words[5], radix: 8)
                else { throw bad() }
                result.devices[words[1]] = Device(kind: kind, major: major, minor: minor, mode: mode)
            default:
                throw bad()
            }
        }
        return result
    }

    /// The attributes stored in `rootfs`, or the default (everything 0:0) when none are stored.
    public static func load(rootfs: String) throws -> TreeAttributes {
        let path = "\(rootfs)/\(relativePath)"
        guard let data = FileManager.default.contents(atPath: path) else { return TreeAttributes() }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }
}
