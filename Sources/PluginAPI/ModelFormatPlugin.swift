import Foundation
import PluginABI

/// Element type of a tensor handed over by a model-format plugin.
public enum TensorType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, iq4_nl = 20, iq4_xs = 23, bf16 = 30

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q8_0: return "Q8_0"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_1: return "Q5_1"
        case .q5_K: return "Q5_K"
        case .iq4_nl: return "IQ4_NL"
        case .iq4_xs: return "IQ4_XS"
        case .q6_K: return "Q6_K"
        case .bf16: return "BF16"
        }
    }

    /// Every type's name, comma separated (for messages that list what is supported).
    public static var supportedNames: String { allCases.map(\.name).joined(separator: ", ") }

    /// (elements, bytes) of one storage block.
    public var blockLayout: (elements: Int, bytes: Int) {
        switch self {
        case .f32: return (1, 4)
        case .f16, .bf16: return (1, 2)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        case .q5_0: return (32, 22)
        case .q8_0: return (32, 34)
        case .q2_K: return (256, 84)
        case .q3_K: return (256, 110)
        case .q4_K: return (256, 144)
        case .q5_1: return (32, 24)
        case .q5_K: return (256, 176)
        case .iq4_nl: return (32, 18)
        case .iq4_xs: return (256, 136)
        case .q6_K: return (256, 210)
        }
    }

    /// Bytes for `count` elements, or nil when count is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        let (n, bytes) = blockLayout
        guard count >= 0, count % n == 0 else { return nil }
        return count / n * bytes
    }
}

/// A read-only view of one mapped tensor. `data` stays valid while its PluginModel lives.
public struct TensorView: @unchecked Sendable {
    public let name: String
    public let type: TensorType
    /// ggml order: dims[0] is the row length.
    public let dims: [Int]
    public let data: UnsafeRawPointer
    public let byteCount: Int

    public var elementCount: Int { dims.reduce(1, *) }
    /// Length of a row (in-features of a weight matrix).
    public var rowLength: Int { dims.first ?? 1 }
    /// Number of rows (out-features of a weight matrix).
    public var rowCount: Int { elementCount / max(rowLength, 1) }
}

/// Host-side handle on a model-format plugin's function table.
public struct ModelFormatPlugin: Sendable {
    public let plugin: LoadedPlugin

    private var table: pp_model_format_vtable {
        plugin.descriptor.pointee.vtable.assumingMemoryBound(to: pp_model_format_vtable.self).pointee
    }

    /// 0 when the plugin cannot read `path`, up to 100 when certain.
    public func probe(path: String) -> Int32 {
        path.withCString { table.probe($0) }
    }

    /// Opens `path`, mapping the tensors of `blocks` (nil: all blocks).
    public func open(path: String, blocks: Range<Int>? = nil) throws -> PluginModel {
        let table = self.table
        var err = [CChar](repeating: 0, count: Int(PP_ERROR_CAPACITY))
        let start = Int32(clamping: blocks?.lowerBound ?? 0)
        let end = Int32(clamping: blocks?.upperBound ?? -1)
        let handle = path.withCString { table.open($0, start, end, &err, err.count) }
        guard let handle else {
            let reason = String(cString: err)
            throw PluginError.openFailed(plugin: plugin.name, path: path,
                                         reason: reason.isEmpty ? "unknown error" : reason)
        }
        do {
            return try PluginModel(plugin: plugin, table: table, handle: handle)
        } catch {
            table.close(handle)
            throw error
        }
    }
}

/// A model opened by a plugin: its description and the mapped tensors of the requested shard.
public final class PluginModel: @unchecked Sendable {
    public let plugin: LoadedPlugin
    public let description: ModelDescription
    public let tensors: [String: TensorView]
    private let table: pp_model_format_vtable
    private let handle: OpaquePointer

    init(plugin: LoadedPlugin, table: pp_model_format_vtable, handle: OpaquePointer) throws {
        self.plugin = plugin
        self.table = table
        self.handle = handle
        guard let json = table.description_json(handle) else {
            throw PluginError.badDescription(plugin: plugin.name, reason: "no description")
        }
        do {
            let bytes = Data(bytes: json, count: strlen(json))
            description = try JSONDecoder().decode(ModelDescription.self, from: bytes)
        } catch {
            throw PluginError.badDescription(plugin: plugin.name, reason: "\(error)")
        }
        var views: [String: TensorView] = [:]
        let count = table.tensor_count(handle)
        for index in 0..<max(count, 0) {
            var info = pp_tensor_info()
            guard table.tensor_at(handle, index, &info) == 0, let cname = info.name, let data = info.data else {
                throw PluginError.badDescription(plugin: plugin.name, reason: "tensor \(index) is unreadable")
            }
            guard let type = TensorType(rawValue: info.dtype) else {
                throw PluginError.badDescription(plugin: plugin.name,
                                                 reason: "tensor \(String(cString: cname)) has unsupported type \(info.dtype)")
            }
            let nDims = Int(min(info.n_dims, 4))
            let dims = withUnsafeBytes(of: info.dims) { raw in
                Array(raw.bindMemory(to: Int64.self).prefix(nDims)).map(Int.init)
            }
            let name = String(cString: cname)
            views[name] = TensorView(name: name, type: type, dims: dims, data: data, byteCount: Int(info.n_bytes))
        }
        tensors = views
    }

    deinit { table.close(handle) }

    /// The tensor `name`, or an error that names it and the shard.
    public func tensor(_ name: String) throws -> TensorView {
        guard let view = tensors[name] else {
            throw PluginError.badDescription(
                plugin: plugin.name,
                reason: "tensor \(name) is missing from blocks [\(description.blockStart), \(description.blockEnd))")
        }
        return view
    }
}
