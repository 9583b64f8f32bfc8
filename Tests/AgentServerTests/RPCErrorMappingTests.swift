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

    func testLongMessagesAreCutTheSameForEveryTransport() async {
        // A request value quoted in full (the fuzzer's 70 KB gateway) made gRPC's trailer too
        // large for the client; the message is cut before either codec sees it.
        let value = "10.0.0.1" + String(repeating: "z", count: 70_000) + "é"
        do {
            let _: Int = try await serveRPC("UpdateRoutes", logger: logger) {
                throw ValidationError(field: "routes[0].gateway", reason: "'\(value)' is not an IP address")
            }
            XCTFail("answered OK")
        } catch let error as RPCError {
            XCTAssertEqual(error.code, .invalidArgument)
            XCTAssertLessThanOrEqual(error.message.utf8.count, RPCError.maximumMessageBytes)
            XCTAssertTrue(error.message.hasPrefix("routes[0].gateway: '10.0.0.1zzz"), error.message)
            XCTAssertTrue(error.message.hasSuffix(" more bytes)"), error.message)
        } catch {
            XCTFail("not an RPCError: \(error)")
        }
    }

    func testCutMessagesKeepWholeCharacters() {
        // 3-byte characters: a cut at a byte count would split one.
        let long = RPCError(code: .internalError, message: String(repeating: "€", count: 2000))
        let cut = long.withBoundedMessage()
        XCTAssertLessThanOrEqual(cut.message.utf8.count, RPCError.maximumMessageBytes)
        XCTAssertTrue(cut.message.hasPrefix("€€€"))
        XCTAssertEqual(cut.message.unicodeScalars.filter { $0 == "\u{FFFD}" }.count, 0)
        let short = RPCError(code: .notFound, message: "container c1 not found")
        XCTAssertEqual(short.withBoundedMessage().message, short.message)
    }
}
