import Foundation

/// Why the node's configuration could not be loaded, with the setting (or file and line) at
/// fault. Messages never contain the private key's value.
public enum ConfigError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// An explicitly named `.env` file does not exist or cannot be read.
    case envFileUnreadable(path: String, reason: String)
    /// A line of a `.env` file is not `KEY=VALUE`, a comment or blank.
    case malformedLine(file: String, line: Int, reason: String)
    /// A setting has a value the node cannot use; `value` is already redacted for secrets.
    case invalidValue(setting: String, value: String, reason: String)
    /// A command-line override names no known setting.
    case unknownSetting(String)
    /// `serve` needs the agent key and none was given.
    case missingPrivateKey

    public var description: String {
        switch self {
        case .envFileUnreadable(let path, let reason):
            return "cannot read env file \(path): \(reason)"
        case .malformedLine(let file, let line, let reason):
            return "\(file):\(line): malformed line: \(reason)"
        case .invalidValue(let setting, let value, let reason):
            return "invalid \(setting) '\(value)': \(reason)"
        case .unknownSetting(let name):
            return "unknown setting \(name)"
        case .missingPrivateKey:
            return "PLUMISE_PRIVATE_KEY is not set: serving needs the agent's key "
                + "(32 bytes hex, with or without 0x) in the environment, the .env file or --private-key"
        }
    }

    public var errorDescription: String? { description }

    /// The setting the error is about, when it is about one.
    public var setting: String? {
        switch self {
        case .invalidValue(let setting, _, _): return setting
        case .unknownSetting(let name): return name
        case .missingPrivateKey: return NodeConfig.Key.privateKey.rawValue
        case .envFileUnreadable, .malformedLine: return nil
        }
    }
}
