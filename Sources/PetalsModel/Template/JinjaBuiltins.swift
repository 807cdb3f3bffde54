import Foundation

/// Attribute and item access, iteration, the methods templates call on strings and dicts
/// (`content.strip()`, `message.get('x')`, `d.items()`), and the globals Hugging Face gives
/// chat templates (`raise_exception`, `namespace`, `range`, `strftime_now`).
enum JinjaBuiltins {
    // MARK: Access

    /// jinja2's getattr: a method of the value if it has one by that name, else its item.
    static func attribute(_ value: JinjaValue, _ name: String, line: Int) throws -> JinjaValue {
        switch value {
        case .undefined(let base):
            throw JinjaError.runtime("'\(base)' is undefined (reading .\(name))", line: line)
        case .namespace(let ns):
            return ns.fields[name]
        case .dict(let d):
            if let method = dictMethod(d, name) { return .function(method) }
            return d.contains(name) ? d[name] : .undefined("\(name)")
        case .string(let s):
            if let method = stringMethod(s, name) { return .function(method) }
            return .undefined(name)
        default:
            return .undefined(name)
        }
    }

    /// jinja2's getitem: the item if there is one, else the attribute.
    static func item(_ value: JinjaValue, _ index: JinjaValue, line: Int) throws -> JinjaValue {
        switch value {
        case .undefined(let base):
            throw JinjaError.runtime("'\(base)' is undefined (reading [\(index.repr)])", line: line)
        case .list(let items), .tuple(let items):
            guard let i = index.integer else { return .undefined("[\(index.repr)]") }
            let position = i < 0 ? items.count + i : i
            return items.indices.contains(position) ? items[position] : .undefined("[\(i)]")
        case .string(let s):
            guard let i = index.integer else { return .undefined("[\(index.repr)]") }
            let scalars = Array(s.string.unicodeScalars)
            let position = i < 0 ? scalars.count + i : i
            guard scalars.indices.contains(position) else { return .undefined("[\(i)]") }
            return .string(s.derived(String(scalars[position])))
        case .dict(let d):
            guard case .string(let key) = index else { return .undefined("[\(index.repr)]") }
            if d.contains(key.string) { return d[key.string] }
            return try attribute(value, key.string, line: line)
        case .namespace(let ns):
            guard case .string(let key) = index else { return .undefined("[\(index.repr)]") }
            return ns.fields[key.string]
        default:
            return .undefined("[\(index.repr)]")
        }
    }

