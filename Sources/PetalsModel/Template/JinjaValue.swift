import Foundation

/// A value during rendering, with Python's semantics where jinja2 borrows them (truthiness,
/// equality, `str()` of lists and dicts, integer and float arithmetic).
enum JinjaValue {
    /// A name or attribute that does not exist (jinja2's Undefined): prints as "", is false,
    /// iterates as empty; using it as an object is an error naming it.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(JinjaText)
    case list([JinjaValue])
    /// Python's tuple: a list that prints as (a, b) (`dict.items()` pairs, `(a, b)` literals).
    case tuple([JinjaValue])
    case dict(JinjaDict)
    case namespace(JinjaNamespace)
    case function(JinjaFunction)

    static func string(_ s: String) -> JinjaValue { .string(JinjaText(s)) }

    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let n): return n != 0
        case .double(let x): return x != 0
        case .string(let s): return !s.isEmpty
        case .list(let items), .tuple(let items): return !items.isEmpty
        case .dict(let d): return !d.keys.isEmpty
        case .namespace, .function: return true
        }
    }

    /// The items of a list or tuple.
    var sequence: [JinjaValue]? {
        switch self {
        case .list(let items), .tuple(let items): return items
        default: return nil
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "none"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "float"
        case .string: return "string"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "namespace"
        case .function: return "function"
        }
    }

    /// Python's numeric view (bools are integers), for arithmetic and comparisons.
    var number: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let n): return Double(n)
        case .double(let x): return x
        default: return nil
        }
    }

    var integer: Int? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let n): return n
        default: return nil
        }
    }

    /// Python's ==.
    func equals(_ other: JinjaValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.string == b.string
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.equals($1) }
        case (.dict(let a), .dict(let b)):
            return a.keys == b.keys && a.keys.allSatisfy { key in a[key].equals(b[key]) }
        case (.namespace(let a), .namespace(let b)): return a === b
        default:
            if let x = number, let y = other.number { return x == y }
            return false
        }
    }

    /// Python's str(): what `{{ value }}` prints.
    var text: JinjaText {
        switch self {
        case .undefined: return JinjaText()
        case .string(let s): return s
        default: return JinjaText(repr)
        }
    }

    /// Python's repr(), used inside printed lists and dicts.
    var repr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let n): return String(n)
        case .double(let x): return Self.pythonFloat(x)
        case .string(let s): return Self.pythonRepr(s.string)
        case .list(let items): return "[" + items.map(\.repr).joined(separator: ", ") + "]"
        case .tuple(let items): return "(" + items.map(\.repr).joined(separator: ", ") + (items.count == 1 ? ",)" : ")")
        case .dict(let d):
            return "{" + d.keys.map { "\(Self.pythonRepr($0)): \(d[$0].repr)" }.joined(separator: ", ") + "}"
        case .namespace(let ns): return "<Namespace \(JinjaValue.dict(ns.fields).repr)>"
        case .function(let f): return "<function \(f.name)>"
        }
    }

    /// Python's repr of a float: shortest round-trip digits, ".0" on integral values,
    /// exponent form outside [1e-4, 1e16).
    static func pythonFloat(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        var s = "\(x)"  // Swift prints the shortest round-trip digits
        if let e = s.firstIndex(of: "e") {
            // Swift: "1e-05", "1e+16"; Python the same, but with at least two exponent digits.
            let mantissa = s[..<e], exponent = s[s.index(after: e)...]
            let sign = exponent.first == "-" ? "-" : "+"
            var digits = String(exponent.drop { $0 == "-" || $0 == "+" })
            if digits.count < 2 { digits = "0" + digits }
            s = "\(mantissa)e\(sign)\(digits)"
            return s.replacingOccurrences(of: ".0e", with: "e")
        }
        return s
    }

    static func pythonRepr(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\\(quote)"
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }
}

/// A dict with insertion order (Python's), string keys.
struct JinjaDict {
    private(set) var keys: [String] = []
    private var values: [String: JinjaValue] = [:]

    init(_ pairs: [(String, JinjaValue)] = []) {
        for (key, value) in pairs { self[key] = value }
    }

    subscript(key: String) -> JinjaValue {
        get { values[key] ?? .undefined(key) }
        set {
            if values[key] == nil { keys.append(key) }
            values[key] = newValue
        }
    }

    func contains(_ key: String) -> Bool { values[key] != nil }
    var pairs: [(String, JinjaValue)] { keys.map { ($0, values[$0] ?? .none) } }
}

/// `namespace(...)`: the one mutable object of a template (`{% set ns.x = … %}` inside loops).
final class JinjaNamespace {
    var fields: JinjaDict
    init(_ fields: JinjaDict) { self.fields = fields }
}

/// A callable: a global (`raise_exception`, `namespace`, `range`), a macro, or a bound method.
struct JinjaFunction {
    let name: String
    let call: (_ positional: [JinjaValue], _ keyword: [(String, JinjaValue)], _ line: Int) throws -> JinjaValue
}
