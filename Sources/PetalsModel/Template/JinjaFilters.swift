import Foundation

/// The filters chat templates use, with jinja2's arguments and results. `tojson` is Hugging
/// Face's (json.dumps with ensure_ascii=False, keys in their order), not jinja2's HTML-safe one.
enum JinjaFilters {
    static let implemented: Set<String> = [
        "trim", "length", "count", "tojson", "default", "d", "first", "last", "join", "upper", "lower",
        "capitalize", "title", "string", "int", "float", "list", "safe", "replace", "reverse", "items",
        "abs", "round", "map", "select", "reject", "selectattr", "rejectattr", "unique", "sort", "indent",
        "wordcount", "min", "max", "sum",
    ]

    static func apply(_ name: String, to value: JinjaValue, _ args: [JinjaValue], _ keyword: [(String, JinjaValue)],
                      renderer: JinjaRenderer, line: Int) throws -> JinjaValue {
        func argument(_ index: Int, _ key: String) -> JinjaValue? {
            keyword.first { $0.0 == key }?.1 ?? (index < args.count ? args[index] : nil)
        }
        func items() throws -> [JinjaValue] { try JinjaBuiltins.iterate(value, line: line) }
        switch name {
        case "trim":
            guard case .string(let s) = value else { return .string(value.text.stripped()) }
            let characters = argument(0, "chars").map { Set($0.text.string.unicodeScalars) }
            return .string(s.stripped(characters))
        case "length", "count":
            switch value {
            case .string(let s): return .int(s.string.unicodeScalars.count)
            case .undefined: return .int(0)
            default: return .int(try items().count)
            }
        case "tojson":
            let indent = argument(0, "indent")?.integer
            var writer = JinjaJSONWriter(indent: indent)
            try writer.write(value, line: line)
            return .string(JinjaText(writer.output, isContent: writer.touchedContent))
        case "default", "d":
            let fallback = argument(0, "default_value") ?? .string("")
            let boolean = argument(1, "boolean")?.isTruthy ?? false
            return value.isUndefined || (boolean && !value.isTruthy) ? fallback : value
        case "first", "last":
            let all = try items()
            guard let item = name == "first" ? all.first : all.last else { return .undefined("\(name) of an empty sequence") }
            return item
        case "join":
            let separator = argument(0, "d")?.text ?? JinjaText()
            let attributeName = argument(1, "attribute")?.text.string
            var out = JinjaText()
            for (index, item) in try items().enumerated() {
                if index > 0 { out.append(separator) }
                let shown = try attributeName.map { try JinjaBuiltins.attribute(item, $0, line: line) } ?? item
                out.append(shown.text)
            }
            return .string(out)
        case "upper": return .string(value.text.derived(value.text.string.uppercased()))
        case "lower": return .string(value.text.derived(value.text.string.lowercased()))
        case "capitalize": return .string(value.text.derived(capitalize(value.text.string)))
        case "title": return .string(value.text.derived(titleCase(value.text.string)))
        case "string": return .string(value.text)
        case "safe": return value
        case "int":
            switch value {
            case .int, .bool: return .int(value.integer ?? 0)
            case .double(let x): return .int(x.isFinite ? Int(x) : 0)
            case .string(let s): return .int(Int(s.string.trimmingCharacters(in: .whitespaces)) ?? argument(0, "default")?.integer ?? 0)
            default: return argument(0, "default") ?? .int(0)
            }
        case "float":
            if let x = value.number { return .double(x) }
            if case .string(let s) = value, let x = Double(s.string.trimmingCharacters(in: .whitespaces)) { return .double(x) }
            return argument(0, "default") ?? .double(0)
        case "list": return .list(try items())
        case "replace":
            guard let old = argument(0, "old")?.text.string, let new = argument(1, "new")?.text.string else {
                throw JinjaError.runtime("replace needs the old and new strings", line: line)
            }
            return .string(value.text.derived(value.text.string.replacingOccurrences(of: old, with: new)))
        case "reverse":
            if case .string(let s) = value { return .string(s.derived(String(String.UnicodeScalarView(s.string.unicodeScalars.reversed())))) }
            return .list(try items().reversed())
        case "items":
            guard case .dict(let d) = value else { return value.isUndefined ? .list([]) : try fail(name, value, line) }
            return .list(d.pairs.map { .tuple([.string($0.0), $0.1]) })
        case "abs":
            switch value {
            case .int(let n): return .int(abs(n))
            case .double(let x): return .double(abs(x))
            default: return try fail(name, value, line)
            }
        case "round":
            guard let x = value.number else { return try fail(name, value, line) }
            let precision = argument(0, "precision")?.integer ?? 0
            let scale = pow(10, Double(precision))
            return .double((x * scale).rounded(.toNearestOrEven) / scale)  // Python's round
        case "map":
            if let attribute = keyword.first(where: { $0.0 == "attribute" })?.1.text.string {
                return .list(try items().map { try JinjaBuiltins.attribute($0, attribute, line: line) })
            }
            guard case .string(let filter)? = args.first, implemented.contains(filter.string) else {
                throw JinjaError.unsupported("map() without attribute= or a known filter name", line: line)
            }
            return .list(try items().map { try apply(filter.string, to: $0, Array(args.dropFirst()), [], renderer: renderer, line: line) })
        case "select", "reject", "selectattr", "rejectattr":
            let byAttribute = name.hasSuffix("attr")
            let keep = name.hasPrefix("select")
            let attribute = byAttribute ? argument(0, "attribute")?.text.string : nil
            let testArgs = Array(args.dropFirst(byAttribute ? 1 : 0))
            return .list(try items().filter { item in
                let subject = try attribute.map { try JinjaBuiltins.attribute(item, $0, line: line) } ?? item
                guard case .string(let test)? = testArgs.first else { return subject.isTruthy == keep }
                return try JinjaTests.apply(test.string, to: subject, Array(testArgs.dropFirst()), renderer: renderer, line: line) == keep
            })
        case "unique":
            var seen: [JinjaValue] = []
            for item in try items() where !seen.contains(where: { $0.equals(item) }) { seen.append(item) }
            return .list(seen)
        case "sort":
            let reverse = argument(0, "reverse")?.isTruthy ?? false
            let attribute = argument(2, "attribute")?.text.string
            let all = try items()
            let keys = try all.map { item in try attribute.map { try JinjaBuiltins.attribute(item, $0, line: line) } ?? item }
            var order = Array(all.indices)
            var failure: JinjaError?
            order.sort { a, b in
                do {
                    let less = try JinjaOperators.apply("<", keys[a], keys[b], line: line).isTruthy
                    let greater = try JinjaOperators.apply(">", keys[a], keys[b], line: line).isTruthy
                    return reverse ? greater : less
                } catch {
                    failure = error as? JinjaError
                    return false
                }
            }
            if let failure { throw failure }
            return .list(order.map { all[$0] })
        case "indent":
            let width = argument(0, "width")?.integer ?? 4
            let first = argument(1, "first")?.isTruthy ?? false
            let blank = argument(2, "blank")?.isTruthy ?? false
            let pad = String(repeating: " ", count: width)
            let lines = value.text.string.components(separatedBy: "\n")
            let indented = lines.enumerated().map { index, text in
                (index == 0 && !first) || (text.isEmpty && !blank) ? text : pad + text
            }
            return .string(value.text.derived(indented.joined(separator: "\n")))
        case "wordcount":
            return .int(try JinjaBuiltins.split(value.text, separator: nil, limit: -1, line: line).count)
        case "min", "max":
            let all = try items()
            guard var best = all.first else { return .undefined("\(name) of an empty sequence") }
            for item in all.dropFirst() where try JinjaOperators.apply(name == "min" ? "<" : ">", item, best, line: line).isTruthy {
                best = item
            }
            return best
        case "sum":
            return try items().reduce(JinjaValue.int(0)) { try JinjaOperators.apply("+", $0, $1, line: line) }
        default:
            throw JinjaError.unsupported("the filter '\(name)'", line: line)
        }
    }

