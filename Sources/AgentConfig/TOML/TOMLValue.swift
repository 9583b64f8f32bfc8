/// A TOML 1.0 value, as read from the agent's configuration file.
enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case dateTime(TOMLDateTime)
    case array([TOMLValue])
    case table(TOMLTable)

    var string: String? { if case let .string(value) = self { value } else { nil } }
    var integer: Int64? { if case let .integer(value) = self { value } else { nil } }
    var boolean: Bool? { if case let .boolean(value) = self { value } else { nil } }
    var table: TOMLTable? { if case let .table(value) = self { value } else { nil } }

    /// The value written back as TOML, for messages that quote a rejected value.
    var tomlText: String {
        switch self {
        case let .string(value): return TOMLValue.quoted(value)
        case let .integer(value): return String(value)
        case let .float(value): return value.isNaN ? "nan" : value.isInfinite ? (value < 0 ? "-inf" : "inf") : "\(value)"
        case let .boolean(value): return value ? "true" : "false"
        case let .dateTime(value): return value.description
        case let .array(values): return "[" + values.map(\.tomlText).joined(separator: ", ") + "]"
        case let .table(table):
            let pairs = table.keys.compactMap { key in table[key].map { TOMLValue.quoted(key) + " = " + $0.tomlText } }
            return "{ " + pairs.joined(separator: ", ") + " }"
        }
    }

    /// `text` as a basic string.
    static func quoted(_ text: String) -> String {
        JSONLogHandler.quote(text, escapingDelete: true)
    }
}

/// A TOML table: its keys in the order the document wrote them.
struct TOMLTable: Equatable, Sendable {
    private(set) var keys: [String] = []
    private var values: [String: TOMLValue] = [:]

    subscript(key: String) -> TOMLValue? { values[key] }

    /// Adds `value` under a key the table does not have yet.
    mutating func append(_ value: TOMLValue, for key: String) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }
}

/// An offset date-time, local date-time, local date or local time; the agent reads none, but a
/// document that has one must still parse.
struct TOMLDateTime: Equatable, Sendable, CustomStringConvertible {
    /// A calendar date, already checked against its month's length.
    struct Date: Equatable, Sendable {
        var year: Int, month: Int, day: Int
    }

    /// A time of day; `fraction` is the fractional second's digits as written.
    struct Time: Equatable, Sendable {
        var hour: Int, minute: Int, second: Int
        var fraction: String
    }

    var date: Date?
    var time: Time?
    /// Minutes east of UTC for an offset date-time (0 for `Z`).
    var offsetMinutes: Int?

    /// RFC 3339 with microseconds at most (trailing zeros dropped as a whole) and `+00:00` for Z.
    var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var parts: [String] = []
        if let date { parts.append("\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2))") }
        if let time {
            var text = "\(pad(time.hour, 2)):\(pad(time.minute, 2)):\(pad(time.second, 2))"
            let micros = String((time.fraction + "000000").prefix(6))
            if micros != "000000" { text += "." + micros }
            if let offsetMinutes {
                let magnitude = offsetMinutes.magnitude
                text += (offsetMinutes < 0 ? "-" : "+") + "\(pad(Int(magnitude / 60), 2)):\(pad(Int(magnitude % 60), 2))"
            }
            parts.append(text)
        }
        return parts.joined(separator: "T")
    }
}
