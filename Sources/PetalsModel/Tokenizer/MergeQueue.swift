/// A candidate merge of two adjacent symbols, ordered by the tokenizer's rule.
protocol MergeCandidate {
    /// Whether this candidate is merged before `other`.
    func precedes(_ other: Self) -> Bool
}

/// A binary heap of merge candidates, the first by `precedes` on top (byte-level BPE: lowest
/// rank; SentencePiece: highest score; leftmost on ties in both).
struct MergeQueue<Candidate: MergeCandidate> {
    private var heap: [Candidate] = []

    mutating func push(_ candidate: Candidate) {
        heap.append(candidate)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Candidate? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var best = parent
                if left < heap.count && heap[left].precedes(heap[best]) { best = left }
                if right < heap.count && heap[right].precedes(heap[best]) { best = right }
                if best == parent { break }
                heap.swapAt(parent, best)
                parent = best
            }
        }
        return top
    }
}
