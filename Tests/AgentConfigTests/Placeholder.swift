import XCTest
@testable import AgentConfig
final class AgentConfigPlaceholderTests: XCTestCase { func testModuleLinks() {} }
