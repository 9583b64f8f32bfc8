import XCTest
@testable import LinuxKit
final class LinuxKitPlaceholderTests: XCTestCase { func testModuleLinks() {} }
