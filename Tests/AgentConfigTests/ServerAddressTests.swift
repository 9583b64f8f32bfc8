import XCTest
@testable import AgentConfig

final class ServerAddressTests: XCTestCase {
    func testVsockAnyCID() throws {
        XCTAssertEqual(try ServerAddress.parse("vsock://-1:1024"), .vsock(cid: 0xFFFF_FFFF, port: 1024))
        XCTAssertEqual(ServerAddress.default.description, "vsock://-1:1024")
    }

    func testVsockExplicitCID() throws {
        XCTAssertEqual(try ServerAddress.parse("vsock://3:5000"), .vsock(cid: 3, port: 5000))
    }

    func testUnixPathAndAbstract() throws {
        XCTAssertEqual(try ServerAddress.parse("unix:///run/agent.sock"), .unix(path: "/run/agent.sock"))
        XCTAssertEqual(try ServerAddress.parse("unix://@kata-agent"), .unixAbstract(name: "kata-agent"))
    }

    func testRoundTrip() throws {
        for uri in ["vsock://-1:1024", "vsock://2:1", "unix:///tmp/x.sock", "unix://@abc"] {
            XCTAssertEqual(try ServerAddress.parse(uri).description, uri)
        }
    }

    func testSchemeIsCaseInsensitiveAndBlanksAroundAreIgnored() throws {
        XCTAssertEqual(try ServerAddress.parse(" \tVSOCK://3:5000\n"), .vsock(cid: 3, port: 5000))
        XCTAssertEqual(try ServerAddress.parse("\u{A0}unix:///run/a.sock"), .unix(path: "/run/a.sock"))
    }

    func testErrorsNameThePart() {
        let cases: [(String, String)] = [
            ("vsock:1024", "scheme"), ("tcp://1.2.3.4:5", "scheme"), ("vsock:/x://3:1", "scheme"), ("://3:1", "scheme"), ("vsock://1024", "authority"),
            ("vsock://x:1024", "cid"), ("vsock://-2:1024", "cid"), ("vsock://3:", "port"),
            ("vsock://3:99999999999", "port"), ("unix://relative", "path"), ("unix://@", "name"),
        ]
        for (uri, part) in cases {
            XCTAssertThrowsError(try ServerAddress.parse(uri), uri) { error in
                XCTAssertEqual((error as? ServerAddressError)?.part, part, uri)
                XCTAssertTrue("\(error)".contains(uri), "\(error)")
            }
        }
    }
}
