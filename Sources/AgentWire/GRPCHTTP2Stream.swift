import GRPCCore
import Logging
import NIOCore
import NIOHTTP2

/// One HTTP/2 stream of a gRPC connection, as the multiplexer yields it: the stream channel
/// (request parts in, response parts out, with NIO's back-pressure), the method once the
/// request headers named it, and the handler that can cancel the RPC.
struct GRPCHTTP2Stream: Sendable {
    typealias AsyncChannel = NIOAsyncChannel<RPCRequestPart<WireBytes>, RPCResponsePart<WireBytes>>

    let channel: AsyncChannel
    let descriptor: EventLoopFuture<MethodDescriptor>
    let handler: NIOLoopBound<GRPCHTTP2StreamHandler>

    /// Installs the gRPC stream handler on a new stream channel. Runs on its event loop.
    static func configure(_ streamChannel: any Channel, limits: WireLimits) throws -> GRPCHTTP2Stream {
        let descriptor = streamChannel.eventLoop.makePromise(of: MethodDescriptor.self)
        let handler = GRPCHTTP2StreamHandler(maxMessageSize: limits.maxMessageSize, descriptor: descriptor)
        try streamChannel.pipeline.syncOperations.addHandler(handler)
        let channel = try AsyncChannel(wrappingChannelSynchronously: streamChannel)
        return GRPCHTTP2Stream(
            channel: channel, descriptor: descriptor.futureResult,
            handler: NIOLoopBound(handler, eventLoop: streamChannel.eventLoop))
    }

    /// Runs the RPC of this stream through `handler` (GRPCServer's executor), then waits for the
    /// stream to close so the trailers are not overtaken by a reset.
    func serve(handler: @escaping RPCStreamHandler, peers: GRPCHTTP2Peers, logger: Logger) async {
        do {
            try await self.channel.executeThenClose { inbound, outbound in
                // A stream whose headers were rejected already got its error status from the handler.
                guard let descriptor = try? await self.descriptor.get() else { return }
                await withServerContextRPCCancellationHandle { cancellation in
                    let streamHandler = self.handler
                    self.channel.channel.eventLoop.execute {
                        streamHandler.value.setCancellationHandle(cancellation)
                    }
                    let rpc = ServerRPCStream(
                        descriptor: descriptor,
                        inbound: RPCAsyncSequence(wrapping: inbound),
                        outbound: RPCWriter.Closable(wrapping: GRPCHTTP2PartWriter(writer: outbound)))
                    let context = ServerContext(
                        descriptor: descriptor, remotePeer: peers.remote, localPeer: peers.local,
                        cancellation: cancellation)
                    await handler(rpc, context)
                }
                // The handler wrote its status; the stream closes once the client's END_STREAM (or
                // our RST_STREAM NO_ERROR) is processed. Closing earlier would reset the stream.
                if !Task.isCancelled {
                    try await self.channel.channel.closeFuture.get()
                }
            }
        } catch {
            logger.debug("gRPC stream ended with an error", metadata: ["peer": "\(peers.remote)", "error": "\(error)"])
        }
    }
}

/// The sending side of one stream as GRPCCore's writer (the server's responses, AgentWireClient's
/// requests): each part goes through NIOAsyncChannel, which suspends while HTTP/2 flow control
/// leaves the stream unwritable. Finishing half-closes the stream.
package struct GRPCHTTP2PartWriter<Element: Sendable>: ClosableRPCWriterProtocol {
    let writer: NIOAsyncChannelOutboundWriter<Element>

    package init(writer: NIOAsyncChannelOutboundWriter<Element>) {
        self.writer = writer
    }

    package func write(_ element: Element) async throws {
        try await self.writer.write(element)
    }

    package func write(contentsOf elements: some Sequence<Element>) async throws {
        try await self.writer.write(contentsOf: elements)
    }

    package func finish() async {
        self.writer.finish()
    }

    package func finish(throwing error: any Error) async {
        // A server's executor has already written an error status when it finishes with an
        // error; a client's ends its request the same way (the call's outcome is the status).
        self.writer.finish()
    }
}
