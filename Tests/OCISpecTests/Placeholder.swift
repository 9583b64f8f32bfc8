import XCTest
@testable import OCISpec
final class OCISpecPlaceholderTests: XCTestCase { func testModuleLinks() {} }
