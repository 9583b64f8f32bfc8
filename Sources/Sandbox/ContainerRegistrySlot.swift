import Logging

/// What the sandbox needs from the container side; engine-core provides the implementation
/// (Sandbox+Containers.swift) and attaches it with `SandboxState.attach(containers:)`.
public protocol SandboxContainers: Sendable {
    /// Ends every container and its processes (DestroySandbox), waiting until they are gone;
    /// `release` gives back each removed container's storages before its directory goes.
    /// Failures are logged by the implementation; destruction continues regardless.
    func destroyAll(logger: Logger, release: @escaping @Sendable (String) async -> Void) async
    /// Takes the sandbox's guest hooks; containers created afterwards run them after the
    /// spec's hooks of the same type.
    func useGuestHooks(_ hooks: GuestHooks)
}
