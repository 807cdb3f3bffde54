import PluginAPI

/// A tensor a shard needs, found in its file and checked.
struct ResolvedTensor {
    let spec: TensorSpec
    let header: SafetensorsHeader
    let entry: SafetensorsEntry
    let type: TensorType
}

/// Maps the bytes of the tensors a shard needs, and nothing else: per file, their byte ranges
/// sorted and merged when less than `coalesceGap` apart, one read-only mapping per run.
/// Tensors stored in another layout than the host's are rearranged into owned buffers.
enum TensorMapper {
    static let coalesceGap = 1 << 20

    static func map(_ tensors: [ResolvedTensor], into storage: ModelStorage) throws -> [ExportedTensor] {
        var pointers: [String: UnsafeRawPointer] = [:] // canonical name → mapped bytes
        let byFile = Dictionary(grouping: tensors, by: { $0.header.path })
        for (path, group) in byFile.sorted(by: { $0.key < $1.key }) {
            let sorted = group.sorted { $0.entry.range.lowerBound < $1.entry.range.lowerBound }
            var run: [ResolvedTensor] = []
            func flush() throws {
                guard let first = run.first else { return }
                let start = first.entry.range.lowerBound
                let end = run.map(\.entry.range.upperBound).max() ?? first.entry.range.upperBound
                let region: MappedFile
                do {
                    region = try MappedFile(path: path, offset: start, length: end - start)
                } catch .io(let reason) {
                    throw SafetensorsError.io(path: path, reason: reason)
                } catch .empty {
                    throw SafetensorsError.io(path: path, reason: "the file is empty")
                }
                storage.regions.append(region)
                for tensor in run {
                    pointers[tensor.spec.canonical] = region.bytes.baseAddress! + (tensor.entry.range.lowerBound - start)
                }
                run = []
            }
            for tensor in sorted {
                if let previous = run.last, tensor.entry.range.lowerBound - previous.entry.range.upperBound > coalesceGap {
                    try flush()
                }
                run.append(tensor)
            }
            try flush()
        }
        return tensors.map { tensor in
            let source = pointers[tensor.spec.canonical]!
            let bytes = tensor.entry.range.count
            let data: UnsafeRawPointer
            if tensor.spec.transform == .addOne {
                let count = tensor.entry.shape.reduce(1, *)
                let owned = OwnedBytes(count: count * 4)
                addOne(tensor.type, count, from: source, into: owned.pointer.assumingMemoryBound(to: Float.self))
                storage.owned.append(owned)
                return ExportedTensor(name: tensor.spec.canonical, type: .f32, dims: tensor.spec.hostDims,
                                      data: UnsafeRawPointer(owned.pointer), byteCount: count * 4)
            }
            if tensor.spec.transform == .none {
                data = source
            } else {
                let owned = OwnedBytes(count: bytes)
                rearrange(tensor, from: source, into: owned.pointer)
                storage.owned.append(owned)
                data = UnsafeRawPointer(owned.pointer)
            }
            return ExportedTensor(name: tensor.spec.canonical, type: tensor.type, dims: tensor.spec.hostDims,
                                  data: data, byteCount: bytes)
        }
    }

    private static func rearrange(_ tensor: ResolvedTensor, from source: UnsafeRawPointer, into destination: UnsafeMutableRawPointer) {
        let shape = tensor.entry.shape
        switch tensor.type.blockLayout.bytes {
        case 4: rearrange(tensor.spec.transform, shape, source.assumingMemoryBound(to: UInt32.self),
                          destination.assumingMemoryBound(to: UInt32.self))
        default: rearrange(tensor.spec.transform, shape, source.assumingMemoryBound(to: UInt16.self),
                           destination.assumingMemoryBound(to: UInt16.self))
        }
    }

    /// dst[i] = 1 + src[i] in f32, src being F32, F16 or BF16 (the only dtypes resolved).
    static func addOne(_ type: TensorType, _ count: Int, from source: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>) {
        switch type {
        case .f16:
            let src = source.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = 1 + Float(Float16(bitPattern: src[i])) }
        case .bf16:
            let src = source.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { dst[i] = 1 + Float(bitPattern: UInt32(src[i]) << 16) }
        default:
            let src = source.assumingMemoryBound(to: Float.self)
            for i in 0..<count { dst[i] = 1 + src[i] }
        }
    }

    /// Element-wise copy in the host's order (elements are moved bit for bit, never converted).
    static func rearrange<Element>(_ transform: TensorTransform, _ shape: [Int],
                                   _ src: UnsafePointer<Element>, _ dst: UnsafeMutablePointer<Element>) {
        switch transform {
        case .none, .addOne:
            dst.update(from: src, count: shape.reduce(1, *))
        case .transpose:
            // [rows, cols] → [cols, rows]
            let rows = shape[0], cols = shape.count > 1 ? shape[1] : 1
            for r in 0..<rows {
                for c in 0..<cols { dst[c * rows + r] = src[r * cols + c] }
            }
        case .groupQKVByPart(let heads, let headDim):
            // Source rows run (head, part, d); destination rows (part, head, d).
            let cols = shape.count > 1 ? shape[1] : 1
            for h in 0..<heads {
                for part in 0..<3 {
                    let from = src + (h * 3 + part) * headDim * cols
                    let to = dst + (part * heads + h) * headDim * cols
                    to.update(from: from, count: headDim * cols)
                }
            }
        }
    }
}
