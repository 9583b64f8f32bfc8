import CLinuxShim
import AgentConfig
import AgentServer
import ContainerEngine
import Glibc
import LinuxKit
import Logging
import Sandbox

/// The agent process: configuration, logging, PID 1 duties, reaper, sandbox, server.
enum AgentMain {
    /// Never returns as PID 1 (it powers off instead); as an ordinary process it exits.
    static func main(arguments: [String]) -> Never {
        var timeline = StartupTimeline(
            execMilliseconds: Double(kata_started_boottime_microseconds()) / 1000, mainMilliseconds: BootClock.milliseconds())
        let isInit = getpid() == 1
        let options = CommandLineOptions.parse(Array(arguments.dropFirst()))
        switch options.action {
        case .version:
            print("kata-agent version \(AgentVersion.version) (agent API \(AgentVersion.apiVersion))")
            finish(isInit: isInit, code: 0)
        case .help:
            print(CommandLineOptions.usage)
            finish(isInit: isInit, code: 0)
        case .run:
            break
        }
        if !options.unknown.isEmpty && !isInit {
            FileDescriptorLogSink(fd: 2).write(line: "kata-agent: unknown arguments \(options.unknown)\n\(CommandLineOptions.usage)")
            exit(2)
        }
        // A closed peer must not kill the agent; children get default dispositions at spawn.
        signal(SIGPIPE, SIG_IGN)
        // Freed memory stays in the heaps between requests; removals give it back.
        HeapTrim.keepFreedMemoryUntilRelease()

        let system = LinuxSystemCalls()
        let bootLogger = Logger(label: "root") { JSONLogHandler(label: $0, level: .info, sink: FileDescriptorLogSink(fd: 2)) }
        if isInit {
            do {
                try InitDuties.mountBase(system: system, logger: bootLogger)
            } catch {
                fatal("cannot mount the base filesystems", error, isInit: isInit, logger: bootLogger)
            }
            timeline.mark("mounts")
        }

        let loaded: LoadedConfiguration
        do {
            loaded = try AgentConfiguration.load(configFile: options.configFile)
        } catch {
            fatal("cannot load the configuration", error, isInit: isInit, logger: bootLogger)
        }
        let configuration = loaded.configuration
        timeline.mark("config")

        // Logs go to stdout; the sink can be redirected (agent.log_vport) once the console
        // side has a listener, and buffers meanwhile if pointed at nothing.
        let logSink = RedirectableLogSink(target: FileDescriptorLogSink(fd: 1))
        AgentLogging.bootstrap(level: configuration.logLevel, sink: logSink)
        let logger = Logger(label: "root")
        AgentLogging.announce(loaded, version: AgentVersion.version, apiVersion: AgentVersion.apiVersion, logger: logger)
        timeline.mark("announce")
        if !options.unknown.isEmpty {
            logger.debug("ignoring arguments passed to init", metadata: ["arguments": "\(options.unknown)"])
        }
        if configuration.devMode {
            InitDuties.allowCoreDumps(logger: logger)
        }
        if isInit {
            let switched = kata_initramfs_switch_result()
            if switched > 0 {
                logger.info("initramfs root bound over itself so containers can pivot_root", metadata: [
                    "mode": "\(switched == 1 ? "move" : "chroot")",
                    "took_ms": "\(kata_initramfs_switch_microseconds() / 1000)",
                ])
            } else if switched < 0 {
                logger.error("cannot bind the initramfs root over itself: containers will fail to pivot_root", metadata: ["errno": "\(-switched)"])
            }
        }
        if let limits = OpenFileLimit.raise() {
            logger.debug("open file limit raised", metadata: ["from": "\(limits.before.rlim_cur)", "to": "\(limits.after.rlim_cur)"])
        }

        if isInit {
            do {
                try InitDuties.run(configuration: configuration, system: system, logger: logger)
            } catch {
                fatal("init duties failed", error, isInit: isInit, logger: logger)
            }
            timeline.mark("init_duties")
            InitDuties.loadModules(system: system, logger: logger)
            timeline.mark("modules")
        }

        let reaper: Reaper
        do {
            reaper = try Reaper(mode: .all, logger: Logger(label: "reaper"))
        } catch {
            fatal("cannot start the process reaper", error, isInit: isInit, logger: logger)
        }
        timeline.mark("reaper")

        // ---- CONSOLE: debug console (agent.debug_console[_vport]) and the agent.log_vport stream.
        ConsoleAgentHooks.start(configuration: configuration, logSink: logSink, reaper: reaper)
        timeline.mark("console")
        // ---- end CONSOLE

        // ---- DEVICES: one uevent listener for the agent's life (after init mounted /sys), and
        // the block storage drivers that wait on it within agent.hotplug_timeout.
        let hotplug = UeventHub.startLive(timeout: configuration.hotplugTimeout, logger: Logger(label: "devices"))
        var sandboxEnvironment = SandboxEnvironment.live(logger: Logger(label: "sandbox"))
        sandboxEnvironment.hotplugTimeout = configuration.hotplugTimeout
        sandboxEnvironment.storageDrivers.registerBlockDrivers(locator: DeviceLocator(hub: hotplug))
        timeline.mark("devices")
        // ---- end DEVICES
        let sandbox = SandboxState(environment: sandboxEnvironment)
        // ---- ENGINE-CORE: the container side, on the agent's reaper.
        // The sealed copy of the agent binary (CVE-2019-5736) is made at the first container
        // create or exec, not here: copying the whole binary would delay the first served RPC.
        // On an initrd guest the root switch left the binary at its names as read-only bind
        // mounts: inits run from one of them instead of a copy (Engine.initExecutableFD).
        var initExecutable = "/proc/self/exe"
        if isInit, kata_initramfs_switch_result() > 0, let path = kata_initramfs_read_only_exe() {
            initExecutable = String(cString: path)
        }
        let engine = Engine(
            reaper: reaper,
            options: Engine.Options(
                initExecutable: initExecutable, pipeSize: Int(configuration.containerPipeSize),
                useZygote: configuration.initZygote),
            logger: Logger(label: "engine"))
        let containers = PodContainers(engine: engine, logger: Logger(label: "containers"))
        PodContainers.install(containers)
        // ---- end ENGINE-CORE
        timeline.mark("engine")
        if isInit {
            // Where a guest's boot goes, on the printk stamps' clock (the log's ts is wall time);
            // the server's own start follows as "agent server listening" with its uptime_ms.
            logger.info("startup", metadata: timeline.metadata)
        }

        Task {
            await sandbox.attach(containers: containers)
            let code = await serve(configuration: configuration, sandbox: sandbox, reaper: reaper, logger: logger)
            if isInit {
                PowerOff.syncAndPowerOff(system: system, logger: logger)
            }
            exit(code)
        }
        // The main thread only waits. dispatchMain() would end it with pthread_exit, whose
        // forced unwind makes libgcc sort every FDE of this static binary's .eh_frame on the spot
        // (before tools/drop_swift_unwind.py, 4.6 MB of them: two thirds of the agent's start-up
        // CPU, a third of a second under TCG).
        // Nothing in the agent uses the main queue or the main actor.
        while true { pause() }
    }

