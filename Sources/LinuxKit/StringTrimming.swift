/// Whitespace trimming without full Foundation (whose `trimmingCharacters(in:)` lives outside
/// FoundationEssentials); the kernel's text files end in a newline more often than not.
extension StringProtocol {
    /// The text without leading and trailing whitespace, newlines included.
    public func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
            let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[first...last])
    }
}
