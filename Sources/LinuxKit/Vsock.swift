import CLinuxShim
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// AF_VSOCK sockets (guest <-> host and, with vsock_loopback, guest <-> guest).
public enum Vsock {
    /// VMADDR_CID_ANY: listen on every CID of this machine.
    public static let cidAny: UInt32 = 0xFFFF_FFFF
    /// VMADDR_CID_LOCAL: the loopback transport (vsock_loopback module).
    public static let cidLocal: UInt32 = 1
    /// VMADDR_CID_HOST: from a guest, the hypervisor's host.
    public static let cidHost: UInt32 = 2

    static let unavailableHint =
        "AF_VSOCK needs the vsock and vmw_vsock_virtio_transport (guest) or vsock_loopback modules; "
        + "a machine without /dev/vhost-vsock or vsock loopback cannot use it (use a unix socket there)"

    /// A listening vsock socket on (cid, port).
    public static func listen(cid: UInt32 = cidAny, port: UInt32, backlog: Int32 = 16) throws(SyscallError) -> Int32 {
        let target = "vsock \(describe(cid: cid)):\(port)"
        let result = console_vsock_listen(cid, port, backlog)
        if result == -EAFNOSUPPORT || result == -ENODEV || result == -EADDRNOTAVAIL {
            throw SyscallError("listen on", target: target, errno: -result, detail: unavailableHint)
        }
        return try SyscallError.check(result, "listen on", target: target)
    }

    /// A connected vsock stream socket.
    public static func connect(cid: UInt32, port: UInt32) throws(SyscallError) -> Int32 {
        let target = "vsock \(describe(cid: cid)):\(port)"
        let result = console_vsock_connect(cid, port)
        if result == -EAFNOSUPPORT || result == -ENODEV {
            throw SyscallError("connect to", target: target, errno: -result, detail: unavailableHint)
        }
        return try SyscallError.check(result, "connect to", target: target)
    }

    /// CID as the URI form prints it (-1 for CID_ANY).
    public static func describe(cid: UInt32) -> String {
        cid == cidAny ? "-1" : String(cid)
    }
}

/// Unix stream sockets by path; a leading '@' names the abstract namespace.
public enum UnixSocket {
    /// A listening socket at `path`; a stale socket file there is replaced when `replace`.
    public static func listen(path: String, backlog: Int32 = 16, replace: Bool = true) throws(SyscallError) -> Int32 {
        if replace, !path.hasPrefix("@") {
            var st = stat()
            if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK {
                unlink(path)
            }
        }
        return try SyscallError.check(console_unix_listen(path, backlog), "listen on", target: "unix socket \(path)")
    }

    /// A connected unix stream socket.
    public static func connect(path: String) throws(SyscallError) -> Int32 {
        try SyscallError.check(console_unix_connect(path), "connect to", target: "unix socket \(path)")
    }
}
