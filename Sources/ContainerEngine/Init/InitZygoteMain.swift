import CLinuxShim
import Glibc

extension ContainerInit {
    /// `kata-agent init-zygote`: warms up, then clones container inits on the agent's request
    /// (engine_zygote.c); each clone returns here and becomes a `kata-agent init`. The process
    /// stays single-threaded, which is what makes running Swift in its clones safe.
    public static func zygoteMain() -> Never {
        // Like an init, nothing in a container may read this process's memory.
        _ = engine_prctl(LinuxConstants.prSetDumpable, 0)
        InitWarmUp.run()
        let rc = engine_zygote_serve(syncFD)
        if rc == 0 {
            if CommandLine.argc > 1, let arg = CommandLine.unsafeArgv[1] {
                engine_zygote_child_rename(arg)
            }
            main()
        }
        // The agent closed the socket (it exits, or dropped this zygote).
        exit(0)
    }
}
