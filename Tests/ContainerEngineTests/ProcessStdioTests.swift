import Glibc
import XCTest
@testable import ContainerEngine

/// The child's ends of a process's stdio when its launch fails before the spawn.
final class ProcessStdioTests: XCTestCase {
    private func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) >= 0 }

    /// Released without a spawn (an exec racing its container's exit, a pid namespace that
    /// cannot be opened): the child's ends are closed too, once, and not again later.
    func testReleaseBeforeTheSpawnClosesTheChildEnds() throws {
        for terminal in [false, true] {
            let stdio = try ProcessStdio(terminal: terminal, pipeSize: 0)
            let childEnds = Set(stdio.childFDs)
            XCTAssertTrue(childEnds.allSatisfy(isOpen), "terminal \(terminal)")
            stdio.release()
            stdio.processExited()
            XCTAssertFalse(childEnds.contains(where: isOpen), "terminal \(terminal): the child's ends leaked")
            // A descriptor that now reuses one of those numbers is not closed by a second call.
            var pair: [Int32] = [0, 0]
            XCTAssertEqual(pipe(&pair), 0)
            stdio.closeChildEnds()
            XCTAssertTrue(isOpen(pair[0]) && isOpen(pair[1]))
            close(pair[0])
            close(pair[1])
            stdio.discardOutput()
        }
    }
}
