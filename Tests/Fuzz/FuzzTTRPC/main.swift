@testable import TTRPCWire
import FuzzDriver
import NIOCore
import NIOEmbedded

/// libFuzzer input: a ttrpc byte stream from a client. The first byte picks the message limit
/// and the read sizes. Checked: no trap; the server's NIO decoder and the client's
/// TTRPCFrameReader find the same frames and the same end state; re-encoding the frames gives
/// the bytes back; a payload that decodes as a Request or Response decodes the same after
/// re-encoding.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    guard let control = bytes.first else { return 0 }
    let stream = Array(bytes.dropFirst())
    let maxMessageSize = control & 0x80 != 0 ? Int(control & 0x7f) : TTRPC.maxMessageSize
    let chunk = Int(control & 0x0f) + 1

    var reader = TTRPCFrameReader(maxMessageSize: maxMessageSize)
    var readerItems: [TTRPCFrameReader.Item] = []
    var readerFailed = false
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(TTRPCFrameDecoder(maxMessageSize: maxMessageSize)))
    var decoderItems: [TTRPCFrameReader.Item] = []
    var decoderFailed = false

    func drainDecoder() {
        while let inbound = try? channel.readInbound(as: TTRPCInboundFrame.self) {
            switch inbound {
            case let .frame(header, payload):
                decoderItems.append(.frame(TTRPCFrame(
                    streamID: header.streamID, type: header.type, flags: header.flags,
                    payload: Array(payload.readableBytesView))))
            case let .oversized(header):
                decoderItems.append(.oversized(header))
            }
        }
    }

    var index = 0
    while index < stream.count, !readerFailed {
        let end = min(stream.count, index + chunk)
        let piece = Array(stream[index..<end])
        do {
            readerItems += try reader.feed(piece)
        } catch {
            readerFailed = true
        }
        if !decoderFailed {
            do {
                try channel.writeInbound(ByteBuffer(bytes: piece))
            } catch {
                decoderFailed = true
            }
            drainDecoder()
        }
        index = end
    }
    precondition(readerFailed == decoderFailed, "reader failed: \(readerFailed), decoder failed: \(decoderFailed)")
    if !decoderFailed {
        // End of stream: the decoder reports a partial frame exactly when the reader holds bytes.
        let truncated: Bool
        do {
            _ = try channel.finish()
            truncated = false
        } catch {
            truncated = true
        }
        drainDecoder()
        precondition(truncated == (reader.pendingByteCount > 0), "decoder truncated: \(truncated), reader pending: \(reader.pendingByteCount)")
    } else {
        _ = try? channel.finish()
    }
    // A reader that throws drops the frames of that read (the stream is dead for the client).
    precondition(
        readerFailed ? decoderItems.starts(with: readerItems) : readerItems == decoderItems,
        "reader and decoder disagree: \(readerItems) vs \(decoderItems)")

    var oversized = false
    var reencoded: [UInt8] = []
    for item in readerItems {
        switch item {
        case let .frame(frame):
            reencoded += frame.encoded()
            checkMessages(frame.payload)
        case .oversized:
            oversized = true
        }
    }
    if !oversized, !readerFailed {
        precondition(reencoded == Array(stream.prefix(stream.count - reader.pendingByteCount)), "frames do not re-encode to the stream")
    }
    return 0
}

/// Payloads the server or the client decode: whatever decodes must survive a round trip.
func checkMessages(_ payload: [UInt8]) {
    if let request = try? TTRPCRequest(decoding: payload) {
        let again = try? TTRPCRequest(decoding: request.encoded())
        precondition(again == request, "request round trip: \(request) became \(String(describing: again))")
    }
    if let response = try? TTRPCResponse(decoding: payload) {
        let again = try? TTRPCResponse(decoding: response.encoded())
        precondition(again == response, "response round trip: \(response) became \(String(describing: again))")
    }
}

kata_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, fuzzOne)
