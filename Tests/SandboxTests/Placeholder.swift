import XCTest
@testable import Sandbox
final class SandboxPlaceholderTests: XCTestCase { func testModuleLinks() {} }
