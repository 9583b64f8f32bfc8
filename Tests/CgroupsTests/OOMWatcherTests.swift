import Foundation
import LinuxKit
import XCTest
@testable import Cgroups

/// The v2 watcher's logic on a plain file (inotify works the same on cgroupfs): an event per
/// oom_kill increase, none for other changes, and the stream ends when the file goes away.
final class OOMWatcherTests: XCTestCase {
    func testV2EventsFollowOOMKillCounter() async throws {
        let directory = NSTemporaryDirectory() + "oom-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fs = LocalCgroupFileSystem(createMissingFiles: true)
        let file = directory + "/memory.events"
        try fs.write(file, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n")
        let events = try OOMWatcher.v2(directory: directory, path: "/c1", fileSystem: fs)

        // Deadline: removing the file ends the stream, so a missing event fails instead of hanging.
        let deadline = Task {
            try await Task.sleep(for: .seconds(30))
            try? FileManager.default.removeItem(atPath: file)
        }
        var iterator = events.makeAsyncIterator()
        try fs.write(file, "low 0\nhigh 0\nmax 5\noom 0\noom_kill 0\n")  // no kill: no event
        try fs.write(file, "low 0\nhigh 0\nmax 5\noom 1\noom_kill 2\n")  // two kills
        var result: [OOMEvent] = []
        while result.count < 2, let event = await iterator.next() { result.append(event) }
        // Removing the file ends the watch (IN_IGNORED), which ends the stream.
        try? FileManager.default.removeItem(atPath: file)
        let end = await iterator.next()
        deadline.cancel()
        XCTAssertNil(end)
        XCTAssertEqual(result, [OOMEvent(path: "/c1"), OOMEvent(path: "/c1")])
    }

    /// A watcher thread that cannot be created (EAGAIN: a container used up the pid limit) fails
    /// that container's watch with its descriptor closed and the stream ended; it used to end
    /// the agent (BackgroundThread.start traps).
    func testThreadThatCannotStartFailsTheWatchOnly() async throws {
        var pipeFDs: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&pipeFDs), 0)
        defer { close(pipeFDs[1]) }
        let watchFD = pipeFDs[0]
        let refuse: OOMWatcher.ThreadStarter = { name, _ throws(SyscallError) in
            throw SyscallError("pthread_create", target: "thread \(name)", errno: EAGAIN)
        }
        XCTAssertThrowsError(try OOMWatcher.stream(watchFD: watchFD, path: "/c2", startThread: refuse) { _ in
            OOMWatcher.Outcome(events: 0, finished: true)
        }) { error in
            XCTAssertEqual(error as? CgroupError,
                           .io(operation: "start the OOM watcher thread (pthread_create)", path: "/c2", errno: EAGAIN))
        }
        XCTAssertEqual(fcntl(watchFD, F_GETFD), -1, "the watched descriptor must be closed")
        XCTAssertEqual(errno, EBADF)
    }
}
