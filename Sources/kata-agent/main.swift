import ContainerEngine

// engine-core call site: `kata-agent init` is a container's init, re-executed by the engine.
// It must run before anything else in the process (single-threaded from the first instruction).
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "init" {
    ContainerInit.main()
}

print("kata-agent")
