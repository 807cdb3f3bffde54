import PluginAPI
public final class BPETokenizer: @unchecked Sendable {
    public init(_ description: TokenizerDescription) throws {}
    public var vocabularySize: Int { 0 }
    public var bosTokenID: Int? { nil }
    public var eosTokenID: Int? { nil }
    public var addsBOS: Bool { false }
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int] { [] }
    public func decode(_ ids: [Int], renderSpecial: Bool = false) -> String { "" }
    public func isEndOfGeneration(_ id: Int) -> Bool { false }
}
public struct IncrementalDecoder { public init(tokenizer: BPETokenizer) {}; public mutating func append(_ id: Int) -> String { "" }; public mutating func flush() -> String { "" } }
