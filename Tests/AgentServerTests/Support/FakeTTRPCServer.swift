import Foundation

/// ttrpc bytes written by hand for tests that check a client's framing, independently of the
/// codec under test.
enum TTRPCBytes {
    static func varint(_ value: UInt64) -> [UInt8] {
        var rest = value
        var out: [UInt8] = []
        while rest >= 0x80 {
            out.append(UInt8(rest & 0x7f) | 0x80)
            rest >>= 7
        }
        return out + [UInt8(rest)]
    }

    static func field(_ number: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        varint(number << 3 | 2) + varint(UInt64(bytes.count)) + bytes
    }

    /// `Response{status: {code, message}}`.
    static func response(code: Int32, message: String) -> [UInt8] {
        field(1, varint(1 << 3) + varint(UInt64(bitPattern: Int64(code))) + field(2, Array(message.utf8)))
    }

    static func header(length: Int, streamID: UInt32, type: UInt8) -> [UInt8] {
        let length = UInt32(length)
        return [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: length >> $0) }
            + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: streamID >> $0) } + [type, 0]
    }
}

/// A one-connection unix socket server that records the first ttrpc frame it receives and
/// answers it with a fixed response payload on the same stream. With `hybridVsock` it first
/// plays a VMM's hybrid vsock socket: reads `CONNECT <port>` and answers `OK <n>`.
final class FakeTTRPCServer: @unchecked Sendable {
    /// What the client sent: the frame header and the Request's fields.
    struct Request {
        var streamID: UInt32 = 0
        var type: UInt8 = 0
        var service = ""
        var method = ""
        var timeoutNano: UInt64 = 0
        /// The hybrid vsock line, when one was expected.
        var connectLine = ""
    }

    let path: String
    private let listener: Int32
    private let answered = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var received: Request?

    /// `answer` is a response payload framed on the request's stream, or with `raw` the bytes sent as they are.
    init(path: String, answer: [UInt8], hybridVsock: Bool = false, raw: Bool = false) throws {
        self.path = path
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw POSIXError(.ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else {
            close(listener)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        let listening = listener
        Thread { [self] in serve(listening, answer: answer, hybridVsock: hybridVsock, raw: raw) }.start()
    }

    deinit { close(listener) }

    /// The first request, once answered (nil if none came within `timeout` seconds).
    func wait(timeout: TimeInterval = 60) -> Request? {
        guard answered.wait(timeout: .now() + timeout) == .success else { return nil }
        return lock.withLock { received }
    }

    private func serve(_ listener: Int32, answer: [UInt8], hybridVsock: Bool, raw: Bool) {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        var line: [UInt8] = []
        while hybridVsock, line.last != UInt8(ascii: "\n"), line.count < 64 {
            guard let byte = readExactly(connection, 1) else { return }
            line += byte
        }
        if hybridVsock {
            let ok = Array("OK 1073741824\n".utf8)
            _ = ok.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        }
        guard let header = readExactly(connection, 10) else { return }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length <= 4 << 20, let payload = readExactly(connection, length) else { return }
        var request = Request()
        request.streamID = UInt32(header[4]) << 24 | UInt32(header[5]) << 16 | UInt32(header[6]) << 8 | UInt32(header[7])
        request.type = header[8]
        request.connectLine = String(decoding: line, as: UTF8.self)
        parse(payload, into: &request)
        lock.withLock { received = request }
        let frame = raw ? answer : TTRPCBytes.header(length: answer.count, streamID: request.streamID, type: 2) + answer
        _ = frame.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        answered.signal()
        // Hold the connection until the client is done with it.
        var scratch = [UInt8](repeating: 0, count: 256)
        while read(connection, &scratch, scratch.count) > 0 {}
    }

    private func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
            if n <= 0 { return nil }
            filled += n
        }
        return buffer
    }

    private func parse(_ bytes: [UInt8], into request: inout Request) {
        var index = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.count, shift < 64 {
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while index < bytes.count, let key = varint() {
            switch (key >> 3, key & 7) {
            case (_, 0):
                guard let value = varint() else { return }
                if key >> 3 == 4 { request.timeoutNano = value }
            case (let number, 2):
                guard let length = varint(), index + Int(length) <= bytes.count else { return }
                let text = String(decoding: bytes[index..<(index + Int(length))], as: UTF8.self)
                if number == 1 { request.service = text }
                if number == 2 { request.method = text }
                index += Int(length)
            default:
                return
            }
        }
    }
}
