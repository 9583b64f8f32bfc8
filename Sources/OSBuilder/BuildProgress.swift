import Foundation

/// Progress lines for long steps, written to stderr so stdout stays machine-readable.
public struct BuildProgress: Sendable {
    public var quiet: Bool

    public init(quiet: Bool = false) {
        self.quiet = quiet
    }

    public func step(_ message: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data("osbuilder: \(message)\n".utf8))
    }
}
