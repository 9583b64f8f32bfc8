/// CreateSandbox as plain values (the server converts the protobuf message).
public struct CreateSandboxRequest: Sendable, Equatable {
    public var hostname: String
    /// resolv.conf lines ("nameserver 10.0.0.1", "search example.com").
    public var dns: [String]
    public var storages: [StorageRequest]
    public var sandboxPidns: Bool
    public var sandboxID: String
    /// Directory holding prestart/, poststart/, poststop/ (empty: none).
    public var guestHookPath: String
    public var kernelModules: [KernelModuleRequest]

    public init(hostname: String = "", dns: [String] = [], storages: [StorageRequest] = [], sandboxPidns: Bool = false,
                sandboxID: String = "", guestHookPath: String = "", kernelModules: [KernelModuleRequest] = []) {
        self.hostname = hostname
        self.dns = dns
        self.storages = storages
        self.sandboxPidns = sandboxPidns
        self.sandboxID = sandboxID
        self.guestHookPath = guestHookPath
        self.kernelModules = kernelModules
    }
}

/// One agent.proto KernelModule: a module name and its parameters ("key=value").
public struct KernelModuleRequest: Sendable, Equatable {
    public var name: String
    public var parameters: [String]

    public init(name: String, parameters: [String] = []) {
        self.name = name
        self.parameters = parameters
    }
}
