/// Where a new server should place its blocks: the window the swarm covers least (ties go to
/// the lowest start), so that a swarm grows towards full coverage and then towards replicas.
public enum BlockPlacement {
    public static func choose(count: Int, blockCount: Int, served: [Range<Int>]) -> Range<Int> {
        let n = max(1, min(count, blockCount))
        var coverage = [Int](repeating: 0, count: blockCount)
        for range in served {
            for b in range where b >= 0 && b < blockCount { coverage[b] += 1 }
        }
        var best = 0, bestScore = (Int.max, Int.max)
        for start in 0...(blockCount - n) {
            let window = coverage[start..<start + n]
            // Least-covered block first, then least total coverage.
            let score = (window.min() ?? 0, window.reduce(0, +))
            if score < bestScore { (best, bestScore) = (start, score) }
        }
        return best..<best + n
    }
}
