/// Base64 for binary ("-bin") gRPC metadata: padded on output; padded or unpadded accepted on
/// input, as the gRPC HTTP/2 spec requires of servers.
package enum GRPCHTTP2Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        return table
    }()

    package static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil when `text` is not base64 (a character outside the alphabet, a lone trailing sextet).
    package static func decode(_ text: String) -> [UInt8]? {
        var sextets: [UInt8] = []
        sextets.reserveCapacity(text.utf8.count)
        var padding = 0
        for character in text.utf8 {
            if character == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            // Data after padding is malformed.
            guard padding == 0 else { return nil }
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            sextets.append(value)
        }
        guard padding <= 2, sextets.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(sextets.count * 3 / 4)
        var index = 0
        while index < sextets.count {
            let remaining = sextets.count - index
            let s0 = sextets[index]
            let s1 = sextets[index + 1]
            out.append(s0 << 2 | s1 >> 4)
            if remaining > 2 {
                let s2 = sextets[index + 2]
                out.append((s1 & 0x0F) << 4 | s2 >> 2)
                if remaining > 3 {
                    out.append((s2 & 0x03) << 6 | sextets[index + 3])
                }
            }
            index += 4
        }
        return out
    }
}
