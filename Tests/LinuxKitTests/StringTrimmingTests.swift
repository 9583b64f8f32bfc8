import XCTest
@testable import LinuxKit

final class StringTrimmingTests: XCTestCase {
    func testASCIIEnds() {
        XCTAssertEqual("  1048576\n".trimmingWhitespace(), "1048576")
        XCTAssertEqual("\r\n\t x y \u{0B}\u{0C}".trimmingWhitespace(), "x y")
        XCTAssertEqual(" \n\t ".trimmingWhitespace(), "")
        XCTAssertEqual("".trimmingWhitespace(), "")
        XCTAssertEqual("a".trimmingWhitespace(), "a")
        XCTAssertEqual("  héllo wörld ".trimmingWhitespace(), "héllo wörld")
    }

    /// Non-ASCII ends take the Character path and give what `isWhitespace` gives.
    func testUnicodeEndsMatchCharacterWhitespace() {
        let samples = [
            "\u{A0}x\u{2003}", " \u{3000}x y\u{2029}\n", "\u{85}é", "é\u{2028}", " \u{301}x", "x \u{301}",
            "\u{1680}\u{A0}", "x\u{301} ", " e\u{301} ",
        ]
        for sample in samples {
            XCTAssertEqual(sample.trimmingWhitespace(), reference(sample), sample.unicodeScalars.map { "\($0.value)" }.joined(separator: ","))
            XCTAssertEqual(Substring(sample).trimmingWhitespace(), reference(sample))
        }
    }

    private func reference(_ text: String) -> String {
        guard let first = text.firstIndex(where: { !$0.isWhitespace }), let last = text.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(text[first...last])
    }
}
