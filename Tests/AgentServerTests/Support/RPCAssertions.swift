import GRPCCore
import XCTest

/// Asserts that `body` fails with an RPCError of `code` whose message contains `fragment`
/// (typically the request field or the RPC's name).
func assertRPCError<T>(
    _ code: RPCError.Code, containing fragment: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () async throws -> T
) async {
    do {
        let value = try await body()
        XCTFail("expected \(code) mentioning '\(fragment)', got success: \(value)", file: file, line: line)
    } catch let error as RPCError {
        XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        XCTAssertTrue(error.message.contains(fragment), "'\(error.message)' does not mention '\(fragment)'", file: file, line: line)
    } catch {
        XCTFail("expected RPCError \(code), got \(error)", file: file, line: line)
    }
}
