import Foundation
import PluginABI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kind of work a plugin does, read from its descriptor.
public enum PluginKind: String, Sendable {
    case modelFormat = "model-format"
    case transport = "transport"
}

/// A plugin library that loaded and passed the ABI check. Libraries are never unloaded:
/// models and connections may point into them for the life of the process.
public final class LoadedPlugin: @unchecked Sendable {
    public let file: String
    public let name: String
    public let version: String
    public let summary: String
    public let kind: PluginKind
    let descriptor: UnsafePointer<pp_plugin_descriptor>

    init(file: String, descriptor: UnsafePointer<pp_plugin_descriptor>) throws {
        let d = descriptor.pointee
        guard d.abi_version == PP_PLUGIN_ABI_VERSION else {
            throw PluginError.abiMismatch(file: file, found: d.abi_version, expected: PP_PLUGIN_ABI_VERSION)
        }
        guard let name = d.name.map({ String(cString: $0) }), !name.isEmpty else {
            throw PluginError.malformedDescriptor(file: file, reason: "no name")
        }
        guard d.vtable != nil else {
            throw PluginError.malformedDescriptor(file: file, reason: "no function table")
        }
        // Read only the leading struct_size before trusting the table's full size.
        let declaredSize = Int(d.vtable.load(as: UInt32.self))
        switch d.kind {
        case UInt32(PP_KIND_MODEL_FORMAT.rawValue):
            guard declaredSize >= MemoryLayout<pp_model_format_vtable>.size else {
                throw PluginError.malformedDescriptor(file: file, reason: "incomplete model-format table")
            }
            let table = d.vtable.assumingMemoryBound(to: pp_model_format_vtable.self).pointee
            guard table.probe != nil, table.open != nil, table.close != nil,
                  table.description_json != nil, table.tensor_count != nil, table.tensor_at != nil
            else { throw PluginError.malformedDescriptor(file: file, reason: "incomplete model-format table") }
            kind = .modelFormat
        case UInt32(PP_KIND_TRANSPORT.rawValue):
            // Tables of older plugins end at `close`; the functions after it are optional.
            let required = MemoryLayout<pp_transport_vtable>.offset(of: \pp_transport_vtable.peer_host)
                ?? MemoryLayout<pp_transport_vtable>.size
            guard declaredSize >= required else {
                throw PluginError.malformedDescriptor(file: file, reason: "incomplete transport table")
            }
            let table = d.vtable.assumingMemoryBound(to: pp_transport_vtable.self).pointee
            guard table.listen != nil, table.accept != nil, table.close_listener != nil,
                  table.connect != nil, table.send_all != nil, table.recv_exact != nil, table.close != nil
            else { throw PluginError.malformedDescriptor(file: file, reason: "incomplete transport table") }
            kind = .transport
        default:
            throw PluginError.malformedDescriptor(file: file, reason: "unknown plugin kind \(d.kind)")
        }
        self.file = file
        self.name = name
        self.version = d.version.map { String(cString: $0) } ?? "?"
        self.summary = d.description.map { String(cString: $0) } ?? ""
        self.descriptor = descriptor
    }

    /// This plugin as a model-format plugin, or nil when it is of another kind.
    public var modelFormat: ModelFormatPlugin? {
        kind == .modelFormat ? ModelFormatPlugin(plugin: self) : nil
    }
}

/// Finds, loads and checks plugin libraries. A bad plugin never stops the host: its error is
/// recorded in `failures` (naming the file) and the other plugins load as usual.
public final class PluginHost: @unchecked Sendable {
    /// Environment variable that overrides the default plugin directory.
    public static let directoryEnvironmentKey = "PLUMISE_PLUGINS_DIR"

    public let directory: String
    public private(set) var plugins: [LoadedPlugin] = []
    public private(set) var failures: [PluginError] = []

    /// Plugin libraries are files named lib<Name>Plugin.so (lib<Name>Plugin.dylib on macOS).
    public static func isPluginFileName(_ name: String) -> Bool {
        name.hasPrefix("lib") && (name.hasSuffix("Plugin.so") || name.hasSuffix("Plugin.dylib"))
    }

    /// The directory to load from: an explicit choice, else $PLUMISE_PLUGINS_DIR, else the
    /// directory of the running executable (where `swift build` puts the plugin libraries).
    public static func resolveDirectory(explicit: String? = nil,
                                        environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let fromEnv = environment[directoryEnvironmentKey], !fromEnv.isEmpty { return fromEnv }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        let candidate = Bundle.main.executableURL ?? executable
        var dir = candidate.deletingLastPathComponent()
        // Under XCTest the executable lives inside a .xctest bundle in the build directory.
        while dir.path.contains(".xctest") { dir.deleteLastPathComponent() }
        return dir.path
    }

    /// Loads every plugin file in `directory`. Throws only when the directory itself is missing.
    public init(directory: String) throws {
        self.directory = directory
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw PluginError.directoryNotFound(directory)
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.filter(Self.isPluginFileName).sorted() {
            load(file: (directory as NSString).appendingPathComponent(name))
        }
    }

    /// Loads one more plugin file; returns it, or nil with the reason appended to `failures`.
    @discardableResult
    public func load(file: String) -> LoadedPlugin? {
        do {
            let plugin = try Self.open(file: file)
            if plugins.contains(where: { $0.name == plugin.name }) {
                throw PluginError.duplicateName(plugin.name, file: file)
            }
            plugins.append(plugin)
            return plugin
        } catch let error as PluginError {
            failures.append(error)
        } catch {
            failures.append(.loadFailed(file: file, reason: "\(error)"))
        }
        return nil
    }

    private static func open(file: String) throws -> LoadedPlugin {
        guard FileManager.default.fileExists(atPath: file) else {
            throw PluginError.loadFailed(file: file, reason: "no such file")
        }
        guard let handle = dlopen(file, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw PluginError.loadFailed(file: file, reason: reason)
        }
        guard let symbol = dlsym(handle, PP_PLUGIN_ENTRY_SYMBOL) else {
            dlclose(handle)
            throw PluginError.missingEntry(file: file)
        }
        let entry = unsafeBitCast(symbol, to: pp_plugin_entry_fn.self)
        guard let descriptor = entry() else {
            throw PluginError.malformedDescriptor(file: file, reason: "entry returned NULL")
        }
        return try LoadedPlugin(file: file, descriptor: descriptor)
    }

    public var modelFormats: [ModelFormatPlugin] { plugins.compactMap(\.modelFormat) }

    public func plugin(named name: String) -> LoadedPlugin? { plugins.first { $0.name == name } }

    /// Opens a model with the model-format plugin most confident it can read `path`.
    public func openModel(path: String, blocks: Range<Int>? = nil) throws -> PluginModel {
        let scored = modelFormats.map { ($0, $0.probe(path: path)) }.filter { $0.1 > 0 }
        guard let best = scored.max(by: { $0.1 < $1.1 })?.0 else {
            throw PluginError.noPluginFor(path: path, available: modelFormats.map(\.plugin.name))
        }
        return try best.open(path: path, blocks: blocks)
    }
}
