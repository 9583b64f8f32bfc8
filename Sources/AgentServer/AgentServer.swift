import AgentConfig
import AgentWire
import GRPCCore
import KataProtocols
import LinuxKit
import Logging
import NIOPosix
import Sandbox

/// The agent's server: grpc.AgentService, grpc.Health and grpc.health.v1.Health on one listener,
/// over ttrpc and gRPC alike (AgentServerTransport sniffs each connection).
public enum AgentServer {
    /// What the server needs besides the sandbox: where to listen and what to report.
    public struct Options: Sendable {
        public var address: ServerAddress
        public var agentVersion: String
        /// Filesystem roots for the guest-level RPCs; tests point them at temporary directories.
        public var guestRoots: GuestRoots
        public var storageHandlers: [String]
        /// Which vsock peers a vsock listener serves (the host only, unless agent.debug_vsock_loopback).
        public var vsockPeers: VsockPeerPolicy
        /// Which processes a unix listener serves (kata-agent as PID 1: its own mount namespace only).
        public var unixPeers: UnixPeerPolicy

        public init(
            address: ServerAddress, agentVersion: String, guestRoots: GuestRoots = .system,
            storageHandlers: [String] = ["local", "ephemeral"], vsockPeers: VsockPeerPolicy = .hostOnly,
            unixPeers: UnixPeerPolicy = .any
        ) {
            self.address = address
            self.agentVersion = agentVersion
            self.guestRoots = guestRoots
            self.storageHandlers = storageHandlers
            self.vsockPeers = vsockPeers
            self.unixPeers = unixPeers
        }
    }

    /// What the agent serves: the services for GRPCServer, and their unary methods for a
    /// transport that calls them directly (ttrpc).
    public struct API: Sendable {
        public let services: [any RegistrableRPCService]
        public let unaryMethods: WireUnaryMethods
    }

    /// The services the agent serves, for any transport (the listener here, or another transport
    /// such as virtio-serial that serves the same API).
    public static func services(options: Options, sandbox: SandboxState, logger: Logger) -> [any RegistrableRPCService] {
        api(options: options, sandbox: sandbox, logger: logger).services
    }

    /// The services and their direct unary methods, sharing one environment.
    public static func api(options: Options, sandbox: SandboxState, logger: Logger) -> API {
        let environment = AgentServiceEnvironment(
            logger: logger, sandbox: sandbox, agentVersion: options.agentVersion, guestRoots: options.guestRoots,
            clock: KernelClock(), randomDevice: KernelRandomDevice(),
            metrics: GuestMetrics(roots: options.guestRoots), storageHandlers: options.storageHandlers)
        let served: Set<String> = [
            Grpc_AgentService.descriptor.fullyQualifiedService, Grpc_Health.descriptor.fullyQualifiedService,
            Grpc_Health_V1_Health.descriptor.fullyQualifiedService,
        ]
        let agent = AgentService(environment: environment)
        let health = KataHealthService(agentVersion: options.agentVersion)
        let standard = StandardHealthService(servedServices: served)
        return API(
            services: [agent, health, standard],
            unaryMethods: unaryMethods(agent: agent, health: health, standard: standard))
    }

    /// kata-agent's entry: serves `configuration.serverAddress` for `sandbox` (see `run(options:sandbox:logger:)`).
    public static func run(
        configuration: AgentConfiguration, sandbox: SandboxState, agentVersion: String, logger: Logger
    ) async throws {
        let options = Options(
            address: configuration.serverAddress, agentVersion: agentVersion,
            vsockPeers: VsockPeerPolicy(allowGuestClients: configuration.vsockGuestClients))
        try await run(options: options, sandbox: sandbox, logger: logger)
    }

    /// Serves with a sandbox of its own on the real kernel (tests and tools that need no shared
    /// sandbox state).
    public static func run(options: Options, logger: Logger) async throws {
        try await run(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger)
    }

    /// Listens on `options.address` and serves until DestroySandbox ran (the server then shuts
    /// down gracefully, so that reply still goes out), the task is cancelled, or the transport
    /// fails. Request errors never end the server; a listener that cannot be opened throws.
    /// The caller (kata-agent main) then exits, or as PID 1 syncs and powers off.
    public static func run(options: Options, sandbox: SandboxState, logger: Logger) async throws {
        let api = api(options: options, sandbox: sandbox, logger: logger)
        let transport = ListenerSocket.transport(
            for: options.address, vsockPeers: options.vsockPeers, unixPeers: options.unixPeers,
            unaryMethods: api.unaryMethods, logger: logger)
        let server = GRPCServer(transport: transport, services: api.services)
        // waitForShutdown ignores cancellation, so it runs outside the group; if the server
        // ends first the watcher stays suspended, harmlessly, until the process exits.
        let shutdownWatcher = Task {
            await sandbox.waitForShutdown()
            logger.info("sandbox destroyed; stopping the agent server")
            server.beginGracefulShutdown()
        }
        defer { shutdownWatcher.cancel() }
        // The transport's default group; the server's tasks follow its loops (see the executor).
        let executor = EventLoopAffineExecutor(group: .singleton)
        try await withTaskExecutorPreference(executor) {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    try await withTaskCancellationHandler {
                        try await server.serve()
                    } onCancel: {
                        server.beginGracefulShutdown()
                    }
                }
                group.addTask {
                    // serve() only reports a failed bind by returning; surface "listening" in the log.
                    if let address = try? await transport.listeningAddress {
                        logger.info("agent server listening", metadata: [
                            "address": "\(options.address)", "bound": "\(address)",
                            "uptime_ms": "\(BootClock.text(BootClock.milliseconds()))",
                        ])
                    }
                }
            }
        }
    }
}
