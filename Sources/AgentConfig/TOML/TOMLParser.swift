/// A TOML document that is not valid TOML 1.0: where, and why.
struct TOMLError: Error, Equatable, Sendable, CustomStringConvertible {
    let line: Int
    let column: Int
    let message: String

    var description: String { "line \(line), column \(column): \(message)" }
}

/// A strict TOML 1.0 parser for the agent's configuration file.
///
/// Written here rather than taken from TOMLKit: its toml++ core asserts (aborts the process) on
/// some malformed documents, and the agent, as PID 1, must answer a bad file with an error, not
/// a kernel panic. Every read is bounds-checked through `peek`, nesting is limited, and integers
/// are range-checked, so no input traps. Semantics follow the TOML 1.0 specification, and where
/// it leaves room, Python's tomllib (Tests/AgentConfigTests compare the two).
struct TOMLParser {
    /// Arrays, inline tables and the dotted keys within them nest at most this deep, and a key
    /// has at most this many parts, so that the tables built (and the recursion that builds,
    /// compares and frees them) stay a few hundred levels deep at most.
    static let maxDepth = 128

    /// The document's UTF-8 with CRLF already folded to LF (as tomllib does).
    let bytes: [UInt8]
    var position = 0
    var depth = 0

    init(_ text: String) {
        var folded: [UInt8] = []
        folded.reserveCapacity(text.utf8.count)
        var pendingReturn = false
        for byte in text.utf8 {
            if pendingReturn, byte != UInt8(ascii: "\n") { folded.append(UInt8(ascii: "\r")) }
            pendingReturn = byte == UInt8(ascii: "\r")
            if !pendingReturn { folded.append(byte) }
        }
        if pendingReturn { folded.append(UInt8(ascii: "\r")) }
        bytes = folded
    }

