import AgentWire
import GRPCCore
import GRPCProtobuf
import KataProtocols
import SwiftProtobuf

// The ttrpc codec's direct path (WireUnaryMethods) into the same service methods GRPCServer
// runs: each unary method of the three services, its request decoded and its response encoded
// by grpc-swift-protobuf's own (de)serializers, so both paths fail alike on a bad payload.
// grpc.health.v1.Health/Watch, the one streaming method, stays with GRPCServer.

/// A generated method namespace (`Grpc_AgentService.Method.CreateContainer`, ...): its
/// descriptor and message types, so a table entry cannot pair a method with another's types.
protocol UnaryMethodNamespace {
    associatedtype Input: SwiftProtobuf.Message
    associatedtype Output: SwiftProtobuf.Message
    static var descriptor: MethodDescriptor { get }
}

extension WireUnaryMethods {
    /// Serves `method` directly with `body`; `immediate`, when given, answers at once where it
    /// can without waiting (WireUnaryMethod.immediate) and returns nil where it would wait.
    mutating func add<M: UnaryMethodNamespace>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Input, ServerContext) async throws -> M.Output,
        immediate: (@Sendable (M.Input) throws -> M.Output?)? = nil
    ) {
        add(method, body, encodedImmediate: immediate.map { immediate in
            { @Sendable request in
                guard let response = try immediate(request) else { return nil }
                return try ProtobufSerializer<M.Output>().serialize(response) as WirePayload
            }
        })
    }

    /// `add` with an immediate answer that encodes its own response (the bytes protobuf would
    /// give `M.Output`; the tests compare them), so large contents are written without a copy.
    mutating func add<M: UnaryMethodNamespace>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Input, ServerContext) async throws -> M.Output,
        encodedImmediate: (@Sendable (M.Input) throws -> WirePayload?)?
    ) {
        insert(M.descriptor, WireUnaryMethod({ bytes, context in
            let request = try ProtobufDeserializer<M.Input>().deserialize(bytes)
            let response = try await body(request, context)
            return try ProtobufSerializer<M.Output>().serialize(response) as WirePayload
        }, immediate: encodedImmediate.map { immediate in
            { @Sendable bytes in try immediate(try ProtobufDeserializer<M.Input>().deserialize(bytes)) }
        }))
    }
}

