/// Parses a token stream into statements, with jinja2's operator precedence (lowest first):
/// `x if c else y`, `or`, `and`, `not`, comparisons and `in`, `+ -`, `~`, `* / // %`, `**`,
/// unary `-`, then primaries with `.attr`, `[index]`, `[a:b:c]`, calls, `| filter` and `is test`.
/// Filters and tests are checked against what the renderer implements, so a template using
/// anything else is refused when it is loaded, naming the construct.
struct JinjaParser {
    let tokens: [JinjaToken]
    var i = 0

    static func parse(_ source: String) throws -> [JinjaNode] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source))
        let (body, end) = try parser.parseBody(until: [])
        if let end { throw JinjaError.syntax("unexpected {% \(end.name) %}", line: end.line) }
        return body
    }

    init(tokens: [JinjaToken]) { self.tokens = tokens }

    // MARK: Token helpers

    var current: JinjaToken? { i < tokens.count ? tokens[i] : nil }
    var line: Int { current?.line ?? tokens.last?.line ?? 1 }

    func isOp(_ op: String) -> Bool { current?.kind == .op(op) }
    func isName(_ name: String) -> Bool { current?.kind == .name(name) }

    mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw JinjaError.syntax("expected '\(op)', found \(describe(current))", line: line) }
        i += 1
    }

    mutating func expectName() throws -> String {
        guard case .name(let name)? = current?.kind else {
            throw JinjaError.syntax("expected a name, found \(describe(current))", line: line)
        }
        i += 1
        return name
    }

    mutating func expectKeyword(_ word: String) throws {
        guard isName(word) else { throw JinjaError.syntax("expected '\(word)', found \(describe(current))", line: line) }
        i += 1
    }

    mutating func expect(_ kind: JinjaToken.Kind, _ what: String) throws {
        guard current?.kind == kind else { throw JinjaError.syntax("expected \(what), found \(describe(current))", line: line) }
        i += 1
    }

    func describe(_ token: JinjaToken?) -> String {
        guard let token else { return "the end of the template" }
        switch token.kind {
        case .text: return "text"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .name(let n): return "'\(n)'"
        case .string(let s): return "string '\(s)'"
        case .integer(let n): return "\(n)"
        case .float(let x): return "\(x)"
        case .op(let o): return "'\(o)'"
        }
    }

    // MARK: Statements

    /// Statements up to a block tag named in `ends` (its name consumed, the rest of the tag not).
    private mutating func parseBody(until ends: Set<String>) throws -> ([JinjaNode], (name: String, line: Int)?) {
        var nodes: [JinjaNode] = []
        while let token = current {
            switch token.kind {
            case .text(let text):
                nodes.append(.text(text))
                i += 1
            case .variableBegin:
                i += 1
                nodes.append(.output(try parseExpression()))
                try expect(.variableEnd, "'}}'")
            case .blockBegin:
                i += 1
                let tagLine = line
                let tag = try expectName()
                if ends.contains(tag) { return (nodes, (tag, tagLine)) }
                nodes.append(try parseStatement(tag, line: tagLine))
            default:
                throw JinjaError.syntax("unexpected \(describe(token))", line: token.line)
            }
        }
        if !ends.isEmpty {
            let wanted = ends.sorted().map { "{% \($0) %}" }.joined(separator: " or ")
            throw JinjaError.syntax("the template ends before \(wanted)", line: line)
        }
        return (nodes, nil)
    }

    private mutating func endTag() throws { try expect(.blockEnd, "'%}'") }

    private mutating func parseStatement(_ tag: String, line tagLine: Int) throws -> JinjaNode {
        switch tag {
        case "if": return try parseIf()
        case "for": return try parseFor(line: tagLine)
        case "set": return try parseSet(line: tagLine)
        case "macro": return try parseMacro()
        case "break", "continue":
            try endTag()
            return tag == "break" ? .breakLoop(line: tagLine) : .continueLoop(line: tagLine)
        case "generation":
            // Hugging Face's AssistantTracker marks assistant text for training masks; rendering
            // is unchanged, so the body renders in place.
            try endTag()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try endTag()
            return .conditional([(.literal(.bool(true)), body)], otherwise: [])
        default:
            throw JinjaError.unsupported("the {% \(tag) %} statement", line: tagLine)
        }
    }

    private mutating func parseIf() throws -> JinjaNode {
        var branches: [(JinjaExpression, [JinjaNode])] = []
        var condition = try parseExpression()
        try endTag()
        while true {
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch end?.name {
            case "elif":
                condition = try parseExpression()
                try endTag()
            case "else":
                try endTag()
                let (otherwise, _) = try parseBody(until: ["endif"])
                try endTag()
                return .conditional(branches, otherwise: otherwise)
            default:
                try endTag()
                return .conditional(branches, otherwise: [])
            }
        }
    }

    private mutating func parseFor(line tagLine: Int) throws -> JinjaNode {
        var targets = [try expectName()]
        while isOp(",") {
            i += 1
            targets.append(try expectName())
        }
        try expectKeyword("in")
        let iterable = try parseExpression(allowConditional: false)
        var condition: JinjaExpression?
        if isName("if") {
            i += 1
            condition = try parseExpression(allowConditional: false)
        }
        if isName("recursive") { throw JinjaError.unsupported("recursive loops", line: tagLine) }
        try endTag()
        let (body, end) = try parseBody(until: ["else", "endfor"])
        var otherwise: [JinjaNode] = []
        try endTag()
        if end?.name == "else" {
            (otherwise, _) = try parseBody(until: ["endfor"])
            try endTag()
        }
        return .loop(JinjaLoop(targets: targets, iterable: iterable, condition: condition, body: body,
                               otherwise: otherwise, line: tagLine))
    }

    private mutating func parseSet(line tagLine: Int) throws -> JinjaNode {
        let first = try expectName()
        if isOp(".") {
            i += 1
            let field = try expectName()
            try expectOp("=")
            let value = try parseExpression()
            try endTag()
            return .assign(.attribute(object: first, field: field), value, line: tagLine)
        }
        var names = [first]
        while isOp(",") {
            i += 1
            names.append(try expectName())
        }
        if names.count == 1, current?.kind == .blockEnd {
            try endTag()
            let (body, _) = try parseBody(until: ["endset"])
            try endTag()
            return .assignBlock(first, body)
        }
        try expectOp("=")
        let value = try parseExpression()
        try endTag()
        return .assign(.names(names), value, line: tagLine)
    }

    private mutating func parseMacro() throws -> JinjaNode {
        let name = try expectName()
        try expectOp("(")
        var parameters: [(String, JinjaExpression?)] = []
        while !isOp(")") {
            let parameter = try expectName()
            var defaultValue: JinjaExpression?
            if isOp("=") {
                i += 1
                defaultValue = try parseExpression()
            }
            parameters.append((parameter, defaultValue))
            if !isOp(")") { try expectOp(",") }
        }
        i += 1
        try endTag()
        let (body, _) = try parseBody(until: ["endmacro"])
        if case .name? = current?.kind { i += 1 }  // {% endmacro name %}
        try endTag()
        return .macro(JinjaMacro(name: name, parameters: parameters, body: body))
    }
}