    /// Parses `text` into its root table.
    static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(text)
        return try parser.document()
    }

    // MARK: - Reading bytes

    func peek(_ offset: Int = 0) -> UInt8? {
        let index = position + offset
        return index < bytes.count ? bytes[index] : nil
    }

    func peek(is byte: Character, _ offset: Int = 0) -> Bool {
        peek(offset) == byte.asciiValue
    }

    func error(_ message: String, at index: Int? = nil) -> TOMLError {
        let end = min(index ?? position, bytes.count)
        var line = 1
        var lineStart = 0
        for (offset, byte) in bytes[..<end].enumerated() where byte == UInt8(ascii: "\n") {
            line += 1
            lineStart = offset + 1
        }
        return TOMLError(line: line, column: end - lineStart + 1, message: message)
    }

    /// What the byte at the cursor is, for messages.
    func describeCurrent() -> String {
        guard let byte = peek() else { return "the end of the document" }
        switch byte {
        case UInt8(ascii: "\n"): return "a newline"
        case 0x21...0x7e: return "'\(Character(Unicode.Scalar(byte)))'"
        default: return "byte 0x" + String(byte, radix: 16)
        }
    }

    static func isControl(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7f
    }

    mutating func skipWhitespace() {
        while let byte = peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { position += 1 }
    }

    /// A comment up to (not including) its newline, if one starts here.
    mutating func skipComment() throws(TOMLError) {
        guard peek(is: "#") else { return }
        position += 1
        while let byte = peek(), byte != UInt8(ascii: "\n") {
            if byte != UInt8(ascii: "\t"), Self.isControl(byte) {
                throw error("control character 0x\(String(byte, radix: 16)) in a comment")
            }
            position += 1
        }
    }

    /// Whitespace, comments and newlines, as allowed between an array's values.
    mutating func skipBlankLines() throws(TOMLError) {
        while true {
            skipWhitespace()
            try skipComment()
            guard peek(is: "\n") else { return }
            position += 1
        }
    }

    mutating func expect(_ character: Character, _ context: String) throws(TOMLError) {
        guard peek(is: character) else {
            throw error("expected '\(character)' \(context), found \(describeCurrent())")
        }
        position += 1
    }

    // MARK: - Document

    mutating func document() throws(TOMLError) -> TOMLTable {
        var tree = TOMLTree()
        while true {
            skipWhitespace()
            let lineStart = position
            if peek(is: "[") {
                let arrayOfTables = peek(is: "[", 1)
                position += arrayOfTables ? 2 : 1
                skipWhitespace()
                let key = try self.key()
                skipWhitespace()
                try expect("]", "to close the table header")
                if arrayOfTables { try expect("]", "to close the array-of-tables header") }
                do {
                    try arrayOfTables ? tree.openArrayElement(key) : tree.openTable(key)
                } catch {
                    throw self.error(error.message, at: lineStart)
                }
            } else if let byte = peek(), byte != UInt8(ascii: "#"), byte != UInt8(ascii: "\n") {
                let (key, value) = try keyValue()
                do {
                    try tree.assign(value, to: key)
                } catch {
                    throw self.error(error.message, at: lineStart)
                }
            }
            skipWhitespace()
            try skipComment()
            guard peek() != nil else { return tree.root.table() }
            guard peek(is: "\n") else {
                throw error("expected a newline or the end of the document, found \(describeCurrent())")
            }
            position += 1
        }
    }

    // MARK: - Keys and values

    /// A key, dotted or not: its parts.
    mutating func key() throws(TOMLError) -> [String] {
        var parts: [String] = []
        while true {
            guard parts.count < Self.maxDepth else { throw error("a key has more than \(Self.maxDepth) parts") }
            parts.append(try simpleKey())
            skipWhitespace()
            guard peek(is: ".") else { return parts }
            position += 1
            skipWhitespace()
        }
    }

    mutating func simpleKey() throws(TOMLError) -> String {
        if peek(is: "\"") {
            position += 1
            return try basicString()
        }
        if peek(is: "'") {
            position += 1
            return try literalString()
        }
        let start = position
        while let byte = peek(), Self.isBareKeyByte(byte) { position += 1 }
        guard position > start else { throw error("expected a key, found \(describeCurrent())") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    /// `key = value`, starting at the key. A dotted key's tables count toward the depth of what
    /// its value nests.
    mutating func keyValue() throws(TOMLError) -> ([String], TOMLValue) {
        let key = try self.key()
        skipWhitespace()
        try expect("=", "after the key")
        skipWhitespace()
        let tables = key.count - 1  // key() returns 1...maxDepth parts
        depth += tables
        defer { depth -= tables }
        return (key, try value())
    }

    mutating func value() throws(TOMLError) -> TOMLValue {
        guard let byte = peek() else { throw error("expected a value, found the end of the document") }
        switch byte {
        case UInt8(ascii: "\""):
            if peek(is: "\"", 1), peek(is: "\"", 2) {
                position += 3
                return .string(try multilineString(quote: UInt8(ascii: "\""), escapes: true))
            }
            position += 1
            return .string(try basicString())
        case UInt8(ascii: "'"):
            if peek(is: "'", 1), peek(is: "'", 2) {
                position += 3
                return .string(try multilineString(quote: UInt8(ascii: "'"), escapes: false))
            }
            position += 1
            return .string(try literalString())
        case UInt8(ascii: "["):
            return try array()
        case UInt8(ascii: "{"):
            return try inlineTable()
        default:
            return try scalar()
        }
    }

    mutating func nest() throws(TOMLError) {
        guard depth < Self.maxDepth else {
            throw error("arrays, inline tables and dotted keys nest more than \(Self.maxDepth) deep")
        }
        depth += 1
    }

    mutating func array() throws(TOMLError) -> TOMLValue {
        try nest()
        defer { depth -= 1 }
        position += 1
        var values: [TOMLValue] = []
        while true {
            try skipBlankLines()
            if peek(is: "]") {
                position += 1
                return .array(values)
            }
            values.append(try value())
            try skipBlankLines()
            if peek(is: ",") {
                position += 1
            } else if !peek(is: "]") {
                throw error("expected ',' or ']' in an array, found \(describeCurrent())")
            }
        }
    }

    mutating func inlineTable() throws(TOMLError) -> TOMLValue {
        try nest()
        defer { depth -= 1 }
        position += 1
        var tree = TOMLTree()
        skipWhitespace()
        if peek(is: "}") {
            position += 1
            return .table(tree.root.table())
        }
        while true {
            let start = position
            let (key, value) = try keyValue()
            do {
                try tree.assign(value, to: key)
            } catch {
                throw self.error(error.message, at: start)
            }
            skipWhitespace()
            if peek(is: "}") {
                position += 1
                return .table(tree.root.table())
            }
            try expect(",", "or '}' in an inline table")
            skipWhitespace()
        }
    }
}
