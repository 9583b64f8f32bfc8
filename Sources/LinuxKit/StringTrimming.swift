/// Whitespace trimming without full Foundation (whose `trimmingCharacters(in:)` lives outside
/// FoundationEssentials); the kernel's text files end in a newline more often than not.
extension Substring {
    /// The text without leading and trailing whitespace (`Character.isWhitespace`), newlines included.
    ///
    /// ASCII ends are trimmed on the UTF-8 bytes: the Character view and the stdlib's Unicode
    /// property tables (a binary search over pages an agent start otherwise never touches) are
    /// left to text whose first or last non-blank byte is not ASCII.
    public func trimmingWhitespace() -> String {
        let trimmed: String?? = utf8.withContiguousStorageIfAvailable { bytes in
            guard let first = bytes.firstIndex(where: { !$0.isASCIIBlank }),
                let last = bytes.lastIndex(where: { !$0.isASCIIBlank })
            else { return "" }
            guard bytes[first] < 0x80, bytes[last] < 0x80 else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[first...last]), as: UTF8.self)
        }
        if let trimmed = trimmed ?? nil { return trimmed }
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[first...last])
    }
}

extension String {
    /// The text without leading and trailing whitespace; see `Substring.trimmingWhitespace()`.
    public func trimmingWhitespace() -> String { self[...].trimmingWhitespace() }
}

extension UInt8 {
    /// Space, tab, newline, vertical tab, form feed or carriage return: the ASCII bytes that
    /// `Character.isWhitespace` accepts.
    public var isASCIIBlank: Bool { self == 0x20 || (0x09...0x0D).contains(self) }
}
