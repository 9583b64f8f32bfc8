import OCISpec

/// One control-file write that a resource setting turns into, in the order it must happen.
public struct CgroupWrite: Sendable, Equatable, CustomStringConvertible {
    /// The controller whose directory holds `file` ("" for core files on the unified hierarchy).
    public var controller: String
    public var file: String
    public var value: String

    public init(_ controller: String, _ file: String, _ value: String) {
        self.controller = controller
        self.file = file
        self.value = value
    }

    public var description: String { "\(controller)/\(file)=\(value)" }
}

/// Page-size spelling shared by both hierarchies ("2MB", "1GB", "64KB").
public enum HugePageSize {
    /// Accepts the spec's forms ("2MB", "2M", "2048kB") and returns the kernel's file spelling.
    /// The size comes from a request: a value whose KiB count overflows is refused, not trapped on.
    public static func normalize(_ size: String) throws -> String {
        let digits = size.prefix { $0.isASCII && $0.isNumber }
        let unit = size.dropFirst(digits.count).uppercased()
        guard let value = UInt64(digits), value > 0 else {
            throw CgroupError.invalidResource("hugepage size '\(size)'")
        }
        let multiplier: UInt64
        switch unit {
        case "KB", "K", "KIB": multiplier = 1
        case "MB", "M", "MIB": multiplier = 1024
        case "GB", "G", "GIB": multiplier = 1024 * 1024
        default: throw CgroupError.invalidResource("hugepage size '\(size)'")
        }
        let (kib, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw CgroupError.invalidResource("hugepage size '\(size)' is too large") }
        if kib % (1024 * 1024) == 0 { return "\(kib / (1024 * 1024))GB" }
        if kib % 1024 == 0 { return "\(kib / 1024)MB" }
        return "\(kib)KB"
    }

    /// Sizes the kernel supports, from /sys/kernel/mm/hugepages/hugepages-<n>kB.
    static func available(fileSystem: CgroupFileSystem, root: String = "/sys/kernel/mm/hugepages") -> [String] {
        guard let names = try? fileSystem.subdirectories(root) else { return [] }
        return names.compactMap { name -> String? in
            guard name.hasPrefix("hugepages-") else { return nil }
            return try? normalize(String(name.dropFirst("hugepages-".count)))
        }
    }
}
