import CLinuxShim
import Foundation
import Glibc
import XCTest

/// Runs `body` on a fresh thread that first unshares its mount and UTS namespaces and makes
/// every mount private: mounts and sethostname inside never reach the host, and vanish with
/// the thread. Root only.
func inPrivateNamespaces(_ body: @escaping @Sendable () throws -> Void) throws {
    guard getuid() == 0 else { throw XCTSkip("needs root for unshare(CLONE_NEWNS | CLONE_NEWUTS)") }
    let result = ThreadResult()
    let thread = Thread {
        let cloneNewns: Int32 = 0x0002_0000, cloneNewuts: Int32 = 0x0400_0000
        let rc = core_unshare(cloneNewns | cloneNewuts)
        if rc < 0 {
            result.set(.failure(NSError(domain: "unshare", code: Int(-rc))))
        } else if core_mount(nil, "/", nil, 1 << 18 | 16384, nil) < 0 {  // MS_PRIVATE | MS_REC
            result.set(.failure(NSError(domain: "make / rprivate", code: Int(errno))))
        } else {
            result.set(Result { try body() })
        }
    }
    thread.start()
    guard result.done.wait(timeout: .now() + 60) == .success else {
        throw NSError(domain: "private namespace body did not finish within 60 s", code: 0)
    }
    try result.value().get()
}

private final class ThreadResult: @unchecked Sendable {
    // Written once by the worker thread before `done` is signalled, read after.
    private var stored: Result<Void, any Error> = .success(())
    let done = DispatchSemaphore(value: 0)

    func set(_ value: Result<Void, any Error>) {
        stored = value
        done.signal()
    }

    func value() -> Result<Void, any Error> { stored }
}
