#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import GRPCCore
import LinuxKit
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TTRPCWire

/// The agent's server transport: listens on one listener of any kind and serves ttrpc and
/// gRPC-over-HTTP/2 on it, each connection sniffed by its first bytes, every RPC handed to
/// GRPCServer. No TLS: the host reaches the agent over vsock, a unix socket or a serial port.
public final class AgentServerTransport: ServerTransport {
    public typealias Bytes = WireBytes

    /// Where the agent listens.
    public enum Listener: Sendable, Equatable, CustomStringConvertible {
        case vsock(cid: UInt32, port: UInt32)
        case unix(path: String)
        /// A name in the abstract unix namespace, bound with its exact length.
        case unixAbstract(name: String)
        /// A virtio-serial port found by its name in sysfs; each host session on it is one connection.
        case serial(name: String)

        public var description: String {
            switch self {
            case let .vsock(cid, port): return "vsock://\(cid == UInt32.max ? "-1" : "\(cid)"):\(port)"
            case let .unix(path): return "unix://\(path)"
            case let .unixAbstract(name): return "unix://@\(name)"
            case let .serial(name): return "serial://\(name)"
            }
        }
    }

    /// Where the serial listener looks for its port (tests point it at a stand-in).
    public struct SerialPortLookup: Sendable {
        public var sysfs: String
        public var devices: String
        public var timeout: Double

        public init(sysfs: String = VirtioSerialPort.sysfsDirectory, devices: String = "/dev", timeout: Double = 30) {
            self.sysfs = sysfs
            self.devices = devices
            self.timeout = timeout
        }
    }

    /// How long graceful shutdown waits for calls in flight before closing their connections.
    public static let shutdownGrace: TimeAmount = .seconds(10)

    private struct State {
        var services: Set<String> = []
        var methods: Set<String> = []
        var serverChannels: [any Channel] = []
        var connections: [Int: TrackedConnection] = [:]
        var nextConnection = 0
        var stopping = false
        var stopListener: (@Sendable () -> Void)?
    }

    private let listener: Listener
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let serialLookup: SerialPortLookup
    private let vsockPeers: VsockPeerPolicy
    private let unixPeers: UnixPeerPolicy
    private let limits = WireProtocolSniffer.Limits(
        ttrpc: WireLimits(maxMessageSize: TTRPC.maxMessageSize),
        // The runtime sends large OCI specs and CopyFile chunks; as the previous gRPC transport.
        grpc: WireLimits(maxMessageSize: 16 << 20))
    private let state = Mutex(State())
    private let listening: EventLoopPromise<String>
    private let unaryMethods: WireUnaryMethods

    public init(
        listener: Listener, group: MultiThreadedEventLoopGroup = .singleton, logger: Logger,
        serialLookup: SerialPortLookup = SerialPortLookup(), vsockPeers: VsockPeerPolicy = .hostOnly,
        unixPeers: UnixPeerPolicy = .any, unaryMethods: WireUnaryMethods = WireUnaryMethods()
    ) {
        self.listener = listener
        self.unaryMethods = unaryMethods
        self.vsockPeers = vsockPeers
        self.unixPeers = unixPeers
        self.group = group
        self.logger = logger
        self.serialLookup = serialLookup
        self.listening = group.next().makePromise(of: String.self)
    }

    deinit {
        listening.fail(CancellationError())
    }

    /// What the listener is bound to, once it is (throws when it could not be opened).
    public var listeningAddress: String {
        get async throws { try await listening.futureResult.get() }
    }

    public func configure(context: GRPCServerContext) {
        state.withLock { state in
            state.services = Set(context.methods.map { $0.service.fullyQualifiedService })
            state.methods = Set(context.methods.map { "\($0.service.fullyQualifiedService)/\($0.method)" })
        }
    }

    public func listen(streamHandler: @escaping RPCStreamHandler) async throws {
        let handler = routed(streamHandler)
        do {
            switch listener {
            case let .vsock(cid, port):
                try await listenOnVsock(cid: cid, port: port, handler)
            case .unix, .unixAbstract:
                try await listenOnSocket(handler)
            case let .serial(name):
                try await listenOnSerialPort(name: name, handler)
            }
        } catch {
            listening.fail(error)
            throw error
        }
    }

    public func beginGracefulShutdown() {
        let (channels, connections, stopListener) = state.withLock { state in
            let wasStopping = state.stopping
            state.stopping = true
            return wasStopping ? ([], [], nil) : (state.serverChannels, Array(state.connections.values), state.stopListener)
        }
        for channel in channels { channel.close(promise: nil) }
        stopListener?()
        for tracked in connections {
            tracked.drain()
            // Long polls may never end on their own; the server must still stop.
            let channel = tracked.connection.channel
            channel.eventLoop.scheduleTask(in: Self.shutdownGrace) { channel.close(promise: nil) }
        }
    }

