import Glibc
import LinuxKit
import Logging
import Synchronization

/// The agent's one uevent listener: remembers every device added (by DEVPATH, forgotten on
/// remove) so a device that appeared before anyone asked is found at once, wakes the waiters
/// whose matcher an added device satisfies, and onlines hot-plugged memory blocks.
public final class UeventHub: Sendable {
    struct Waiter {
        let matcher: UeventMatcher
        let continuation: CheckedContinuation<Uevent?, any Error>
        var timer: Task<Void, Never>?
    }

    struct State {
        /// Added devices by DEVPATH.
        var seen: [String: Uevent] = [:]
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var listening = false
    }

    public let paths: DevicePaths
    /// agent.hotplug_timeout: the default bound of every wait.
    public let timeout: Duration
    let logger: Logger
    let state = Mutex(State())

    public init(paths: DevicePaths = DevicePaths(), timeout: Duration = .seconds(3), logger: Logger) {
        self.paths = paths
        self.timeout = timeout
        self.logger = logger
    }

    // MARK: the process-wide instance

    private static let installed = Mutex<UeventHub?>(nil)

    /// Sets the hub the RPC layer uses (agent start, after the listener started).
    public static func install(_ hub: UeventHub) {
        installed.withLock { $0 = hub }
    }

    /// The installed hub; without one (the RPC layer in a test process) a hub fed by nothing,
    /// whose waits can only succeed through sysfs and /dev.
    public static func current(logger: Logger) -> UeventHub {
        installed.withLock { current in
            if let current { return current }
            let made = UeventHub(logger: logger)
            current = made
            return made
        }
    }

    // MARK: listening

    /// Consumes `source` until it finishes (the agent's life): one task, started once.
    public func start(source: any UeventSource) {
        let first = state.withLock { state in
            defer { state.listening = true }
            return !state.listening
        }
        guard first else { return }
        let events = source.events()
        Task.detached { [self] in
            for await event in events {
                ingest(event)
            }
            logger.warning("uevent source closed: hot-plug waits now rely on sysfs only")
        }
    }

    /// Handles one event: the seen map, memory onlining, waiters.
    public func ingest(_ event: Uevent) {
        if event.action == "add", event.subsystem == "memory" {
            onlineMemory(event)
        }
        let woken: [(CheckedContinuation<Uevent?, any Error>, Task<Void, Never>?)] = state.withLock { state in
            switch event.action {
            case "add":
                state.seen[event.devpath] = event
            case "remove":
                state.seen[event.devpath] = nil
                return []
            default:
                return []
            }
            var woken: [(CheckedContinuation<Uevent?, any Error>, Task<Void, Never>?)] = []
            for (id, waiter) in state.waiters where waiter.matcher.matches(event) {
                state.waiters[id] = nil
                woken.append((waiter.continuation, waiter.timer))
            }
            return woken
        }
        for (continuation, timer) in woken {
            timer?.cancel()
            continuation.resume(returning: event)
        }
    }

    /// Devices currently known as added (tests, diagnostics).
    public var seenDevpaths: [String] { state.withLock { $0.seen.keys.sorted() } }

    /// Waiters not yet resolved (tests check nothing is left behind).
    public var pendingWaiters: Int { state.withLock { $0.waiters.count } }

    // MARK: waiting

    /// Waits for an added device `matcher` accepts: one already seen answers at once;
    /// otherwise `fastPath` (a sysfs or /dev check for devices that appeared before the
    /// listener) is tried after the waiter is registered, so nothing falls between the two;
    /// otherwise the first matching add within `timeout` (default agent.hotplug_timeout).
    public func wait<T: Sendable>(for matcher: UeventMatcher, timeout: Duration? = nil,
                                  fastPath: @Sendable () -> T? = { nil },
                                  extract: @Sendable (Uevent) -> T) async throws(SandboxError) -> T {
        // Task.sleep's deadline is now plus the budget in 64-bit seconds: bounded, it cannot trap.
        let budget = min(timeout ?? self.timeout, Self.longestWait)
        let fastResult = Mutex<T?>(nil)
        let id = state.withLock { state in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        let outcome: Result<Uevent?, any Error> = await withTaskCancellationHandler {
            do {
                return .success(try await withCheckedThrowingContinuation { continuation in
                    let known: Uevent? = state.withLock { state in
                        if let hit = state.seen.values.first(where: { matcher.matches($0) }) { return hit }
                        state.waiters[id] = Waiter(matcher: matcher, continuation: continuation)
                        return nil
                    }
                    if let known {
                        continuation.resume(returning: known)
                        return
                    }
                    if let value = fastPath() {
                        if let waiter = take(id) {
                            fastResult.withLock { $0 = value }
                            waiter.continuation.resume(returning: nil)
                        }
                        return
                    }
                    let timer = Task { [self] in
                        try? await Task.sleep(for: budget)
                        guard !Task.isCancelled, let waiter = take(id) else { return }
                        waiter.continuation.resume(throwing: SandboxError(
                            .system, "timeout after \(Self.seconds(budget)) waiting for \(matcher.what)", errno: ETIMEDOUT))
                    }
                    let registered = state.withLock { state in
                        guard state.waiters[id] != nil else { return false }
                        state.waiters[id]?.timer = timer
                        return true
                    }
                    if !registered { timer.cancel() }
                })
            } catch {
                return .failure(error)
            }
        } onCancel: {
            if let waiter = take(id) {
                waiter.timer?.cancel()
                waiter.continuation.resume(throwing: SandboxError(.system, "cancelled while waiting for \(matcher.what)", errno: ECANCELED))
            }
        }
        switch outcome {
        case .success(let event?):
            logger.debug("device found", metadata: ["awaited": "\(matcher.what)", "devpath": "\(event.devpath)"])
            return extract(event)
        case .success(nil):
            if let value = fastResult.withLock({ $0 }) { return value }
            throw SandboxError(.system, "waiting for \(matcher.what) ended without a device")
        case .failure(let error as SandboxError):
            throw error
        case .failure(let error):
            throw SandboxError(.system, "waiting for \(matcher.what): \(error)")
        }
    }

    private func take(_ id: UInt64) -> Waiter? {
        state.withLock { state in
            defer { state.waiters[id] = nil }
            return state.waiters[id]
        }
    }

    /// The longest a device wait lasts, whatever timeout it was given (the configuration's
    /// hotplug_timeout is at most this too).
    static let longestWait: Duration = .seconds(86_400)

    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let (milliseconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if attoseconds == 0 || overflow { return "\(seconds)s" }
        return "\(milliseconds + attoseconds / 1_000_000_000_000_000)ms"
    }

    // MARK: memory hot-plug

    /// A hot-plugged memory block is offline until told otherwise; the VMM added it for the
    /// guest to use (upstream onlines every one it sees).
    func onlineMemory(_ event: Uevent) {
        let path = paths.sysfs + event.devpath + "/online"
        do {
            try Sysfs.write("1", to: path)
            logger.info("memory block onlined", metadata: ["devpath": "\(event.devpath)"])
        } catch {
            // EINVAL: already online (the kernel's auto-online policy got there first).
            if error.errno != EINVAL {
                logger.warning("cannot online memory block", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
    }
}
