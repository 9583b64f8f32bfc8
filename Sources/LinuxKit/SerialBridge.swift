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

/// The guest end of a host byte stream whose connect state arrives out of band: a
/// virtio-serial port, or a pty slave standing in for one in tests.
public protocol SerialStreamPort: Sendable {
    /// For logs and errors.
    var name: String { get }
    /// Opens the port for the bridge's whole life (non-blocking). It is never closed between
    /// host connections: closing a virtio-serial port discards what the host already sent,
    /// which may be the next connection's preface.
    func open() throws(SyscallError) -> Int32
    /// Blocks until a host is connected (true) or `stop` is raised (false).
    func waitForHost(_ fd: Int32, stop: ConsoleWakeup) throws(SyscallError) -> Bool
}

/// Serves the agent's API over a host byte stream (virtio-serial) by relaying each host
/// session (gRPC over HTTP/2, or ttrpc) to a fresh connection of the server: a socketpair the
/// server adopts (`openSession`), or a connection to a unix socket (`backendPath`).
///
/// One host connection at a time: both protocols multiplex every RPC over it. A new session
/// starts where the host's bytes begin a new connection (SerialSessionSplitter), whether or not
/// the guest saw the previous host leave; the previous session's server connection is closed
/// then (its in-flight RPCs are cancelled, containers are unaffected) and whatever it had not
/// yet written is dropped, so nothing of it reaches the new host. A host seen gone (POLLHUP,
/// end of stream) ends the session too.
public final class SerialBridge: Sendable {
    /// Why a session ended.
    public enum SessionEnd: Sendable, Equatable {
        /// The host disconnected (the port reported it).
        case hostClosed
        /// The host's bytes started a new connection.
        case hostReconnected
        /// The server closed the session's connection.
        case serverClosed
        /// The bridge was stopped.
        case stopped
        /// The server could not be reached, or a read, write or poll failed.
        case failed(SyscallError)
    }

    /// Opens one session's connection to the server; returns the relay's end (non-blocking).
    public typealias SessionOpener = @Sendable () throws(SyscallError) -> Int32

    let port: any SerialStreamPort
    /// For logs: where sessions go.
    let backendName: String
    let openSession: SessionOpener
    let maxFrameSize: Int
    let logger: Logger
    let stopSignal: ConsoleWakeup
    let onSessionEnd: (@Sendable (Int, SessionEnd) -> Void)?
    /// How long `stop()` lets the current session's server finish: its last bytes (the answer
    /// to the RPC that stopped the agent) still reach the host until it closes or this passes.
    let stopDrainTimeout: Double

    /// - Parameters:
    ///   - backendPath: a unix socket the server listens on ('@name' for abstract), for tests.
    ///   - backendTimeout: how long a session waits for the server to accept (it may still
    ///     be starting when the first host connects).
    ///   - maxFrameSize: the server's SETTINGS_MAX_FRAME_SIZE; a larger frame from the host
    ///     means the stream lost sync (see HTTP2SessionSplitter).
    public convenience init(
        port: any SerialStreamPort, backendPath: String, backendTimeout: Double = 30,
        maxFrameSize: Int = (1 << 24) - 1, logger: Logger,
        onSessionEnd: (@Sendable (Int, SessionEnd) -> Void)? = nil
    ) throws(SyscallError) {
        let stopSignal = try ConsoleWakeup()
        try self.init(
            port: port, backendName: backendPath, stopSignal: stopSignal,
            openSession: { () throws(SyscallError) -> Int32 in
                try Self.connectBackend(path: backendPath, timeout: backendTimeout, stop: stopSignal)
            },
            maxFrameSize: maxFrameSize, stopDrainTimeout: 0, logger: logger, onSessionEnd: onSessionEnd)
    }

    /// - Parameters:
    ///   - openSession: gives each session's connection to the server (e.g. one end of a
    ///     socketpair whose other end the server adopts) and returns the relay's end.
    ///   - maxFrameSize: the server's HTTP/2 SETTINGS_MAX_FRAME_SIZE (see SerialSessionSplitter).
    ///   - stopDrainTimeout: after `stop()`, how long the session's server may still write
    ///     before it closes (0: the session ends at once).
    public convenience init(
        port: any SerialStreamPort, openSession: @escaping SessionOpener, maxFrameSize: Int = (1 << 24) - 1,
        stopDrainTimeout: Double = 0, logger: Logger, onSessionEnd: (@Sendable (Int, SessionEnd) -> Void)? = nil
    ) throws(SyscallError) {
        try self.init(
            port: port, backendName: "server session", stopSignal: try ConsoleWakeup(), openSession: openSession,
            maxFrameSize: maxFrameSize, stopDrainTimeout: stopDrainTimeout, logger: logger, onSessionEnd: onSessionEnd)
    }

