import XCTest
@testable import AgentConfig

/// The agent's own TOML 1.0 parser: values, the definition rules, and errors for what is not TOML.
final class TOMLParserTests: XCTestCase {
    private func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> TOMLTable {
        try TOMLParser.parse(text)
    }

    private func assertInvalid(_ text: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TOMLParser.parse(text), text, file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(fragment), "\(text.debugDescription): \(error)", file: file, line: line)
        }
    }

    func testScalars() throws {
        let table = try parse("""
            # comment
            int = +99
            neg = -17
            big = 9_223_372_036_854_775_807
            small = -9223372036854775808
            hex = 0xDEAD_beef
            oct = 0o755
            bin = 0b1101
            flt = 6.626e-34
            exp = 5e+22
            frac = -0.01
            inf = -inf
            nan = nan
            yes = true
            no = false
            "quoted key" = 'C:\\Users\\nodejs'  # literal: no escapes
            esc = "tab\\there \\u00e9 \\U0001F600 \\"q\\""
            """)
        XCTAssertEqual(table["int"], .integer(99))
        XCTAssertEqual(table["neg"], .integer(-17))
        XCTAssertEqual(table["big"], .integer(.max))
        XCTAssertEqual(table["small"], .integer(.min))
        XCTAssertEqual(table["hex"], .integer(0xdead_beef))
        XCTAssertEqual(table["oct"], .integer(0o755))
        XCTAssertEqual(table["bin"], .integer(13))
        XCTAssertEqual(table["flt"], .float(6.626e-34))
        XCTAssertEqual(table["exp"], .float(5e22))
        XCTAssertEqual(table["frac"], .float(-0.01))
        XCTAssertEqual(table["inf"], .float(-.infinity))
        guard case let .float(nan)? = table["nan"] else { return XCTFail("nan") }
        XCTAssertTrue(nan.isNaN)
        XCTAssertEqual(table["yes"], .boolean(true))
        XCTAssertEqual(table["no"], .boolean(false))
        XCTAssertEqual(table["quoted key"], .string("C:\\Users\\nodejs"))
        XCTAssertEqual(table["esc"], .string("tab\there é 😀 \"q\""))
        XCTAssertEqual(table.keys.first, "int")
    }

    func testMultilineStrings() throws {
        let table = try parse("a = \"\"\"\nRoses\r\n  \\\n   are red\"\"\"\"\nb = '''\n'x' \\n''''' \nc = \"\"\"\"\"\"\n")
        XCTAssertEqual(table["a"], .string("Roses\n  are red\""))
        XCTAssertEqual(table["b"], .string("'x' \\n''"))
        XCTAssertEqual(table["c"], .string(""))
    }

    func testDateTimes() throws {
        let table = try parse("""
            odt = 1979-05-27T07:32:00Z
            odt2 = 1979-05-27 00:32:00.999999-07:00
            odt3 = 1979-05-27t07:32:00.1234567z
            ldt = 1979-05-27T07:32:00
            ld = 2024-02-29
            lt = 00:32:00.5
            """)
        XCTAssertEqual(table["odt"]?.tomlText, "1979-05-27T07:32:00+00:00")
        XCTAssertEqual(table["odt2"]?.tomlText, "1979-05-27T00:32:00.999999-07:00")
        XCTAssertEqual(table["odt3"]?.tomlText, "1979-05-27T07:32:00.123456+00:00")
        XCTAssertEqual(table["ldt"]?.tomlText, "1979-05-27T07:32:00")
        XCTAssertEqual(table["ld"]?.tomlText, "2024-02-29")
        XCTAssertEqual(table["lt"]?.tomlText, "00:32:00.500000")
    }

    func testTablesArraysAndDottedKeys() throws {
        let table = try parse("""
            name.first = "Tom"
            name.last = "Preston-Werner"
            points = [ { x = 1, y.z = 2 },
                       [1, "two", 3.0],  # mixed types, trailing comma
                     ]
            [fruit]
            apple.color = "red"
            apple.taste.sweet = true
            [fruit.apple.texture]  # a sub-table of a dotted-key table
            smooth = true
            [[products]]
            name = "Hammer"
            [products.dims]
            w = 1
            [[products]]
            [x.y.z]
            [x]
            """)
        XCTAssertEqual(table["name"]?.table?["last"], .string("Preston-Werner"))
        guard case let .array(points)? = table["points"], points.count == 2 else { return XCTFail("points") }
        XCTAssertEqual(points[0].table?["y"]?.table?["z"], .integer(2))
        XCTAssertEqual(points[1], .array([.integer(1), .string("two"), .float(3)]))
        let apple = table["fruit"]?.table?["apple"]?.table
        XCTAssertEqual(apple?["taste"]?.table?["sweet"], .boolean(true))
        XCTAssertEqual(apple?["texture"]?.table?["smooth"], .boolean(true))
        guard case let .array(products)? = table["products"], products.count == 2 else { return XCTFail("products") }
        XCTAssertEqual(products[0].table?["dims"]?.table?["w"], .integer(1))
        XCTAssertEqual(products[1], .table(TOMLTable()))
        XCTAssertNotNil(table["x"]?.table?["y"]?.table?["z"]?.table)
    }

    func testDefinitionRules() {
        assertInvalid("a = 1\na = 2", "line 2, column 1: key a is defined twice")
        assertInvalid("[a]\n[a]", "table a is defined twice")
        assertInvalid("[a]\nb.c = 1\n[a.b]", "table a.b is defined twice")
        assertInvalid("a.b = 1\n[x]\n[a]", "table a is defined twice")
        assertInvalid("[a.b]\n[a]\nb.c = 1", "dotted keys cannot add to it")
        assertInvalid("a = {}\n[a.b]", "a is a value")
        assertInvalid("a = {b = 1}\na.c = 2", "a is a value")
        assertInvalid("a = [1]\n[[a]]", "not as an array of tables")
        assertInvalid("[[a]]\n[a]", "a is an array of tables")
        assertInvalid("x = { a = 1, a = 2 }", "key a is defined twice")
        assertInvalid("x = { a = {}, a.b = 1 }", "a is a value")
        assertInvalid("[\"a.b\"]\n[\"a.b\"]", "table \"a.b\" is defined twice")
    }

    func testSyntaxErrors() {
        assertInvalid("dev_mode = = true", "line 1, column 12")
        assertInvalid("a = 1 b = 2", "expected a newline")
        assertInvalid("a = 01", "'01' is not a TOML value")
        assertInvalid("a = 1__0", "is not a TOML value")
        assertInvalid("a = +0x10", "is not a TOML value")
        assertInvalid("a = 1.", "is not a TOML value")
        assertInvalid("a = .5", "is not a TOML value")
        assertInvalid("a = 9223372036854775808", "does not fit in 64 bits")
        assertInvalid("a = -0x1", "is not a TOML value")
        assertInvalid("a = 0xffff_ffff_ffff_ffff_f", "does not fit in 64 bits")
        assertInvalid("a = \"open", "unterminated string")
        assertInvalid("a = \"new\nline\"", "newline in a single-line string")
        assertInvalid("a = \"\\x41\"", "unknown escape")
        assertInvalid("a = \"\\uD800\"", "not a Unicode scalar value")
        assertInvalid("a = \"\u{1}\"", "control character 0x1")
        assertInvalid("a = 1 # \u{7f}", "in a comment")
        assertInvalid("a = [1, 2", "expected ',' or ']'")
        assertInvalid("a = [1 2]", "expected ',' or ']'")
        assertInvalid("a = { b = 1, }", "expected a key")
        assertInvalid("a = { b = 1\n}", "expected ','")
        assertInvalid("a = 2023-02-29", "no such date")
        assertInvalid("a = 1979-05-27T25:00:00", "no such time")
        assertInvalid("a = 1979-05-27T07:32", "malformed time")
        assertInvalid("a = 07:32:00Z", "expected a newline")
        assertInvalid("a = 1979-05-27T07:32:00+25:00", "malformed time offset")
        assertInvalid("a\r= 1", "expected '='")
        assertInvalid("= 1", "expected a key")
        assertInvalid("[a]]", "expected a newline")
        assertInvalid("[[a]", "to close the array-of-tables header")
        assertInvalid("a = truex", "not a TOML value")
        assertInvalid("a = '''x''''''", "too many quotes")
        assertInvalid("a = \"\"\"x \\ y\"\"\"", "must end its line")
        assertInvalid("a = " + String(repeating: "[", count: 200), "nest more than 128 deep")
        assertInvalid("a = " + String(repeating: "{ b.c.d = ", count: 50), "nest more than 128 deep")
        assertInvalid("[" + Array(repeating: "a", count: 129).joined(separator: ".") + "]", "a key has more than 128 parts")
        // At the limits: a 128-part header, a 128-part dotted key with a scalar, 128 arrays.
        XCTAssertNoThrow(try TOMLParser.parse("[" + Array(repeating: "a", count: 128).joined(separator: ".") + "]\n"
                                              + Array(repeating: "b", count: 128).joined(separator: ".") + " = 1\n"
                                              + "c = " + String(repeating: "[", count: 128) + String(repeating: "]", count: 128)))
        assertInvalid("a.b = " + String(repeating: "[", count: 128), "nest more than 128 deep")
        assertInvalid("x = 1\n\n  y", "line 3, column 4: expected '='")
    }

    /// What TOMLKit's toml++ aborted the agent on (found by Tests/Fuzz/FuzzConfigTOML; the
    /// inputs are in its corpus): each is an error now.
    func testInputsThatAbortedTomlPlusPlus() {
        for text in ["[?]", "[", "a = [1, }]", "a = 1979-05-27T:00", "a = [1979-05-28 9]", "[\u{FFFD}]",
                     "a = [1979-05-27T_07:32:00Z]", "x = 1\nb = 1979-05-27tx07:32:00Z", "d = 1979-05-2_8 9,",
                     "e = { f = 1-79-05-28 1}", "g = 1979-05-28 7:32:00", "12.5= 1f79-05-28 9\nSd",
                     "a = 1\"79-05-28 9", "a = 1979-05-28 9\n"] {
            XCTAssertThrowsError(try TOMLParser.parse(text), text.debugDescription)
        }
    }

    func testQuotedValuesParseBack() throws {
        for text in ["", "plain", "q\"b\\", "line\nfeed\r\t", "\u{0}\u{1f}\u{7f}", "é😀"] {
            XCTAssertEqual(try TOMLParser.parse("a = " + TOMLValue.quoted(text))["a"], .string(text), text.debugDescription)
        }
        XCTAssertEqual(TOMLValue.array([.integer(1), .string("x")]).tomlText, "[1, \"x\"]")
    }

    func testConfigFileReportsTheLineOfAnError() {
        XCTAssertThrowsError(try AgentConfiguration.parse(toml: "dev_mode = true\n\nlog_level = [", file: "/etc/k.toml")) { error in
            XCTAssertEqual("\(error)", "agent config file /etc/k.toml: not valid TOML: line 3, column 14: expected a value, found the end of the document")
        }
    }
}
