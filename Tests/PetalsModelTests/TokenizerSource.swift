import PetalsTestSupport
import PluginAPI

/// SmolLM2's tokenizer description, read from the real model file through the model-format
/// plugin exactly as the node reads it (skips when the model has not been fetched).
enum TokenizerSource {
    static func smolLM2() throws -> TokenizerDescription {
        try TestModel.pipeline().shards[0].modelDescription.tokenizer
    }
}
