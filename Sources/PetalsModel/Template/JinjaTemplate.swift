import Foundation

/// A parsed Jinja template of the subset, rendered against variables and the chat-template
/// globals (`raise_exception`, `namespace`, `range`, `strftime_now`).
struct JinjaTemplate {
    private let nodes: [JinjaNode]

    /// Parses `source`; a construct outside the subset is refused here, by name.
    init(_ source: String) throws {
        nodes = try JinjaParser.parse(source)
    }

    func render(_ variables: [String: JinjaValue], now: @escaping @Sendable () -> Date) throws -> JinjaText {
        var globals = JinjaBuiltins.globals(now: now)
        globals.merge(variables) { _, given in given }
        return try JinjaRenderer(globals: globals).render(nodes)
    }
}
