import Foundation
import PluginABI

// Plugin-side helpers: turn a Swift ModelFormatProvider into the C descriptor a plugin's
// `plumise_plugin_entry` returns. Each plugin library links its own copy of this file, so the
// globals below are per plugin.

/// One tensor a plugin exposes. `data` must stay valid while the owning ExportedModel lives.
public struct ExportedTensor {
    public var name: String
    public var type: TensorType
    public var dims: [Int]
    public var data: UnsafeRawPointer
    public var byteCount: Int

    public init(name: String, type: TensorType, dims: [Int], data: UnsafeRawPointer, byteCount: Int) {
        self.name = name
        self.type = type
        self.dims = dims
        self.data = data
        self.byteCount = byteCount
    }
}

/// An opened model on the plugin side. `storage` keeps the mapping (or buffers) alive.
public final class ExportedModel {
    let descriptionJSON: UnsafeMutablePointer<CChar>
    public let tensors: [ExportedTensor]
    let names: [UnsafeMutablePointer<CChar>]
    let storage: AnyObject?

    public init(description: ModelDescription, tensors: [ExportedTensor], storage: AnyObject?) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(description), as: UTF8.self)
        self.descriptionJSON = strdup(json)
        self.tensors = tensors
        self.names = tensors.map { strdup($0.name) }
        self.storage = storage
    }

    /// The description as it crosses the boundary (JSON).
    public var descriptionText: String { String(cString: descriptionJSON) }

    deinit {
        free(descriptionJSON)
        names.forEach { free($0) }
    }
}

/// Errors a provider throws from `open`; their description reaches the host verbatim.
public struct PluginOpenError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// What a model-format plugin implements in Swift.
public protocol ModelFormatProvider {
    var name: String { get }
    var version: String { get }
    var summary: String { get }
    /// 0 when `path` is not this format, up to 100 when certain. Must not throw or crash.
    func probe(path: String) -> Int32
    /// Opens `path` mapping blocks [blockStart, blockEnd) (blockEnd nil: to the last block).
    func open(path: String, blockStart: Int, blockEnd: Int?) throws -> ExportedModel
}

nonisolated(unsafe) private var exportedProvider: ModelFormatProvider?
nonisolated(unsafe) private var exportedDescriptor: UnsafeMutablePointer<pp_plugin_descriptor>?
private let exportLock = NSLock()

func writePluginError(_ message: String, _ err: UnsafeMutablePointer<CChar>?, _ cap: Int) {
    guard let err, cap > 0 else { return }
    let bytes = Array(message.utf8.prefix(cap - 1))
    bytes.withUnsafeBufferPointer { buf in
        buf.withMemoryRebound(to: CChar.self) { chars in
            err.update(from: chars.baseAddress!, count: chars.count)
        }
    }
    err[bytes.count] = 0
}

private let modelFormatTable: pp_model_format_vtable = {
    var table = pp_model_format_vtable()
    table.struct_size = UInt32(MemoryLayout<pp_model_format_vtable>.size)
    table.probe = { path in
        guard let path, let provider = exportedProvider else { return 0 }
        return provider.probe(path: String(cString: path))
    }
    table.open = { path, start, end, err, cap in
        guard let path, let provider = exportedProvider else {
            writePluginError("plugin not initialised", err, cap)
            return nil
        }
        do {
            let model = try provider.open(path: String(cString: path), blockStart: Int(start),
                                          blockEnd: end < 0 ? nil : Int(end))
            return OpaquePointer(Unmanaged.passRetained(model).toOpaque())
        } catch {
            writePluginError("\(error)", err, cap)
            return nil
        }
    }
    table.close = { handle in
        guard let handle else { return }
        Unmanaged<ExportedModel>.fromOpaque(UnsafeRawPointer(handle)).release()
    }
    table.description_json = { handle in
        guard let handle else { return nil }
        return UnsafePointer(Unmanaged<ExportedModel>.fromOpaque(UnsafeRawPointer(handle))
            .takeUnretainedValue().descriptionJSON)
    }
    table.tensor_count = { handle in
        guard let handle else { return 0 }
        return Int32(Unmanaged<ExportedModel>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue().tensors.count)
    }
    table.tensor_at = { handle, index, out in
        guard let handle, let out else { return -1 }
        let model = Unmanaged<ExportedModel>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
        guard index >= 0, Int(index) < model.tensors.count else { return -1 }
        let tensor = model.tensors[Int(index)]
        var info = pp_tensor_info()
        info.name = UnsafePointer(model.names[Int(index)])
        info.dtype = tensor.type.rawValue
        info.n_dims = UInt32(min(tensor.dims.count, 4))
        var dims: [Int64] = [1, 1, 1, 1]
        for (i, d) in tensor.dims.prefix(4).enumerated() { dims[i] = Int64(d) }
        info.dims = (dims[0], dims[1], dims[2], dims[3])
        info.data = tensor.data
        info.n_bytes = UInt64(tensor.byteCount)
        out.pointee = info
        return 0
    }
    return table
}()

private let modelFormatTablePointer: UnsafeMutablePointer<pp_model_format_vtable> = {
    let pointer = UnsafeMutablePointer<pp_model_format_vtable>.allocate(capacity: 1)
    pointer.initialize(to: modelFormatTable)
    return pointer
}()

public enum PluginExport {
    /// A descriptor that lives for the rest of the process (plugins are never unloaded).
    static func makeDescriptor(kind: pp_plugin_kind, name: String, version: String, summary: String,
                               vtable: UnsafeRawPointer) -> UnsafeMutablePointer<pp_plugin_descriptor> {
        let descriptor = UnsafeMutablePointer<pp_plugin_descriptor>.allocate(capacity: 1)
        descriptor.initialize(to: pp_plugin_descriptor(
            abi_version: PP_PLUGIN_ABI_VERSION, kind: UInt32(kind.rawValue),
            name: UnsafePointer(strdup(name)), version: UnsafePointer(strdup(version)),
            description: UnsafePointer(strdup(summary)), vtable: vtable))
        return descriptor
    }

    /// The descriptor for a model-format plugin. Call from the plugin's
    /// `@_cdecl("plumise_plugin_entry")` function; repeated calls return the same descriptor.
    public static func modelFormat(_ provider: ModelFormatProvider) -> UnsafePointer<pp_plugin_descriptor> {
        exportLock.lock()
        defer { exportLock.unlock() }
        if let existing = exportedDescriptor { return UnsafePointer(existing) }
        exportedProvider = provider
        let descriptor = makeDescriptor(kind: PP_KIND_MODEL_FORMAT, name: provider.name, version: provider.version,
                                        summary: provider.summary, vtable: UnsafeRawPointer(modelFormatTablePointer))
        exportedDescriptor = descriptor
        return UnsafePointer(descriptor)
    }
}