    /// Runs the server until DestroySandbox (exit code 0) or a server failure (1).
    ///
    /// The server stops by itself after DestroySandbox, gracefully, so the reply to
    /// DestroySandbox still reaches the runtime; racing it against the sandbox's shutdown
    /// signal would cancel the transport before that reply is flushed.
    static func serve(configuration: AgentConfiguration, sandbox: SandboxState, reaper: Reaper, logger: Logger) async -> Int32 {
        let serverOptions = AgentServer.Options(
            address: configuration.serverAddress, agentVersion: AgentVersion.version,
            vsockPeers: VsockPeerPolicy(allowGuestClients: configuration.vsockGuestClients),
            // As PID 1 every process outside the agent's mount namespace is a container's.
            unixPeers: getpid() == 1 ? .sameMountNamespace : .any)
        do {
            try await AgentServer.run(options: serverOptions, sandbox: sandbox, logger: logger)
            let destroyed = await sandbox.destroyed
            if destroyed {
                logger.info("sandbox destroyed: stopping the agent")
            } else {
                logger.error("agent server stopped")
            }
            return destroyed ? 0 : 1
        } catch {
            if await sandbox.destroyed { return 0 }
            logger.critical("agent server failed", metadata: ["error": "\(error)", "address": "\(configuration.serverAddress)"])
            return 1
        }
    }

    /// A fatal error: logged; as PID 1 sync and power off, else exit 1.
    static func fatal(_ what: String, _ error: any Error, isInit: Bool, logger: Logger) -> Never {
        logger.critical("\(what)", metadata: ["error": "\(error)"])
        if isInit {
            PowerOff.syncAndPowerOff(logger: logger)
        }
        exit(1)
    }

    private static func finish(isInit: Bool, code: Int32) -> Never {
        if isInit {
            PowerOff.syncAndPowerOff(logger: Logger(label: "root"))
        }
        exit(code)
    }
}
