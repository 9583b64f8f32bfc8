#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the host's byte-stream sessions come from: a virtio-serial port in the guest, or a
/// stand-in (a unix listener, each connection one host session) in tests.
public protocol SerialSessionSource: Sendable {
    /// For logs and errors.
    var name: String { get }
    /// Blocks until a host is connected and returns the session's fd (non-blocking), or nil
    /// once `stop` is raised.
    func nextSession(stop: ConsoleWakeup) throws(ConsoleError) -> Int32?
    /// Ends a session returned by `nextSession`.
    func endSession(_ fd: Int32)
}

/// Stand-in host side for tests and host-only use: every accepted connection is one session.
public struct ListenerSessionSource: SerialSessionSource {
    public let listener: ConsoleListener
    public var name: String { listener.name }

    public init(listener: ConsoleListener) {
        self.listener = listener
    }

    public func nextSession(stop: ConsoleWakeup) throws(ConsoleError) -> Int32? {
        guard let fd = try listener.accept(alsoStop: stop) else { return nil }
        try ConsoleIO.setNonBlocking(fd, target: "\(listener.name) session")
        return fd
    }

    public func endSession(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// Serves the agent's gRPC API over a host byte stream (virtio-serial) by relaying each host
/// session to a fresh connection to the gRPC server's private unix socket.
///
/// One host session at a time: HTTP/2 multiplexes every RPC over it. When the host
/// disconnects (the port reads EOF / reports POLLHUP) the backend connection is closed, which
/// ends that HTTP/2 session in the server (in-flight RPCs are cancelled; containers are
/// unaffected), and the next host that connects gets a new one.
public final class SerialBridge: Sendable {
    let source: any SerialSessionSource
    let backendPath: String
    let backendTimeout: Double
    let logger: Logger
    let stopSignal: ConsoleWakeup
    let onSessionEnd: (@Sendable (Int, ConsolePump.Outcome) -> Void)?

    /// - Parameters:
    ///   - backendPath: the gRPC server's private unix socket ('@name' for abstract).
    ///   - backendTimeout: how long a session waits for the server to accept (it may still
    ///     be starting when the first host connects).
    public init(
        source: any SerialSessionSource, backendPath: String, backendTimeout: Double = 30, logger: Logger,
        onSessionEnd: (@Sendable (Int, ConsolePump.Outcome) -> Void)? = nil
    ) throws(ConsoleError) {
        self.source = source
        self.backendPath = backendPath
        self.backendTimeout = backendTimeout
        self.logger = logger
        self.stopSignal = try ConsoleWakeup()
        self.onSessionEnd = onSessionEnd
    }

    /// Runs the session loop on a background thread; returns at once.
    public func start() {
        BackgroundThread.start(name: "serial-bridge") { [self] in
            run()
        }
    }

    /// Ends the current session and the loop.
    public func stop() {
        stopSignal.raise()
    }

    /// The session loop; blocks until `stop()` or a failure of the source (logged).
    public func run() {
        logger.info("serial transport waiting for the host", metadata: ["port": "\(source.name)", "backend": "\(backendPath)"])
        var session = 0
        while !stopSignal.isRaised {
            let port: Int32
            do {
                guard let fd = try source.nextSession(stop: stopSignal) else { break }
                port = fd
            } catch {
                logger.error("serial transport stopped: cannot get a host session", metadata: ["error": "\(error)"])
                break
            }
            session += 1
            let outcome = serve(session: session, port: port)
            source.endSession(port)
            logger.info("serial transport session ended", metadata: ["session": "\(session)", "outcome": "\(outcome)"])
            onSessionEnd?(session, outcome)
        }
        logger.info("serial transport stopped", metadata: ["port": "\(source.name)"])
    }

    private func serve(session: Int, port: Int32) -> ConsolePump.Outcome {
        let backend: Int32
        do {
            backend = try connectBackend()
            try ConsoleIO.setNonBlocking(backend, target: "backend \(backendPath)")
        } catch {
            logger.error("serial transport cannot reach the gRPC server", metadata: ["session": "\(session)", "error": "\(error)"])
            return .failed(error)
        }
        defer { ConsoleIO.closeQuietly(backend) }
        logger.info("serial transport session started", metadata: ["session": "\(session)", "port": "\(source.name)"])
        let pump = ConsolePump(
            a: .init(fd: port, name: source.name), b: .init(fd: backend, name: "gRPC server \(backendPath)"),
            wakeup: stopSignal)
        return pump.run()
    }

    private func connectBackend() throws(ConsoleError) -> Int32 {
        let deadline = ConsoleClock.now() + backendTimeout
        while true {
            do {
                return try UnixSocket.connect(path: backendPath)
            } catch {
                let retryable = error.errno == ECONNREFUSED || error.errno == ENOENT
                if !retryable || ConsoleClock.now() >= deadline || stopSignal.isRaised { throw error }
            }
            // The server may not be listening yet; there is no event to wait for across processes.
            usleep(20_000)
        }
    }
}
