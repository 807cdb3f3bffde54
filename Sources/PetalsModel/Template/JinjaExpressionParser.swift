/// Expressions, lowest precedence first (see JinjaParser).
extension JinjaParser {
    mutating func parseExpression(allowConditional: Bool = true) throws -> JinjaExpression {
        let value = try parseOr()
        guard allowConditional, isName("if") else { return value }
        i += 1
        let condition = try parseOr()
        var otherwise: JinjaExpression?
        if isName("else") {
            i += 1
            otherwise = try parseExpression()
        }
        return .conditional(then: value, condition: condition, otherwise: otherwise)
    }

    private mutating func parseOr() throws -> JinjaExpression {
        var left = try parseAnd()
        while isName("or") {
            i += 1
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws -> JinjaExpression {
        var left = try parseNot()
        while isName("and") {
            i += 1
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws -> JinjaExpression {
        if isName("not") {
            i += 1
            return .not(try parseNot())
        }
        return try parseComparison()
    }

    private mutating func parseComparison() throws -> JinjaExpression {
        var left = try parseSum()
        while true {
            let opLine = line
            if case .op(let op)? = current?.kind, ["==", "!=", "<", "<=", ">", ">="].contains(op) {
                i += 1
                left = .binary(op, left, try parseSum(), line: opLine)
            } else if isName("in") {
                i += 1
                left = .binary("in", left, try parseSum(), line: opLine)
            } else if isName("not"), i + 1 < tokens.count, tokens[i + 1].kind == .name("in") {
                i += 2
                left = .not(.binary("in", left, try parseSum(), line: opLine))
            } else {
                return left
            }
        }
    }

    /// The arithmetic levels, loosest first; each is left-associative over the next.
    private static let arithmeticLevels: [Set<String>] = [["+", "-"], ["~"], ["*", "/", "//", "%"], ["**"]]

    private mutating func parseSum() throws -> JinjaExpression { try parseArithmetic(level: 0) }

    private mutating func parseArithmetic(level: Int) throws -> JinjaExpression {
        guard level < Self.arithmeticLevels.count else { return try parseUnary() }
        var left = try parseArithmetic(level: level + 1)
        while case .op(let op)? = current?.kind, Self.arithmeticLevels[level].contains(op) {
            let opLine = line
            i += 1
            left = .binary(op, left, try parseArithmetic(level: level + 1), line: opLine)
        }
        return left
    }

    /// jinja2's parse_unary: `-x|f` is `(-x)|f`; filters and tests bind after postfix operators.
    private mutating func parseUnary(withFilters: Bool = true) throws -> JinjaExpression {
        let opLine = line
        var value: JinjaExpression
        if isOp("-") {
            i += 1
            value = .negate(try parseUnary(withFilters: false), line: opLine)
        } else if isOp("+") {
            i += 1
            value = try parseUnary(withFilters: false)
        } else {
            value = try parsePrimary()
        }
        value = try parsePostfix(value)
        return withFilters ? try parseFilters(value) : value
    }

    private mutating func parsePrimary() throws -> JinjaExpression {
        guard let token = current else { throw JinjaError.syntax("expected an expression, found the end of the template", line: line) }
        i += 1
        switch token.kind {
        case .name(let name):
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name, line: token.line)
            }
        case .string(var s):
            while case .string(let next)? = current?.kind {  // adjacent literals concatenate
                s += next
                i += 1
            }
            return .literal(.string(JinjaText(s)))
        case .integer(let n): return .literal(.int(n))
        case .float(let x): return .literal(.double(x))
        case .op("("):
            let first = try parseExpression()
            if isOp(")") {
                i += 1
                return first
            }
            var items = [first]  // a tuple: treated as a list
            while isOp(",") {
                i += 1
                if isOp(")") { break }
                items.append(try parseExpression())
            }
            try expectOp(")")
            return .tuple(items)
        case .op("["):
            var items: [JinjaExpression] = []
            while !isOp("]") {
                items.append(try parseExpression())
                if !isOp("]") { try expectOp(",") }
            }
            i += 1
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpression, JinjaExpression)] = []
            while !isOp("}") {
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
                if !isOp("}") { try expectOp(",") }
            }
            i += 1
            return .dict(pairs)
        default:
            throw JinjaError.syntax("expected an expression, found \(describe(token))", line: token.line)
        }
    }

