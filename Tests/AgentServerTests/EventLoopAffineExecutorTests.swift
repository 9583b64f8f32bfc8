@testable import AgentServer
import Logging
import NIOPosix
import XCTest

/// The server's own tasks run on event loops; RPC bodies (domain code that may block) never do.
final class EventLoopAffineExecutorTests: XCTestCase {
    func testServerTasksRunOnALoopAndRPCBodiesOffIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let executor = EventLoopAffineExecutor(group: group)
        let logger = Logger(label: "executor-test")
        let (onLoop, inBody, afterBody) = try await withTaskExecutorPreference(executor) {
            let onLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
            let inBody = try await serveRPC("Probe", logger: logger) {
                MultiThreadedEventLoopGroup.currentEventLoop != nil
            }
            // A child task inherits the preference, as the server's per-stream tasks do.
            let afterBody = await withTaskGroup(of: Bool.self) { children in
                children.addTask { MultiThreadedEventLoopGroup.currentEventLoop != nil }
                return await children.next() ?? false
            }
            return (onLoop, inBody, afterBody)
        }
        try await group.shutdownGracefully()
        XCTAssertTrue(onLoop, "a task preferring the executor runs on one of the group's loops")
        XCTAssertFalse(inBody, "serveRPC must move the RPC body off the event loop")
        XCTAssertTrue(afterBody, "child tasks of the server inherit the loop preference")
    }
}
