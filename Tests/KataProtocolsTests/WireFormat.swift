import Foundation

/// The (field number, wire type) pairs at the top level of a serialized protobuf message,
/// read independently of SwiftProtobuf so the tests check the bytes a client really sends.
struct WireFields: Equatable, CustomStringConvertible {
    enum WireType: UInt64 { case varint = 0, fixed64 = 1, length = 2, fixed32 = 5 }

    var fields: [Int: WireType] = [:]

    var description: String {
        fields.keys.sorted().map { "\($0):\(fields[$0].map { "\($0)" } ?? "?")" }.joined(separator: " ")
    }

    struct Malformed: Error, CustomStringConvertible {
        let offset: Int
        let reason: String
        var description: String { "malformed protobuf at byte \(offset): \(reason)" }
    }

    init(_ pairs: [Int: WireType]) { fields = pairs }

    init(parsing data: Data) throws {
        let bytes = [UInt8](data)
        var index = 0

        func varint() throws -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.count, shift < 64 {
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            throw Malformed(offset: index, reason: "truncated varint")
        }

        while index < bytes.count {
            let key = try varint()
            guard let type = WireType(rawValue: key & 7) else {
                throw Malformed(offset: index, reason: "wire type \(key & 7)")
            }
            let skip: Int
            switch type {
            case .varint: _ = try varint(); skip = 0
            case .fixed64: skip = 8
            case .fixed32: skip = 4
            case .length: skip = Int(try varint())
            }
            guard skip <= bytes.count - index else {
                throw Malformed(offset: index, reason: "field \(key >> 3) runs past the end")
            }
            index += skip
            fields[Int(key >> 3)] = type
        }
    }
}
