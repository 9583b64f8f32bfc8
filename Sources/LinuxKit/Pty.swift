import CLinuxShim
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pseudo-terminal pair, both ends close-on-exec; the caller closes what it keeps.
public struct PtyPair: Sendable {
    /// The side the agent reads and writes.
    public let master: Int32
    /// The side the shell gets as its terminal.
    public let slave: Int32

    /// Opens a new pair through /dev/ptmx.
    public static func open() throws(SyscallError) -> PtyPair {
        var master: Int32 = -1
        var slave: Int32 = -1
        _ = try SyscallError.check(
            console_openpty(&master, &slave), "open pty pair", target: "/dev/ptmx",
            detail: "is devpts mounted on /dev/pts and /dev/ptmx present?")
        return PtyPair(master: master, slave: slave)
    }

    /// Sets the terminal size the shell sees.
    public static func setWindowSize(_ fd: Int32, rows: UInt16, columns: UInt16) throws(SyscallError) {
        _ = try SyscallError.check(console_set_winsize(fd, rows, columns), "set window size of", target: "fd \(fd)")
    }
}
