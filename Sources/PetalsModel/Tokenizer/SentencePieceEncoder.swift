/// SentencePiece-style encoding of GGUF vocabularies with `tokenizer.ggml.model` "llama"
/// (Llama 2, Mistral, Gemma): tokens carry scores instead of a merge list, spaces are spelled
/// "▁", and characters without a token fall back to `<0xXX>` byte tokens.
///
/// This is llama.cpp's `llm_tokenizer_spm_session`: start from one symbol per UTF-8 character,
/// repeatedly merge the adjacent pair whose concatenation is the vocabulary token with the
/// highest score (ties: the leftmost pair), and emit each final symbol as its token, or as
/// byte tokens when it has none.
struct SentencePieceEncoder: Sendable {
    /// "▁" (U+2581), SentencePiece's visible space.
    static let space: [UInt8] = [0xE2, 0x96, 0x81]

    /// `text` with every space spelled "▁", after one more "▁" when `prefixed`.
    static func escapingSpaces(_ text: ArraySlice<UInt8>, prefixed: Bool) -> [UInt8] {
        var escaped: [UInt8] = prefixed ? space : []
        escaped.reserveCapacity(text.count + 8)
        for byte in text {
            if byte == 0x20 { escaped += space } else { escaped.append(byte) }
        }
        return escaped
    }

    /// Token ids by their UTF-8 bytes.
    private let idOfBytes: [[UInt8]: Int]
    private let scores: [Float]
    /// The token of each byte value: `<0xAB>`, else the one-byte text, else nil.
    private let byteTokens: [Int?]

    init(tokens: [String], idOfBytes: [[UInt8]: Int], scores: [Float]) throws {
        guard scores.count >= tokens.count else {
            throw TokenizerError.scoreCountMismatch(tokens: tokens.count, scores: scores.count)
        }
        self.idOfBytes = idOfBytes
        self.scores = scores
        byteTokens = (0...255).map { (byte: Int) -> Int? in
            let hex = String(byte, radix: 16, uppercase: true)
            return idOfBytes[Array("<0x\(hex.count == 1 ? "0" + hex : hex)>".utf8)] ?? idOfBytes[[UInt8(byte)]]
        }
    }

    /// The token of byte `value` (llama.cpp's `byte_to_token`).
    func byteToken(_ value: UInt8) -> Int? { byteTokens[Int(value)] }

    /// Appends the ids of `text` (already prefixed and with spaces escaped as "▁").
    func encode(_ text: [UInt8], into output: inout [Int], unknown: Int?) {
        guard !text.isEmpty else { return }
        // One symbol per UTF-8 character (llama.cpp's unicode_len_utf8 on the lead byte).
        var starts: [Int] = []
        var lengths: [Int] = []
        var offset = 0
        while offset < text.count {
            let length = min(UTF8Scalars.length(lead: text[offset]), text.count - offset)
            starts.append(offset)
            lengths.append(length)
            offset += length
        }
        let count = starts.count
        var previous = Array(-1..<(count - 1))
        var next = Array(1...count)
        next[count - 1] = -1

        var queue = MergeQueue<Bigram>()
        func tryAddBigram(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let size = lengths[left] + lengths[right]
            guard let token = idOfBytes[Array(text[starts[left]..<starts[left] + size])], token < scores.count else { return }
            queue.push(Bigram(left: left, right: right, score: scores[token], size: size))
        }
        for i in 1..<max(count, 1) { tryAddBigram(i - 1, i) }

        while let bigram = queue.pop() {
            let (left, right) = (bigram.left, bigram.right)
            // Skip pairs whose symbols changed since they were queued.
            guard lengths[left] > 0, lengths[right] > 0, lengths[left] + lengths[right] == bigram.size else { continue }
            lengths[left] += lengths[right]
            lengths[right] = 0
            next[left] = next[right]
            if next[right] >= 0 { previous[next[right]] = left }
            tryAddBigram(previous[left], left)
            tryAddBigram(left, next[left])
        }

        var i = 0
        while i != -1 {
            let bytes = text[starts[i]..<starts[i] + lengths[i]]
            if let token = idOfBytes[Array(bytes)] {
                output.append(token)
            } else {
                // A symbol that formed no token: byte fallback (merged symbols are always tokens).
                for byte in bytes {
                    if let token = byteTokens[Int(byte)] ?? unknown { output.append(token) }
                }
            }
            i = next[i]
        }
    }
}

/// A candidate merge of two adjacent symbols.
private struct Bigram: MergeCandidate {
    let left: Int
    let right: Int
    let score: Float
    let size: Int

    /// llama.cpp's priority: the higher score first, then the leftmost.
    func precedes(_ other: Bigram) -> Bool {
        score > other.score || (score == other.score && left < other.left)
    }
}
