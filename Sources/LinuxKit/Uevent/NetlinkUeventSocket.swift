import Glibc
import Synchronization

/// The kernel's uevent broadcast: a NETLINK_KOBJECT_UEVENT socket bound to multicast group 1
/// (kernel events; udev re-broadcasts on group 2, which the agent does not want).
///
/// `events()` starts one background thread that blocks in poll/recv and yields every parsed
/// kernel message; messages from user space (nl_pid != 0) and unparsable ones are dropped.
public final class NetlinkUeventSocket: UeventSource {
    private static let afNetlink: Int32 = 16
    private static let netlinkKobjectUevent: Int32 = 15
    private static let kernelGroup: UInt32 = 1
    /// SO_RCVBUFFORCE: a large buffer so a burst (boot, many hot-plugged devices) is not
    /// dropped with ENOBUFS; needs CAP_NET_ADMIN, so SO_RCVBUF is the fallback.
    private static let soRcvbufForce: Int32 = 33
    private static let receiveBufferBytes: Int32 = 4 << 20

    private let fd: Int32
    /// A pipe whose write end `close()` uses to wake the receiving thread.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let started = Mutex(false)
    /// Messages dropped as not from the kernel or not parsable (diagnostics).
    public let dropped = Mutex(0)
    /// ENOBUFS overruns seen: events were lost, a waiter may rely on sysfs instead.
    public let overruns = Mutex(0)

    /// Opens and binds the socket.
    public init() throws(SyscallError) {
        let socketFD = socket(Self.afNetlink, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                              Self.netlinkKobjectUevent)
        guard socketFD >= 0 else { throw SyscallError.last("socket", target: "NETLINK_KOBJECT_UEVENT") }
        var size = Self.receiveBufferBytes
        let length = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(socketFD, SOL_SOCKET, Self.soRcvbufForce, &size, length) != 0 {
            _ = setsockopt(socketFD, SOL_SOCKET, SO_RCVBUF, &size, length)
        }
        // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; }
        var address = [UInt8](repeating: 0, count: 12)
        address.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt16(Self.afNetlink), toByteOffset: 0, as: UInt16.self)
            raw.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: Self.kernelGroup, toByteOffset: 8, as: UInt32.self)
        }
        let rc = address.withUnsafeBytes { raw in
            bind(socketFD, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if rc != 0 {
            let error = SyscallError.last("bind group 1", target: "NETLINK_KOBJECT_UEVENT")
            Glibc.close(socketFD)
            throw error
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            let error = SyscallError.last("pipe", target: "uevent wake pipe")
            Glibc.close(socketFD)
            throw error
        }
        for end in pipeFDs {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        fd = socketFD
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
    }

    public func events() -> AsyncStream<Uevent> {
        let (stream, continuation) = AsyncStream.makeStream(of: Uevent.self)
        let first = started.withLock { started in
            defer { started = true }
            return !started
        }
        guard first else {
            continuation.finish()
            return stream
        }
        BackgroundThread.start(name: "uevent") { [self] in
            receiveLoop(continuation)
            continuation.finish()
            Glibc.close(fd)
            Glibc.close(wakeRead)
        }
        return stream
    }

    /// Stops the receiving thread; the stream finishes. Without `events()` ever called the
    /// descriptors stay open until the process ends (the agent's listener lives that long).
    public func close() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func receiveLoop(_ continuation: AsyncStream<Uevent>.Continuation) {
        var buffer = [UInt8](repeating: 0, count: Uevent.maximumMessageSize + 1)
        var sender = [UInt8](repeating: 0, count: 12)
        while true {
            var polled = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                          pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&polled, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if polled[1].revents != 0 { return }
            if polled[0].revents & Int16(POLLIN) == 0 {
                if polled[0].revents != 0 { return }  // POLLERR/POLLHUP/POLLNVAL
                continue
            }
            var senderLength = socklen_t(sender.count)
            let count = buffer.withUnsafeMutableBytes { bytes in
                sender.withUnsafeMutableBytes { address in
                    recvfrom(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT),
                             address.baseAddress?.assumingMemoryBound(to: sockaddr.self), &senderLength)
                }
            }
            if count < 0 {
                switch errno {
                case EINTR, EAGAIN: continue
                case ENOBUFS:
                    overruns.withLock { $0 += 1 }
                    continue
                default: return
                }
            }
            // Only the kernel (port id 0) sends uevents; anything else is spoofable.
            let senderPort = sender.withUnsafeBytes { $0.load(fromByteOffset: 4, as: UInt32.self) }
            guard senderPort == 0, count > 0, count <= Uevent.maximumMessageSize,
                  let event = Uevent.parse(buffer[0..<count]) else {
                dropped.withLock { $0 += 1 }
                continue
            }
            continuation.yield(event)
        }
    }
}
