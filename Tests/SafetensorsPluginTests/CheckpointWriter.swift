import Foundation

/// Writes small Hugging Face model directories for the tests: .safetensors files (any header
/// the test wants, valid or not), config.json and tokenizer.json.
struct CheckpointWriter {
    struct Tensor {
        var name: String
        var dtype = "F32"
        var shape: [Int]
        /// Element values; F32 stored as is, F16/BF16 converted, other dtypes as zero bytes.
        var values: [Float]
    }

    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func bytes(of tensor: Tensor) -> [UInt8] {
        var out: [UInt8] = []
        for v in tensor.values {
            switch tensor.dtype {
            case "F32": withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 }
            case "F16": withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { out += $0 }
            case "BF16": withUnsafeBytes(of: UInt16(truncatingIfNeeded: v.bitPattern >> 16).littleEndian) { out += $0 }
            case "I64": out += [UInt8](repeating: 0, count: 8)
            default: fatalError("dtype \(tensor.dtype) not written by the tests")
            }
        }
        return out
    }

    /// A valid safetensors file holding `tensors` in order.
    @discardableResult
    func safetensors(_ name: String, _ tensors: [Tensor], metadata: [String: String] = ["format": "pt"]) throws -> String {
        var header: [String: Any] = ["__metadata__": metadata]
        var data: [UInt8] = []
        for tensor in tensors {
            let bytes = Self.bytes(of: tensor)
            header[tensor.name] = ["dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [data.count, data.count + bytes.count]]
            data += bytes
        }
        return try raw(name, header: try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]), data: data)
    }

    /// A file with exactly this header text and data (for broken files).
    @discardableResult
    func raw(_ name: String, header: Data, data: [UInt8], declaredLength: UInt64? = nil) throws -> String {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(header.count)).littleEndian) { bytes += $0 }
        bytes += header
        bytes += data
        try Data(bytes).write(to: directory.appendingPathComponent(name))
        return path(name)
    }

    func json(_ name: String, _ object: Any) throws {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            .write(to: directory.appendingPathComponent(name))
    }

    /// A byte-level BPE tokenizer.json with GPT-2's pre-tokenizer: the 256 byte characters,
    /// one merge and one special token.
    func gpt2Tokenizer(merges: Any = [["Ġ", "t"]], preTokenizer: Any? = nil) throws {
        var vocab: [String: Int] = [:]
        var next = 0
        for byte in 0..<256 {
            vocab[String(Character(Unicode.Scalar(Self.standIn(UInt8(byte)))!))] = next
            next += 1
        }
        vocab["Ġt"] = next
        vocab["<|endoftext|>"] = next + 1
        try json("tokenizer.json", [
            "version": "1.0",
            "added_tokens": [["id": next + 1, "content": "<|endoftext|>", "special": true]],
            "normalizer": NSNull(),
            "pre_tokenizer": preTokenizer ?? ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "post_processor": ["type": "ByteLevel"],
            "decoder": ["type": "ByteLevel"],
            "model": ["type": "BPE", "vocab": vocab, "merges": merges],
        ] as [String: Any])
    }

    /// GPT-2's printable stand-in character of a byte.
    static func standIn(_ byte: UInt8) -> UInt32 {
        let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
        if printable { return UInt32(byte) }
        var n: UInt32 = 0
        for b in 0..<Int(byte) {
            let p = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if !p { n += 1 }
        }
        return 256 + n
    }

    /// Sequential values 0, 1, 2, ... scaled, so every element is recognisable.
    static func ramp(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { Float($0) * scale } }
}
