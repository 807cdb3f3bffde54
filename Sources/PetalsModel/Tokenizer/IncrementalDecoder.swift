/// Streaming detokenizer: feed token ids one at a time and get back only complete UTF-8 text.
///
/// A character whose bytes span several tokens (an emoji is often split in two) is held back
/// until its last byte arrives, so the pieces returned never contain a broken character, and
/// their concatenation (plus `flush()`) equals `tokenizer.decode(ids)` — exactly so for
/// pre-tokenizers without space cleaning (see `BPETokenizer.cleansSpaces`).
public struct IncrementalDecoder {
    private let tokenizer: BPETokenizer
    private let renderSpecial: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: BPETokenizer, renderSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
    }

    /// Adds one token; returns the text that became complete (possibly empty).
    public mutating func append(_ id: Int) -> String {
        pending.append(contentsOf: tokenizer.tokenBytes(id, renderSpecial: renderSpecial))
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Returns whatever is still held back (an unfinished character becomes U+FFFD) and resets.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a character that could still be
    /// completed by more bytes. Bytes that can never become valid are released (they decode to
    /// U+FFFD either way).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        // A character is at most 4 bytes: only the last 3 can be an unfinished one.
        var start = count - 1
        while start >= 0 && start >= count - 3 {
            let byte = bytes[start]
            if byte & 0xC0 != 0x80 {  // a lead (or ASCII) byte: is it an unfinished sequence?
                let needed = byte >= 0xF0 && byte <= 0xF4 ? 4 : byte >= 0xE0 && byte <= 0xEF ? 3
                    : byte >= 0xC2 && byte <= 0xDF ? 2 : 1
                let have = count - start
                if needed > have && isValidPrefix(bytes[start...]) { return start }
                return count
            }
            start -= 1
        }
        return count
    }

    /// Whether the continuation bytes seen so far are allowed after this lead byte.
    private static func isValidPrefix(_ sequence: ArraySlice<UInt8>) -> Bool {
        let lead = sequence[sequence.startIndex]
        for (offset, byte) in sequence.dropFirst().enumerated() {
            var low: UInt8 = 0x80, high: UInt8 = 0xBF
            if offset == 0 {
                switch lead {
                case 0xE0: low = 0xA0
                case 0xED: high = 0x9F
                case 0xF0: low = 0x90
                case 0xF4: high = 0x8F
                default: break
                }
            }
            if byte < low || byte > high { return false }
        }
        return true
    }
}
