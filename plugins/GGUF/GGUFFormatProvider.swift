import PluginAPI

/// GGUF model-format provider (work in progress: the parser lands separately).
struct GGUFFormatProvider: ModelFormatProvider {
    let name = "gguf"
    let version = "0.1.0"
    let summary = "GGUF v2/v3 models (F32, F16, Q4_0, Q4_1, Q8_0), memory-mapped per shard"
    func probe(path: String) -> Int32 { 0 }
    func open(path: String, blockStart: Int, blockEnd: Int?) throws -> ExportedModel {
        throw PluginOpenError("GGUF parsing is not built yet")
    }
}
