/// The tables a TOML document builds while it is parsed, and the rules for defining them: a
/// table is defined once, by a header or by dotted keys, and inline tables and arrays are closed
/// once written.
struct TOMLTree {
    /// A table under construction.
    final class Node {
        enum Slot {
            /// A finished value: scalars, arrays and inline tables, closed to later keys.
            case value(TOMLValue)
            case table(Node)
            /// An array of tables (`[[name]]`): headers and keys go into its last element.
            case tables(Elements)
        }

        /// The elements of an array of tables, appended to in place (an array in the enum's
        /// payload would be copied on every `[[name]]`).
        final class Elements {
            var nodes: [Node]

            init(_ first: Node) {
                nodes = [first]
            }
        }

        var slots: [String: Slot] = [:]
        var order: [String] = []
        /// Defined by a `[header]`, or an element of an array of tables.
        var declared = false
        /// The section (the header it followed) in which dotted keys created or entered it;
        /// later sections may neither declare it nor add keys to it through dotted keys.
        var dottedInSection: Int?

        func set(_ slot: Slot, for key: String) {
            if slots.updateValue(slot, forKey: key) == nil { order.append(key) }
        }

        func table() -> TOMLTable {
            var out = TOMLTable()
            for key in order {
                switch slots[key] {
                case let .value(value)?: out.append(value, for: key)
                case let .table(node)?: out.append(.table(node.table()), for: key)
                case let .tables(elements)?: out.append(.array(elements.nodes.map { .table($0.table()) }), for: key)
                case nil: break
                }
            }
            return out
        }
    }

    /// A definition the rules forbid.
    struct Conflict: Error {
        let message: String
    }

    let root = Node()
    /// Where key/value lines go: the last header's table.
    private var current: Node
    /// Counts headers; sections before the current one are closed to dotted keys.
    private var section = 0

    init() {
        current = root
    }

    /// `[key]`.
    mutating func openTable(_ key: [String]) throws(Conflict) {
        section += 1
        let (parent, name) = try walkHeader(key)
        switch parent.slots[name] {
        case nil:
            let node = Node()
            node.declared = true
            parent.set(.table(node), for: name)
            current = node
        case let .table(node)?:
            guard !node.declared, node.dottedInSection == nil else {
                throw Conflict(message: "table \(Self.path(key)) is defined twice")
            }
            node.declared = true
            current = node
        case .tables?:
            throw Conflict(message: "\(Self.path(key)) is an array of tables, not a table")
        case .value?:
            throw Conflict(message: "\(Self.path(key)) already has a value")
        }
    }

    /// `[[key]]`.
    mutating func openArrayElement(_ key: [String]) throws(Conflict) {
        section += 1
        let (parent, name) = try walkHeader(key)
        let node = Node()
        node.declared = true
        switch parent.slots[name] {
        case nil:
            parent.set(.tables(Node.Elements(node)), for: name)
        case let .tables(elements)?:
            elements.nodes.append(node)
        case .table?, .value?:
            throw Conflict(message: "\(Self.path(key)) is already defined, not as an array of tables")
        }
        current = node
    }

    /// The table holding a header's last key, creating the tables before it.
    private func walkHeader(_ key: [String]) throws(Conflict) -> (Node, String) {
        var node = root
        for (index, name) in key.dropLast().enumerated() {
            switch node.slots[name] {
            case nil:
                let child = Node()
                node.set(.table(child), for: name)
                node = child
            case let .table(child)?:
                node = child
            case let .tables(elements)?:
                guard let last = elements.nodes.last else { throw Conflict(message: "empty array of tables") }
                node = last
            case .value?:
                throw Conflict(message: "\(Self.path(key.prefix(index + 1))) is a value, not a table")
            }
        }
        return (node, key.last ?? "")
    }

    /// `key = value` in the current table.
    mutating func assign(_ value: TOMLValue, to key: [String]) throws(Conflict) {
        var node = current
        for (index, name) in key.dropLast().enumerated() {
            switch node.slots[name] {
            case nil:
                let child = Node()
                child.dottedInSection = section
                node.set(.table(child), for: name)
                node = child
            case let .table(child)?:
                guard !child.declared, child.dottedInSection.map({ $0 == section }) ?? true else {
                    throw Conflict(message: "table \(Self.path(key.prefix(index + 1))) was defined earlier; dotted keys cannot add to it")
                }
                child.dottedInSection = section
                node = child
            case .tables?:
                throw Conflict(message: "\(Self.path(key.prefix(index + 1))) is an array of tables; dotted keys cannot add to it")
            case .value?:
                throw Conflict(message: "\(Self.path(key.prefix(index + 1))) is a value, not a table")
            }
        }
        let name = key.last ?? ""
        guard node.slots[name] == nil else {
            throw Conflict(message: "key \(Self.path(key)) is defined twice")
        }
        node.set(.value(value), for: name)
    }

    /// A key as written in messages: bare parts bare, others quoted.
    static func path<Parts: Collection<String>>(_ parts: Parts) -> String {
        parts.map { part in
            !part.isEmpty && part.utf8.allSatisfy(TOMLParser.isBareKeyByte) ? part : TOMLValue.quoted(part)
        }.joined(separator: ".")
    }
}
