/// The four kinds of TOML strings. Each starts just past its opening delimiter.
extension TOMLParser {
    /// A single-line basic string ("..."), escapes decoded.
    mutating func basicString() throws(TOMLError) -> String {
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                try escape(into: &out)
            case UInt8(ascii: "\n"):
                throw error("newline in a single-line string")
            default:
                try checkStringByte(byte)
                out.append(byte)
                position += 1
            }
        }
    }

    /// A single-line literal string ('...'), taken as written.
    mutating func literalString() throws(TOMLError) -> String {
        let start = position
        while true {
            guard let byte = peek() else { throw error("unterminated string") }
            if byte == UInt8(ascii: "'") {
                position += 1
                return String(decoding: bytes[start..<(position - 1)], as: UTF8.self)
            }
            if byte == UInt8(ascii: "\n") { throw error("newline in a single-line string") }
            try checkStringByte(byte)
            position += 1
        }
    }

    /// A multi-line string ("""...""" or '''...'''): a newline right after the opening
    /// delimiter is dropped; up to two quotes may stand just before the closing one.
    mutating func multilineString(quote: UInt8, escapes: Bool) throws(TOMLError) -> String {
        if peek(is: "\n") { position += 1 }
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw error("unterminated multi-line string") }
            switch byte {
            case quote:
                var run = 0
                while peek(run) == quote { run += 1 }
                position += run
                guard run >= 3 else {
                    out.append(contentsOf: repeatElement(quote, count: run))
                    continue
                }
                guard run <= 5 else { throw error("too many quotes closing a multi-line string") }
                out.append(contentsOf: repeatElement(quote, count: run - 3))
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\") where escapes:
                position += 1
                if try skipLineEndingBackslash() { continue }
                try escape(into: &out)
            case UInt8(ascii: "\n"):
                out.append(byte)
                position += 1
            default:
                try checkStringByte(byte)
                out.append(byte)
                position += 1
            }
        }
    }

    /// After a backslash: if only whitespace follows it on its line, skips that, the newline and
    /// all whitespace and newlines after it, and says so.
    private mutating func skipLineEndingBackslash() throws(TOMLError) -> Bool {
        var ahead = 0
        while let byte = peek(ahead), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { ahead += 1 }
        guard peek(is: "\n", ahead) else {
            if ahead > 0 { throw error("a backslash followed by whitespace must end its line") }
            return false
        }
        position += ahead
        while let byte = peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") {
            position += 1
        }
        return true
    }

    /// Control characters other than tab are not allowed in any string.
    private func checkStringByte(_ byte: UInt8) throws(TOMLError) {
        if byte != UInt8(ascii: "\t"), Self.isControl(byte) {
            throw error("control character 0x\(String(byte, radix: 16)) in a string (escape it)")
        }
    }

    /// An escape sequence, just past its backslash.
    private mutating func escape(into out: inout [UInt8]) throws(TOMLError) {
        guard let byte = peek() else { throw error("unterminated string") }
        position += 1
        let simple: UInt8?
        switch byte {
        case UInt8(ascii: "b"): simple = 0x08
        case UInt8(ascii: "t"): simple = 0x09
        case UInt8(ascii: "n"): simple = 0x0a
        case UInt8(ascii: "f"): simple = 0x0c
        case UInt8(ascii: "r"): simple = 0x0d
        case UInt8(ascii: "\""): simple = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): simple = UInt8(ascii: "\\")
        case UInt8(ascii: "u"), UInt8(ascii: "U"): simple = nil
        default:
            position -= 1
            throw error("unknown escape sequence '\\\(describeCurrent())'")
        }
        if let simple {
            out.append(simple)
            return
        }
        let count = byte == UInt8(ascii: "u") ? 4 : 8
        var scalarValue: UInt32 = 0
        for _ in 0..<count {
            guard let digit = peek().flatMap(Self.hexDigitValue) else {
                throw error("\\\(Character(Unicode.Scalar(byte))) needs \(count) hexadecimal digits")
            }
            scalarValue = scalarValue << 4 | UInt32(digit)  // at most 8 digits: fits in 32 bits
            position += 1
        }
        guard let scalar = Unicode.Scalar(scalarValue) else {
            throw error("escape \\\(Character(Unicode.Scalar(byte)))\(String(scalarValue, radix: 16)) is not a Unicode scalar value")
        }
        out.append(contentsOf: String(Character(scalar)).utf8)
    }

    static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
