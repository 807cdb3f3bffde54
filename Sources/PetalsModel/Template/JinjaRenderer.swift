/// Renders parsed statements against variables, the way jinja2's sandboxed environment does
/// for chat templates: `set` inside a loop body or macro stays local to it (one fresh scope per
/// iteration), `namespace()` objects carry state out of loops, and printing uses Python's str().
final class JinjaRenderer {
    /// Bounds a template cannot exceed (loops over huge ranges, runaway macro recursion).
    static let maxIterations = 100_000
    static let maxDepth = 64
    static let maxOutputBytes = 16 << 20

    private var scopes: [[String: JinjaValue]]
    private var iterations = 0
    private var depth = 0

    init(globals: [String: JinjaValue]) {
        scopes = [globals, [:]]  // the globals, then the template's top-level names
    }

    /// Why a statement list stopped early.
    private enum Flow { case normal, breakLoop, continueLoop }

    func render(_ nodes: [JinjaNode]) throws -> JinjaText {
        var out = JinjaText()
        _ = try render(nodes, into: &out)
        return out
    }

    // MARK: Scopes

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        return .undefined(name)
    }

    private func assign(_ name: String, _ value: JinjaValue) {
        scopes[scopes.count - 1][name] = value
    }

    private func withScope<T>(_ variables: [String: JinjaValue], _ body: () throws -> T) rethrows -> T {
        scopes.append(variables)
        defer { scopes.removeLast() }
        return try body()
    }

    // MARK: Statements

    private func render(_ nodes: [JinjaNode], into out: inout JinjaText) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let text):
                out.append(text)
            case .output(let expression):
                out.append(try evaluate(expression).text)
            case .conditional(let branches, let otherwise):
                let chosen = try branches.first { try evaluate($0.0).isTruthy }?.1 ?? otherwise
                let flow = try render(chosen, into: &out)
                if flow != .normal { return flow }
            case .loop(let loop):
                try render(loop, into: &out)
            case .assign(let target, let expression, let line):
                try assign(target, try evaluate(expression), line: line)
            case .assignBlock(let name, let body):
                var captured = JinjaText()
                _ = try render(body, into: &captured)
                assign(name, .string(captured))
            case .macro(let macro):
                assign(macro.name, .function(makeFunction(macro)))
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            }
            if out.string.utf8.count > Self.maxOutputBytes {
                throw JinjaError.runtime("the rendered prompt exceeds \(Self.maxOutputBytes >> 20) MB", line: 0)
            }
        }
        return .normal
    }

    private func assign(_ target: JinjaAssignTarget, _ value: JinjaValue, line: Int) throws {
        switch target {
        case .names(let names) where names.count == 1:
            assign(names[0], value)
        case .names(let names):
            let items = try JinjaBuiltins.iterate(value, line: line)
            guard items.count == names.count else {
                throw JinjaError.runtime("cannot unpack \(items.count) values into \(names.count) names", line: line)
            }
            for (name, item) in zip(names, items) { assign(name, item) }
        case .attribute(let object, let field):
            guard case .namespace(let ns) = lookup(object) else {
                throw JinjaError.runtime("cannot set '\(field)' on \(object), which is not a namespace()", line: line)
            }
            ns.fields[field] = value
        }
    }

    private func render(_ loop: JinjaLoop, into out: inout JinjaText) throws {
        var items = try JinjaBuiltins.iterate(try evaluate(loop.iterable), line: loop.line)
        func bind(_ item: JinjaValue) throws -> [String: JinjaValue] {
            guard loop.targets.count > 1 else { return [loop.targets[0]: item] }
            let parts = try JinjaBuiltins.iterate(item, line: loop.line)
            guard parts.count == loop.targets.count else {
                throw JinjaError.runtime("cannot unpack \(parts.count) values into \(loop.targets.count) loop variables", line: loop.line)
            }
            return Dictionary(uniqueKeysWithValues: zip(loop.targets, parts))
        }
        if let condition = loop.condition {
            items = try items.filter { item in try withScope(try bind(item)) { try evaluate(condition).isTruthy } }
        }
        guard !items.isEmpty else {
            _ = try render(loop.otherwise, into: &out)
            return
        }
        for (index, item) in items.enumerated() {
            iterations += 1
            if iterations > Self.maxIterations {
                throw JinjaError.runtime("the template loops more than \(Self.maxIterations) times", line: loop.line)
            }
            var variables = try bind(item)
            variables["loop"] = Self.loopObject(index: index, items: items)
            let flow = try withScope(variables) { try render(loop.body, into: &out) }
            if flow == .breakLoop { break }
        }
    }

    private static func loopObject(index: Int, items: [JinjaValue]) -> JinjaValue {
        let count = items.count
        var loop = JinjaDict()
        loop["index"] = .int(index + 1)
        loop["index0"] = .int(index)
        loop["revindex"] = .int(count - index)
        loop["revindex0"] = .int(count - index - 1)
        loop["first"] = .bool(index == 0)
        loop["last"] = .bool(index == count - 1)
        loop["length"] = .int(count)
        loop["previtem"] = index > 0 ? items[index - 1] : .undefined("loop.previtem")
        loop["nextitem"] = index + 1 < count ? items[index + 1] : .undefined("loop.nextitem")
        loop["cycle"] = .function(JinjaFunction(name: "loop.cycle") { args, _, line in
            guard !args.isEmpty else { throw JinjaError.runtime("loop.cycle() needs at least one value", line: line) }
            return args[index % args.count]
        })
        return .dict(loop)
    }

    private func makeFunction(_ macro: JinjaMacro) -> JinjaFunction {
        JinjaFunction(name: macro.name) { [unowned self] positional, keyword, line in
            guard positional.count <= macro.parameters.count else {
                throw JinjaError.runtime("macro \(macro.name) takes \(macro.parameters.count) arguments, got \(positional.count)", line: line)
            }
            self.depth += 1
            defer { self.depth -= 1 }
            guard self.depth <= Self.maxDepth else {
                throw JinjaError.runtime("macro \(macro.name) recurses deeper than \(Self.maxDepth)", line: line)
            }
            var variables: [String: JinjaValue] = [:]
            for (index, (name, defaultValue)) in macro.parameters.enumerated() {
                if index < positional.count {
                    variables[name] = positional[index]
                } else if let value = keyword.first(where: { $0.0 == name })?.1 {
                    variables[name] = value
                } else if let defaultValue {
                    variables[name] = try self.evaluate(defaultValue)
                } else {
                    variables[name] = .undefined(name)
                }
            }
            // A macro sees the template's globals and top-level names, not its caller's locals.
            let saved = self.scopes
            self.scopes = [saved[0]] + (saved.count > 1 ? [saved[1]] : [])
            defer { self.scopes = saved }
            return try self.withScope(variables) { .string(try self.render(macro.body)) }
        }
    }

    // MARK: Expressions

    func evaluate(_ expression: JinjaExpression) throws -> JinjaValue {
        switch expression {
        case .literal(let value):
            return value
        case .name(let name, _):
            return lookup(name)
        case .list(let items):
            return .list(try items.map(evaluate))
        case .tuple(let items):
            return .tuple(try items.map(evaluate))
        case .dict(let pairs):
            var dict = JinjaDict()
            for (keyExpression, valueExpression) in pairs {
                dict[try evaluate(keyExpression).text.string] = try evaluate(valueExpression)
            }
            return .dict(dict)
        case .attribute(let base, let name, let line):
            return try JinjaBuiltins.attribute(try evaluate(base), name, line: line)
        case .item(let base, let index, let line):
            return try JinjaBuiltins.item(try evaluate(base), try evaluate(index), line: line)
        case .slice(let base, let start, let stop, let step, let line):
            return try JinjaBuiltins.slice(try evaluate(base), start: try start.map(evaluate),
                                           stop: try stop.map(evaluate), step: try step.map(evaluate), line: line)
        case .call(let callee, let arguments, let line):
            let function = try evaluate(callee)
            guard case .function(let f) = function else {
                throw JinjaError.runtime("\(describe(callee)) is \(function.typeName), not a function", line: line)
            }
            let (positional, keyword) = try evaluate(arguments)
            return try f.call(positional, keyword, line)
        case .filter(let base, let name, let arguments, let line):
            let (positional, keyword) = try evaluate(arguments)
            return try JinjaFilters.apply(name, to: try evaluate(base), positional, keyword, renderer: self, line: line)
        case .test(let base, let name, let arguments, let negated, let line):
            let (positional, _) = try evaluate(arguments)
            let result = try JinjaTests.apply(name, to: try evaluate(base), positional, renderer: self, line: line)
            return .bool(result != negated)
        case .not(let operand):
            return .bool(!(try evaluate(operand).isTruthy))
        case .negate(let operand, let line):
            switch try evaluate(operand) {
            case .int(let n): return .int(-n)
            case .bool(let b): return .int(b ? -1 : 0)
            case .double(let x): return .double(-x)
            case let other: throw JinjaError.runtime("cannot negate \(other.typeName)", line: line)
            }
        case .and(let left, let right):
            let l = try evaluate(left)
            return l.isTruthy ? try evaluate(right) : l
        case .or(let left, let right):
            let l = try evaluate(left)
            return l.isTruthy ? l : try evaluate(right)
        case .conditional(let then, let condition, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined("the else branch")
        case .binary(let op, let left, let right, let line):
            return try JinjaOperators.apply(op, try evaluate(left), try evaluate(right), line: line)
        }
    }

    private func evaluate(_ arguments: JinjaArguments) throws -> ([JinjaValue], [(String, JinjaValue)]) {
        (try arguments.positional.map(evaluate), try arguments.keyword.map { ($0.0, try evaluate($0.1)) })
    }

    private func describe(_ expression: JinjaExpression) -> String {
        switch expression {
        case .name(let name, _): return name
        case .attribute(let base, let name, _): return "\(describe(base)).\(name)"
        default: return "the called value"
        }
    }
}
