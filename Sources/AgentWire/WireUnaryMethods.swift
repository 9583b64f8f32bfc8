import GRPCCore

/// A unary method the ttrpc codec calls directly: the request's bytes in, the response's bytes
/// out, serialized into the buffer they are written from. It runs the same service method
/// GRPCServer would, without GRPCServer's streaming executor: the async sequences, writers and
/// result wrappers it puts around every call were about 40% of the agent's CPU for a
/// Health.Check over ttrpc (65 -> 36 us per call in make bench).
public struct WireUnaryMethod: Sendable {
    /// Decodes the request, runs the service method, encodes its response.
    public let handle: @Sendable (_ request: WireBytes, _ context: ServerContext) async throws -> WirePayload

    /// The same method answered at once on the connection's event loop, when it can answer
    /// without waiting (a Check; a read of output already buffered): the response, or nil when
    /// it would wait, and `handle` then serves the call. It must never block. It skips the
    /// call's task, its queue and two hand-offs between them: about half of a Health.Check's
    /// instructions in the agent. WireDelivery.current and WireTraceContext.traceparent are
    /// bound while it runs, as around `handle`.
    public let immediate: (@Sendable (_ request: WireBytes) throws -> WirePayload?)?

    public init(
        _ handle: @escaping @Sendable (_ request: WireBytes, _ context: ServerContext) async throws -> WirePayload,
        immediate: (@Sendable (_ request: WireBytes) throws -> WirePayload?)? = nil
    ) {
        self.handle = handle
        self.immediate = immediate
    }

    /// A method whose body answers an array of bytes (copied into the payload).
    public init(bytes handle: @escaping @Sendable (_ request: WireBytes, _ context: ServerContext) async throws -> WireBytes) {
        self.handle = { request, context in WirePayload(try await handle(request, context)) }
        self.immediate = nil
    }

    /// The status GRPCServer's executor answers for an error a handler threw, so a request gets
    /// the same code and message whichever path served it.
    static func status(of error: any Error) -> Status {
        let rpcError: RPCError
        if let error = error as? RPCError {
            rpcError = error
        } else if let convertible = error as? any RPCErrorConvertible {
            rpcError = RPCError(convertible)
        } else {
            rpcError = RPCError(code: .unknown, message: "Service method threw an unknown error.")
        }
        return Status(code: Status.Code(rpcError.code), message: rpcError.message)
    }
}

/// The unary methods a transport may call directly, by service and method name. A method not
/// listed here still reaches its handler through GRPCServer.
public struct WireUnaryMethods: Sendable {
    private var services: [String: [String: WireUnaryMethod]] = [:]

    public init() {}

    /// Serves `descriptor`'s method with `method`; a later entry for the same method replaces it.
    public mutating func insert(_ descriptor: MethodDescriptor, _ method: WireUnaryMethod) {
        services[descriptor.service.fullyQualifiedService, default: [:]][descriptor.method] = method
    }

    /// The direct entry for `method` of `service`, if there is one.
    public subscript(service service: String, method method: String) -> WireUnaryMethod? {
        services[service]?[method]
    }

    /// Every method listed, for completeness checks.
    public var descriptors: [MethodDescriptor] {
        services.flatMap { service, methods in
            methods.keys.map { MethodDescriptor(fullyQualifiedService: service, method: $0) }
        }
    }

    /// The same table with each method wrapped by `transform` (a connection counting its calls).
    func mapMethods(_ transform: (WireUnaryMethod) -> WireUnaryMethod) -> WireUnaryMethods {
        var mapped = self
        mapped.services = services.mapValues { $0.mapValues(transform) }
        return mapped
    }
}
