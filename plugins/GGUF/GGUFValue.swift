/// A metadata value of a GGUF file.
enum GGUFValue: Equatable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])
    /// Arrays of strings and of integers are common and large (vocabularies): kept unboxed.
    case strings([String])
    case ints([Int64])
    /// Arrays of f32 (SentencePiece token scores).
    case floats([Float])

    var int: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(exactly: v)
        default: return nil
        }
    }

    var double: Double? {
        switch self {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return nil
        }
    }

    var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    var stringArray: [String]? {
        switch self {
        case .strings(let v): return v
        case .array(let items) where items.isEmpty: return []
        default: return nil
        }
    }

    var floatArray: [Float]? {
        switch self {
        case .floats(let v): return v
        case .array(let items) where items.isEmpty: return []
        default: return nil
        }
    }

    var intArray: [Int64]? {
        switch self {
        case .ints(let v): return v
        case .array(let items) where items.isEmpty: return []
        default: return nil
        }
    }
}