extension AgentServer {
    /// Every unary method of `agent`, `health` and `standard`, for the ttrpc codec to call directly.
    static func unaryMethods(
        agent: AgentService, health: KataHealthService, standard: StandardHealthService
    ) -> WireUnaryMethods {
        typealias Agent = Grpc_AgentService.Method
        var methods = WireUnaryMethods()
        methods.add(Agent.CreateContainer.self, agent.createContainer(request:context:))
        methods.add(Agent.StartContainer.self, agent.startContainer(request:context:))
        methods.add(Agent.RemoveContainer.self, agent.removeContainer(request:context:))
        methods.add(Agent.ExecProcess.self, agent.execProcess(request:context:))
        methods.add(Agent.SignalProcess.self, agent.signalProcess(request:context:))
        methods.add(Agent.WaitProcess.self, agent.waitProcess(request:context:))
        methods.add(Agent.UpdateContainer.self, agent.updateContainer(request:context:))
        methods.add(Agent.UpdateEphemeralMounts.self, agent.updateEphemeralMounts(request:context:))
        methods.add(Agent.StatsContainer.self, agent.statsContainer(request:context:))
        methods.add(Agent.PauseContainer.self, agent.pauseContainer(request:context:))
        methods.add(Agent.ResumeContainer.self, agent.resumeContainer(request:context:))
        methods.add(Agent.RemoveStaleVirtiofsShareMounts.self, agent.removeStaleVirtiofsShareMounts(request:context:))
        methods.add(Agent.GetDiagnosticData.self, agent.getDiagnosticData(request:context:))
        methods.add(Agent.WriteStdin.self, agent.writeStdin(request:context:))
        methods.add(Agent.ReadStdout.self, agent.readStdout(request:context:), encodedImmediate: agent.readStdoutNow(request:))
        methods.add(Agent.ReadStderr.self, agent.readStderr(request:context:), encodedImmediate: agent.readStderrNow(request:))
        methods.add(Agent.CloseStdin.self, agent.closeStdin(request:context:))
        methods.add(Agent.TtyWinResize.self, agent.ttyWinResize(request:context:))
        methods.add(Agent.UpdateInterface.self, agent.updateInterface(request:context:))
        methods.add(Agent.UpdateRoutes.self, agent.updateRoutes(request:context:))
        methods.add(Agent.ListInterfaces.self, agent.listInterfaces(request:context:))
        methods.add(Agent.ListRoutes.self, agent.listRoutes(request:context:))
        methods.add(Agent.AddARPNeighbors.self, agent.addARPNeighbors(request:context:))
        methods.add(Agent.GetIPTables.self, agent.getIPTables(request:context:))
        methods.add(Agent.SetIPTables.self, agent.setIPTables(request:context:))
        methods.add(Agent.GetMetrics.self, agent.getMetrics(request:context:))
        methods.add(Agent.MemAgentMemcgSet.self, agent.memAgentMemcgSet(request:context:))
        methods.add(Agent.MemAgentCompactSet.self, agent.memAgentCompactSet(request:context:))
        methods.add(Agent.CreateSandbox.self, agent.createSandbox(request:context:))
        methods.add(Agent.DestroySandbox.self, agent.destroySandbox(request:context:))
        methods.add(Agent.OnlineCPUMem.self, agent.onlineCPUMem(request:context:))
        methods.add(Agent.ReseedRandomDev.self, agent.reseedRandomDev(request:context:))
        methods.add(Agent.GetGuestDetails.self, agent.getGuestDetails(request:context:))
        methods.add(Agent.MemHotplugByProbe.self, agent.memHotplugByProbe(request:context:))
        methods.add(Agent.SetGuestDateTime.self, agent.setGuestDateTime(request:context:))
        methods.add(Agent.CopyFile.self, agent.copyFile(request:context:))
        methods.add(Agent.GetOOMEvent.self, agent.getOOMEvent(request:context:))
        methods.add(Agent.AddSwap.self, agent.addSwap(request:context:))
        methods.add(Agent.AddSwapPath.self, agent.addSwapPath(request:context:))
        methods.add(Agent.GetVolumeStats.self, agent.getVolumeStats(request:context:))
        methods.add(Agent.ResizeVolume.self, agent.resizeVolume(request:context:))
        methods.add(Agent.SetPolicy.self, agent.setPolicy(request:context:))
        methods.add(Grpc_Health.Method.Check.self, health.check(request:context:), immediate: health.checkNow(request:))
        methods.add(Grpc_Health.Method.Version.self, health.version(request:context:), immediate: health.versionNow(request:))
        methods.add(
            Grpc_Health_V1_Health.Method.Check.self, standard.check(request:context:), immediate: standard.checkNow(request:))
        return methods
    }
}

extension Grpc_AgentService.Method.CreateContainer: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.StartContainer: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.RemoveContainer: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.ExecProcess: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.SignalProcess: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.WaitProcess: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.UpdateContainer: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.UpdateEphemeralMounts: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.StatsContainer: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.PauseContainer: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.ResumeContainer: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.RemoveStaleVirtiofsShareMounts: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.GetDiagnosticData: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.WriteStdin: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.ReadStdout: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.ReadStderr: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.CloseStdin: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.TtyWinResize: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.UpdateInterface: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.UpdateRoutes: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.ListInterfaces: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.ListRoutes: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.AddARPNeighbors: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.GetIPTables: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.SetIPTables: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.GetMetrics: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.MemAgentMemcgSet: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.MemAgentCompactSet: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.CreateSandbox: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.DestroySandbox: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.OnlineCPUMem: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.ReseedRandomDev: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.GetGuestDetails: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.MemHotplugByProbe: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.SetGuestDateTime: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.CopyFile: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.GetOOMEvent: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.AddSwap: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.AddSwapPath: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.GetVolumeStats: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.ResizeVolume: UnaryMethodNamespace {}
extension Grpc_AgentService.Method.SetPolicy: UnaryMethodNamespace {}
extension Grpc_Health.Method.Check: UnaryMethodNamespace {}
extension Grpc_Health.Method.Version: UnaryMethodNamespace {}
extension Grpc_Health_V1_Health.Method.Check: UnaryMethodNamespace {}
