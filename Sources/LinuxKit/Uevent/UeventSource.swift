import Synchronization

/// Where uevents come from: the kernel's netlink socket in the agent, an in-memory stream
/// in tests.
public protocol UeventSource: Sendable {
    /// The events, in the order they arrived; the stream finishes when the source closes.
    /// Called once: a source feeds one consumer.
    func events() -> AsyncStream<Uevent>
}

/// An in-memory `UeventSource`: tests push events (or raw messages, parsed as the kernel's
/// would be) and the consumer sees them in order.
public final class InMemoryUeventSource: UeventSource {
    private let stream: AsyncStream<Uevent>
    private let continuation: AsyncStream<Uevent>.Continuation
    /// Raw messages handed to `send(raw:)` that the parser refused.
    public let rejected = Mutex(0)

    public init() {
        (stream, continuation) = AsyncStream.makeStream(of: Uevent.self)
    }

    public func events() -> AsyncStream<Uevent> { stream }

    /// Delivers one event.
    public func send(_ event: Uevent) {
        continuation.yield(event)
    }

    /// Delivers a raw message through the same parser as the netlink socket; refused
    /// messages are counted and dropped.
    public func send(raw bytes: [UInt8]) {
        if let event = Uevent.parse(bytes) {
            continuation.yield(event)
        } else {
            rejected.withLock { $0 += 1 }
        }
    }

    /// Ends the stream (the socket closed).
    public func finish() {
        continuation.finish()
    }
}
