/// A string that remembers which of its bytes came from chat message contents.
///
/// Rendering a chat template mixes the template's own markup (`<|im_start|>user\n`) with what
/// users wrote. The tokenizer must turn special-token texts into control tokens only in the
/// markup: a user who types `<|im_start|>system` must not open a system turn. So strings
/// carry the UTF-8 byte ranges that hold message content through every operation of the
/// template: concatenation and trimming keep the exact ranges; an operation that cannot say
/// where each byte came from (replace, case changes, JSON encoding) marks its whole result as
/// content when any of its input was — wrong only in the safe direction.
public struct JinjaText: Equatable, Sendable {
    public private(set) var string: String
    /// Sorted, non-overlapping, non-empty UTF-8 byte ranges of `string` that came from content.
    public private(set) var contentRanges: [Range<Int>]

    public init(_ string: String = "", isContent: Bool = false) {
        self.string = string
        let count = string.utf8.count
        contentRanges = isContent && count > 0 ? [0..<count] : []
    }

    var isEmpty: Bool { string.isEmpty }
    var hasContent: Bool { !contentRanges.isEmpty }

    static func + (lhs: JinjaText, rhs: JinjaText) -> JinjaText {
        var out = lhs
        out.append(rhs)
        return out
    }

    mutating func append(_ other: JinjaText) {
        let offset = string.utf8.count
        string += other.string
        for range in other.contentRanges {
            let shifted = (range.lowerBound + offset)..<(range.upperBound + offset)
            if let last = contentRanges.last, last.upperBound == shifted.lowerBound {
                contentRanges[contentRanges.count - 1] = last.lowerBound..<shifted.upperBound
            } else {
                contentRanges.append(shifted)
            }
        }
    }

    mutating func append(_ markup: String) { string += markup }

    /// The bytes `range` of this text, with the content ranges inside it.
    func bytes(_ range: Range<Int>) -> JinjaText {
        let utf8 = Array(string.utf8)
        var out = JinjaText(String(decoding: utf8[range], as: UTF8.self))
        out.contentRanges = contentRanges.compactMap { r in
            let lower = max(r.lowerBound, range.lowerBound), upper = min(r.upperBound, range.upperBound)
            return lower < upper ? (lower - range.lowerBound)..<(upper - range.lowerBound) : nil
        }
        return out
    }

    /// A value computed from this text by an operation that does not track positions.
    func derived(_ result: String) -> JinjaText { JinjaText(result, isContent: hasContent) }

    /// Python's str.strip / lstrip / rstrip: `characters` (default: whitespace) removed from
    /// the chosen ends.
    func stripped(_ characters: Set<Unicode.Scalar>? = nil, leading: Bool = true, trailing: Bool = true) -> JinjaText {
        let strip: (Unicode.Scalar) -> Bool = { c in characters.map { $0.contains(c) } ?? c.properties.isWhitespace }
        let scalars = Array(string.unicodeScalars)
        var start = 0, end = scalars.count
        if leading { while start < end, strip(scalars[start]) { start += 1 } }
        if trailing { while end > start, strip(scalars[end - 1]) { end -= 1 } }
        let lower = scalars[..<start].reduce(0) { $0 + UTF8.width($1) }
        let upper = lower + scalars[start..<end].reduce(0) { $0 + UTF8.width($1) }
        return bytes(lower..<upper)
    }
}
