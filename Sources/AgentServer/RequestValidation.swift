/// Checks every RPC runs on its request fields before acting. Each failure names the field, so the
/// RPC layer can answer INVALID_ARGUMENT "<field>: <reason>".
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The request field at fault, as named in agent.proto (e.g. "container_id", "storages[2].mount_point").
    public let field: String
    public let reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

/// Request validation rules shared by every RPC group.
public enum RequestValidation {
    /// Upstream's limit for container, exec and sandbox ids.
    public static let maximumIDLength = 128

    /// An id: 1...128 characters of [A-Za-z0-9_.-], not starting with '.'. `allowEmpty` is for
    /// the few fields where upstream gives "" a meaning (SignalProcess's exec_id: "all processes").
    public static func id(_ value: String, field: String, allowEmpty: Bool = false) throws(ValidationError) {
        if value.isEmpty {
            if allowEmpty { return }
            throw ValidationError(field: field, reason: "must not be empty")
        }
        let bytes = value.utf8
        guard bytes.count <= maximumIDLength else {
            throw ValidationError(field: field, reason: "is \(bytes.count) characters long, at most \(maximumIDLength) allowed")
        }
        guard bytes.first != UInt8(ascii: ".") else {
            throw ValidationError(field: field, reason: "must not start with '.'")
        }
        for byte in bytes where !isIDByte(byte) {
            throw ValidationError(field: field, reason: "contains \(describe(byte)); only [A-Za-z0-9_.-] are allowed")
        }
    }

    /// An absolute, clean path: starts with '/', no NUL, no empty, '.' or '..' components (so no
    /// '//', '/./', '/../'), no trailing '/' except for "/" itself unless `allowTrailingSlash`
    /// (the runtimes send directory mount points such as ".../shared/containers/").
    /// `allowEmpty` for optional fields.
    public static func absolutePath(
        _ value: String, field: String, allowEmpty: Bool = false, allowTrailingSlash: Bool = false
    ) throws(ValidationError) {
        if value.isEmpty {
            if allowEmpty { return }
            throw ValidationError(field: field, reason: "must not be empty")
        }
        guard !value.utf8.contains(0) else { throw ValidationError(field: field, reason: "contains a NUL byte") }
        guard value.utf8.count <= 4096 else {
            throw ValidationError(field: field, reason: "is longer than 4096 bytes (PATH_MAX)")
        }
        guard value.hasPrefix("/") else { throw ValidationError(field: field, reason: "'\(value)' is not absolute") }
        if value == "/" { return }
        guard allowTrailingSlash || !value.hasSuffix("/") else {
            throw ValidationError(field: field, reason: "'\(value)' has a trailing '/'")
        }
        let checked = allowTrailingSlash ? withoutTrailingSlash(value) : value
        for component in checked.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst() {
            if component.isEmpty {
                throw ValidationError(field: field, reason: "'\(value)' contains '//'")
            }
            if component.elementsEqual(".".utf8) || component.elementsEqual("..".utf8) {
                throw ValidationError(field: field, reason: "'\(value)' contains a '\(String(decoding: component, as: UTF8.self))' component")
            }
        }
    }

    /// `value` without one trailing '/' ("/" stays "/"): the form a mount point is keyed by.
    public static func withoutTrailingSlash(_ value: String) -> String {
        guard value.count > 1, value.hasSuffix("/") else { return value }
        return String(value.dropLast())
    }

    /// A plain string that ends up in the kernel or a file: bounded, no NUL.
    public static func text(_ value: String, field: String, maximumLength: Int, allowEmpty: Bool = true) throws(ValidationError) {
        if value.isEmpty && !allowEmpty { throw ValidationError(field: field, reason: "must not be empty") }
        guard value.utf8.count <= maximumLength else {
            throw ValidationError(field: field, reason: "is longer than \(maximumLength) bytes")
        }
        guard !value.utf8.contains(0) else { throw ValidationError(field: field, reason: "contains a NUL byte") }
    }

    private static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    private static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }
}
