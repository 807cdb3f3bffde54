import Foundation

/// Writes small GGUF files for tests: metadata of every value type and tensors of any type.
struct GGUFWriter {
    enum Value {
        case u32(UInt32), i32(Int32), f32(Float), bool(Bool), string(String), u64(UInt64)
        case strings([String]), i32s([Int32]), floats([Float])
    }

    var version: UInt32 = 3
    var alignment = 32
    var metadata: [(String, Value)] = []
    var tensors: [(name: String, dims: [Int], type: UInt32, data: [UInt8])] = []

    private func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    private func append(_ s: String, to out: inout [UInt8]) {
        append(UInt64(s.utf8.count), to: &out)
        out.append(contentsOf: s.utf8)
    }

    private func append(_ value: Value, to out: inout [UInt8]) {
        switch value {
        case .u32(let v): append(UInt32(4), to: &out); append(v, to: &out)
        case .i32(let v): append(UInt32(5), to: &out); append(v, to: &out)
        case .f32(let v): append(UInt32(6), to: &out); append(v.bitPattern, to: &out)
        case .bool(let v): append(UInt32(7), to: &out); out.append(v ? 1 : 0)
        case .string(let v): append(UInt32(8), to: &out); append(v, to: &out)
        case .u64(let v): append(UInt32(10), to: &out); append(v, to: &out)
        case .strings(let items):
            append(UInt32(9), to: &out); append(UInt32(8), to: &out); append(UInt64(items.count), to: &out)
            items.forEach { append($0, to: &out) }
        case .i32s(let items):
            append(UInt32(9), to: &out); append(UInt32(5), to: &out); append(UInt64(items.count), to: &out)
            items.forEach { append($0, to: &out) }
        case .floats(let items):
            append(UInt32(9), to: &out); append(UInt32(6), to: &out); append(UInt64(items.count), to: &out)
            items.forEach { append($0.bitPattern, to: &out) }
        }
    }

    func bytes() -> [UInt8] {
        var out: [UInt8] = []
        append(UInt32(0x4655_4747), to: &out)
        append(version, to: &out)
        append(UInt64(tensors.count), to: &out)
        append(UInt64(metadata.count + (alignment != 32 ? 1 : 0)), to: &out)
        for (key, value) in metadata {
            append(key, to: &out)
            append(value, to: &out)
        }
        if alignment != 32 {
            append("general.alignment", to: &out)
            append(.u32(UInt32(alignment)), to: &out)
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset += (tensor.data.count + alignment - 1) / alignment * alignment
        }
        for (tensor, tensorOffset) in zip(tensors, offsets) {
            append(tensor.name, to: &out)
            append(UInt32(tensor.dims.count), to: &out)
            tensor.dims.forEach { append(UInt64($0), to: &out) }
            append(tensor.type, to: &out)
            append(UInt64(tensorOffset), to: &out)
        }
        while out.count % alignment != 0 { out.append(0) }
        for tensor in tensors {
            out.append(contentsOf: tensor.data)
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    /// A tiny llama-shaped model: `blocks` blocks, embedding 64, 4 heads over 2 KV heads,
    /// feed-forward 96, vocabulary 32, with F32, F16, Q8_0, Q4_0 and Q4_1 tensors.
    static func tinyLlama(blocks: Int = 3, version: UInt32 = 3, tiedHead: Bool = false) -> GGUFWriter {
        var w = GGUFWriter()
        w.version = version
        let vocab = (0..<32).map { "t\($0)" }
        w.metadata = [
            ("general.architecture", .string("llama")), ("general.name", .string("tiny")),
            ("llama.block_count", .u32(UInt32(blocks))), ("llama.context_length", .u32(256)),
            ("llama.embedding_length", .u32(64)), ("llama.feed_forward_length", .u32(96)),
            ("llama.attention.head_count", .u32(4)), ("llama.attention.head_count_kv", .u32(2)),
            ("llama.rope.freq_base", .f32(10000)), ("llama.attention.layer_norm_rms_epsilon", .f32(1e-5)),
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("smollm")),
            ("tokenizer.ggml.tokens", .strings(vocab)), ("tokenizer.ggml.token_type", .i32s([Int32](repeating: 1, count: 32))),
            ("tokenizer.ggml.merges", .strings(["t 1", "t 2"])), ("tokenizer.ggml.bos_token_id", .u32(1)),
            ("tokenizer.ggml.eos_token_id", .u32(2)), ("tokenizer.chat_template", .string("<|im_start|>")),
            ("some.float_array", .floats([1, 2, 3])), ("some.flag", .bool(true)), ("some.u64", .u64(7)),
        ]
        func tensor(_ name: String, _ dims: [Int], _ type: UInt32) {
            let elements = dims.reduce(1, *)
            let bytes: Int
            switch type {
            case 0: bytes = elements * 4
            case 1: bytes = elements * 2
            case 2: bytes = elements / 32 * 18
            case 3: bytes = elements / 32 * 20
            default: bytes = elements / 32 * 34
            }
            w.tensors.append((name, dims, type, (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ name.count) }))
        }
        tensor("token_embd.weight", [64, 32], 8)
        for b in 0..<blocks {
            tensor("blk.\(b).attn_norm.weight", [64], 0)
            tensor("blk.\(b).attn_q.weight", [64, 64], 3)
            tensor("blk.\(b).attn_k.weight", [64, 32], 2)
            tensor("blk.\(b).attn_v.weight", [64, 32], 1)
            tensor("blk.\(b).attn_output.weight", [64, 64], 3)
            tensor("blk.\(b).ffn_norm.weight", [64], 0)
            tensor("blk.\(b).ffn_gate.weight", [64, 96], 3)
            tensor("blk.\(b).ffn_up.weight", [64, 96], 3)
            tensor("blk.\(b).ffn_down.weight", [96, 64], 8)
        }
        tensor("output_norm.weight", [64], 0)
        if !tiedHead { tensor("output.weight", [64, 32], 8) }
        return w
    }
}
