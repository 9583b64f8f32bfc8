import GRPCCore
import KataProtocols
import Logging
import Sandbox

/// Everything the AgentService handlers share; one instance per server.
struct AgentServiceEnvironment: Sendable {
    var logger: Logger
    /// The sandbox (agent-core): CreateSandbox/DestroySandbox state, and the container side
    /// attached to it (`sandbox.containers`) for the container group.
    var sandbox: SandboxState
    /// Reported by GetGuestDetails and Health.Version.
    var agentVersion: String
    /// Where the guest-level RPCs find /sys, /proc, /run and /dev/random.
    var guestRoots: GuestRoots
    var clock: any SystemClockSetting
    var randomDevice: any RandomDeviceControl
    var metrics: GuestMetrics
    /// Storage drivers CreateSandbox/CreateContainer accept, reported by GetGuestDetails.
    var storageHandlers: [String]
}

/// The grpc.AgentService implementation. Each RPC group lives in its own
/// `AgentService+<Group>.swift` (or `Container*.swift`) file as an extension on this type;
/// RPCs no group implements fall back to UNIMPLEMENTED (AgentService+Unimplemented.swift).
struct AgentService: Grpc_AgentService.SimpleServiceProtocol {
    let environment: AgentServiceEnvironment

    var logger: Logger { environment.logger }

    init(environment: AgentServiceEnvironment) {
        self.environment = environment
    }
}
