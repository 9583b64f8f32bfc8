import GRPCCore
import KataProtocols
import SwiftProtobuf

/// A generated unary method namespace (`Grpc_AgentService.Method.CreateContainer`, ...): its
/// request and response message types and its wire descriptor. The generated code already has
/// exactly these members; the conformances below only name them, so one generic call function
/// serves every RPC.
protocol UnaryMethod: Sendable {
    associatedtype Input: SwiftProtobuf.Message & Sendable
    associatedtype Output: SwiftProtobuf.Message & Sendable
    static var descriptor: MethodDescriptor { get }
}

private typealias A = Grpc_AgentService.Method
private typealias H = Grpc_Health.Method
private typealias V1 = Grpc_Health_V1_Health.Method

extension A.CreateContainer: UnaryMethod {}
extension A.StartContainer: UnaryMethod {}
extension A.RemoveContainer: UnaryMethod {}
extension A.ExecProcess: UnaryMethod {}
extension A.SignalProcess: UnaryMethod {}
extension A.WaitProcess: UnaryMethod {}
extension A.UpdateContainer: UnaryMethod {}
extension A.UpdateEphemeralMounts: UnaryMethod {}
extension A.StatsContainer: UnaryMethod {}
extension A.PauseContainer: UnaryMethod {}
extension A.ResumeContainer: UnaryMethod {}
extension A.RemoveStaleVirtiofsShareMounts: UnaryMethod {}
extension A.GetDiagnosticData: UnaryMethod {}
extension A.WriteStdin: UnaryMethod {}
extension A.ReadStdout: UnaryMethod {}
extension A.ReadStderr: UnaryMethod {}
extension A.CloseStdin: UnaryMethod {}
extension A.TtyWinResize: UnaryMethod {}
extension A.UpdateInterface: UnaryMethod {}
extension A.UpdateRoutes: UnaryMethod {}
extension A.ListInterfaces: UnaryMethod {}
extension A.ListRoutes: UnaryMethod {}
extension A.AddARPNeighbors: UnaryMethod {}
extension A.GetIPTables: UnaryMethod {}
extension A.SetIPTables: UnaryMethod {}
extension A.GetMetrics: UnaryMethod {}
extension A.MemAgentMemcgSet: UnaryMethod {}
extension A.MemAgentCompactSet: UnaryMethod {}
extension A.CreateSandbox: UnaryMethod {}
extension A.DestroySandbox: UnaryMethod {}
extension A.OnlineCPUMem: UnaryMethod {}
extension A.ReseedRandomDev: UnaryMethod {}
extension A.GetGuestDetails: UnaryMethod {}
extension A.MemHotplugByProbe: UnaryMethod {}
extension A.SetGuestDateTime: UnaryMethod {}
extension A.CopyFile: UnaryMethod {}
extension A.GetOOMEvent: UnaryMethod {}
extension A.AddSwap: UnaryMethod {}
extension A.AddSwapPath: UnaryMethod {}
extension A.GetVolumeStats: UnaryMethod {}
extension A.ResizeVolume: UnaryMethod {}
extension A.SetPolicy: UnaryMethod {}
extension H.Check: UnaryMethod {}
extension H.Version: UnaryMethod {}
extension V1.Check: UnaryMethod {}

/// Every RPC kata-agent-ctl can call, looked up by name.
enum RPCCatalog {
    /// Kata's Health first, so a bare "Check" means grpc.Health/Check as in upstream agent-ctl;
    /// grpc.health.v1.Health/Check is reachable by its full name. (grpc.health.v1 Watch is a
    /// never-ending stream and has no place in a one-line-per-command tool.)
    static let methods: [any UnaryMethod.Type] = [
        H.Check.self, H.Version.self,
        A.CreateContainer.self, A.StartContainer.self, A.RemoveContainer.self, A.ExecProcess.self,
        A.SignalProcess.self, A.WaitProcess.self, A.UpdateContainer.self,
        A.UpdateEphemeralMounts.self, A.StatsContainer.self, A.PauseContainer.self,
        A.ResumeContainer.self, A.RemoveStaleVirtiofsShareMounts.self, A.GetDiagnosticData.self,
        A.WriteStdin.self, A.ReadStdout.self, A.ReadStderr.self, A.CloseStdin.self,
        A.TtyWinResize.self, A.UpdateInterface.self, A.UpdateRoutes.self, A.ListInterfaces.self,
        A.ListRoutes.self, A.AddARPNeighbors.self, A.GetIPTables.self, A.SetIPTables.self,
        A.GetMetrics.self, A.MemAgentMemcgSet.self, A.MemAgentCompactSet.self,
        A.CreateSandbox.self, A.DestroySandbox.self, A.OnlineCPUMem.self, A.ReseedRandomDev.self,
        A.GetGuestDetails.self, A.MemHotplugByProbe.self, A.SetGuestDateTime.self,
        A.CopyFile.self, A.GetOOMEvent.self, A.AddSwap.self, A.AddSwapPath.self,
        A.GetVolumeStats.self, A.ResizeVolume.self, A.SetPolicy.self,
        V1.Check.self,
    ]

    /// Finds an RPC by its bare name ("CreateSandbox"), case-sensitively as on the wire, or by
    /// its full path ("grpc.AgentService/CreateSandbox", with or without a leading '/').
    static func lookup(_ name: String) -> (any UnaryMethod.Type)? {
        let path = name.hasPrefix("/") ? String(name.dropFirst()) : name
        if path.contains("/" as Character) {
            return methods.first { $0.descriptor.fullyQualifiedMethod == path }
        }
        return methods.first { $0.descriptor.method == path }
    }

    /// The names `lookup` accepts, as printed by `kata-agent-ctl list`: bare names where they are
    /// unambiguous, the full path otherwise.
    static var listing: [String] {
        methods.map { method in
            let bare = method.descriptor.method
            return lookup(bare).map { ObjectIdentifier($0) == ObjectIdentifier(method) } == true
                ? bare : method.descriptor.fullyQualifiedMethod
        }
    }
}
