import AgentWire
import Foundation
import TTRPCWire

/// A bare ttrpc client for tests (the same as AgentServerTests' one, without LinuxKit): a blocking unix socket and AgentWire's frame codec, so a
/// test can send any bytes (well-formed or not) and read exactly what the agent answers.
final class RawTTRPCClient {
    struct Timeout: Error, CustomStringConvertible {
        let what: String
        var description: String { "timed out waiting for \(what)" }
    }

    let fd: Int32
    private var reader = TTRPCFrameReader()
    private var frames: [TTRPCFrame] = []

    init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    /// Connects to `path`, retrying while the listener is not up yet, until `seconds` passed.
    static func connect(path: String, seconds: Double = 30) throws -> RawTTRPCClient {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while true {
            do {
                return RawTTRPCClient(fd: try connectUnix(path))
            } catch {
                if Date() >= deadline { throw error }
                usleep(20_000)
            }
        }
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    func send(_ frame: TTRPCFrame) {
        send(frame.encoded())
    }

    /// Sends a request frame on `streamID`.
    func request(
        _ streamID: UInt32, _ service: String, _ method: String, payload: [UInt8] = [], timeoutNano: Int64 = 0,
        metadata: [TTRPCKeyValue] = []
    ) {
        let request = TTRPCRequest(
            service: service, method: method, payload: payload, timeoutNano: timeoutNano, metadata: metadata)
        send(TTRPCFrame.request(request, streamID: streamID))
    }

    /// The next frame from the agent; nil when the agent closed the connection.
    func nextFrame(seconds: Double = 30) throws -> TTRPCFrame? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while frames.isEmpty {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { throw Timeout(what: "a frame") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, Int32(max(1, left * 1000))) <= 0 { continue }
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return nil }
            for item in try reader.feed(Array(buffer[0..<n])) {
                if case let .frame(frame) = item { frames.append(frame) }
            }
        }
        return frames.removeFirst()
    }

    /// The next response frame, decoded.
    func response(seconds: Double = 30) throws -> (streamID: UInt32, response: TTRPCResponse) {
        guard let frame = try nextFrame(seconds: seconds) else { throw Timeout(what: "a response (connection closed)") }
        return (frame.streamID, try TTRPCResponse(decoding: frame.payload))
    }

    /// One call: request on `streamID`, then its response (the only one expected).
    func call(
        _ streamID: UInt32, _ service: String, _ method: String, payload: [UInt8] = [], timeoutNano: Int64 = 0,
        metadata: [TTRPCKeyValue] = [], seconds: Double = 30
    ) throws -> TTRPCResponse {
        request(streamID, service, method, payload: payload, timeoutNano: timeoutNano, metadata: metadata)
        let (id, response) = try response(seconds: seconds)
        guard id == streamID else { throw Timeout(what: "stream \(streamID) (got stream \(id))") }
        return response
    }

    /// True when the agent closes the connection within `seconds` (frames before that are dropped).
    func closedByPeer(seconds: Double = 30) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while deadline.timeIntervalSinceNow > 0 {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000))) <= 0 { continue }
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return true }
        }
        return false
    }
}

struct ConnectError: Error { let errno: Int32 }

/// A blocking AF_UNIX stream connection to `path`.
func connectUnix(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ConnectError(errno: errno) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (index, byte) in bytes.prefix(raw.count - 1).enumerated() { raw[index] = byte }
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        let code = errno
        close(fd)
        throw ConnectError(errno: code)
    }
    return fd
}
