import Foundation

/// Binary operators with Python's semantics: `+` adds numbers and concatenates strings and
/// lists, `/` is true division, `//` and `%` floor, `~` concatenates the operands' str().
enum JinjaOperators {
    static func apply(_ op: String, _ a: JinjaValue, _ b: JinjaValue, line: Int) throws -> JinjaValue {
        func typeError() -> JinjaError {
            JinjaError.runtime("unsupported operand types for \(op): \(a.typeName) and \(b.typeName)", line: line)
        }
        switch op {
        case "~":
            return .string(a.text + b.text)
        case "==":
            return .bool(a.equals(b))
        case "!=":
            return .bool(!a.equals(b))
        case "in":
            return .bool(try contains(b, a, line: line))
        case "<", "<=", ">", ">=":
            let order: ComparisonResult
            if let x = a.number, let y = b.number {
                order = x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame
            } else if case .string(let x) = a, case .string(let y) = b {
                order = x.string < y.string ? .orderedAscending : x.string > y.string ? .orderedDescending : .orderedSame
            } else {
                throw JinjaError.runtime("'\(op)' is not supported between \(a.typeName) and \(b.typeName)", line: line)
            }
            switch op {
            case "<": return .bool(order == .orderedAscending)
            case "<=": return .bool(order != .orderedDescending)
            case ">": return .bool(order == .orderedDescending)
            default: return .bool(order != .orderedAscending)
            }
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.list(let x), .list(let y)): return .list(x + y)
            default: return try arithmetic(op, a, b, line: line) ?? { throw typeError() }()
            }
        case "*":
            if case .string(let s) = a, let n = b.integer { return .string(s.derived(String(repeating: s.string, count: max(0, n)))) }
            if case .list(let items) = a, let n = b.integer {
                return .list(Array([[JinjaValue]](repeating: items, count: max(0, n)).joined()))
            }
            return try arithmetic(op, a, b, line: line) ?? { throw typeError() }()
        default:
            return try arithmetic(op, a, b, line: line) ?? { throw typeError() }()
        }
    }

    /// Number arithmetic: integers stay integers except under `/`; nil when not both numbers.
    private static func arithmetic(_ op: String, _ a: JinjaValue, _ b: JinjaValue, line: Int) throws -> JinjaValue? {
        if let x = a.integer, let y = b.integer {
            func checked(_ result: (Int, Bool)) throws -> JinjaValue {
                guard !result.1 else { throw JinjaError.runtime("integer overflow in \(op)", line: line) }
                return .int(result.0)
            }
            switch op {
            case "+": return try checked(x.addingReportingOverflow(y))
            case "-": return try checked(x.subtractingReportingOverflow(y))
            case "*": return try checked(x.multipliedReportingOverflow(by: y))
            case "/":
                guard y != 0 else { throw JinjaError.runtime("division by zero", line: line) }
                return .double(Double(x) / Double(y))
            case "//", "%":
                guard y != 0 else { throw JinjaError.runtime("integer division or modulo by zero", line: line) }
                var q = x / y, r = x % y
                if r != 0 && ((r < 0) != (y < 0)) { q -= 1; r += y }  // Python floors
                return .int(op == "//" ? q : r)
            case "**":
                guard y >= 0 else { return .double(pow(Double(x), Double(y))) }
                var result = 1
                for _ in 0..<y {
                    let (p, overflow) = result.multipliedReportingOverflow(by: x)
                    guard !overflow else { throw JinjaError.runtime("integer overflow in **", line: line) }
                    result = p
                }
                return .int(result)
            default: return nil
            }
        }
        guard let x = a.number, let y = b.number else { return nil }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw JinjaError.runtime("float division by zero", line: line) }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw JinjaError.runtime("float floor division by zero", line: line) }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw JinjaError.runtime("float modulo by zero", line: line) }
            return .double(x - y * (x / y).rounded(.down))
        case "**": return .double(pow(x, y))
        default: return nil
        }
    }

    /// Python's `item in container`.
    static func contains(_ container: JinjaValue, _ item: JinjaValue, line: Int) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let needle) = item else {
                throw JinjaError.runtime("'in <string>' needs a string on the left, not \(item.typeName)", line: line)
            }
            return needle.isEmpty || s.string.contains(needle.string)
        case .list(let items), .tuple(let items): return items.contains { $0.equals(item) }
        case .dict(let d):
            guard case .string(let key) = item else { return false }
            return d.contains(key.string)
        case .namespace(let ns):
            guard case .string(let key) = item else { return false }
            return ns.fields.contains(key.string)
        case .undefined(let name):
            throw JinjaError.runtime("'\(name)' is undefined", line: line)
        default:
            throw JinjaError.runtime("argument of type \(container.typeName) is not iterable", line: line)
        }
    }
}
