import Glibc

/// The process's environment variables, read from `environ`.
///
/// FoundationEssentials' `ProcessInfo.processInfo.environment` would page in ProcessInfo's
/// own state and locking code at every agent start for the same dictionary.
public enum ProcessEnvironment {
    /// Name to value; an entry without '=' is skipped and the first of duplicate names wins.
    public static func current() -> [String: String] {
        var variables: [String: String] = [:]
        var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        while let current = entry, let pointer = current.pointee {
            let entryBytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self),
                                                 count: strlen(pointer))
            if let equals = entryBytes.firstIndex(of: UInt8(ascii: "=")) {
                let name = String(decoding: entryBytes[..<equals], as: UTF8.self)
                if variables[name] == nil {
                    variables[name] = String(decoding: entryBytes[(equals + 1)...], as: UTF8.self)
                }
            }
            entry = current + 1
        }
        return variables
    }
}
