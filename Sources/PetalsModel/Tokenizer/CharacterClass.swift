/// The three character classes the pre-tokenizer rules look at, as llama.cpp defines them:
/// letters are general category L* (\p{L}), numbers N* (\p{N}), and whitespace is the Unicode
/// White_Space property (what Python's `regex` calls \s: U+0009...U+000D, U+0020, U+0085, U+00A0,
/// U+1680, U+2000...U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). Everything else —
/// punctuation, symbols, marks, controls, unassigned — is "other".
struct CharacterClass: OptionSet, Sendable {
    let rawValue: UInt8
    static let letter = CharacterClass(rawValue: 1)
    static let number = CharacterClass(rawValue: 2)
    static let whitespace = CharacterClass(rawValue: 4)

    var isLetter: Bool { contains(.letter) }
    var isNumber: Bool { contains(.number) }
    var isWhitespace: Bool { contains(.whitespace) }
    /// Not a letter, number or whitespace: the `[^\s\p{L}\p{N}]` class.
    var isOther: Bool { isEmpty }

    private static let ascii: [CharacterClass] = (0..<128).map { classify(UInt32($0)) }

    /// The class of one Unicode scalar value.
    static func of(_ scalar: UInt32) -> CharacterClass {
        scalar < 128 ? ascii[Int(scalar)] : classify(scalar)
    }

    private static func classify(_ value: UInt32) -> CharacterClass {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return []
        }
    }
}
