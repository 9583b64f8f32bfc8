import CLinuxShim
import Glibc

/// A NETLINK_ROUTE socket: sends one request at a time and reads its answer, matching replies
/// by sequence number and port id. Dumps are collected to NLMSG_DONE (and restarted when the
/// kernel flags them interrupted); change requests ask for an ack and turn a negative one into a
/// `SyscallError` carrying the errno and the kernel's extended-ack text. Not shared between
/// threads: `LinuxRouteNetlink` opens one per operation.
public final class NetlinkSocket {
    private let fd: Int32
    private var sequence: UInt32
    private let portID: UInt32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    /// How long a reply may take before the request fails (the agent must not hang on a kernel that stopped answering).
    static let receiveTimeoutSeconds = 10

    /// Opens a socket in the calling thread's network namespace, or in the one at
    /// `namespacePath` (e.g. /run/netns/<name>; the socket stays bound to that namespace).
    public init(namespacePath: String? = nil) throws(SyscallError) {
        let fd: Int32
        if let namespacePath {
            fd = try Self.openSocket(inNamespace: namespacePath)
        } else {
            fd = try Self.openSocket()
        }
        var ok = false
        defer { if !ok { close(fd) } }

        var one: Int32 = 1
        // Extended acks give the kernel's reason text; capped acks keep error replies short.
        _ = setsockopt(fd, 270 /* SOL_NETLINK */, 11 /* NETLINK_EXT_ACK */, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, 270, 10 /* NETLINK_CAP_ACK */, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: Self.receiveTimeoutSeconds, tv_usec: 0)
        if setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size)) != 0 {
            throw SyscallError.last("setsockopt SO_RCVTIMEO", target: "netlink socket")
        }

        // sockaddr_nl: family, pad, pid (0: the kernel picks), groups.
        var address = [UInt8](repeating: 0, count: 12)
        address.replaceSubrange(0..<2, with: UInt16(AF_NETLINK).hostBytes)
        let bound = address.withUnsafeBytes { raw in
            bind(fd, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if bound != 0 { throw SyscallError.last("bind", target: "netlink socket") }
        var length = socklen_t(address.count)
        let named = address.withUnsafeMutableBytes { raw in
            getsockname(fd, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), &length)
        }
        if named != 0 { throw SyscallError.last("getsockname", target: "netlink socket") }
        guard let port = NetlinkBytes(address[...]).u32(4) else {
            throw SyscallError("getsockname", target: "netlink socket", errno: EINVAL, detail: "short address")
        }
        self.fd = fd
        portID = port
        // Any start works; distinct starts make a stale reply from an earlier socket obvious in traces.
        sequence = UInt32(truncatingIfNeeded: time(nil))
        ok = true
    }

    deinit { close(fd) }

    /// Sends a dump request and returns the messages of `type` it yields.
    public func dump(_ request: NetlinkRequest, expecting type: UInt16) throws(SyscallError) -> [NetlinkMessage] {
        let attempts = 5
        for _ in 0..<attempts {
            let sent = try send(request)
            var collected: [NetlinkMessage] = []
            var interrupted = false
            receiving: while true {
                for message in try receive() where message.sequence == sent && message.portID == portID {
                    if message.flags & RTNL.dumpInterrupted != 0 { interrupted = true }
                    switch message.type {
                    case RTNL.done:
                        if let code = NetlinkBytes(message.payload[...]).i32(0), code < 0 {
                            throw SyscallError(Self.name(of: request.type) + " dump", target: request.summary, errno: -code)
                        }
                        break receiving
                    case RTNL.error:
                        try Self.checkAck(message, request: request)
                        break receiving
                    case type:
                        collected.append(message)
                    default:
                        continue
                    }
                }
            }
            // The tables changed while the kernel walked them: the snapshot may be inconsistent.
            if !interrupted { return collected }
        }
        throw SyscallError(Self.name(of: request.type) + " dump", target: request.summary, errno: EINTR,
                           detail: "interrupted by concurrent changes \(attempts) times")
    }

    /// Sends a change request with NLM_F_ACK and waits for the kernel's answer.
    public func change(_ request: NetlinkRequest) throws(SyscallError) {
        let sent = try send(request, extraFlags: RTNL.ack)
        while true {
            for message in try receive() where message.sequence == sent && message.portID == portID && message.type == RTNL.error {
                try Self.checkAck(message, request: request)
                return
            }
        }
    }

    private func send(_ request: NetlinkRequest, extraFlags: UInt16 = 0) throws(SyscallError) -> UInt32 {
        sequence &+= 1
        var bytes = try request.finish(sequence: sequence)
        if extraFlags != 0, let flags = NetlinkBytes(bytes[...]).u16(6) {
            bytes.replaceSubrange(6..<8, with: (flags | extraFlags).hostBytes)
        }
        while true {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            if sent < 0 {
                if errno == EINTR { continue }
                throw SyscallError.last("send \(Self.name(of: request.type))", target: request.summary)
            }
            guard sent == bytes.count else {
                throw SyscallError("send \(Self.name(of: request.type))", target: request.summary, errno: EMSGSIZE,
                                   detail: "sent \(sent) of \(bytes.count) bytes")
            }
            return sequence
        }
    }

    private func receive() throws(SyscallError) -> [NetlinkMessage] {
        while true {
            let capacity = buffer.count
            // MSG_TRUNC: the datagram's real length, so a truncated reply is detected, not parsed.
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, capacity, 0x20) }
            if received < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    throw SyscallError("receive netlink reply", target: "NETLINK_ROUTE", errno: ETIMEDOUT,
                                       detail: "no answer within \(Self.receiveTimeoutSeconds) s")
                }
                throw SyscallError("receive netlink reply", target: "NETLINK_ROUTE", errno: code)
            }
            guard received <= capacity else {
                throw SyscallError("receive netlink reply", target: "NETLINK_ROUTE", errno: EMSGSIZE,
                                   detail: "a \(received)-byte datagram exceeds the \(capacity)-byte buffer")
            }
            return try NetlinkMessage.split(buffer[0..<received])
        }
    }

    /// NLMSG_ERROR: error 0 is the ack; otherwise -errno, with the kernel's reason when it gave one.
    static func checkAck(_ message: NetlinkMessage, request: NetlinkRequest) throws(SyscallError) {
        let reader = NetlinkBytes(message.payload[...])
        guard let code = reader.i32(0) else {
            throw netlinkDecodeError("NLMSG_ERROR", "payload of \(message.payload.count) bytes has no error code")
        }
        if code == 0 { return }
        var detail = ""
        if message.flags & RTNL.ackTLVs != 0, let originalLength = reader.u32(4) {
            let skip = message.flags & RTNL.ackCapped != 0 ? NetlinkMessage.headerLength : netlinkAlign(Int(originalLength))
            if let tail = reader.slice(4 + skip, reader.count - 4 - skip),
                let attributes = try? NetlinkAttributes(parsing: tail, in: "extended ack"),
                let text = attributes.string(RTNL.extendedAckMessage) {
                detail = text
            }
        }
        throw SyscallError(name(of: request.type), target: request.summary, errno: code == Int32.min ? EIO : -code, detail: detail)
    }

    /// RTM_* names for errors and logs.
    public static func name(of type: UInt16) -> String {
        switch type {
        case RTNL.newLink: "RTM_NEWLINK"
        case RTNL.delLink: "RTM_DELLINK"
        case RTNL.getLink: "RTM_GETLINK"
        case RTNL.setLink: "RTM_SETLINK"
        case RTNL.newAddress: "RTM_NEWADDR"
        case RTNL.delAddress: "RTM_DELADDR"
        case RTNL.getAddress: "RTM_GETADDR"
        case RTNL.newRoute: "RTM_NEWROUTE"
        case RTNL.delRoute: "RTM_DELROUTE"
        case RTNL.getRoute: "RTM_GETROUTE"
        case RTNL.newNeighbour: "RTM_NEWNEIGH"
        case RTNL.delNeighbour: "RTM_DELNEIGH"
        case RTNL.getNeighbour: "RTM_GETNEIGH"
        default: "netlink message \(type)"
        }
    }

    private static func openSocket() throws(SyscallError) -> Int32 {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0 /* NETLINK_ROUTE */)
        if fd < 0 { throw SyscallError.last("socket", target: "AF_NETLINK NETLINK_ROUTE") }
        return fd
    }

    /// A socket belongs to the network namespace of the thread that creates it: enter the
    /// namespace on this thread, create it, and come back before anything else runs here.
    private static func openSocket(inNamespace path: String) throws(SyscallError) -> Int32 {
        let cloneNewnet: Int32 = 0x4000_0000
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        if original < 0 { throw SyscallError.last("open", target: "/proc/thread-self/ns/net") }
        defer { close(original) }
        let target = open(path, O_RDONLY | O_CLOEXEC)
        if target < 0 { throw SyscallError.last("open network namespace", target: path) }
        defer { close(target) }
        try SyscallError.check(engine_setns(target, cloneNewnet), "setns", target: path)
        let result = Result { () throws(SyscallError) -> Int32 in try openSocket() }
        let back = engine_setns(original, cloneNewnet)
        // A thread left in another namespace would run unrelated work there: never continue.
        guard back == 0 else { fatalError("cannot return to the original network namespace after opening a netlink socket in \(path): errno \(-back)") }
        return try result.get()
    }
}
