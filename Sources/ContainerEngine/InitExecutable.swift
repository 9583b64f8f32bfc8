import CLinuxShim
import Glibc

/// Where container inits are executed from. CVE-2019-5736: a container must be able neither to
/// write nor to truncate what /proc/<pid>/exe of its init (or of the zygote it was cloned
/// from) points to, or it could replace the agent binary.
struct InitExecutableState {
    /// O_PATH descriptor of the binary itself while it lies on a read-only mount (a guest
    /// image's root is mounted ro; on an initrd guest PID 1 hands over a read-only bind of it,
    /// core_initramfs_root.c): writes through /proc/<pid>/exe then fail with EROFS, and
    /// nothing needs copying. Kept open once opened, even after it stopped being used: a launch
    /// may still hold its number.
    var readOnly: Int32 = -1
    /// The binary was looked at (whether it is on a read-only mount).
    var probed = false
    /// The sealed memfd copy, once one was needed; then used for good.
    var sealed: Int32 = -1
}

extension Engine {
    /// The descriptor container inits (and the zygote) are executed from: the binary itself
    /// while it is on a read-only mount, checked again at every call; otherwise a sealed memfd
    /// copy, made at the first launch that needs one rather than at start-up (copying the
    /// binary delayed the first RPC), and shared by concurrent first callers. A mount that
    /// became writable (remounted by hand) switches to the copy for good and retires the
    /// zygote, which was executed from the binary.
    func initExecutableFD() throws -> Int32 {
        let path = options.initExecutable
        let (fd, retireZygote) = try initExecutable.withLock { state throws -> (Int32, Bool) in
            if state.sealed >= 0 { return (state.sealed, false) }
            if !state.probed {
                state.probed = true
                let fd = engine_open_path(path)
                if fd >= 0 {
                    if Self.onReadOnlyMount(fd) { state.readOnly = fd } else { close(fd) }
                }
            }
            let wasReadOnly = state.readOnly >= 0
            if wasReadOnly, Self.onReadOnlyMount(state.readOnly) { return (state.readOnly, false) }
            let rc = engine_sealed_copy(path)
            guard rc >= 0 else {
                throw EngineError(.system, "seal init executable", container: "-", path, errno: -rc)
            }
            state.sealed = rc
            return (rc, wasReadOnly)
        }
        if retireZygote {
            logger.warning("the init executable's mount became writable: container inits now run from a sealed copy",
                           metadata: ["path": "\(path)"])
            zygote.retire(engine: self)
        }
        return fd
    }

    /// The sealed copy's descriptor, -1 while none was made (tests).
    var sealedInitFD: Int32 { initExecutable.withLock { $0.sealed } }

    /// Whether the file behind `fd` is on a read-only mount or filesystem (statvfs ST_RDONLY);
    /// false when that cannot be told.
    static func onReadOnlyMount(_ fd: Int32) -> Bool {
        var info = statvfs()
        guard fstatvfs(fd, &info) == 0 else { return false }
        return info.f_flag & UInt(ST_RDONLY) != 0
    }
}
