import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import LinuxKit
import Synchronization

/// The stdio of one container process: three pipes, or a PTY (terminal = true). The child's
/// ends are handed to the spawn and closed here right after; the agent's ends stay: stdin for
/// WriteStdin/CloseStdin, outputs drained by the `OutputPump` into buffers.
public final class ProcessStdio: Sendable {
    public let terminal: Bool
    public let stdout = OutputBuffer()
    public let stderr = OutputBuffer()
    /// Child ends (to be closed after the spawn): stdin, stdout, stderr.
    let childFDs: [Int32]
    /// Whether `childFDs` are closed (once: their numbers may be reused afterwards).
    let childEndsClosed = Mutex(false)
    /// The pump's streams of stdout (and stderr), by identity: the fds belong to the pump.
    let outputStreams: [OutputPump.Stream]
    let stdinFD = Mutex<Int32>(-1)
    /// For a PTY: the master, kept for resize and stdin writes until `release` (under the
    /// lock, so a late resize never reaches a reused descriptor number).
    let ptyMaster = Mutex<Int32>(-1)

    /// - Parameters:
    ///   - pipeSize: agent.container_pipe_size (0: kernel default).
    ///   - consoleSize: initial PTY size.
    public init(terminal: Bool, pipeSize: Int, rows: UInt16 = 0, cols: UInt16 = 0) throws {
        self.terminal = terminal
        if terminal {
            var master: Int32 = -1
            var slave: Int32 = -1
            let rc = engine_openpty(&master, &slave, rows, cols)
            guard rc == 0 else { throw EngineError(.system, "open pty", container: "-", "openpty", errno: -rc) }
            // A second descriptor of the master, so the pump can own one and stdin the other.
            let writer = fcntl(master, F_DUPFD_CLOEXEC, 3)
            guard writer >= 0 else {
                let code = errno
                close(master)
                close(slave)
                throw EngineError(.system, "open pty", container: "-", "dup master", errno: code)
            }
            childFDs = [slave, slave, slave]
            ptyMaster.withLock { $0 = writer }
            stdinFD.withLock { $0 = writer }
            outputStreams = [OutputPump.shared.add(fd: master, buffer: stdout)]
            stderr.finish()
            return
        }
        var opened: [Int32] = []
        func makePipe() throws -> (Int32, Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else {
                let code = errno
                for fd in opened { close(fd) }
                throw EngineError(.system, "create stdio pipe", container: "-", "pipe", errno: code)
            }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            if pipeSize > 0 { _ = engine_set_pipe_size(fds[1], Int32(clamping: pipeSize)) }
            opened += fds
            return (fds[0], fds[1])
        }
        let input = try makePipe()
        let output = try makePipe()
        let error = try makePipe()
        childFDs = [input.0, output.1, error.1]
        stdinFD.withLock { $0 = input.1 }
        outputStreams = [OutputPump.shared.add(fd: output.0, buffer: stdout), OutputPump.shared.add(fd: error.0, buffer: stderr)]
    }

    /// Closes the child's ends in the agent (after the spawn, or when it failed); only the
    /// first call closes.
    func closeChildEnds() {
        let first = childEndsClosed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        for fd in Set(childFDs) { close(fd) }
    }

    /// The process exited: outputs end once drained.
    func processExited() {
        for stream in outputStreams { OutputPump.shared.processExited(stream) }
    }

    /// Writes all of `data` to the process's stdin (blocking, off the cooperative pool).
    public func write(_ data: Data) async throws -> Int {
        // A descriptor of our own for the blocking write: CloseStdin or the process's exit may
        // close stdin meanwhile, and the number could then name another container's file.
        let fd = stdinFD.withLock { $0 >= 0 ? fcntl($0, F_DUPFD_CLOEXEC, 3) : -1 }
        guard fd >= 0 else { throw EngineError(.wrongState, "write stdin", container: "-", "stdin is closed") }
        return try await Blocking.run {
            defer { close(fd) }
            var offset = 0
            while offset < data.count {
                let n = data.withUnsafeBytes { raw in
                    Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw EngineError(.system, "write stdin", container: "-", "write", errno: errno)
                }
                offset += n
            }
            return offset
        }
    }

    /// Closes stdin (the process sees EOF). On a PTY, sends EOT instead: the master also
    /// carries output.
    public func closeStdin() {
        if terminal {
            ptyMaster.withLock { master in
                guard master >= 0 else { return }
                var eot: UInt8 = 4
                _ = Glibc.write(master, &eot, 1)
            }
            return
        }
        let fd = stdinFD.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { close(fd) }
    }

    /// Resizes the PTY.
    public func resize(rows: UInt16, cols: UInt16) throws {
        guard terminal else { throw EngineError(.wrongState, "resize tty", container: "-", "the process has no terminal") }
        let rc = ptyMaster.withLock { master in master >= 0 ? engine_set_winsize(master, rows, cols) : -EBADF }
        if rc < 0 { throw EngineError(.system, "resize tty", container: "-", "TIOCSWINSZ", errno: -rc) }
    }

    /// Releases the agent's stdin/PTY descriptors (the pump closes output fds itself), and the
    /// child's ends if a launch failed before the spawn closed them.
    func release() {
        closeChildEnds()
        // For a PTY, stdin is the master's second descriptor: closed once, under its lock.
        ptyMaster.withLock { $0 = -1 }
        let fd = stdinFD.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { close(fd) }
    }

    /// The process is gone for good (its container or exec was removed): besides `release`,
    /// output nobody read is dropped and its descriptors closed.
    func discardOutput() {
        release()
        for stream in outputStreams { OutputPump.shared.discard(stream) }
    }
}
