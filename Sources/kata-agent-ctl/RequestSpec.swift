#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import LinuxKit
import SwiftProtobuf

/// One command of `connect -c '...'`: an RPC and its request, decoded and checked before any
/// connection is made, so a typo fails fast instead of after half the commands ran.
struct RequestSpec: Sendable {
    /// The command as the user wrote it, for error messages.
    let text: String
    let method: any UnaryMethod.Type
    /// The request in protobuf binary form; decoding it back is exact.
    let request: Data

    /// Parses `NAME`, `NAME json://{...}` or `NAME file://PATH`.
    init(parsing text: String) throws(CtlError) {
        let trimmed = text.trimmingWhitespace()
        let name: String
        let argument: String?
        if let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) {
            name = String(trimmed[..<space])
            argument = trimmed[space...].trimmingWhitespace()
        } else {
            name = trimmed
            argument = nil
        }
        try self.init(command: text, name: name, argument: argument)
    }

    /// `name` with a request given as `json://{...}`, `file://PATH`, or nil for the default.
    init(command: String, name: String, argument: String?) throws(CtlError) {
        guard !name.isEmpty else { throw CtlError.usage("empty command") }
        guard let method = RPCCatalog.lookup(name) else {
            throw CtlError.usage("unknown RPC '\(name)' in command '\(command)' (see `kata-agent-ctl list`)")
        }
        self.text = command
        self.method = method
        let json: String?
        switch argument {
        case nil, "":
            json = nil
        case let argument? where argument.hasPrefix("json://"):
            json = String(argument.dropFirst("json://".count))
        case let argument? where argument.hasPrefix("file://"):
            let path = String(argument.dropFirst("file://".count))
            do {
                json = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw CtlError.usage("cannot read request file '\(path)' for \(name): \(Self.reason(error))")
            }
        case let argument?:
            throw CtlError.usage("request for \(name) must be json://{...} or file://PATH, got '\(argument)'")
        }
        request = try Self.encode(method, json: json, name: name)
    }

    /// Decodes JSON (protobuf JSON mapping; upstream proto field names or lowerCamel names)
    /// into the RPC's request type and returns its binary form. Unknown fields are errors:
    /// a misspelt field silently dropped would send a different request than intended.
    static func encode(_ method: any UnaryMethod.Type, json: String?, name: String) throws(CtlError) -> Data {
        do {
            return try encodeRequest(method, json: json)
        } catch {
            throw CtlError.usage("bad JSON request for \(name): \(reason(error))")
        }
    }

    private static func encodeRequest<M: UnaryMethod>(_: M.Type, json: String?) throws -> Data {
        guard let json else { return try M.Input().serializedData() }
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = false
        return try M.Input(jsonString: json, options: options).serializedData()
    }

    /// A readable reason for SwiftProtobuf and Foundation errors.
    static func reason(_ error: any Error) -> String {
        if let error = error as? JSONDecodingError {
            switch error {
            case .failure: return "malformed JSON"
            case .malformedString: return "malformed string"
            case .malformedNumber: return "malformed number"
            case .numberRange: return "number out of range"
            case .malformedMap: return "malformed map"
            case .malformedBool: return "malformed boolean"
            case .malformedDuration, .malformedTimestamp, .malformedFieldMask:
                return "malformed well-known type value"
            case .unrecognizedEnumValue: return "unknown enum value"
            case .illegalNull: return "null is not allowed there"
            case .unquotedMapKey: return "map keys must be quoted"
            case .leadingZero: return "number with a leading zero"
            case .truncated: return "JSON ends too early"
            case .invalidUTF8: return "invalid UTF-8"
            case .missingFieldNames: return "missing field names"
            case .schemaMismatch: return "schema mismatch"
            case .trailingGarbage: return "unexpected text after the JSON object"
            case let .unknownField(field): return "unknown field '\(field)'"
            case .conflictingOneOf: return "two members of one oneof are set"
            case .messageDepthLimit: return "nesting too deep"
            }
        }
        if let error = error as? CocoaError, let underlying = error.underlying as? POSIXError {
            return String(cString: strerror(underlying.code.rawValue))
        }
        return "\(error)"
    }
}
