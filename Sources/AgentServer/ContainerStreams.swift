import AgentWire
import ContainerEngine
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import KataProtocols
import SwiftProtobuf

// Stdio RPCs: pull reads from the agent's buffers (empty data = EOF), stdin writes (empty
// data = EOF too), tty resize.
extension AgentService {
    /// Upstream's cap on one read; a larger `len` is served in pieces.
    static let maximumReadLength = 1 << 20

    func writeStdin(request: Grpc_WriteStreamRequest, context: ServerContext) async throws -> Grpc_WriteStreamResponse {
        try await serveRPC("WriteStdin", logger: logger) {
            let process = try streamProcess(request.containerID, request.execID)
            var response = Grpc_WriteStreamResponse()
            // runtime-rs ends stdin with an empty write instead of CloseStdin, as upstream's
            // agent reads it.
            guard !request.data.isEmpty else {
                process.stdio.closeStdin()
                return response
            }
            response.len = UInt32(clamping: try await process.stdio.write(request.data))
            return response
        }
    }

    func readStdout(request: Grpc_ReadStreamRequest, context: ServerContext) async throws -> Grpc_ReadStreamResponse {
        try await serveRPC("ReadStdout", logger: logger, inline: true) {
            let process = try streamProcess(request.containerID, request.execID)
            return try await read(process.stdio.stdout, len: request.len, of: process, containerID: request.containerID)
        }
    }

    func readStderr(request: Grpc_ReadStreamRequest, context: ServerContext) async throws -> Grpc_ReadStreamResponse {
        try await serveRPC("ReadStderr", logger: logger, inline: true) {
            let process = try streamProcess(request.containerID, request.execID)
            return try await read(process.stdio.stderr, len: request.len, of: process, containerID: request.containerID)
        }
    }

    /// ReadStdout answered on the connection's event loop when output (or EOF) is there now;
    /// nil when the read must wait, which `readStdout` then does.
    /// The answer is encoded here (`readNow`), its bytes the output buffer's own.
    func readStdoutNow(request: Grpc_ReadStreamRequest) throws -> WirePayload? {
        try serveRPCNow("ReadStdout", logger: logger) {
            let process = try streamProcess(request.containerID, request.execID)
            return try readNow(process.stdio.stdout, len: request.len, of: process, containerID: request.containerID)
        }
    }

    /// ReadStderr's immediate answer; see `readStdoutNow`.
    func readStderrNow(request: Grpc_ReadStreamRequest) throws -> WirePayload? {
        try serveRPCNow("ReadStderr", logger: logger) {
            let process = try streamProcess(request.containerID, request.execID)
            return try readNow(process.stdio.stderr, len: request.len, of: process, containerID: request.containerID)
        }
    }

    func closeStdin(request: Grpc_CloseStdinRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("CloseStdin", logger: logger) {
            try streamProcess(request.containerID, request.execID).stdio.closeStdin()
            return Google_Protobuf_Empty()
        }
    }

    func ttyWinResize(request: Grpc_TtyWinResizeRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("TtyWinResize", logger: logger) {
            guard request.row <= UInt32(UInt16.max), request.column <= UInt32(UInt16.max) else {
                throw ValidationError(field: "row/column", reason: "\(request.row)x\(request.column) exceeds 65535")
            }
            let process = try streamProcess(request.containerID, request.execID)
            // Upstream's answer for a process without a terminal.
            guard process.stdio.terminal else {
                throw RPCError(code: .unavailable, message: "TtyWinResize: no tty for exec id '\(request.execID)' of container \(request.containerID)")
            }
            try process.stdio.resize(rows: UInt16(request.row), cols: UInt16(request.column))
            return Google_Protobuf_Empty()
        }
    }

    private func streamProcess(_ containerID: String, _ execID: String) throws -> ContainerProcess {
        try RequestValidation.id(containerID, field: "container_id")
        try RequestValidation.id(execID, field: "exec_id", allowEmpty: true)
        return try pod.engine.container(containerID).process(
            ContainerInitExecIDs.engineExecID(containerID: containerID, execID: execID))
    }

    private func read(
        _ buffer: OutputBuffer, len: UInt32, of process: ContainerProcess, containerID: String
    ) async throws -> Grpc_ReadStreamResponse {
        let maxBytes = try Self.readLength(len)
        // A read that must wait does so in a task the RPC's cancellation reaches: one whose
        // caller left (deadline, cancel) would otherwise take the next output from the caller
        // after it. A read that need not wait (the usual case while a process writes) skips it.
        let loan: OutputBuffer.Loan
        if let ready = buffer.lendNow(maxBytes: maxBytes) {
            loan = ready
        } else {
            loan = try await cancellableByRPC { await buffer.lend(maxBytes: maxBytes) }
        }
        return answer(loan, from: buffer, of: process, containerID: containerID)
    }

    /// `read` when it need not wait, its answer encoded: nil when it would wait.
    private func readNow(
        _ buffer: OutputBuffer, len: UInt32, of process: ContainerProcess, containerID: String
    ) throws -> WirePayload? {
        let maxBytes = try Self.readLength(len)
        guard let loan = buffer.lendNow(maxBytes: maxBytes) else { return nil }
        settleWhenAnswered(loan, from: buffer, of: process, containerID: containerID)
        // The bytes go to the connection as the buffer holds them, behind the field's header.
        return WirePayload(field: Self.readStreamDataField, contents: loan.bytes)
    }

    /// agent.proto: `message ReadStreamResponse { bytes data = 1; }`.
    static let readStreamDataField: UInt64 = 1

    private static func readLength(_ len: UInt32) throws -> Int {
        guard len > 0 else { throw ValidationError(field: "len", reason: "must be greater than 0") }
        return min(Int(len), maximumReadLength)
    }

    /// The read's answer: its bytes, settled with the buffer once the answer's outcome is known.
    private func answer(
        _ loan: OutputBuffer.Loan, from buffer: OutputBuffer, of process: ContainerProcess, containerID: String
    ) -> Grpc_ReadStreamResponse {
        settleWhenAnswered(loan, from: buffer, of: process, containerID: containerID)
        var response = Grpc_ReadStreamResponse()
        response.data = loan.data
        return response
    }

    private func settleWhenAnswered(
        _ loan: OutputBuffer.Loan, from buffer: OutputBuffer, of process: ContainerProcess, containerID: String
    ) {
        if let delivery = WireDelivery.current {
            // The bytes leave the buffer only once the answer carrying them was written: a
            // caller that left while it was being answered (a shim killed mid-read) leaves them
            // to the next reader instead of taking them with it.
            delivery.onOutcome { delivered in buffer.settle(loan, delivered: delivered) }
        } else {
            buffer.settle(loan, delivered: true)
        }
        if loan.bytes.readableBytes == 0, !process.execID.isEmpty {
            // EOF handed out: if the exec was also waited for, its record can go now.
            try? pod.engine.container(containerID).releaseExecIfDone(process.execID)
        }
    }
}
