import LinuxKit
import Synchronization

/// Runs blocking work (a spawn handshake, a pipe write) on a thread of its own, keeping the
/// cooperative pool free. The threads are bounded: past `limit` at once, callers wait for a
/// slot instead of creating more (a container that floods the agent with slow work must not
/// exhaust the guest's threads), and a thread that cannot be created fails that request only.
enum Blocking {
    /// Concurrent blocking threads at most; each container operation holds one only briefly.
    static let limit = 64

    static let slots = AsyncSlots(limit)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        await slots.acquire()
        return try await withCheckedThrowingContinuation { continuation in
            do throws(SyscallError) {
                try BackgroundThread.tryStart(name: "kata-blocking") {
                    let result = Result { try body() }
                    slots.release()
                    continuation.resume(with: result)
                }
            } catch {
                slots.release()
                continuation.resume(throwing: EngineError(.system, "start a worker thread", container: "-", "\(error)", errno: error.errno))
            }
        }
    }
}

/// A counting semaphore for async callers: `acquire` suspends (never blocks a thread) while all
/// slots are taken.
final class AsyncSlots: Sendable {
    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ count: Int) {
        state = Mutex(State(free: count))
    }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state in
                guard state.free > 0 else {
                    state.waiters.append(continuation)
                    return false
                }
                state.free -= 1
                return true
            }
            if granted { continuation.resume() }
        }
    }

    /// Whether a caller is waiting for a slot (tests).
    var hasWaiters: Bool { state.withLock { !$0.waiters.isEmpty } }

    func release() {
        // A waiter inherits the slot directly, so `free` never overshoots.
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.free += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
