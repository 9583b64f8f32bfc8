import TTRPCWire

/// The W3C trace context a request carried (ttrpc metadata `traceparent`), for the RPC's log
/// lines: the codec sets it around the handler, the handlers' logging reads it.
public enum WireTraceContext {
    @TaskLocal public static var traceparent: String?

    /// The `traceparent` entry of a request's metadata (keys compare case-insensitively), if any.
    static func traceparent(in metadata: [TTRPCKeyValue]) -> String? {
        for entry in metadata where entry.key.count == 11 && entry.key.lowercased() == "traceparent" {
            return entry.value
        }
        return nil
    }
}