    private mutating func parsePostfix(_ base: JinjaExpression) throws -> JinjaExpression {
        var value = base
        while true {
            let opLine = line
            if isOp(".") {
                i += 1
                if case .integer(let n)? = current?.kind {
                    i += 1
                    value = .item(value, .literal(.int(n)), line: opLine)
                } else {
                    value = .attribute(value, try expectName(), line: opLine)
                }
            } else if isOp("[") {
                i += 1
                value = try parseSubscript(value, line: opLine)
            } else if isOp("(") {
                i += 1
                value = .call(value, try parseArguments(), line: opLine)
            } else {
                return value
            }
        }
    }

    private mutating func parseSubscript(_ value: JinjaExpression, line opLine: Int) throws -> JinjaExpression {
        var parts: [JinjaExpression?] = [nil]
        var isSlice = false
        while !isOp("]") {
            if isOp(":") {
                i += 1
                isSlice = true
                parts.append(nil)
                continue
            }
            guard parts[parts.count - 1] == nil else { throw JinjaError.syntax("expected ']' or ':'", line: line) }
            parts[parts.count - 1] = try parseExpression()
        }
        i += 1
        guard isSlice else {
            guard let index = parts[0] else { throw JinjaError.syntax("empty subscript []", line: opLine) }
            return .item(value, index, line: opLine)
        }
        guard parts.count <= 3 else { throw JinjaError.syntax("a slice has at most two ':'", line: opLine) }
        return .slice(value, start: parts[0], stop: parts.count > 1 ? parts[1] : nil,
                      step: parts.count > 2 ? parts[2] : nil, line: opLine)
    }

    /// After "(": arguments up to and including ")".
    private mutating func parseArguments() throws -> JinjaArguments {
        var arguments = JinjaArguments()
        while !isOp(")") {
            if case .name(let key)? = current?.kind, i + 1 < tokens.count, tokens[i + 1].kind == .op("=") {
                i += 2
                arguments.keyword.append((key, try parseExpression()))
            } else {
                arguments.positional.append(try parseExpression())
            }
            if !isOp(")") { try expectOp(",") }
        }
        i += 1
        return arguments
    }

    private mutating func parseFilters(_ base: JinjaExpression) throws -> JinjaExpression {
        var value = base
        while true {
            let opLine = line
            if isOp("|") {
                i += 1
                let name = try expectName()
                guard JinjaFilters.implemented.contains(name) else {
                    throw JinjaError.unsupported("the filter '\(name)'", line: opLine)
                }
                var arguments = JinjaArguments()
                if isOp("(") {
                    i += 1
                    arguments = try parseArguments()
                }
                value = .filter(value, name: name, arguments, line: opLine)
                value = try parsePostfix(value)
            } else if isName("is") {
                i += 1
                var negated = false
                if isName("not") {
                    i += 1
                    negated = true
                }
                let name = try expectName()
                guard JinjaTests.implemented.contains(name) else {
                    throw JinjaError.unsupported("the test '\(name)'", line: opLine)
                }
                var arguments = JinjaArguments()
                if isOp("(") {
                    i += 1
                    arguments = try parseArguments()
                } else if let token = current, Self.startsTestArgument(token.kind) {
                    arguments.positional.append(try parsePostfix(try parsePrimary()))
                }
                value = .test(value, name: name, arguments, negated: negated, line: opLine)
            } else {
                return value
            }
        }
    }

    /// `x is divisibleby 3`, `x is sameas none`: a test may take one argument without parentheses.
    private static func startsTestArgument(_ kind: JinjaToken.Kind) -> Bool {
        switch kind {
        case .string, .integer, .float: return true
        case .name(let n): return !["and", "or", "if", "else", "in", "not", "is"].contains(n)
        case .op(let o): return o == "[" || o == "{"
        default: return false
        }
    }
}
