import Foundation
import XCTest
@testable import AgentConfig

/// The agent's TOML parser against an independent one, Python's tomllib (3.11+): a set of edge
/// cases, the fuzzer's committed corpus, and thousands of seeded random mutations of them must
/// be accepted by both with the same values, or refused by both. tomllib takes integers of any
/// size, which TOML 1.0 says must be refused beyond 64 bits; the script refuses them as we do.
/// TOML_DIFFERENTIAL_MUTATIONS sets how many mutations (default 4,000) to hunt further.
final class TOMLTomllibDifferentialTests: XCTestCase {
    /// Documents worth comparing beyond the corpus: the corners of the specification.
    static let edgeCases: [String] = [
        "", "\n\n", "# only a comment", "a = 1", "a=1#c", "a = 1\r\nb = 2\r\n", "a = 1\rb = 2",
        "a = -0", "a = +0.0", "a = -0.0", "a = 0e0", "a = 1e-0_1", "a = 1_0.0_1e1_0", "a = 1e400", "a = -1e400",
        "a = 0x_1", "a = 0x1_", "a = 0XFF", "a = 0o8", "a = 0b2", "a = 0b0", "a = 0x7fffffffffffffff", "a = 0x8000000000000000",
        "a = -9223372036854775808", "a = -9223372036854775809", "a = +inf", "a = -nan", "a = inf_", "a = nan1",
        "a = 1979-05-27", "a = 1979-05-27T", "a = 1979-05-27 ", "a = 1979-05-27 07:32:00",
        "a = 1979-05-27T07:32:00.Z", "a = 1979-05-27T07:32:00.1234567+05:30", "a = 0000-01-01", "a = 2000-02-29",
        "a = 1900-02-29", "a = 1979-13-01", "a = 1979-05-32", "a = 1979-04-31", "a = 24:00:00", "a = 23:59:60",
        "a = 07:32:00.", "a = 7:32:00", "a = 1979-05-27T07:32:00-00:00", "a = 1979-5-27",
        "a = \"\\u00E9\\U0001f600\"", "a = \"\\uDFFF\"", "a = \"\\U00110000\"", "a = \"\\e\"", "a = \"\\ \"",
        "a = \"\"\"\\  \n  x\"\"\"", "a = \"\"\"\\\r\n  x\"\"\"", "a = \"\"\"a\"\"\"\"\"", "a = \"\"\"a\"\"\"\"\"\"", "a = '''\r\nx'''",
        "a = 'tab\there'", "a = \"\u{7f}\"", "a = '''\u{0}'''", "a = \"é\"", "é = 1", "\"é\" = 1", "'' = 1", "\"\" = 1",
        "a.b.c = 1\na.b.d = 2", "a . b = 1", "a.'b.c' = 1", "1.2 = 3", "true = false", "inf = nan", "-_ = 1",
        "[a]\nb = 1\n[a.c]\nd = 2", "[ a . b ]", "[a]\n[a.b]\n[a]", "[a.b]\n[a]", "[a.b]\n[a]\n[a]",
        "[a]\nb.c = 1\n[a.b.d]", "[a]\nb.c = 1\n[a.b]", "a = {}\n[a]", "a = []\n[[a]]", "[[a]]\n[[a]]\n[a.b]\n[a.b]",
        "[[a]]\n[a.b]\n[[a]]\n[a.b]", "[[a]]\n[a]", "[a]\n[[a]]", "[[a.b]]\n[a]\nb.c = 1", "[x.y.z]\n[x]\ny.w = 1",
        "[x.y.z]\n[x]\ny.w = 1\n[x.y]", "a.b = 1\n[a.c]", "a = {b.c = 1, b.d = 2}", "a = {b = {c = 1}, b.d = 2}",
        "a = {b = 1,}", "a = {\n}", "a = {b = 1 # c\n}", "a = [\n1, # one\n2,\n# two\n]", "a = [,]", "a = [1,,2]",
        "a = [[[[[]]]]]", "a = [{}, {b = []}]", "[a]b = 1", "[a] # c\nb = 1", "[[a]] x", "[]", "[[]]", "[a.]", "[.a]",
        "a = true\nb = True", "a =", "a = #", "a = 1 1", "\u{FEFF}a = 1", "a = \"x\" \"y\"",
    ]

