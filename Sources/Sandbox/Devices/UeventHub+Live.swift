import LinuxKit
import Logging

extension UeventHub {
    /// The agent's listener (agent start, PID 1 or not): the kernel's uevent socket feeding a
    /// hub installed as the process-wide one. Without the socket (no CAP_NET_ADMIN is needed,
    /// but a seccomp'd or netlink-less environment may refuse it) waits fall back to sysfs.
    @discardableResult
    public static func startLive(timeout: Duration, logger: Logger) -> UeventHub {
        let hub = UeventHub(timeout: timeout, logger: logger)
        do {
            hub.start(source: try NetlinkUeventSocket())
            logger.debug("uevent listener started", metadata: ["hotplug-timeout": "\(seconds(timeout))"])
        } catch {
            logger.warning("no uevent listener: hot-plugged devices are found through sysfs only", metadata: ["error": "\(error)"])
        }
        install(hub)
        return hub
    }
}
