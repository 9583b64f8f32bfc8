#if canImport(Glibc)
import Glibc
#endif

/// Sets the system clock; behind a protocol so the request logic is testable without root.
public protocol SystemClockSetting: Sendable {
    func setTimeOfDay(seconds: Int64, microseconds: Int64) throws(GuestOperationError)
}

/// The kernel's clock through settimeofday(2).
public struct KernelClock: SystemClockSetting {
    public init() {}

    public func setTimeOfDay(seconds: Int64, microseconds: Int64) throws(GuestOperationError) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(microseconds))
        guard settimeofday(&value, nil) == 0 else {
            throw .posix("settimeofday", path: nil)
        }
    }
}

/// SetGuestDateTime: validates the request's seconds/microseconds, then sets the clock.
public enum GuestDateTime {
    /// Upstream passes any values to settimeofday and reports EINVAL; we name the field instead.
    public static func set(
        seconds: Int64, microseconds: Int64, clock: some SystemClockSetting
    ) throws(GuestOperationError) {
        guard seconds >= 0 else {
            throw GuestOperationError(
                .invalidArgument(field: "Sec"), operation: "set guest date/time",
                reason: "seconds since the epoch must not be negative, got \(seconds)")
        }
        guard (0..<1_000_000).contains(microseconds) else {
            throw GuestOperationError(
                .invalidArgument(field: "Usec"), operation: "set guest date/time",
                reason: "microseconds must be in 0..<1000000, got \(microseconds)")
        }
        // time_t is 64-bit here; still refuse what the kernel would reject as out of range.
        guard seconds <= Int64(Int32.max) * 4 else {
            throw GuestOperationError(
                .invalidArgument(field: "Sec"), operation: "set guest date/time",
                reason: "seconds since the epoch out of range, got \(seconds)")
        }
        try clock.setTimeOfDay(seconds: seconds, microseconds: microseconds)
    }
}
