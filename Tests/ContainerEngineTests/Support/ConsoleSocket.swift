import Foundation
import Glibc

/// The receiving end of runc's `--console-socket`: runc connects to this unix socket and sends
/// the container's PTY master as SCM_RIGHTS, which the test then reads the container's output
/// from (runc's foreground `run` with a terminal insists on a controlling tty of its own).
final class ConsoleSocket {
    let path: String
    private var listener: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw ConsoleSocketError("socket for \(path)", errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(listener)
            throw ConsoleSocketError("console socket path \(path) is too long", 0)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else {
            let code = errno
            Glibc.close(listener)
            throw ConsoleSocketError("bind/listen \(path)", code)
        }
    }

    deinit { close() }

    func close() {
        if listener >= 0 { Glibc.close(listener) }
        listener = -1
        unlink(path)
    }

    /// Accepts runc's connection and returns the PTY master it sent (the caller closes it).
    func receiveMaster(timeoutSeconds: Int) throws -> Int32 {
        var pending = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pending, 1, Int32(timeoutSeconds * 1000)) == 1 else {
            throw ConsoleSocketError("runc did not connect to \(path) within \(timeoutSeconds)s", errno)
        }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { throw ConsoleSocketError("accept on \(path)", errno) }
        defer { Glibc.close(connection) }
        var data = [UInt8](repeating: 0, count: 4096)
        // cmsghdr (len: size_t, level: int, type: int) followed by the int fd.
        var control = [UInt8](repeating: 0, count: 64)
        let received: Int = data.withUnsafeMutableBytes { dataBytes in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: dataBytes.baseAddress, iov_len: dataBytes.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    return recvmsg(connection, &message, 0)
                }
            }
        }
        guard received >= 0 else { throw ConsoleSocketError("recvmsg on \(path)", errno) }
        let level = control[8..<12].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        let type = control[12..<16].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        guard level == SOL_SOCKET, type == Int32(SCM_RIGHTS) else {
            throw ConsoleSocketError("runc sent no file descriptor on \(path) (level \(level), type \(type))", 0)
        }
        return control[16..<20].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
    }

    /// Everything the PTY master yields until every slave is closed (EIO) or the deadline.
    static func readToEnd(_ master: Int32, deadlineSeconds: Int) throws -> String {
        let deadline = ContinuousClock.now.advanced(by: .seconds(deadlineSeconds))
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw ConsoleSocketError("console output did not end within \(deadlineSeconds)s", 0) }
            var ready = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + 1)
            let polled = poll(&ready, 1, milliseconds)
            if polled < 0 && errno == EINTR { continue }
            guard polled > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }  // EIO: the container side of the terminal is closed
            output += buffer[0..<count]
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// A console socket step failed.
struct ConsoleSocketError: Error, CustomStringConvertible {
    let description: String

    init(_ what: String, _ code: Int32) {
        description = code == 0 ? what : "\(what): \(String(cString: strerror(code))) (errno \(code))"
    }
}
