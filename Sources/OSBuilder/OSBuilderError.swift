import Foundation

/// One failure of an osbuilder step, rendered as a single line for the user.
public struct OSBuilderError: Error, CustomStringConvertible, Equatable {
    /// What was being attempted ("read template", "write initrd").
    public var operation: String
    /// The file, template or module concerned.
    public var subject: String
    /// Why it failed, including errno text or a tool's last stderr line.
    public var reason: String

    public init(_ operation: String, _ subject: String, _ reason: String) {
        self.operation = operation
        self.subject = subject
        self.reason = reason
    }

    /// Builds an error from the current `errno`.
    public static func errno(_ operation: String, _ subject: String, _ code: Int32 = Foundation.errno) -> OSBuilderError {
        OSBuilderError(operation, subject, "\(String(cString: strerror(code))) (errno \(code))")
    }

    public var description: String {
        subject.isEmpty ? "\(operation): \(reason)" : "\(operation) \(subject): \(reason)"
    }
}
