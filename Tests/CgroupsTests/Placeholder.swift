import XCTest
@testable import Cgroups
final class CgroupsPlaceholderTests: XCTestCase { func testModuleLinks() {} }
