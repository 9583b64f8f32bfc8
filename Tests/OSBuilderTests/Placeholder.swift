import XCTest
@testable import OSBuilder
final class OSBuilderPlaceholderTests: XCTestCase { func testModuleLinks() {} }
