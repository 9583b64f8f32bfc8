import XCTest
@testable import AgentConfig

/// Inputs the TOML fuzzer (Tests/Fuzz/FuzzConfigTOML) found aborting the agent inside TOMLKit.
final class TOMLPrecheckTests: XCTestCase {
    func testDateTimeWithoutTimeIsAnErrorNotAnAbort() {
        // toml++ 3.4.0 asserted `is_decimal_digit(*cp)` in parse_time on each of these.
        for text in ["a = 1979-05-27T:", "a = [1979-05-27T_07:32:00Z]", "x = 1\nb = 1979-05-27tx07:32:00Z",
                     "[a.b]\nc = [1, 2.5, 1979-05-27T\u{FFFD}07:32:00Z, \"\"\"multi\nline\"\"\", 'lit']\n"] {
            XCTAssertThrowsError(try AgentConfiguration.parse(toml: text, file: "t.toml"), text) { error in
                XCTAssertTrue("\(error)".contains("t.toml"), "\(error)")
                XCTAssertTrue("\(error)".contains("a date-time needs a time"), "\(error)")
            }
        }
        XCTAssertEqual(TOMLPrecheck.problem(in: "x = 1\n\nb = 1979-05-27T:"), "line 3: a date-time needs a time after its 'T'")
    }

    func testDateThenSpaceAndOneDigitIsAnErrorNotAnAbort() {
        // toml++ 3.4.0 asserted `!is_value_terminator(*cp)` in parse_value on each of these
        // (the first, whole, is what the fuzzer found).
        for text in ["[a.b]\nc = [1, 2.5, 1979-05-28 9\nS[a.b\nc = [1, 2.5, 1979-05-27T07:32:00Z,/\"e\"\"\", 'lit']\n",
                     "c = [1979-05-28 9]", "d = 1979-05-28 9\n", "d = 1979-05-2_8 9,", "d = 1979-05-28_ 9 # x",
                     "e = { f = 1-79-05-28 1}", "g = 1979-05-28 7:32:00",
                     "12.5= 1=79-05-28 9\nSd", "12.5= 1f79-05-28 9\nSd", "h = [1979-05-2* 9]", "a = 1\"79-05-28 9"] {
            XCTAssertThrowsError(try AgentConfiguration.parse(toml: text, file: "t.toml"), text) { error in
                XCTAssertTrue("\(error)".contains("t.toml"), "\(error)")
                XCTAssertTrue("\(error)".contains("a date-time's hour needs two digits"), "\(error)")
            }
        }
        XCTAssertEqual(TOMLPrecheck.problem(in: "x = 1\n\nb = [1979-05-28 9]"), "line 3: a date-time's hour needs two digits")
        // Valid documents with a date, a space and digits pass.
        for text in ["d = 1979-05-28 07:32:00\n", "d = [1979-05-28, 9]", "s = \"1979-05-28 9]\"", "d = 1979-05-28 # 9\n", "a1=\"7-05-28 9\"", "[t]\nk = { a1 = 1979-05-28 }\n",
                     "t = 1979-05-28 07:32:00Z\nu = 2"] {
            XCTAssertNil(TOMLPrecheck.problem(in: text), text)
            XCTAssertNoThrow(try AgentConfiguration.parse(toml: text, file: "t.toml"), text)
        }
    }

    func testNonASCIIOutsideStringsIsAnErrorNotAnAbort() {
        // toml++ 3.4.0 asserted `is_bare_key_character(*cp) || is_string_delimiter(*cp)' in parse_key.
        for (text, reason) in [
            ("[\u{FFFD}]", "a table header needs a key"),
            ("a = 1\n[\u{FFFD}\u{FFFD}\u{FFFD} 0x7fffffffffffffff", "a table header needs a key"),
            ("[a.\u{FFFD}]", "non-ASCII outside a string or comment"),
            ("a\u{FFFD} = 1", "non-ASCII outside a string or comment"),
            ("b = \u{1}", "0x1 outside a string or comment"),
        ] {
            XCTAssertThrowsError(try AgentConfiguration.parse(toml: text, file: "t.toml"), text) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(error)")
            }
        }
        XCTAssertNil(TOMLPrecheck.problem(in: "a = \"é\" # ü\nb = 'ß'\n"))
    }

    func testTableHeaderWithoutKeyIsAnErrorNotAnAbort() {
        // toml++ 3.4.0 asserted in parse_key on each of these.
        for text in ["[?]", "a = 1\n[[?]]\nb = 2", "[", "  [[ \n"] {
            XCTAssertThrowsError(try AgentConfiguration.parse(toml: text, file: "t.toml"), text) { error in
                XCTAssertTrue("\(error)".contains("a table header needs a key"), "\(error)")
            }
        }
        // Brackets at a line start inside a multi-line value are not headers.
        XCTAssertNil(TOMLPrecheck.problem(in: "a = [\n[ { b = 1 } ],\n[ ? ]\n]\n[c]\n[[ 'd' ]]\n[ \"e\".f ]\n"))
    }

    func testBraceInsideArrayIsAnErrorNotAnAbort() {
        // toml++ 3.4.0 asserted `!is_value_terminator(*cp)` in parse_value on each of these.
        for text in ["a = [}]", "a = [1, }]", "a = [ # c\n}]", "a = {b = [}]}", "c = [}1}}}=}"] {
            XCTAssertThrowsError(try AgentConfiguration.parse(toml: text, file: "t.toml"), text) { error in
                XCTAssertTrue("\(error)".contains("'}' does not close '['"), "\(error)")
            }
        }
        XCTAssertNil(TOMLPrecheck.problem(in: "a = [ { b = [1, 2] }, {c = { d = [] }} ]\ne = 1\n"))
    }

    func testValidDatesStringsAndCommentsPass() throws {
        let text = """
            a = 1979-05-27T07:32:00Z
            b = 1979-05-27t07:32:00
            c = 1979-05-27
            d = 1979-05-27 07:32:00
            e = "1979-05-27T:"  # 1979-05-27Tx in a comment
            f = '1979-05-27T:'
            g = \"\"\"
            1979-05-27T: \\\" 1979-05-27T:\"\"\"
            h = '''1979-05-27T:'''
            log_level = "debug"
            """
        XCTAssertNil(TOMLPrecheck.problem(in: text))
        XCTAssertEqual(try AgentConfiguration.parse(toml: text, file: "t").configuration.logLevel, .debug)
    }
}