    init(
        port: any SerialStreamPort, backendName: String, stopSignal: ConsoleWakeup, openSession: @escaping SessionOpener,
        maxFrameSize: Int, stopDrainTimeout: Double, logger: Logger, onSessionEnd: (@Sendable (Int, SessionEnd) -> Void)?
    ) throws(SyscallError) {
        self.port = port
        self.stopDrainTimeout = stopDrainTimeout
        self.backendName = backendName
        self.openSession = openSession
        self.maxFrameSize = maxFrameSize
        self.logger = logger
        self.stopSignal = stopSignal
        self.onSessionEnd = onSessionEnd
    }

    /// A connected, non-blocking, close-on-exec AF_UNIX stream pair: (relay end, server end).
    public static func sessionSocketPair() throws(SyscallError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, flags, 0, &fds) == 0 else {
            throw SyscallError("socketpair", target: "serial session", errno: errno)
        }
        do throws(SyscallError) {
            try ConsoleIO.setNonBlocking(fds[0], target: "serial session relay end")
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        return (fds[0], fds[1])
    }

    /// Runs the relay on a background thread; returns at once. `whenStopped` runs on that
    /// thread once the relay has ended (the last bytes written, the port closed).
    public func start(whenStopped: @escaping @Sendable () -> Void = {}) {
        BackgroundThread.start(name: "serial-bridge") { [self] in
            run()
            whenStopped()
        }
    }

    /// Ends the relay: the current session first drains for up to `stopDrainTimeout`.
    public func stop() {
        stopSignal.raise()
    }

    /// The relay; blocks until `stop()` or a failure of the port (logged).
    public func run() {
        let fd: Int32
        do {
            fd = try port.open()
        } catch {
            logger.error("serial transport stopped: cannot open the port", metadata: ["error": "\(error)"])
            return
        }
        defer { close(fd) }
        logger.info("serial transport waiting for the host", metadata: ["port": "\(port.name)", "backend": "\(backendName)"])
        var relay = SerialRelay(bridge: self, port: fd)
        while !stopSignal.isRaised {
            do {
                guard try port.waitForHost(fd, stop: stopSignal) else { break }
            } catch {
                logger.error("serial transport stopped: cannot wait for the host", metadata: ["error": "\(error)"])
                break
            }
            guard relay.serveHost() else { break }
        }
        relay.drain(for: stopDrainTimeout)
        relay.endSession(.stopped)
        logger.info("serial transport stopped", metadata: ["port": "\(port.name)"])
    }

    static func connectBackend(path: String, timeout: Double, stop: ConsoleWakeup) throws(SyscallError) -> Int32 {
        let deadline = ConsoleClock.now() + timeout
        while true {
            do throws(SyscallError) {
                let fd = try UnixSocket.connect(path: path)
                do throws(SyscallError) {
                    try ConsoleIO.setNonBlocking(fd, target: "backend \(path)")
                } catch {
                    close(fd)
                    throw error
                }
                return fd
            } catch {
                let retryable = error.errno == ECONNREFUSED || error.errno == ENOENT
                if !retryable || ConsoleClock.now() >= deadline || stop.isRaised { throw error }
            }
            // The server may not be listening yet; there is no event to wait for across processes.
            usleep(20_000)
        }
    }
}

/// Bytes on their way to one fd.
struct ByteQueue {
    var bytes: [UInt8] = []
    var offset = 0
    var isEmpty: Bool { offset >= bytes.count }
    var count: Int { bytes.count - offset }

    mutating func append(_ more: [UInt8]) {
        if isEmpty { bytes = more; offset = 0 } else { bytes.append(contentsOf: more) }
    }

    mutating func clear() {
        bytes = []
        offset = 0
    }

    /// Writes what the fd takes now.
    mutating func write(to fd: Int32) -> ConsoleIO.Transfer {
        let result = bytes.withUnsafeBytes { raw in
            ConsoleIO.write(fd, from: UnsafeRawBufferPointer(rebasing: raw[offset...]))
        }
        if case let .bytes(n) = result {
            offset += n
            if isEmpty { clear() }
        }
        return result
    }
}

