/// Refuses the TOML that TOMLKit's parser (toml++ 3.4.0) cannot be given: it asserts, and the
/// agent as PID 1 would abort and panic the guest, instead of reporting an error.
///
/// Found by Tests/Fuzz/FuzzConfigTOML: a table header whose first key does not start with a
/// bare-key character or a quote (`[?]`, `[` alone); outside strings and comments, a non-ASCII
/// or control character; a '}' inside an array (`a = [1, }]`); a local date followed by the date-time
/// separator 'T' or 't' and then not a digit (`a = 1979-05-27T:00`); or what toml++ reads as a
/// date followed by a space and a single digit (`a = [1979-05-28 9]`). None of them is valid TOML
/// there, so refusing them rejects no valid document (but for a bare key spelled like a
/// date-time, `1979-05-27Tx = 1`).
enum TOMLPrecheck {
    /// Why `text` must not reach the parser, or nil.
    static func problem(in text: String) -> String? {
        let bytes = Array(text.utf8)
        var index = 0
        var line = 1

        /// Index just past the closing `quote` (single or tripled), or the end of the text.
        func skipString(from start: Int, quote: UInt8, triple: Bool, escapes: Bool) -> Int {
            var at = start
            while at < bytes.count {
                let byte = bytes[at]
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    if !triple { return at }  // unterminated: the parser reports it
                }
                if escapes, byte == UInt8(ascii: "\\") {
                    if at + 1 < bytes.count, bytes[at + 1] == UInt8(ascii: "\n") { line += 1 }
                    at += 2
                    continue
                }
                if byte == quote {
                    if !triple { return at + 1 }
                    if at + 2 < bytes.count, bytes[at + 1] == quote, bytes[at + 2] == quote { return at + 3 }
                }
                at += 1
            }
            return at
        }

        func isDigit(_ at: Int) -> Bool {
            at < bytes.count && bytes[at] >= UInt8(ascii: "0") && bytes[at] <= UInt8(ascii: "9")
        }

        /// `YYYY-MM-DD` followed by 'T' or 't' and then no digit, starting at `at`.
        func isDateWithoutTime(_ at: Int) -> Bool {
            guard at + 10 < bytes.count else { return false }
            let digits = [0, 1, 2, 3, 5, 6, 8, 9]
            guard digits.allSatisfy({ isDigit(at + $0) }),
                  bytes[at + 4] == UInt8(ascii: "-"), bytes[at + 7] == UInt8(ascii: "-"),
                  bytes[at + 10] == UInt8(ascii: "T") || bytes[at + 10] == UInt8(ascii: "t")
            else { return false }
            return !isDigit(at + 11)
        }

        /// A byte that ends a value for toml++ (is_value_terminator; non-ASCII is refused anyway).
        func endsValue(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0b, 0x0c,
                 UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "#"):
                return true
            default:
                return false
            }
        }

        /// Whether a value may start right after `byte`.
        func startsValue(after byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "="), UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: ","),
                 UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                return true
            default:
                return false
            }
        }

        /// From `at`, the start of a value, what toml++ reads as a local date, then ' ', one
        /// digit and no second one: toml++ takes the space for the date-time separator and
        /// asserts `!is_value_terminator(*cp)` when the hour ends after one digit. An hour has
        /// two. toml++'s date is the value's first ten characters up to a terminator once its
        /// '_' are dropped, the fifth and eighth '-'; it judges the others only by the traits
        /// they add, and many add none (`1=79-05-28 9`, `1f79-05-28 9`), so any counts here: a
        /// valid value never has a space and a lone digit after it.
        func isDateThenOneDigitHour(_ at: Int) -> Bool {
            var chars: [UInt8] = []
            var cursor = at
            while cursor < bytes.count, chars.count <= 10 {
                let byte = bytes[cursor]
                if byte == UInt8(ascii: "_") {
                    cursor += 1
                    continue
                }
                guard !endsValue(byte) else { break }
                chars.append(byte)
                cursor += 1
            }
            guard chars.count == 10, chars[4] == UInt8(ascii: "-"), chars[7] == UInt8(ascii: "-"),
                  cursor < bytes.count, bytes[cursor] == UInt8(ascii: " ")
            else { return false }
            return isDigit(cursor + 1) && !isDigit(cursor + 2)
        }

        func isKeyStart(_ at: Int) -> Bool {
            guard at < bytes.count else { return false }
            let byte = bytes[at]
            return (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || isDigit(at) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "]")
        }

        // Whether the bytes are inside a value (after '=', until its line ends outside brackets).
        var inValue = false
        var open: [UInt8] = []  // the value's unclosed '[' and '{'
        var lineStart = true
        while index < bytes.count {
            let byte = bytes[index]
            if lineStart, byte != UInt8(ascii: " "), byte != UInt8(ascii: "\t") {
                lineStart = false
                // A table header: toml++ asserts unless a key (or the ']' it reports) follows.
                if byte == UInt8(ascii: "["), !inValue {
                    var at = index + 1
                    if at < bytes.count, bytes[at] == UInt8(ascii: "[") { at += 1 }
                    while at < bytes.count, bytes[at] == UInt8(ascii: " ") || bytes[at] == UInt8(ascii: "\t") { at += 1 }
                    guard isKeyStart(at) else { return "line \(line): a table header needs a key" }
                    index = at
                    continue
                }
            }
            switch byte {
            case UInt8(ascii: "\n"):
                line += 1
                index += 1
                lineStart = true
                if open.isEmpty { inValue = false }
            case UInt8(ascii: "="):
                inValue = true
                index += 1
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                if inValue { open.append(byte) }
                index += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if inValue, let innermost = open.popLast() {
                    // toml++ asserts on a '}' where an array expects a value (`[1, }]`).
                    guard (innermost == UInt8(ascii: "[")) == (byte == UInt8(ascii: "]")) else {
                        return "line \(line): '\(Character(Unicode.Scalar(byte)))' does not close '\(Character(Unicode.Scalar(innermost)))'"
                    }
                }
                index += 1
            case UInt8(ascii: "#"):
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                let triple = index + 2 < bytes.count && bytes[index + 1] == byte && bytes[index + 2] == byte
                index = skipString(from: index + (triple ? 3 : 1), quote: byte, triple: triple,
                                   escapes: byte == UInt8(ascii: "\""))
            default:
                // Keys, values and punctuation are ASCII; toml++ asserts on some other characters
                // where a key or value starts (e.g. "[\u{FFFD}]").
                if byte >= 0x7f || (byte < 0x20 && byte != UInt8(ascii: "\t") && byte != UInt8(ascii: "\r")) {
                    return "line \(line): character \(byte < 0x80 ? "0x" + String(byte, radix: 16) : "non-ASCII") outside a string or comment"
                }
                if isDateWithoutTime(index) {
                    return "line \(line): a date-time needs a time after its 'T'"
                }
                if inValue, isDigit(index), index > 0, startsValue(after: bytes[index - 1]),
                   isDateThenOneDigitHour(index) {
                    return "line \(line): a date-time's hour needs two digits"
                }
                index += 1
            }
        }
        return nil
    }
}
