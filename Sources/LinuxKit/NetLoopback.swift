/// Networking PID 1 sets up before the server starts.
public enum NetLoopback {
    /// Brings `lo` up (containers and the agent's own localhost need it).
    public static func bringUp(system: any SystemCalls = LinuxSystemCalls()) throws(SyscallError) {
        try system.setLinkUp("lo")
    }
}
