/// Booleans, integers, floats and date-times: the values that are not strings or containers.
extension TOMLParser {
    mutating func scalar() throws(TOMLError) -> TOMLValue {
        if let dateTime = try dateTime() { return .dateTime(dateTime) }
        let start = position
        while let byte = peek(), Self.isScalarByte(byte) { position += 1 }
        let token = Array(bytes[start..<position])
        switch token {
        case Array("true".utf8): return .boolean(true)
        case Array("false".utf8): return .boolean(false)
        default: break
        }
        guard !token.isEmpty else { throw error("expected a value, found \(describeCurrent())") }
        let text = String(decoding: token, as: UTF8.self)
        switch Self.number(token) {
        case let .value(value): return value
        case .outOfRange: throw error("integer \(text) does not fit in 64 bits", at: start)
        case .invalid: throw error("'\(text)' is not a TOML value", at: start)
        }
    }

    /// Bytes a number or boolean is made of; anything else ends it.
    static func isScalarByte(_ byte: UInt8) -> Bool {
        isBareKeyByte(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".")
    }

    // MARK: - Numbers

    /// What a token read as a number is.
    enum Number: Equatable {
        case value(TOMLValue)
        /// An integer outside Int64, which TOML requires to be an error.
        case outOfRange
        case invalid
    }

    /// The integer or float `token` spells.
    static func number(_ token: [UInt8]) -> Number {
        var digits = token[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        switch Array(digits) {
        case Array("inf".utf8): return .value(.float(negative ? -.infinity : .infinity))
        case Array("nan".utf8): return .value(.float(negative ? -.nan : .nan))
        default: break
        }
        // 0x, 0o, 0b: unsigned prefixes, no sign.
        if digits.count > 2, digits.first == UInt8(ascii: "0"), digits.count == token.count {
            let radix: Int64?
            switch digits[digits.startIndex + 1] {
            case UInt8(ascii: "x"): radix = 16
            case UInt8(ascii: "o"): radix = 8
            case UInt8(ascii: "b"): radix = 2
            default: radix = nil
            }
            if let radix {
                guard let clean = underscoresBetweenDigits(digits.dropFirst(2), radix: radix) else { return .invalid }
                return integer(clean, radix: radix, negative: false)
            }
        }
        // Decimal: an integer part without leading zeros, then an optional fraction and exponent.
        var rest = digits
        guard let integerPart = takeDigits(&rest) else { return .invalid }
        if integerPart.count > 1, integerPart.first == UInt8(ascii: "0") { return .invalid }
        guard !rest.isEmpty else { return integer(integerPart, radix: 10, negative: negative) }
        var text = (negative ? "-" : "") + String(decoding: integerPart, as: UTF8.self)
        if rest.first == UInt8(ascii: ".") {
            rest = rest.dropFirst()
            guard let fraction = takeDigits(&rest) else { return .invalid }
            text += "." + String(decoding: fraction, as: UTF8.self)
        }
        if let marker = rest.first, marker == UInt8(ascii: "e") || marker == UInt8(ascii: "E") {
            rest = rest.dropFirst()
            var exponentSign = ""
            if let sign = rest.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                exponentSign = sign == UInt8(ascii: "-") ? "-" : "+"
                rest = rest.dropFirst()
            }
            guard let exponent = takeDigits(&rest) else { return .invalid }
            text += "e" + exponentSign + String(decoding: exponent, as: UTF8.self)
        }
        guard rest.isEmpty, let value = Double(text) else { return .invalid }
        return .value(.float(value))
    }

    /// Decimal digits with single underscores between them, from the front of `rest`; nil if
    /// none or if an underscore is misplaced.
    private static func takeDigits(_ rest: inout ArraySlice<UInt8>) -> [UInt8]? {
        var end = rest.startIndex
        while end < rest.endIndex, isDigitOrUnderscore(rest[end]) { end += 1 }
        guard let clean = underscoresBetweenDigits(rest[rest.startIndex..<end], radix: 10) else { return nil }
        rest = rest[end...]
        return clean
    }

