/// The merge engine of byte-level BPE.
///
/// Every string that can appear during merging — vocabulary tokens, both sides of every merge
/// rule and their concatenations — is interned once as a *piece* with a small integer id, so
/// merging compares integers instead of strings. A word starts as one piece per byte (the
/// byte's GPT-2 stand-in character); then, as in llama.cpp, the adjacent pair with the lowest
/// merge rank is merged, the leftmost pair first on ties, until no adjacent pair has a rule.
final class BPEMerger: @unchecked Sendable {
    /// Vocabulary id of each piece, or -1 for pieces that are not tokens.
    private var tokenOfPiece: [Int32] = []
    /// UTF-8 text of each piece (in stand-in characters).
    private var textOfPiece: [[UInt8]] = []
    private var pieceOfText: [String: Int32] = [:]
    /// (left piece << 32 | right piece) → (rank, merged piece)
    private var rules: [UInt64: (rank: Int32, merged: Int32)] = [:]
    /// Piece of each byte's stand-in character.
    private var pieceOfByte: [Int32] = []
    /// Vocabulary id of each single ASCII character's token, or -1 (for llama.cpp's fallback).
    private var tokenOfASCII: [Int32] = []

    /// - Parameters:
    ///   - tokenOf: vocabulary lookup (token text → id) covering all token types.
    ///   - merges: "left right" rules in priority order (index = rank).
    init(tokens: [String], tokenOf: [String: Int], merges: [String]) throws {
        pieceOfText.reserveCapacity(tokens.count + merges.count)
        for (id, text) in tokens.enumerated() where tokenOf[text] == id {
            let piece = intern(text)
            tokenOfPiece[Int(piece)] = Int32(id)
        }
        rules.reserveCapacity(merges.count)
        for (rank, rule) in merges.enumerated() {
            // Split at the first space after the first byte, like llama.cpp: a left side never
            // starts with a space, but the rule's text may hold several.
            let utf8 = Array(rule.utf8)
            guard utf8.count >= 3, let split = utf8[1...].firstIndex(of: 0x20), split + 1 < utf8.count else {
                throw TokenizerError.malformedMerge(index: rank, text: rule)
            }
            let left = String(decoding: utf8[..<split], as: UTF8.self)
            let right = String(decoding: utf8[(split + 1)...], as: UTF8.self)
            let key = Self.key(intern(left), intern(right))
            if rules[key] == nil {  // the first (highest-priority) occurrence wins
                rules[key] = (Int32(rank), intern(left + right))
            }
        }
        pieceOfByte = ByteLevel.characterOfByte.map { intern(String(Character(Unicode.Scalar($0)!))) }
        tokenOfASCII = (0..<128).map { Int32(tokenOf[String(Character(Unicode.Scalar(UInt8($0))))] ?? -1) }
    }

    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    private func intern(_ text: String) -> Int32 {
        if let piece = pieceOfText[text] { return piece }
        let piece = Int32(textOfPiece.count)
        pieceOfText[text] = piece
        textOfPiece.append(Array(text.utf8))
        tokenOfPiece.append(-1)
        return piece
    }

    /// The vocabulary id of a whole word given in raw bytes, if the word is itself a token.
    func wholeWordToken(_ bytes: ArraySlice<UInt8>) -> Int? {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes { text.append(contentsOf: ByteLevel.utf8OfByte[Int(byte)]) }
        guard let piece = pieceOfText[String(decoding: text, as: UTF8.self)] else { return nil }
        let token = tokenOfPiece[Int(piece)]
        return token >= 0 ? Int(token) : nil
    }

