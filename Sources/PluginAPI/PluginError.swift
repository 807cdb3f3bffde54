import Foundation

/// Errors of the plugin boundary, each naming the file or plugin involved.
public enum PluginError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case directoryNotFound(String)
    case loadFailed(file: String, reason: String)
    case missingEntry(file: String)
    case abiMismatch(file: String, found: UInt32, expected: UInt32)
    case malformedDescriptor(file: String, reason: String)
    case duplicateName(String, file: String)
    case noPluginFor(path: String, available: [String])
    case openFailed(plugin: String, path: String, reason: String)
    case badDescription(plugin: String, reason: String)
    case noTransport(name: String, available: [String])

    public var description: String {
        switch self {
        case .directoryNotFound(let dir):
            return "plugin directory \(dir) does not exist (set --plugins-dir or PLUMISE_PLUGINS_DIR)"
        case .loadFailed(let file, let reason):
            return "cannot load plugin \(file): \(reason)"
        case .missingEntry(let file):
            return "\(file) is not a plumise-petals plugin: it does not export plumise_plugin_entry"
        case .abiMismatch(let file, let found, let expected):
            return "plugin \(file) was built for plugin ABI v\(found), this host speaks v\(expected); rebuild the plugin"
        case .malformedDescriptor(let file, let reason):
            return "plugin \(file) returned a malformed descriptor: \(reason)"
        case .duplicateName(let name, let file):
            return "plugin \(file) is named '\(name)', like a plugin already loaded; it was skipped"
        case .noPluginFor(let path, let available):
            let list = available.isEmpty ? "none loaded" : available.joined(separator: ", ")
            return "no model-format plugin can open \(path) (model-format plugins: \(list))"
        case .openFailed(let plugin, let path, let reason):
            return "\(plugin) plugin could not open \(path): \(reason)"
        case .badDescription(let plugin, let reason):
            return "\(plugin) plugin described the model in a way the host cannot read: \(reason)"
        case .noTransport(let name, let available):
            let list = available.isEmpty ? "none loaded" : available.joined(separator: ", ")
            return "no transport plugin named '\(name)' (transport plugins: \(list))"
        }
    }

    public var errorDescription: String? { description }
}
