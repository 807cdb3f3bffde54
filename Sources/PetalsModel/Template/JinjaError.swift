/// Why a Jinja chat template could not be parsed or rendered. Messages name the construct and
/// the template line, so a user can tell an unsupported feature from a broken template.
public enum JinjaError: Error, Equatable, CustomStringConvertible {
    /// The template is not valid Jinja (as far as this subset reads it).
    case syntax(String, line: Int)
    /// A valid Jinja construct this subset does not implement (e.g. `{% include %}`, a filter).
    case unsupported(String, line: Int)
    /// Rendering failed: a type error, an undefined value used as an object, a bad argument.
    case runtime(String, line: Int)
    /// The template called `raise_exception(message)` (e.g. "roles must alternate").
    case raised(String)

    public var description: String {
        switch self {
        case .syntax(let why, let line): return "template syntax error on line \(line): \(why)"
        case .unsupported(let what, let line): return "the template uses \(what) (line \(line)), which this Jinja subset does not implement"
        case .runtime(let why, let line): return "template error on line \(line): \(why)"
        case .raised(let message): return "the template refused the chat: \(message)"
        }
    }
}
