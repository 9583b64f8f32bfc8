/// What a process does with each signal, from the SigBlk/SigIgn/SigCgt masks of
/// /proc/<pid>/status (hex, bit n-1 for signal n).
public struct SignalDispositions: Sendable, Equatable {
    public var blocked: UInt64 = 0
    public var ignored: UInt64 = 0
    public var caught: UInt64 = 0

    public init(blocked: UInt64 = 0, ignored: UInt64 = 0, caught: UInt64 = 0) {
        self.blocked = blocked
        self.ignored = ignored
        self.caught = caught
    }

    /// The masks found in a status file's text; a missing or malformed line leaves its mask 0.
    public init(status: String) {
        for line in status.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let mask = UInt64(parts[1].trimmingWhitespace(), radix: 16) else { continue }
            switch parts[0] {
            case "SigBlk": blocked = mask
            case "SigIgn": ignored = mask
            case "SigCgt": caught = mask
            default: continue
            }
        }
    }

    /// The process's dispositions now; nil when its status cannot be read (it is gone).
    public static func of(pid: Int32) -> SignalDispositions? {
        guard let text = try? WholeFile.text("/proc/\(pid)/status", limit: 1 << 16) else { return nil }
        return SignalDispositions(status: text)
    }

    /// Whether `signal` (1...64) is blocked, ignored or has a handler: anything but the default
    /// action, which the kernel does not take for a pid namespace's init.
    public func handles(_ signal: Int32) -> Bool {
        guard signal >= 1 && signal <= 64 else { return false }
        let bit = UInt64(1) << UInt64(signal - 1)
        return (blocked | ignored | caught) & bit != 0
    }
}