    /// Answers UNIMPLEMENTED naming an unknown service or method (as containerd/ttrpc words it)
    /// the same way on both protocols, before GRPCServer's router sees the call.
    private func routed(_ handler: @escaping RPCStreamHandler) -> RPCStreamHandler {
        let (services, methods) = state.withLock { ($0.services, $0.methods) }
        return { stream, context in
            let service = stream.descriptor.service.fullyQualifiedService
            if !methods.isEmpty, !methods.contains("\(service)/\(stream.descriptor.method)") {
                let message = services.contains(service) ? "method \(stream.descriptor.method)" : "service \(service)"
                try? await stream.outbound.write(.status(Status(code: .unimplemented, message: message), [:]))
                await stream.outbound.finish()
                return
            }
            await handler(stream, context)
        }
    }

    // MARK: sockets

    private func listenOnSocket(_ handler: @escaping RPCStreamHandler) async throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
        let limits = self.limits
        let unary = self.unaryMethods
        let logger = self.logger
        let unixPeers = self.unixPeers
        let initializer: @Sendable (any Channel) -> EventLoopFuture<EventLoopFuture<SniffedConnection>> = { channel in
            UnixPeerCheck.refusal(of: channel, policy: unixPeers).map { refusal in
                if let refusal {
                    logger.warning("refused a unix socket client", metadata: ["reason": "\(refusal)"])
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(UnixPeerCheck.Refused(reason: refusal))
                }
                return WireProtocolSniffer.install(on: channel, limits: limits, unary: unary, logger: logger)
            }
        }
        let server: NIOAsyncChannel<EventLoopFuture<SniffedConnection>, Never>
        switch listener {
        case let .unix(path):
            server = try await bootstrap.bind(unixDomainSocketPath: path, childChannelInitializer: initializer)
        case let .unixAbstract(name):
            let fd = try ListenerSockets.bindAbstract(name: name)
            server = try await bootstrap.bind(fd, childChannelInitializer: initializer)
        case .serial, .vsock:
            return
        }
        let stopped = state.withLock { state in
            state.serverChannels.append(server.channel)
            return state.stopping
        }
        if stopped { server.channel.close(promise: nil) }
        listening.succeed(server.channel.localAddress.map { "\($0)" } ?? listener.description)
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await sniffed in inbound {
                    group.addTask { await self.serve(sniffed, handler) }
                }
            }
        }
    }

    /// Serves one connection once its protocol is known, until it closes.
    private func serve(_ sniffed: EventLoopFuture<SniffedConnection>, _ handler: @escaping RPCStreamHandler) async {
        guard let connection = try? await sniffed.get() else { return }
        let tracked = TrackedConnection(connection)
        let (id, stopping) = state.withLock { state in
            let id = state.nextConnection
            state.nextConnection += 1
            state.connections[id] = tracked
            return (id, state.stopping)
        }
        defer { _ = state.withLock { $0.connections.removeValue(forKey: id) } }
        if stopping { tracked.drain() }
        let counted = tracked.counting(handler)
        switch connection {
        case let .ttrpc(ttrpc):
            let unary = unaryMethods.mapMethods(tracked.counting)
            await TTRPCCodec.serve(ttrpc, handler: counted, unary: unary, logger: logger)
        case let .grpc(grpc):
            await GRPCHTTP2Codec.serve(grpc, handler: counted, logger: logger)
        }
    }

    /// Makes `stop` what a graceful shutdown runs for this listener; runs it now when the
    /// shutdown already began.
    private func onStop(_ stop: @escaping @Sendable () -> Void) {
        let stopped = state.withLock { state in
            state.stopListener = stop
            return state.stopping
        }
        if stopped { stop() }
    }

    /// Serves each connected socket of `fds` (a serial session's socketpair end, an admitted
    /// vsock connection) like an accepted one, until the stream ends.
    private func serveConnected(_ fds: AsyncStream<Int32>, what: String, _ handler: @escaping RPCStreamHandler) async {
        let limits = self.limits
        let unary = self.unaryMethods
        let logger = self.logger
        await withDiscardingTaskGroup { group in
            for await fd in fds {
                let sniffed: EventLoopFuture<SniffedConnection>
                do {
                    sniffed = try await ClientBootstrap(group: self.group).withConnectedSocket(fd) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            WireProtocolSniffer.install(on: channel, limits: limits, unary: unary, logger: logger)
                        }
                    }
                } catch {
                    // NIO owns the descriptor once it was handed over, and closes it on failure.
                    logger.error("\(what) could not be served", metadata: ["error": "\(error)"])
                    continue
                }
                group.addTask { await self.serve(sniffed, handler) }
            }
        }
    }

    // MARK: vsock

    /// vsock through an accept loop of our own: NIO does not report a vsock peer's address, and
    /// only the host (CID 2) may be served unless agent.debug_vsock_loopback says otherwise
    /// (with loopback in the guest kernel, containers can connect to CID 1). Each admitted
    /// connection is handed to NIO as a connected socket.
    private func listenOnVsock(cid: UInt32, port: UInt32, _ handler: @escaping RPCStreamHandler) async throws {
        let logger = self.logger
        let listener = try ConsoleListener.vsock(port: port, cid: cid, peers: vsockPeers) { peer in
            logger.warning("refused a vsock client that is not the host", metadata: ["cid": "\(peer)", "port": "\(port)"])
        }
        let (connections, continuation) = AsyncStream<Int32>.makeStream()
        onStop {
            listener.stop()
            continuation.finish()
        }
        BackgroundThread.start(name: "agent-vsock-accept") {
            while true {
                let accepted: Int32?
                do {
                    accepted = try listener.accept()
                } catch {
                    logger.error("vsock listener stopped accepting", metadata: ["error": "\(error)"])
                    break
                }
                guard let fd = accepted else { break }
                if case .terminated = continuation.yield(fd) {
                    close(fd)
                    break
                }
            }
            continuation.finish()
        }
        listening.succeed(listener.name)
        await serveConnected(connections, what: "vsock connection", handler)
    }

    // MARK: serial port

    /// One host session at a time on the port: SerialBridge relays each to a socketpair whose
    /// other end is served here like an accepted connection (no socket anyone else can reach).
    private func listenOnSerialPort(name: String, _ handler: @escaping RPCStreamHandler) async throws {
        let lookup = serialLookup
        // The lookup may poll for seconds while the driver probes: never on an event loop.
        let port = try await withTaskExecutorPreference(globalConcurrentExecutor) { () throws(SyscallError) in
            try VirtioSerialPort.waitFor(name: name, timeout: lookup.timeout, sysfs: lookup.sysfs, devices: lookup.devices)
        }
        let (sessions, continuation) = AsyncStream<Int32>.makeStream()
        let bridge = try SerialBridge(
            port: port,
            openSession: { () throws(SyscallError) -> Int32 in
                let (relayEnd, serverEnd) = try SerialBridge.sessionSocketPair()
                if case .terminated = continuation.yield(serverEnd) {
                    close(relayEnd)
                    close(serverEnd)
                    throw SyscallError("start a session on", target: port.name, errno: ECONNREFUSED)
                }
                return relayEnd
            },
            // The answer to the RPC that stopped the server (DestroySandbox) must still reach
            // the host: the bridge relays until the session's connection has drained.
            stopDrainTimeout: Double(Self.shutdownGrace.nanoseconds) / 1e9 + 1,
            logger: logger)
        onStop {
            bridge.stop()
            continuation.finish()
        }
        let (bridgeEnded, bridgeEndedContinuation) = AsyncStream<Never>.makeStream()
        bridge.start(whenStopped: { bridgeEndedContinuation.finish() })
        listening.succeed("\(listener) (\(port.path))")
        await serveConnected(sessions, what: "serial session", handler)
        // Until the bridge has written the last answers to the port (the agent may power off next).
        for await _ in bridgeEnded {}
    }
}

