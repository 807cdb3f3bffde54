/// Finds stop sequences in generated text as it streams: text is released only once it can no
/// longer turn into the start of a stop sequence, and everything from the first stop on is cut.
public struct StopSequences: Sendable {
    public let sequences: [String]
    /// Text held back because it ends with the beginning of a stop sequence.
    private var pending = ""
    /// True once a stop sequence appeared; nothing more is released after it.
    public private(set) var stopped = false

    public init(_ sequences: [String]) {
        self.sequences = sequences.filter { !$0.isEmpty }
    }

    public var isEmpty: Bool { sequences.isEmpty }

    /// Adds a piece of generated text; returns what can be released now.
    public mutating func append(_ piece: String) -> String {
        guard !stopped else { return "" }
        pending += piece
        if let cut = sequences.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
            stopped = true
            let released = String(pending[..<cut])
            pending = ""
            return released
        }
        let hold = heldBackLength()
        let releasedEnd = pending.index(pending.endIndex, offsetBy: -hold)
        let released = String(pending[..<releasedEnd])
        pending = String(pending[releasedEnd...])
        return released
    }

    /// What is still held back, released when generation ends without a stop.
    public mutating func flush() -> String {
        defer { pending = "" }
        return stopped ? "" : pending
    }

    /// Characters at the end of `pending` that begin some stop sequence (the longest such run).
    private func heldBackLength() -> Int {
        var longest = 0
        for sequence in sequences {
            var n = min(sequence.count, pending.count)
            while n > longest {
                if pending.hasSuffix(sequence.prefix(n)) { longest = n; break }
                n -= 1
            }
        }
        return longest
    }
}
