import Glibc
import Logging

/// The end of a guest: the agent as PID 1 never exits (the kernel would panic); it syncs and
/// powers the VM off.
public enum PowerOff {
    /// Syncs filesystems and powers off. Never returns: if reboot(2) fails the error is
    /// logged and the calling thread parks forever (PID 1 must not exit).
    public static func syncAndPowerOff(system: any SystemCalls = LinuxSystemCalls(), logger: Logger) -> Never {
        logger.info("syncing filesystems and powering off")
        system.sync()
        let error = system.powerOff()
        logger.critical("power off failed; halting here", metadata: ["error": "\(error)"])
        while true {
            pause()
        }
    }
}
