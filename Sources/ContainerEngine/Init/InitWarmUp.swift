#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// What the zygote does once before serving so that its children start warm: the first
/// decode of a spec in a fresh process instantiates the metadata and conformances of every
/// Codable type on the way (more than half of a cold init's decoding time). The sample uses
/// every part of an `InitConfig` the agent sends, and goes through `SyncSocket` as the real
/// messages do.
enum InitWarmUp {
    /// Exchanges the sample messages over a socketpair; false when a step failed (the zygote
    /// then still serves, only colder).
    @discardableResult
    static func run() -> Bool {
        guard let sample = try? JSONDecoder().decode(SyncMessage.self, from: Data(sampleJSON.utf8)) else { return false }
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else { return false }
        defer {
            close(fds[0])
            close(fds[1])
        }
        let agent = SyncSocket(fd: fds[0])
        let initSide = SyncSocket(fd: fds[1])
        let messages = [
            sample,
            SyncMessage(kind: .hooks), SyncMessage(kind: .hooksDone), SyncMessage(kind: .ready),
            SyncMessage(kind: .start, state: sample.state),
            SyncMessage(kind: .error, errno: ENOENT, message: "exec /bin/sh"),
        ]
        for message in messages {
            do {
                try agent.send(message)
                guard try initSide.receive() == message else { return false }
            } catch {
                return false
            }
        }
        if let config = sample.config {
            _ = try? InitSecurityCheck.validate(config.spec, id: config.containerID)
            for mount in config.spec.mounts ?? [] {
                _ = MountOptions(mount.options ?? [])
            }
        }
        return true
    }
}
