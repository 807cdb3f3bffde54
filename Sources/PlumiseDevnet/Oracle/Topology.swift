import Foundation

/// How plumise-oracle splits a model's layers over the nodes that serve it
/// (src/modules/pipeline/pipeline.service.ts assignLayers): one node takes every layer; several
/// get contiguous ranges in registration order, each Math.round(totalLayers × weight / Σweight)
/// layers and the last node the rest, where a node's weight is its RAM on CPU (or without
/// VRAM), else its VRAM, and at least 1.
public enum Topology {
    /// The memory that counts for a node: VRAM on accelerators, RAM on CPU; at least 1.
    public static func weight(device: String, ramMb: Int, vramMb: Int) -> Int {
        let memory = device == "cpu" || vramMb == 0 ? ramMb : vramMb
        return memory == 0 ? 1 : memory
    }

    /// Ranges over 0..<totalLayers, one per weight, in order (plumise-oracle's arithmetic,
    /// JavaScript's Math.round included: halves round up).
    public static func split(totalLayers: Int, weights: [Int]) -> [Range<Int>] {
        guard !weights.isEmpty else { return [] }
        if weights.count == 1 { return [0..<totalLayers] }
        let total = Double(weights.reduce(0, +))
        var ranges: [Range<Int>] = []
        var current = 0
        for (i, weight) in weights.enumerated() {
            let count = i == weights.count - 1
                ? totalLayers - current
                : Int((Double(totalLayers) * Double(weight) / total + 0.5).rounded(.down))
            let end = max(current, current + count)
            ranges.append(current..<end)
            current += count
        }
        return ranges
    }

    /// plumise-oracle's MODEL_LAYERS, looked up by the exact model string a node sends: the
    /// oracle knows only its own models and assumes 32 layers for every other.
    public static let modelLayers: [String: Int] = ["qwen/qwen3-32b": 64, "qwen/qwen3.5-397b-a17b": 96]
    public static let defaultLayers = 32

    public static func totalLayers(model: String) -> Int { modelLayers[model] ?? defaultLayers }
}
