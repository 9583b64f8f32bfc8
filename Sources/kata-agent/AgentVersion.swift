/// The agent's version, reported by `--version`, the announce line and Health.Version.
enum AgentVersion {
    static let version = "0.1.0"
    /// agent.proto API version reported as grpc_version, as upstream.
    static let apiVersion = "0.0.1"
}
