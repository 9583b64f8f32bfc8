import AgentConfig
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import KataProtocols
import Logging
import Sandbox

/// The agent's gRPC server: grpc.AgentService, grpc.Health and grpc.health.v1.Health on one listener.
public enum AgentServer {
    /// What the server needs besides the sandbox: where to listen and what to report.
    public struct Options: Sendable {
        public var address: ServerAddress
        public var agentVersion: String
        /// Filesystem roots for the guest-level RPCs; tests point them at temporary directories.
        public var guestRoots: GuestRoots
        public var storageHandlers: [String]

        public init(
            address: ServerAddress, agentVersion: String, guestRoots: GuestRoots = .system,
            storageHandlers: [String] = ["local", "ephemeral"]
        ) {
            self.address = address
            self.agentVersion = agentVersion
            self.guestRoots = guestRoots
            self.storageHandlers = storageHandlers
        }
    }

    /// The services the agent serves, for any transport (the listener here, or another transport
    /// such as virtio-serial that serves the same API).
    public static func services(options: Options, logger: Logger) -> [any RegistrableRPCService] {
        let environment = AgentServiceEnvironment(
            logger: logger, agentVersion: options.agentVersion, guestRoots: options.guestRoots,
            clock: KernelClock(), randomDevice: KernelRandomDevice(),
            metrics: GuestMetrics(roots: options.guestRoots), storageHandlers: options.storageHandlers)
        let served: Set<String> = [
            Grpc_AgentService.descriptor.fullyQualifiedService, Grpc_Health.descriptor.fullyQualifiedService,
            Grpc_Health_V1_Health.descriptor.fullyQualifiedService,
        ]
        return [
            AgentService(environment: environment),
            KataHealthService(agentVersion: options.agentVersion),
            StandardHealthService(servedServices: served),
        ]
    }

    /// Listens on `options.address` and serves until the task is cancelled or the transport fails.
    /// Request errors never end the server; a listener that cannot be opened throws.
    public static func run(options: Options, logger: Logger) async throws {
        let transport = try ListenerSocket.transport(for: options.address)
        let server = GRPCServer(transport: transport, services: services(options: options, logger: logger))
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
                    logger.info("agent server listening", metadata: ["address": "\(options.address)", "bound": "\(address)"])
                }
            }
        }
    }
}
