/// Why a Hugging Face model directory could not be opened; every message names the file
/// (and the tensor or key) at fault.
enum SafetensorsError: Error, CustomStringConvertible {
    case io(path: String, reason: String)
    /// The 8-byte length, the JSON header or an entry of a .safetensors file is invalid.
    case badHeader(path: String, reason: String)
    /// model.safetensors.index.json is invalid or points at files or tensors that are not there.
    case badIndex(path: String, reason: String)
    /// config.json lacks a key or holds a value the architecture cannot have.
    case badConfig(path: String, reason: String)
    case badTokenizer(path: String, reason: String)
    /// A tensor the requested blocks need is in no file of the model.
    case missingTensor(name: String, directory: String, neededFor: String)
    case wrongShape(name: String, path: String, found: [Int], expected: [Int])
    case unsupportedDType(name: String, path: String, dtype: String)
    case unsupported(path: String, reason: String)

    var description: String {
        switch self {
        case .io(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .badHeader(let path, let reason):
            return "\(path) is not a valid safetensors file: \(reason)"
        case .badIndex(let path, let reason):
            return "\(path) is not a valid safetensors index: \(reason)"
        case .badConfig(let path, let reason):
            return "\(path): \(reason)"
        case .badTokenizer(let path, let reason):
            return "\(path): \(reason)"
        case .missingTensor(let name, let directory, let neededFor):
            return "tensor \(name) (needed for \(neededFor)) is missing from the safetensors files of \(directory)"
        case .wrongShape(let name, let path, let found, let expected):
            return "tensor \(name) in \(path) has shape \(found), but config.json implies \(expected)"
        case .unsupportedDType(let name, let path, let dtype):
            return "tensor \(name) in \(path) has dtype \(dtype); supported: F32, F16, BF16"
        case .unsupported(let path, let reason):
            return "\(path) is not supported: \(reason)"
        }
    }
}