    /// Merges one word (raw bytes) and appends its token ids to `output`.
    func encode(word bytes: ArraySlice<UInt8>, into output: inout [Int]) {
        let count = bytes.count
        if count == 0 { return }
        var pieces = bytes.map { pieceOfByte[Int($0)] }
        if count > 1 {
            merge(&pieces)
        }
        for piece in pieces where piece >= 0 {
            let token = tokenOfPiece[Int(piece)]
            if token >= 0 {
                output.append(Int(token))
            } else {
                // Not a token: llama.cpp falls back to the piece's single-character tokens,
                // silently dropping what has none.
                for unit in textOfPiece[Int(piece)] where unit < 0x80 {
                    let ascii = tokenOfASCII[Int(unit)]
                    if ascii >= 0 { output.append(Int(ascii)) }
                }
            }
        }
    }

    /// Merges one word of UTF-8 text by characters, as Hugging Face tokenizers' BPE does with
    /// `byte_fallback` (SentencePiece vocabularies in tokenizer.json): each character starts as
    /// its own token; one without a token becomes the `<0xXX>` tokens of its bytes (`byteTokens`,
    /// else `unknown`), which merge with nothing, so the characters between them merge as
    /// separate runs.
    func encode(characters text: [UInt8], byteTokens: [Int?], unknown: Int?, into output: inout [Int]) {
        var run: [Int32] = []
        var lastWasUnknown = false
        func flushRun() {
            if run.isEmpty { return }
            lastWasUnknown = false
            if run.count > 1 { merge(&run) }
            for piece in run where piece >= 0 { output.append(Int(tokenOfPiece[Int(piece)])) }
            run.removeAll(keepingCapacity: true)
        }
        var offset = 0
        while offset < text.count {
            let length = min(UTF8Scalars.length(lead: text[offset]), text.count - offset)
            let character = text[offset..<offset + length]
            offset += length
            if let piece = pieceOfText[String(decoding: character, as: UTF8.self)], tokenOfPiece[Int(piece)] >= 0 {
                run.append(piece)
                continue
            }
            flushRun()
            let bytes = character.map { byteTokens[Int($0)] }
            if bytes.allSatisfy({ $0 != nil }) {
                output.append(contentsOf: bytes.compactMap { $0 })
                lastWasUnknown = false
            } else if let unknown, !lastWasUnknown {
                output.append(unknown)  // fuse_unk (as SentencePiece conversions set it): one for a run
                lastWasUnknown = true
            }
        }
        flushRun()
    }

    /// Merges in place; merged-away positions are set to -1.
    private func merge(_ pieces: inout [Int32]) {
        let count = pieces.count
        var next = [Int32](repeating: -1, count: count)
        var prev = [Int32](repeating: -1, count: count)
        for i in 0..<count {
            next[i] = i + 1 < count ? Int32(i + 1) : -1
            prev[i] = Int32(i - 1)
        }
        var queue = MergeQueue<Candidate>()
        func consider(_ left: Int32, _ right: Int32) {
            guard left >= 0, right >= 0 else { return }
            let l = pieces[Int(left)], r = pieces[Int(right)]
            if let rule = rules[Self.key(l, r)] {
                queue.push(Candidate(rank: rule.rank, left: left, right: right,
                                     leftPiece: l, rightPiece: r, merged: rule.merged))
            }
        }
        for i in 1..<count { consider(Int32(i - 1), Int32(i)) }

        while let best = queue.pop() {
            let left = Int(best.left), right = Int(best.right)
            // Skip candidates made stale by an earlier merge of either side.
            guard pieces[left] == best.leftPiece, pieces[right] == best.rightPiece,
                  next[left] == best.right else { continue }
            pieces[left] = best.merged
            pieces[right] = -1
            let after = next[right]
            next[left] = after
            if after >= 0 { prev[Int(after)] = Int32(left) }
            consider(prev[left], Int32(left))
            consider(Int32(left), after)
        }
    }
}

/// A possible merge of two adjacent symbols.
private struct Candidate: MergeCandidate {
    var rank: Int32
    var left: Int32
    var right: Int32
    var leftPiece: Int32
    var rightPiece: Int32
    var merged: Int32

    /// Lower rank first; on equal rank the leftmost pair first.
    func precedes(_ other: Candidate) -> Bool {
        rank != other.rank ? rank < other.rank : left < other.left
    }
}
