import XCTest
@testable import KataProtocols
final class KataProtocolsPlaceholderTests: XCTestCase { func testModuleLinks() {} }