/// The relay's state across host connections: the port, the current session's server
/// connection, and the bytes in flight each way.
struct SerialRelay {
    let bridge: SerialBridge
    let port: Int32
    var splitter: SerialSessionSplitter
    var backend: Int32?
    var session = 0
    var toBackend = ByteQueue()
    var toPort = ByteQueue()
    var scratch = [UInt8](repeating: 0, count: 64 * 1024)
    /// Past this many queued bytes the relay stops reading the side that fills the queue.
    let queueLimit = 1 << 20
    /// Host connections the splitter found to have ended (a new session began in their
    /// bytes) before the port reported their hang-up. virtio-serial sends connect and
    /// disconnect notices on a control queue, unordered with the data: a hang-up seen after
    /// such a session start may be the previous connection's, arriving late.
    var unobservedCloses = 0
    /// True until a session starts after the relay began or the host was last seen gone.
    var awaitingFirstSession = true

    init(bridge: SerialBridge, port: Int32) {
        self.bridge = bridge
        self.port = port
        self.splitter = SerialSessionSplitter(maxFrameSize: bridge.maxFrameSize)
    }

    var portName: String { bridge.port.name }

    /// Closes the session's server connection and drops what it had not yet delivered.
    mutating func endSession(_ why: SerialBridge.SessionEnd) {
        guard let fd = backend else { return }
        ConsoleIO.closeQuietly(fd)
        backend = nil
        toBackend.clear()
        toPort.clear()
        bridge.logger.info("serial transport session ended", metadata: ["session": "\(session)", "outcome": "\(why)"])
        bridge.onSessionEnd?(session, why)
    }

    /// Starts the session whose preface the splitter just found.
    mutating func startSession() {
        endSession(.hostReconnected)
        toPort.clear()
        if !awaitingFirstSession { unobservedCloses += 1 }
        awaitingFirstSession = false
        session += 1
        do {
            backend = try bridge.openSession()
            bridge.logger.info("serial transport session started", metadata: ["session": "\(session)", "port": "\(portName)"])
        } catch {
            bridge.logger.error(
                "serial transport cannot reach the server", metadata: ["session": "\(session)", "error": "\(error)"])
            splitter.sessionEnded()
            bridge.onSessionEnd?(session, .failed(error))
        }
    }

    /// The host went away: whatever the port carries next is a new connection's. Unless the
    /// notice is a late one for a connection whose end the splitter already found: then the
    /// current session is the new host's, and it goes on once the port shows it connected.
    mutating func hostGone() {
        if unobservedCloses > 0 {
            unobservedCloses -= 1
            bridge.logger.debug("serial transport: late hang-up notice of an earlier host connection",
                                metadata: ["session": "\(session)"])
            return
        }
        endSession(.hostClosed)
        splitter.reset()
        toPort.clear()
        awaitingFirstSession = true
    }

