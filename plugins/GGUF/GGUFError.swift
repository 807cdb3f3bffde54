/// Why a GGUF file could not be read; every message names the file.
enum GGUFError: Error, CustomStringConvertible {
    case io(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unsupported(path: String, reason: String)

    var description: String {
        switch self {
        case .io(let path, let reason): return "cannot read \(path): \(reason)"
        case .malformed(let path, let reason): return "\(path) is not a valid GGUF file: \(reason)"
        case .unsupported(let path, let reason): return "\(path) is not supported: \(reason)"
        }
    }
}
