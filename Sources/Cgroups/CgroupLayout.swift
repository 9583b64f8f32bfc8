#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which cgroup hierarchies the kernel has mounted where: v1, v2 (unified) or hybrid.
public struct CgroupLayout: Sendable, Equatable {
    /// How the hierarchies are arranged.
    public enum Mode: String, Sendable {
        /// Only v1 controller hierarchies.
        case v1
        /// Only the unified hierarchy.
        case v2
        /// v1 controller hierarchies plus a unified hierarchy (systemd's "hybrid").
        case hybrid
    }

    /// v1 controller (or "name=systemd") -> its mount point; co-mounted controllers share one.
    public var v1Mounts: [String: String]
    /// Mount point of the cgroup2 hierarchy, if any.
    public var unifiedMount: String?
    /// Controllers the unified hierarchy offers (its root cgroup.controllers).
    public var unifiedControllers: Set<String>

    public init(v1Mounts: [String: String], unifiedMount: String?, unifiedControllers: Set<String>) {
        self.v1Mounts = v1Mounts
        self.unifiedMount = unifiedMount
        self.unifiedControllers = unifiedControllers
    }

    /// Resource controllers on v1 (named hierarchies such as name=systemd excluded).
    public var v1Controllers: Set<String> {
        Set(v1Mounts.keys.filter { !$0.hasPrefix("name=") })
    }

    public var mode: Mode {
        let hasV1 = !v1Controllers.isEmpty
        switch (hasV1, unifiedMount != nil) {
        case (true, true): return .hybrid
        case (false, true): return .v2
        default: return .v1
        }
    }

    /// Detects the layout of this process's mount namespace from /proc/self/mountinfo.
    public static func detect(fileSystem: CgroupFileSystem = LocalCgroupFileSystem(),
                              mountInfoPath: String = "/proc/self/mountinfo") throws -> CgroupLayout {
        var layout = parse(mountInfo: try fileSystem.read(mountInfoPath))
        if let unified = layout.unifiedMount,
           let controllers = try? fileSystem.read(unified + "/cgroup.controllers") {
            layout.unifiedControllers = Set(controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        }
        guard !layout.v1Mounts.isEmpty || layout.unifiedMount != nil else {
            throw CgroupError.unsupported("no cgroup or cgroup2 mount in \(mountInfoPath)")
        }
        return layout
    }

    /// Parses mountinfo text; the first mount of each hierarchy wins (later ones are bind mounts).
    public static func parse(mountInfo: String) -> CgroupLayout {
        var v1: [String: String] = [:]
        var unified: String?
        // On the UTF-8 bytes: the Character view's grapheme breaking (and, before, Foundation's
        // components(separatedBy:) with its string search and regex code) ran at every start.
        for line in mountInfo.utf8.split(separator: UInt8(ascii: "\n")) {
            // Fields are space-separated and escape their own spaces, so the lone "-" field is
            // the separator.
            let fields = line.split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
            guard let dash = fields.firstIndex(of: "-") else { continue }
            let left = fields[..<dash]
            let right = fields[(dash + 1)...]
            guard left.count >= 5, right.count >= 3 else { continue }
            let mountPoint = unescapeMountField(left[left.startIndex + 4])
            switch right[right.startIndex] {
            case "cgroup2":
                if unified == nil { unified = mountPoint }
            case "cgroup":
                for option in right[right.startIndex + 2].utf8.split(separator: UInt8(ascii: ",")) {
                    let name = String(decoding: option, as: UTF8.self)
                    guard isControllerOption(name), v1[name] == nil else { continue }
                    v1[name] = mountPoint
                }
            default:
                continue
            }
        }
        return CgroupLayout(v1Mounts: v1, unifiedMount: unified, unifiedControllers: [])
    }

    private static let nonControllerOptions: Set<String> = [
        "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "xattr", "clone_children",
        "noprefix", "cpuset_v2_mode", "favordynmods", "nsdelegate", "memory_recursiveprot",
    ]

    private static func isControllerOption(_ option: String) -> Bool {
        if option.hasPrefix("name=") { return true }
        if option.utf8.contains(UInt8(ascii: "=")) { return false }
        return !nonControllerOptions.contains(option)
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo octal.
    static func unescapeMountField(_ field: String) -> String {
        var out: [UInt8] = []
        let bytes = Array(field.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let value = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(value)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