    /// Relays while this host is connected. False when the bridge must stop.
    mutating func serveHost() -> Bool {
        while true {
            var fds: [pollfd] = [pollfd(fd: bridge.stopSignal.readFD, events: Int16(POLLIN), revents: 0)]
            var portEvents = Int32(0)
            if toBackend.count < queueLimit { portEvents |= POLLIN }
            if !toPort.isEmpty { portEvents |= POLLOUT }
            fds.append(pollfd(fd: port, events: Int16(portEvents), revents: 0))
            if let backend {
                var events = Int32(0)
                if toPort.count < queueLimit { events |= POLLIN }
                if !toBackend.isEmpty { events |= POLLOUT }
                fds.append(pollfd(fd: backend, events: Int16(events), revents: 0))
            }
            let ready = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), -1) }
            if ready < 0 {
                let err = errno
                if err == EINTR { continue }
                fail(SyscallError("poll", target: "\(portName) <-> \(bridge.backendName)", errno: err))
                return false
            }
            if fds[0].revents != 0 { return false }
            let portReady = Int32(fds[1].revents)
            let polledSession = session
            if portReady != 0 {
                switch pumpPort(portReady) {
                case .keepGoing: break
                case .hostGone: hostGone(); return true
                case .failed: return false
                }
            }
            // A session started while the port was served: the polled fd was the old
            // session's (its number may already be reused by the new one).
            if fds.count > 2, session == polledSession, let backend, fds[2].revents != 0 {
                pumpBackend(backend, Int32(fds[2].revents))
            }
        }
    }

    /// After stop: relays what the session's server still writes to the host (nothing more
    /// from the host) until the server closes and all of it is written, the host is gone, or
    /// `seconds` pass.
    mutating func drain(for seconds: Double) {
        guard seconds > 0 else { return }
        let deadline = ConsoleClock.now() + seconds
        while backend != nil || !toPort.isEmpty {
            let remaining = deadline - ConsoleClock.now()
            guard remaining > 0 else {
                bridge.logger.warning("serial transport stopped before the session's server finished",
                                      metadata: ["session": "\(session)", "undelivered-bytes": "\(toPort.count)"])
                return
            }
            var fds = [pollfd(fd: port, events: Int16(toPort.isEmpty ? 0 : POLLOUT), revents: 0)]
            if let backend { fds.append(pollfd(fd: backend, events: Int16(toPort.count < queueLimit ? POLLIN : 0), revents: 0)) }
            let timeout = Int32(min(remaining * 1000, 1000).rounded(.up))
            let ready = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            let portReady = Int32(fds[0].revents)
            if portReady & POLLOUT != 0 {
                switch toPort.write(to: port) {
                case .bytes: break
                case .wouldBlock: if portReady & (POLLHUP | POLLERR) != 0 { return }
                case .endOfStream, .failed: return
                }
            } else if portReady & (POLLHUP | POLLERR) != 0 {
                return  // no host to deliver to
            }
            if fds.count > 1, let backend, fds[1].revents != 0 {
                pumpBackend(backend, Int32(fds[1].revents))
            }
        }
    }

    enum PortStep { case keepGoing, hostGone, failed }

    private mutating func pumpPort(_ revents: Int32) -> PortStep {
        let hangup = revents & (POLLHUP | POLLERR) != 0
        if revents & (POLLIN | POLLHUP | POLLERR) != 0, toBackend.count < queueLimit {
            let result = scratch.withUnsafeMutableBytes { ConsoleIO.read(port, into: $0) }
            switch result {
            case let .bytes(n):
                for event in splitter.feed(Array(scratch[0..<n])) {
                    switch event {
                    case .newSession: startSession()
                    case let .bytes(data): if backend != nil { toBackend.append(data) }
                    case let .discarded(count):
                        bridge.logger.debug("serial transport dropped bytes of no live session", metadata: ["bytes": "\(count)"])
                    }
                }
                // Read the rest first; the hang-up shows again once the port is drained.
                return .keepGoing
            case .wouldBlock:
                if hangup { return .hostGone }
            case .endOfStream:
                return .hostGone
            case let .failed(err):
                fail(SyscallError("read from", target: portName, errno: err))
                return .failed
            }
        }
        if revents & POLLOUT != 0, !toPort.isEmpty {
            switch toPort.write(to: port) {
            case .bytes: break
            case .wouldBlock:
                // A virtio-serial port whose host left reports POLLHUP and EAGAIN.
                if hangup { return .hostGone }
            case .endOfStream: return .hostGone
            case let .failed(err):
                fail(SyscallError("write to", target: portName, errno: err))
                return .failed
            }
        } else if hangup, revents & POLLIN == 0 {
            return .hostGone
        }
        return .keepGoing
    }

    private mutating func pumpBackend(_ fd: Int32, _ revents: Int32) {
        if revents & (POLLIN | POLLHUP | POLLERR) != 0, toPort.count < queueLimit {
            let result = scratch.withUnsafeMutableBytes { ConsoleIO.read(fd, into: $0) }
            switch result {
            case let .bytes(n):
                toPort.append(Array(scratch[0..<n]))
                return
            case .wouldBlock:
                break
            case .endOfStream, .failed:
                serverClosed()
                return
            }
        }
        if revents & POLLOUT != 0, !toBackend.isEmpty {
            switch toBackend.write(to: fd) {
            case .bytes, .wouldBlock: break
            case .endOfStream, .failed:
                // The server closed after its last words, which may have arrived since the
                // poll: they are all in the socket now; keep them for the host.
                readRemaining(fd)
                serverClosed()
            }
        }
    }

    /// Everything the server end already wrote, up to end of stream.
    private mutating func readRemaining(_ fd: Int32) {
        while true {
            let result = scratch.withUnsafeMutableBytes { ConsoleIO.read(fd, into: $0) }
            guard case let .bytes(n) = result else { return }
            toPort.append(Array(scratch[0..<n]))
        }
    }

    /// The server ended the session while the host stays connected; its last words (a
    /// GOAWAY) still go to that host, and the host's frames are dropped until it reconnects.
    private mutating func serverClosed() {
        let last = toPort
        endSession(.serverClosed)
        toPort = last
        splitter.sessionEnded()
    }

    private mutating func fail(_ error: SyscallError) {
        bridge.logger.error("serial transport stopped", metadata: ["error": "\(error)"])
        endSession(.failed(error))
    }
}
