import Glibc

/// Time since the machine booted (CLOCK_BOOTTIME), the clock of the kernel's printk stamps:
/// logged by PID 1 so a boot's console reads as one timeline.
public enum BootClock {
    /// Milliseconds since boot, with microsecond precision.
    public static func milliseconds() -> Double {
        var now = timespec()
        guard clock_gettime(CLOCK_BOOTTIME, &now) == 0 else { return 0 }
        return Double(now.tv_sec) * 1000 + Double(now.tv_nsec) / 1_000_000
    }

    /// `milliseconds()` as log text ("1234.567").
    public static func text(_ milliseconds: Double) -> String {
        let micros = Int((milliseconds * 1000).rounded())
        let fraction = String(micros % 1000)
        return "\(micros / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