    private static func fail(_ filter: String, _ value: JinjaValue, _ line: Int) throws -> JinjaValue {
        throw JinjaError.runtime("the filter '\(filter)' cannot take \(value.typeName)", line: line)
    }

    /// Python's str.capitalize: first character upper, the rest lower.
    static func capitalize(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.uppercased() + s.dropFirst().lowercased()
    }

    /// jinja2's title: each word's first letter upper, the rest lower.
    static func titleCase(_ s: String) -> String {
        var out = ""
        var startOfWord = true
        for c in s {
            out += startOfWord ? c.uppercased() : c.lowercased()
            startOfWord = !(c.isLetter || c.isNumber || c == "'")
        }
        return out
    }
}

/// The tests of `x is name`.
enum JinjaTests {
    static let implemented: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable",
        "sequence", "boolean", "true", "false", "even", "odd", "divisibleby", "eq", "equalto", "ne", "lt", "gt",
        "le", "ge", "in", "callable", "sameas", "lower", "upper",
    ]

    static func apply(_ name: String, to value: JinjaValue, _ args: [JinjaValue], renderer: JinjaRenderer, line: Int) throws -> Bool {
        func other() throws -> JinjaValue {
            guard let first = args.first else { throw JinjaError.runtime("the test '\(name)' needs an argument", line: line) }
            return first
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true } else { return false }
        case "string": if case .string = value { return true } else { return false }
        case "number": if case .int = value { return true } else if case .double = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "mapping":
            switch value {
            case .dict, .namespace: return true
            default: return false
            }
        case "iterable", "sequence":
            switch value {
            case .string, .list, .tuple, .dict: return true
            default: return false
            }
        case "callable": if case .function = value { return true } else { return false }
        case "even", "odd":
            guard let n = value.integer else { throw JinjaError.runtime("'\(name)' needs an integer", line: line) }
            return (n % 2 == 0) == (name == "even")
        case "divisibleby":
            guard let n = value.integer, let d = try other().integer, d != 0 else {
                throw JinjaError.runtime("'divisibleby' needs integers", line: line)
            }
            return n % d == 0
        case "eq", "equalto", "sameas": return value.equals(try other())
        case "ne": return !value.equals(try other())
        case "lt", "gt", "le", "ge":
            let op = ["lt": "<", "gt": ">", "le": "<=", "ge": ">="][name] ?? "<"
            return try JinjaOperators.apply(op, value, try other(), line: line).isTruthy
        case "in": return try JinjaOperators.contains(try other(), value, line: line)
        case "lower", "upper":
            guard case .string(let s) = value else { return false }
            return name == "lower" ? s.string == s.string.lowercased() : s.string == s.string.uppercased()
        default:
            throw JinjaError.unsupported("the test '\(name)'", line: line)
        }
    }
}