    /// Python's `value[start:stop:step]` on lists and strings.
    static func slice(_ value: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?, line: Int) throws -> JinjaValue {
        func bound(_ v: JinjaValue?) throws -> Int? {
            guard let v, !(v.isUndefined), !{ if case .none = v { return true } else { return false } }() else { return nil }
            guard let n = v.integer else { throw JinjaError.runtime("slice indices must be integers, not \(v.typeName)", line: line) }
            return n
        }
        let stride = try bound(step) ?? 1
        guard stride != 0 else { throw JinjaError.runtime("slice step cannot be zero", line: line) }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ n: Int?, _ defaultValue: Int, low: Int, high: Int) -> Int {
                guard var n else { return defaultValue }
                if n < 0 { n += count }
                return min(max(n, low), high)
            }
            if stride > 0 {
                let from = clamp(try bound(start), 0, low: 0, high: count)
                let to = clamp(try bound(stop), count, low: 0, high: count)
                return from < to ? Array(Swift.stride(from: from, to: to, by: stride)) : []
            }
            let from = clamp(try bound(start), count - 1, low: -1, high: count - 1)
            let to = clamp(try bound(stop), -1, low: -1, high: count - 1)
            return from > to ? Array(Swift.stride(from: from, to: to, by: stride)) : []
        }
        switch value {
        case .list(let items):
            return .list(try indices(items.count).map { items[$0] })
        case .tuple(let items):
            return .tuple(try indices(items.count).map { items[$0] })
        case .string(let s):
            let scalars = Array(s.string.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in try indices(scalars.count) { out.append(scalars[i]) }
            return .string(s.derived(String(out)))
        case .undefined(let base):
            throw JinjaError.runtime("'\(base)' is undefined (slicing it)", line: line)
        default:
            throw JinjaError.runtime("\(value.typeName) cannot be sliced", line: line)
        }
    }

    /// The items a `for` loop visits: list items, dict keys, string characters; nothing for
    /// an undefined value (jinja2's Undefined iterates as empty).
    static func iterate(_ value: JinjaValue, line: Int) throws -> [JinjaValue] {
        switch value {
        case .undefined: return []
        case .list(let items), .tuple(let items): return items
        case .dict(let d): return d.keys.map { .string($0) }
        case .string(let s): return s.string.unicodeScalars.map { .string(s.derived(String($0))) }
        default: throw JinjaError.runtime("\(value.typeName) is not iterable", line: line)
        }
    }

    // MARK: Methods

    private static func method(_ name: String, _ body: @escaping ([JinjaValue], Int) throws -> JinjaValue) -> JinjaFunction {
        JinjaFunction(name: name) { positional, _, line in try body(positional, line) }
    }

    private static func stringArgument(_ args: [JinjaValue], _ index: Int, _ method: String, line: Int) throws -> String? {
        guard index < args.count else { return nil }
        switch args[index] {
        case .none: return nil
        case .string(let s): return s.string
        case let other: throw JinjaError.runtime("\(method)() takes a string, not \(other.typeName)", line: line)
        }
    }

    static func dictMethod(_ d: JinjaDict, _ name: String) -> JinjaFunction? {
        switch name {
        case "items": return method(name) { _, _ in .list(d.pairs.map { .tuple([.string($0.0), $0.1]) }) }
        case "keys": return method(name) { _, _ in .list(d.keys.map { .string($0) }) }
        case "values": return method(name) { _, _ in .list(d.pairs.map(\.1)) }
        case "get":
            return method(name) { args, line in
                guard let key = try stringArgument(args, 0, "get", line: line) else { return args.count > 1 ? args[1] : .none }
                return d.contains(key) ? d[key] : (args.count > 1 ? args[1] : .none)
            }
        default: return nil
        }
    }

    static func stringMethod(_ s: JinjaText, _ name: String) -> JinjaFunction? {
        func characters(_ args: [JinjaValue], line: Int) throws -> Set<Unicode.Scalar>? {
            try stringArgument(args, 0, name, line: line).map { Set($0.unicodeScalars) }
        }
        switch name {
        case "strip": return method(name) { args, line in .string(s.stripped(try characters(args, line: line))) }
        case "lstrip": return method(name) { args, line in .string(s.stripped(try characters(args, line: line), trailing: false)) }
        case "rstrip": return method(name) { args, line in .string(s.stripped(try characters(args, line: line), leading: false)) }
        case "upper": return method(name) { _, _ in .string(s.derived(s.string.uppercased())) }
        case "lower": return method(name) { _, _ in .string(s.derived(s.string.lowercased())) }
        case "title": return method(name) { _, _ in .string(s.derived(JinjaFilters.titleCase(s.string))) }
        case "capitalize": return method(name) { _, _ in .string(s.derived(JinjaFilters.capitalize(s.string))) }
        case "startswith", "endswith":
            return method(name) { args, line in
                let candidates: [String]
                switch args.first {
                case .string(let p)?: candidates = [p.string]
                case .list(let items)?, .tuple(let items)?: candidates = items.map { $0.text.string }
                default: throw JinjaError.runtime("\(name)() takes a string or a tuple of strings", line: line)
                }
                let utf8 = Array(s.string.utf8)
                return .bool(candidates.contains { p in
                    let bytes = Array(p.utf8)
                    return name == "startswith" ? utf8.starts(with: bytes) : utf8.reversed().starts(with: bytes.reversed())
                })
            }
        case "split":
            return method(name) { args, line in
                let limit = args.count > 1 ? args[1].integer ?? -1 : -1
                return .list(try split(s, separator: try stringArgument(args, 0, "split", line: line), limit: limit, line: line))
            }
        case "replace":
            return method(name) { args, line in
                guard let old = try stringArgument(args, 0, "replace", line: line),
                      let new = try stringArgument(args, 1, "replace", line: line) else {
                    throw JinjaError.runtime("replace() takes two strings", line: line)
                }
                return .string(s.derived(s.string.replacingOccurrences(of: old, with: new)))
            }
        case "find":
            return method(name) { args, line in
                guard let needle = try stringArgument(args, 0, "find", line: line) else { return .int(-1) }
                guard let range = s.string.range(of: needle) else { return .int(-1) }
                return .int(s.string.unicodeScalars.distance(from: s.string.startIndex, to: range.lowerBound))
            }
        default: return nil
        }
    }

    /// Python's str.split: on runs of whitespace (dropping empty ends) without a separator.
    static func split(_ s: JinjaText, separator: String?, limit: Int, line: Int) throws -> [JinjaValue] {
        if let separator {
            guard !separator.isEmpty else { throw JinjaError.runtime("split() separator is empty", line: line) }
            var parts: [String] = []
            var rest = Substring(s.string)
            while limit < 0 || parts.count < limit, let range = rest.range(of: separator) {
                parts.append(String(rest[..<range.lowerBound]))
                rest = rest[range.upperBound...]
            }
            parts.append(String(rest))
            return parts.map { .string(s.derived($0)) }
        }
        var parts: [String] = []
        var current = ""
        var scalars = Substring(s.string).unicodeScalars[...]
        while let c = scalars.first {
            scalars = scalars.dropFirst()
            if c.properties.isWhitespace {
                if !current.isEmpty { parts.append(current); current = "" }
                if limit >= 0, parts.count == limit {
                    let remainder = String(String.UnicodeScalarView(scalars.drop { $0.properties.isWhitespace }))
                    if !remainder.isEmpty { parts.append(remainder) }
                    return parts.map { .string(s.derived($0)) }
                }
            } else {
                current.unicodeScalars.append(c)
            }
        }
        if !current.isEmpty { parts.append(current) }
        return parts.map { .string(s.derived($0)) }
    }

    // MARK: Globals

    /// The globals of a chat template: Hugging Face's `raise_exception` and `strftime_now`,
    /// and jinja2's `namespace` and `range`.
    static func globals(now: @escaping @Sendable () -> Date) -> [String: JinjaValue] {
        [
            "raise_exception": .function(JinjaFunction(name: "raise_exception") { args, _, _ in
                throw JinjaError.raised(args.first?.text.string ?? "raise_exception() was called")
            }),
            "namespace": .function(JinjaFunction(name: "namespace") { args, keyword, line in
                var fields = JinjaDict()
                if case .dict(let d)? = args.first { fields = d }
                for (key, value) in keyword { fields[key] = value }
                return .namespace(JinjaNamespace(fields))
            }),
            "range": .function(JinjaFunction(name: "range") { args, _, line in
                let bounds = args.compactMap(\.integer)
                guard bounds.count == args.count, (1...3).contains(bounds.count) else {
                    throw JinjaError.runtime("range() takes one to three integers", line: line)
                }
                let (start, stop) = bounds.count == 1 ? (0, bounds[0]) : (bounds[0], bounds[1])
                let step = bounds.count == 3 ? bounds[2] : 1
                guard step != 0 else { throw JinjaError.runtime("range() step cannot be zero", line: line) }
                let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
                guard count <= JinjaRenderer.maxIterations else {
                    throw JinjaError.runtime("range() of \(count) items is too long", line: line)
                }
                return .list(Array(Swift.stride(from: start, to: stop, by: step)).map { .int($0) })
            }),
            "strftime_now": .function(JinjaFunction(name: "strftime_now") { args, _, line in
                guard case .string(let format)? = args.first else {
                    throw JinjaError.runtime("strftime_now() takes a format string", line: line)
                }
                return .string(strftime(format.string, now()))
            }),
        ]
    }

    /// The strftime directives chat templates use (%d %b %B %Y %y %m %H %M %S %A %a %j %%),
    /// in the C locale and UTC.
    static func strftime(_ format: String, _ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        let month = months[((c.month ?? 1) - 1) % 12], day = days[((c.weekday ?? 1) - 1) % 7]
        func two(_ n: Int?) -> String { String(format: "%02d", n ?? 0) }
        var out = ""
        var chars = format.makeIterator()
        while let ch = chars.next() {
            guard ch == "%", let d = chars.next() else { out.append(ch); continue }
            switch d {
            case "d": out += two(c.day)
            case "m": out += two(c.month)
            case "Y": out += String(c.year ?? 0)
            case "y": out += two((c.year ?? 0) % 100)
            case "H": out += two(c.hour)
            case "M": out += two(c.minute)
            case "S": out += two(c.second)
            case "b": out += String(month.prefix(3))
            case "B": out += month
            case "a": out += String(day.prefix(3))
            case "A": out += day
            case "j": out += String(format: "%03d", calendar.ordinality(of: .day, in: .year, for: date) ?? 0)
            case "%": out += "%"
            default: out += "%\(d)"
            }
        }
        return out
    }
}
