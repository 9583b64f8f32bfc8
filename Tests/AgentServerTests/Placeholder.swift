import XCTest
@testable import AgentServer
final class AgentServerPlaceholderTests: XCTestCase { func testModuleLinks() {} }
