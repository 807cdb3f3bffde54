import PluginAPI

/// One transformer block of a shard: its weights and its forward pass, in its architecture's
/// own file (LlamaBlock.swift: llama, Mistral, Qwen2, Qwen3; Gemma3Block.swift; LayerNormBlock.swift:
/// BLOOM, GPT-2). ModelShard runs the blocks one after the other without knowing what they are.
protocol TransformerBlock: Sendable {
    /// Runs the rows `x` of a batch (in place) through the block: each sequence's rows at its
    /// own positions, appending their keys and values to layer `layer` of its own cache. A row
    /// gets the same bits whatever else is in the batch.
    func forward(_ shard: ModelShard, layer: Int, x: UnsafeMutablePointer<Float>, batch: BatchLayout)
}

extension Architecture {
    /// The weights of block `block` of `model`, for this architecture's block.
    func makeBlock(model: PluginModel, block: Int, hp: ModelHyperparameters) throws -> any TransformerBlock {
        if isLlamaFamily { return try LlamaBlockWeights(model: model, block: block, hp: hp) }
        if self == .gemma3 { return try Gemma3BlockWeights(model: model, block: block, hp: hp) }
        return try LayerNormBlockWeights(model: model, block: block, hp: hp)
    }
}
