/// How the oracle splits a model's layers over the nodes that serve it (plumise-oracle's
/// pipeline assignment): contiguous ranges in registration order, sized in proportion to each
/// node's memory (VRAM, or RAM for CPU nodes), the last node taking the remainder.
public enum Topology {
    /// The memory that counts for a node: VRAM on accelerators, RAM on CPU; at least 1.
    public static func weight(device: String, ramMb: Int, vramMb: Int) -> Int {
        max(1, device.lowercased() == "cpu" || vramMb == 0 ? ramMb : vramMb)
    }

    /// Ranges covering 0..<totalLayers, one per weight, in order. Every node gets at least one
    /// layer while there are enough layers to go round.
    public static func split(totalLayers: Int, weights: [Int]) -> [Range<Int>] {
        guard !weights.isEmpty, totalLayers > 0 else { return weights.map { _ in 0..<0 } }
        let total = Double(weights.reduce(0) { $0 + max($1, 1) })
        var ranges: [Range<Int>] = []
        var start = 0
        for (i, weight) in weights.enumerated() {
            let remainingNodes = weights.count - i - 1
            var count: Int
            if remainingNodes == 0 {
                count = totalLayers - start
            } else {
                count = Int((Double(totalLayers) * Double(max(weight, 1)) / total).rounded())
                // Leave a layer for each node still to come, and take one if there is room.
                count = min(count, max(0, totalLayers - start - remainingNodes))
                if count == 0 && totalLayers - start > remainingNodes { count = 1 }
            }
            ranges.append(start..<start + count)
            start += count
        }
        return ranges
    }

    /// Layer counts of models the dev oracle knows by name (plumise-oracle keeps such a table);
    /// others default to 32 unless the registration says.
    public static func knownLayers(model: String) -> Int? {
        let name = model.lowercased()
        if name.contains("smollm2-135m") { return 30 }
        if name.contains("bloom-560m") || name.contains("gpt-oss-20b") { return 24 }
        if name.contains("llama-3.1-8b") { return 32 }
        return nil
    }
}
