import GRPCCore
import Logging
import XCTest

@testable import AgentServer

/// serveRPC's mapping of what a handler throws to the status the caller gets.
final class RPCErrorMappingTests: XCTestCase {
    private let logger = Logger(label: "rpc-error-mapping-test")

    func testCancellationIsCancelledNotInternal() async {
        do {
            let _: Int = try await serveRPC("GetOOMEvent", logger: logger) { throw CancellationError() }
            XCTFail("a cancelled handler answered OK")
        } catch let error as RPCError {
            XCTAssertEqual(error.code, .cancelled, error.message)
            XCTAssertTrue(error.message.hasPrefix("GetOOMEvent: "), error.message)
        } catch {
            XCTFail("not an RPCError: \(error)")
        }
    }

    func testUnknownErrorsAreInternalNamingTheRPC() async {
        struct Odd: Error {}
        do {
            let _: Int = try await serveRPC("ListRoutes", logger: logger) { throw Odd() }
            XCTFail("answered OK")
        } catch let error as RPCError {
            XCTAssertEqual(error.code, .internalError)
            XCTAssertTrue(error.message.hasPrefix("ListRoutes: "), error.message)
        } catch {
            XCTFail("not an RPCError: \(error)")
        }
    }
}
