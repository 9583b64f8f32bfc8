import XCTest
@testable import ContainerEngine
final class ContainerEnginePlaceholderTests: XCTestCase { func testModuleLinks() {} }
