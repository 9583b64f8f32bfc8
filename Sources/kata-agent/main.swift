import CLinuxShim
import ContainerEngine

// Links core_early_init.o (and its constructor, which mounts /proc for PID 1 before the Swift
// runtime needs it) into the static executable: an unreferenced archive member is dropped.
_ = kata_early_init_done()

// engine-core call site: `kata-agent init` is a container's init, re-executed by the engine.
// It must run before anything else in the process (single-threaded from the first instruction).
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "init" {
    ContainerInit.main()
}
// The warm process that clones container inits (InitZygote); as single-threaded as `init`.
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "init-zygote" {
    ContainerInit.zygoteMain()
}

// Everything else: the agent (as PID 1 or as an ordinary process). Synchronous until the
// server starts, so PID 1 duties (mounts, setenv, setsid) run before any other thread exists.
AgentMain.main(arguments: CommandLine.arguments)
