import GRPCCore
import KataProtocols

/// grpc.Health as upstream Kata: Check always SERVING while the server runs; Version reports the
/// agent's version and the API version "0.0.1".
struct KataHealthService: Grpc_Health.SimpleServiceProtocol {
    /// The agent API version upstream reports.
    static let apiVersion = "0.0.1"

    let agentVersion: String

    func check(request: Grpc_CheckRequest, context: ServerContext) async throws -> Grpc_HealthCheckResponse {
        checkNow(request: request)
    }

    /// Check's answer, which never waits (the ttrpc codec's immediate path).
    func checkNow(request: Grpc_CheckRequest) -> Grpc_HealthCheckResponse {
        var response = Grpc_HealthCheckResponse()
        response.status = .serving
        return response
    }

    func version(request: Grpc_CheckRequest, context: ServerContext) async throws -> Grpc_VersionCheckResponse {
        versionNow(request: request)
    }

    /// Version's answer, which never waits.
    func versionNow(request: Grpc_CheckRequest) -> Grpc_VersionCheckResponse {
        var response = Grpc_VersionCheckResponse()
        response.agentVersion = agentVersion
        response.grpcVersion = Self.apiVersion
        return response
    }
}

/// The standard grpc.health.v1.Health, so ordinary probes (grpc_health_probe, kubelet) work:
/// SERVING for "" (the whole server) and for every served service name, NOT_FOUND otherwise.
struct StandardHealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let servedServices: Set<String>

    func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        try checkNow(request: request)
    }

    /// Check's answer, which never waits (the ttrpc codec's immediate path).
    func checkNow(request: Grpc_Health_V1_HealthCheckRequest) throws -> Grpc_Health_V1_HealthCheckResponse {
        guard request.service.isEmpty || servedServices.contains(request.service) else {
            throw RPCError(code: .notFound, message: "unknown service '\(request.service)'")
        }
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = .serving
        return response
    }

    /// The status never changes while the server runs, so Watch sends it once and then holds
    /// the stream open until the client cancels or the server shuts down.
    func watch(
        request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        var message = Grpc_Health_V1_HealthCheckResponse()
        message.status = request.service.isEmpty || servedServices.contains(request.service) ? .serving : .serviceUnknown
        try await response.write(message)
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}
