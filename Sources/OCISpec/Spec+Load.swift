#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Failure to read or parse a bundle's config.json.
public struct SpecLoadError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "load OCI spec \(path): \(reason)" }
}

extension Spec {
    /// Decodes a config.json document.
    public static func decode(_ data: Data) throws -> Spec {
        try JSONDecoder().decode(Spec.self, from: data)
    }

    /// Encodes as config.json (sorted keys so output is stable).
    public func encoded(pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads `<bundle>/config.json`.
    public static func load(bundle: String) throws -> Spec {
        let path = bundle + "/config.json"
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SpecLoadError(path: path, reason: "\(error)")
        }
        do {
            return try decode(data)
        } catch {
            throw SpecLoadError(path: path, reason: "\(error)")
        }
    }
}
