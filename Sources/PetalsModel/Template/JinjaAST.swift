/// An expression of the Jinja subset, with the line it starts on for error messages.
indirect enum JinjaExpression {
    case literal(JinjaValue)
    case name(String, line: Int)
    case list([JinjaExpression])
    case tuple([JinjaExpression])
    case dict([(JinjaExpression, JinjaExpression)])
    case attribute(JinjaExpression, String, line: Int)
    case item(JinjaExpression, JinjaExpression, line: Int)
    case slice(JinjaExpression, start: JinjaExpression?, stop: JinjaExpression?, step: JinjaExpression?, line: Int)
    case call(JinjaExpression, JinjaArguments, line: Int)
    case filter(JinjaExpression, name: String, JinjaArguments, line: Int)
    case test(JinjaExpression, name: String, JinjaArguments, negated: Bool, line: Int)
    case not(JinjaExpression)
    case negate(JinjaExpression, line: Int)
    case binary(String, JinjaExpression, JinjaExpression, line: Int)
    case and(JinjaExpression, JinjaExpression)
    case or(JinjaExpression, JinjaExpression)
    case conditional(then: JinjaExpression, condition: JinjaExpression, otherwise: JinjaExpression?)
}

/// Positional and keyword arguments of a call, filter or test.
struct JinjaArguments {
    var positional: [JinjaExpression] = []
    var keyword: [(String, JinjaExpression)] = []
}

/// A statement of the template body.
indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpression)
    /// `if`/`elif` branches in order, then the `else` body.
    case conditional([(JinjaExpression, [JinjaNode])], otherwise: [JinjaNode])
    case loop(JinjaLoop)
    /// `{% set a = … %}`, `{% set a, b = … %}` or `{% set ns.field = … %}`.
    case assign(JinjaAssignTarget, JinjaExpression, line: Int)
    /// `{% set name %}…{% endset %}`: the rendered body as a string.
    case assignBlock(String, [JinjaNode])
    case macro(JinjaMacro)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

enum JinjaAssignTarget {
    case names([String])
    case attribute(object: String, field: String)
}

struct JinjaLoop {
    var targets: [String]
    var iterable: JinjaExpression
    /// `{% for x in xs if condition %}`: items failing it are skipped (and not counted by loop.*).
    var condition: JinjaExpression?
    var body: [JinjaNode]
    /// Rendered when nothing was iterated.
    var otherwise: [JinjaNode]
    var line: Int
}

/// `{% macro name(a, b=default) %}…{% endmacro %}`.
final class JinjaMacro {
    let name: String
    let parameters: [(String, JinjaExpression?)]
    let body: [JinjaNode]
    init(name: String, parameters: [(String, JinjaExpression?)], body: [JinjaNode]) {
        self.name = name
        self.parameters = parameters
        self.body = body
    }
}