    func testParsesAsTomllibDoes() throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw XCTSkip("python3 (3.11+, for tomllib) is needed to compare TOML parsers")
        }
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fuzz/corpus/FuzzConfigTOML").standardizedFileURL
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted()
        XCTAssertGreaterThan(files.count, 10, "the fuzzer's corpus at \(corpus.path)")
        var documents = Self.edgeCases
        for name in files {
            let data = try Data(contentsOf: corpus.appendingPathComponent(name))
            documents.append(String(decoding: data, as: UTF8.self))  // as the fuzz target reads it
        }
        let count = ProcessInfo.processInfo.environment["TOML_DIFFERENTIAL_MUTATIONS"].flatMap { Int($0) } ?? 4_000
        var random = SplitMix64(seed: 0x746f_6d6c)
        let bases = documents
        for _ in 0..<count {
            var document = bases[Int(random.next() % UInt64(bases.count))]
            for _ in 0...(random.next() % 3) { document = Self.mutate(document, &random) }
            documents.append(document)
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", Self.script]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: documents))
        try input.fileHandleForWriting.close()
        let answer = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus == 3 { throw XCTSkip("this python3 has no tomllib: \(stderr)") }
        XCTAssertEqual(process.terminationStatus, 0, stderr)
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: answer) as? [Any])
        XCTAssertEqual(expected.count, documents.count)

        var agreed = (valid: 0, invalid: 0)
        for (document, theirs) in zip(documents, expected) {
            let ours: String?
            do {
                ours = Self.canonical(.table(try TOMLParser.parse(document)))
            } catch {
                ours = nil
            }
            let reference = theirs as? String
            XCTAssertEqual(ours, reference, "document \(document.debugDescription)")
            if ours == reference {
                if ours == nil { agreed.invalid += 1 } else { agreed.valid += 1 }
            }
        }
        print("TOML differential: \(agreed.valid) valid and \(agreed.invalid) invalid documents alike in both parsers")
        // Both kinds must be exercised, or the comparison proves little.
        XCTAssertGreaterThan(agreed.valid, 40)
        XCTAssertGreaterThan(agreed.invalid, 40)
    }

    /// Pieces of TOML syntax that mutations insert.
    static let fragments = ["\"", "'", "'''", "\"\"\"", "[", "]", "[[", "]]", "{", "}", "=", ".", ",", "\n", "\r\n", "\r",
                            "#", "_", "e", "+", "-", ":", "T", " ", "\t", "0", "1", "7", "\\", "\\u", "\\U0001", "inf",
                            "nan", "true", "1979-05-27", "07:32:00", ".999", "Z", "+05:30", "x", "a", "a.b", "é", "\u{0}",
                            "\u{7f}", "0x", "0o", "0b", "a = 1\n", "[a]\n", "[[a]]\n", "a.b = {}\n", "b = [\n"]

    /// `document` with one random insertion, deletion or replacement, or a line repeated.
    static func mutate(_ document: String, _ random: inout SplitMix64) -> String {
        var scalars = Array(document.unicodeScalars)
        let at = Int(random.next() % UInt64(scalars.count + 1))
        let fragment = Array(fragments[Int(random.next() % UInt64(fragments.count))].unicodeScalars)
        switch random.next() % 4 {
        case 0:
            scalars.insert(contentsOf: fragment, at: at)
        case 1:
            let length = min(Int(random.next() % 4) + 1, scalars.count - at)
            scalars.removeSubrange(at..<(at + length))
        case 2:
            let length = min(Int(random.next() % 3) + 1, scalars.count - at)
            scalars.replaceSubrange(at..<(at + length), with: fragment)
        default:
            let lines = document.split(separator: "\n", omittingEmptySubsequences: false)
            return document + "\n" + lines[Int(random.next() % UInt64(lines.count))]
        }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars)
        return String(out)
    }

    /// One form both sides can write exactly: keys and strings as UTF-8 hex, keys sorted,
    /// floats as their bits, date-times as Python's isoformat().
    static func canonical(_ value: TOMLValue) -> String {
        switch value {
        case let .string(text): return "s:" + hex(text)
        case let .integer(number): return "i:\(number)"
        case let .float(number):
            if number.isNaN { return "f:nan" }
            let bits = String(number.bitPattern, radix: 16)
            return "f:" + String(repeating: "0", count: 16 - bits.count) + bits
        case let .boolean(flag): return flag ? "b:1" : "b:0"
        case let .dateTime(dateTime): return "d:" + dateTime.description
        case let .array(values): return "[" + values.map(canonical).joined(separator: ",") + "]"
        case let .table(table):
            let pairs = table.keys.map { (hex($0), table[$0].map(canonical) ?? "") }.sorted { $0.0 < $1.0 }
            return "{" + pairs.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
        }
    }

    static func hex(_ text: String) -> String {
        text.utf8.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Reads a JSON list of documents; writes, for each, its canonical form or null.
    static let script = #"""
import datetime, json, struct, sys
try:
    import tomllib
except ImportError as error:
    print(error, file=sys.stderr)
    sys.exit(3)

def canonical(value):
    if isinstance(value, bool):
        return "b:1" if value else "b:0"
    if isinstance(value, int):
        if not -2**63 <= value < 2**63:
            raise OverflowError(value)
        return "i:%d" % value
    if isinstance(value, float):
        return "f:nan" if value != value else "f:" + struct.pack(">d", value).hex()
    if isinstance(value, str):
        return "s:" + value.encode().hex()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return "d:" + value.isoformat()
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    pairs = sorted((k.encode().hex(), canonical(v)) for k, v in value.items())
    return "{" + ",".join("%s=%s" % pair for pair in pairs) + "}"

results = []
for document in json.load(sys.stdin):
    try:
        results.append(canonical(tomllib.loads(document)))
    except (tomllib.TOMLDecodeError, OverflowError, RecursionError):
        results.append(None)
json.dump(results, sys.stdout)
"""#
}

/// A small seeded generator (SplitMix64), so that every run compares the same documents.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state = state &+ 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
