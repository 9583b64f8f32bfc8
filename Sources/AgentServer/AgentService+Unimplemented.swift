import GRPCCore
import KataProtocols
import SwiftProtobuf

// Every AgentService RPC answers UNIMPLEMENTED naming itself until a group implements it.
//
// A group implements an RPC by declaring the same method on `AgentService` in its own file
// (e.g. `extension AgentService { func createContainer(request:context:) ... }`): a method on
// the concrete type is the protocol witness and wins over these defaults, so adding a group is
// a matter of adding a file. Keep this list complete: the protocol requires every RPC.
extension Grpc_AgentService.SimpleServiceProtocol {
    func createContainer(request: Grpc_CreateContainerRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("CreateContainer")
    }

    func startContainer(request: Grpc_StartContainerRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("StartContainer")
    }

    func removeContainer(request: Grpc_RemoveContainerRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("RemoveContainer")
    }

    func execProcess(request: Grpc_ExecProcessRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("ExecProcess")
    }

    func signalProcess(request: Grpc_SignalProcessRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("SignalProcess")
    }

    func waitProcess(request: Grpc_WaitProcessRequest, context: ServerContext) async throws -> Grpc_WaitProcessResponse {
        throw RPCError.unimplementedRPC("WaitProcess")
    }

    func updateContainer(request: Grpc_UpdateContainerRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("UpdateContainer")
    }

    func statsContainer(request: Grpc_StatsContainerRequest, context: ServerContext) async throws -> Grpc_StatsContainerResponse {
        throw RPCError.unimplementedRPC("StatsContainer")
    }

    func pauseContainer(request: Grpc_PauseContainerRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("PauseContainer")
    }

    func resumeContainer(request: Grpc_ResumeContainerRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("ResumeContainer")
    }

    func writeStdin(request: Grpc_WriteStreamRequest, context: ServerContext) async throws -> Grpc_WriteStreamResponse {
        throw RPCError.unimplementedRPC("WriteStdin")
    }

    func readStdout(request: Grpc_ReadStreamRequest, context: ServerContext) async throws -> Grpc_ReadStreamResponse {
        throw RPCError.unimplementedRPC("ReadStdout")
    }

    func readStderr(request: Grpc_ReadStreamRequest, context: ServerContext) async throws -> Grpc_ReadStreamResponse {
        throw RPCError.unimplementedRPC("ReadStderr")
    }

    func closeStdin(request: Grpc_CloseStdinRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("CloseStdin")
    }

    func ttyWinResize(request: Grpc_TtyWinResizeRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("TtyWinResize")
    }

    func getMetrics(request: Grpc_GetMetricsRequest, context: ServerContext) async throws -> Grpc_Metrics {
        throw RPCError.unimplementedRPC("GetMetrics")
    }

    func memAgentMemcgSet(request: Grpc_MemAgentMemcgConfig, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("MemAgentMemcgSet")
    }

    func memAgentCompactSet(request: Grpc_MemAgentCompactConfig, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("MemAgentCompactSet")
    }

    func createSandbox(request: Grpc_CreateSandboxRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("CreateSandbox")
    }

    func destroySandbox(request: Grpc_DestroySandboxRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("DestroySandbox")
    }

    func onlineCPUMem(request: Grpc_OnlineCPUMemRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("OnlineCPUMem")
    }

    func reseedRandomDev(request: Grpc_ReseedRandomDevRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("ReseedRandomDev")
    }

    func getGuestDetails(request: Grpc_GuestDetailsRequest, context: ServerContext) async throws -> Grpc_GuestDetailsResponse {
        throw RPCError.unimplementedRPC("GetGuestDetails")
    }

    func memHotplugByProbe(request: Grpc_MemHotplugByProbeRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("MemHotplugByProbe")
    }

    func setGuestDateTime(request: Grpc_SetGuestDateTimeRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("SetGuestDateTime")
    }

    func copyFile(request: Grpc_CopyFileRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("CopyFile")
    }

    func getOOMEvent(request: Grpc_GetOOMEventRequest, context: ServerContext) async throws -> Grpc_OOMEvent {
        throw RPCError.unimplementedRPC("GetOOMEvent")
    }

    func setPolicy(request: Grpc_SetPolicyRequest, context: ServerContext) async throws -> SwiftProtobuf.Google_Protobuf_Empty {
        throw RPCError.unimplementedRPC("SetPolicy")
    }
}