/// One served connection and its RPCs in flight, so a graceful shutdown asks the codec to close
/// the connection only once every handler on it returned (its answer written), whatever the
/// codec's own bookkeeping of streams.
final class TrackedConnection: Sendable {
    let connection: SniffedConnection
    private struct Activity {
        var inFlight = 0
        var draining = false
        var asked = false
    }
    private let activity = Mutex(Activity())

    init(_ connection: SniffedConnection) {
        self.connection = connection
    }

    /// The server is stopping: close once idle (now, when nothing is in flight).
    func drain() {
        let idle = activity.withLock { activity -> Bool in
            activity.draining = true
            guard activity.inFlight == 0, !activity.asked else { return false }
            activity.asked = true
            return true
        }
        if idle { connection.beginGracefulShutdown() }
    }

    /// `handler`, counting the RPCs it runs on this connection.
    func counting(_ handler: @escaping RPCStreamHandler) -> RPCStreamHandler {
        { stream, context in
            self.begin()
            await handler(stream, context)
            self.end()
        }
    }

    /// `method`, counted like a stream handler. Its answer is written after it returns, which
    /// the codec allows for: a ttrpc connection closes only once every call it accepted was answered.
    /// An immediate answer needs no count: it is written before the connection reads on.
    func counting(_ method: WireUnaryMethod) -> WireUnaryMethod {
        WireUnaryMethod({ request, context in
            self.begin()
            defer { self.end() }
            return try await method.handle(request, context)
        }, immediate: method.immediate)
    }

    private func begin() {
        activity.withLock { $0.inFlight += 1 }
    }

    private func end() {
        let idle = activity.withLock { activity -> Bool in
            activity.inFlight -= 1
            guard activity.draining, activity.inFlight == 0, !activity.asked else { return false }
            activity.asked = true
            return true
        }
        if idle { connection.beginGracefulShutdown() }
    }
}