    private static func isDigitOrUnderscore(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "_") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    /// The digits of `text` without its underscores, if every byte is a digit of `radix` and
    /// every underscore stands between two digits.
    private static func underscoresBetweenDigits(_ text: ArraySlice<UInt8>, radix: Int64) -> [UInt8]? {
        var out: [UInt8] = []
        var previousWasDigit = false
        for byte in text {
            if byte == UInt8(ascii: "_") {
                guard previousWasDigit else { return nil }
                previousWasDigit = false
                continue
            }
            guard let value = hexDigitValue(byte), Int64(value) < radix else { return nil }
            out.append(byte)
            previousWasDigit = true
        }
        return previousWasDigit ? out : nil
    }

    /// The value of validated `digits`, if it fits in 64 signed bits.
    private static func integer(_ digits: [UInt8], radix: Int64, negative: Bool) -> Number {
        var value: Int64 = 0
        for byte in digits {
            let digit = Int64(hexDigitValue(byte) ?? 0)
            // Accumulate toward the sign so that Int64.min fits.
            let (shifted, overflowA) = value.multipliedReportingOverflow(by: radix)
            let (next, overflowB) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            if overflowA || overflowB { return .outOfRange }
            value = next
        }
        return .value(.integer(value))
    }

    // MARK: - Date-times

    /// A date-time, local date or local time if one starts at the cursor.
    mutating func dateTime() throws(TOMLError) -> TOMLDateTime? {
        let start = position
        let isDate = (0..<4).allSatisfy(isDigit) && peek(is: "-", 4)
        let isTime = isDigit(0) && isDigit(1) && peek(is: ":", 2)
        guard isDate || isTime else { return nil }
        var result = TOMLDateTime()
        if isDate {
            guard let year = fixedDigits(4), peek(is: "-"), advance(), let month = fixedDigits(2),
                  peek(is: "-"), advance(), let day = fixedDigits(2)
            else { throw error("malformed date (YYYY-MM-DD)", at: start) }
            // Year 0 is refused as Python's tomllib refuses it (the agent reads no dates), so the
            // two parsers can be compared exactly.
            guard year > 0, (1...12).contains(month), (1...Self.days(inMonth: month, year: year)).contains(day) else {
                throw error("no such date \(String(decoding: bytes[start..<position], as: UTF8.self))", at: start)
            }
            result.date = .init(year: year, month: month, day: day)
            // A time follows after 'T', 't' or a space only if it is really there.
            guard let separator = peek(), separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t")
                || separator == UInt8(ascii: " "), isDigit(1), isDigit(2), peek(is: ":", 3)
            else { return result }
            position += 1
        }
        let timeStart = position
        guard let hour = fixedDigits(2), peek(is: ":"), advance(), let minute = fixedDigits(2),
              peek(is: ":"), advance(), let second = fixedDigits(2)
        else { throw error("malformed time (HH:MM:SS)", at: timeStart) }
        guard hour < 24, minute < 60, second < 60 else {
            throw error("no such time \(String(decoding: bytes[timeStart..<position], as: UTF8.self))", at: timeStart)
        }
        var fraction = ""
        if peek(is: "."), isDigit(1) {
            position += 1
            let fractionStart = position
            while isDigit(0) { position += 1 }
            fraction = String(decoding: bytes[fractionStart..<position], as: UTF8.self)
        }
        result.time = .init(hour: hour, minute: minute, second: second, fraction: fraction)
        guard result.date != nil else { return result }
        if peek(is: "Z") || peek(is: "z") {
            position += 1
            result.offsetMinutes = 0
        } else if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            position += 1
            guard let hours = fixedDigits(2), peek(is: ":"), advance(), let minutes = fixedDigits(2),
                  hours < 24, minutes < 60
            else { throw error("malformed time offset (+HH:MM)", at: position) }
            let magnitude = hours * 60 + minutes
            result.offsetMinutes = sign == UInt8(ascii: "-") ? -magnitude : magnitude
        }
        return result
    }

    private func isDigit(_ offset: Int) -> Bool {
        guard let byte = peek(offset) else { return false }
        return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Consumes one byte; true, for use inside conditions.
    private mutating func advance() -> Bool {
        position += 1
        return true
    }

    /// Exactly `count` decimal digits (at most 4: no overflow).
    private mutating func fixedDigits(_ count: Int) -> Int? {
        guard (0..<count).allSatisfy(isDigit) else { return nil }
        var value = 0
        for _ in 0..<count {
            value = value * 10 + Int((peek() ?? UInt8(ascii: "0")) - UInt8(ascii: "0"))
            position += 1
        }
        return value
    }

    private static func days(inMonth month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
