/// What a model-format plugin says about an opened model: the JSON schema documented in
/// plumise_plugin.h, shared by the host (decoding) and plugins (encoding).
public struct ModelDescription: Codable, Equatable, Sendable {
    public var architecture: String
    public var name: String
    public var blockCount: Int
    public var blockStart: Int
    public var blockEnd: Int
    public var contextLength: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var headCountKV: Int
    public var ropeFreqBase: Float
    public var ropeDimensionCount: Int
    /// "normal" (adjacent pairs, GGUF llama), "neox" (rotate halves, HF llama) or "none".
    public var ropeStyle: String
    public var normEpsilon: Float
    public var vocabSize: Int
    public var tiedEmbeddings: Bool
    /// The feed-forward activation: "silu" (gated, llama), "gelu_tanh" (GPT-2's gelu_new,
    /// BLOOM), "gelu" (exact, erf) or "gelu_tanh_f16_table" (the tanh form read from ggml's
    /// table of f16 inputs, as llama.cpp computes Gemma's gate). Optional in the JSON; nil means
    /// the architecture's own.
    public var activation: String?
    /// The model's network id (see ``ModelIdentity``), e.g. "HuggingFaceTB/SmolLM2-135M-Instruct".
    /// Optional in the JSON; nil means the plugin could not tell (the host falls back to `name`).
    public var modelID: String?
    /// Values per attention head (GGUF `attention.key_length`, HF `head_dim`) when it is not
    /// embedding_length / head_count (Qwen3, Gemma 3). Optional in the JSON.
    public var headDim: Int?
    /// Sliding-window attention (Gemma 3): the window, every how many blocks one is global
    /// (llama.cpp's pattern: block b slides unless b % pattern == pattern - 1), and the rotary
    /// base of the sliding blocks. Optional in the JSON.
    public var slidingWindow: Int?
    public var slidingWindowPattern: Int?
    public var ropeFreqBaseSliding: Float?
    /// The attention's score scale when the model sets it (HF Gemma 3's query_pre_attn_scalar^-1/2,
    /// GGUF llama's `attention.scale`); nil means the architecture's rule (1 / sqrt(head size)).
    /// Optional in the JSON.
    public var attentionScale: Float?
    public var tokenizer: TokenizerDescription

    public init(architecture: String, name: String, blockCount: Int, blockStart: Int, blockEnd: Int,
                contextLength: Int, embeddingLength: Int, feedForwardLength: Int, headCount: Int,
                headCountKV: Int, ropeFreqBase: Float, ropeDimensionCount: Int, ropeStyle: String,
                normEpsilon: Float, vocabSize: Int, tiedEmbeddings: Bool, activation: String? = nil,
                modelID: String? = nil, headDim: Int? = nil, slidingWindow: Int? = nil,
                slidingWindowPattern: Int? = nil, ropeFreqBaseSliding: Float? = nil, attentionScale: Float? = nil,
                tokenizer: TokenizerDescription) {
        self.architecture = architecture
        self.name = name
        self.blockCount = blockCount
        self.blockStart = blockStart
        self.blockEnd = blockEnd
        self.contextLength = contextLength
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.headCount = headCount
        self.headCountKV = headCountKV
        self.ropeFreqBase = ropeFreqBase
        self.ropeDimensionCount = ropeDimensionCount
        self.ropeStyle = ropeStyle
        self.normEpsilon = normEpsilon
        self.vocabSize = vocabSize
        self.tiedEmbeddings = tiedEmbeddings
        self.activation = activation
        self.modelID = modelID
        self.headDim = headDim
        self.slidingWindow = slidingWindow
        self.slidingWindowPattern = slidingWindowPattern
        self.ropeFreqBaseSliding = ropeFreqBaseSliding
        self.attentionScale = attentionScale
        self.tokenizer = tokenizer
    }

    enum CodingKeys: String, CodingKey {
        case architecture, name
        case blockCount = "block_count", blockStart = "block_start", blockEnd = "block_end"
        case contextLength = "context_length", embeddingLength = "embedding_length"
        case feedForwardLength = "feed_forward_length", headCount = "head_count"
        case headCountKV = "head_count_kv", ropeFreqBase = "rope_freq_base"
        case ropeDimensionCount = "rope_dimension_count", ropeStyle = "rope_style"
        case normEpsilon = "norm_epsilon", vocabSize = "vocab_size"
        case tiedEmbeddings = "tied_embeddings", activation, modelID = "model_id", tokenizer, headDim = "head_dim"
        case slidingWindow = "sliding_window", slidingWindowPattern = "sliding_window_pattern"
        case ropeFreqBaseSliding = "rope_freq_base_swa", attentionScale = "attention_scale"
    }
}

/// The tokenizer of a model, as stored in GGUF metadata or derived from tokenizer.json.
public struct TokenizerDescription: Codable, Equatable, Sendable {
    /// Tokenizer family: "gpt2" is byte-level BPE, "llama" SentencePiece (scores, byte fallback),
    /// "sentencepiece-bpe" a SentencePiece vocabulary as Hugging Face tokenizers runs it from a
    /// tokenizer.json (BPE with `byte_fallback`: characters, spaces as "▁", merged by rank).
    public var model: String
    /// Pre-tokenizer name in llama.cpp's vocabulary: "smollm", "gpt2", "llama3", "bloom", ...
    public var pre: String
    public var tokens: [String]
    /// llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
    public var tokenTypes: [Int32]
    /// "left right" pairs in merge priority order.
    public var merges: [String]
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var addBOSToken: Bool
    public var chatTemplate: String?
    /// Whether decoding removes the spaces a word-level tokenizer leaves before punctuation.
    /// Optional in the JSON; nil means the pre-tokenizer's default (llama.cpp's choice per
    /// `pre`). Hugging Face tokenizers decode without it unless their config asks for it.
    public var cleanSpaces: Bool?
    /// SentencePiece token scores (`tokenizer.ggml.scores`), by id. Optional in the JSON.
    public var scores: [Float]?
    /// SentencePiece: whether a space is prefixed to text at the start of the input and after
    /// special tokens (`tokenizer.ggml.add_space_prefix`; nil means llama.cpp's default, true).
    public var addSpacePrefix: Bool?
    /// The token that stands for bytes without one (`tokenizer.ggml.unknown_token_id`).
    public var unknownTokenID: Int?
    /// "sentencepiece-bpe": where "▁" is prefixed to text: "always" (every text between special
    /// tokens: a Prepend normalizer), "metaspace-always" (every such text that does not start
    /// with a space), "metaspace-first" (only the text that starts the input, unless it starts
    /// with a space) or "never" (nil).
    public var spacePrefix: String?
    /// Unicode normalization applied to text between special tokens before encoding: "nfc"
    /// (tokenizer.json's NFC normalizer, as Qwen2.5's), or nil for none.
    public var normalization: String?

    public init(model: String, pre: String, tokens: [String], tokenTypes: [Int32], merges: [String],
                bosTokenID: Int?, eosTokenID: Int?, addBOSToken: Bool, chatTemplate: String?,
                cleanSpaces: Bool? = nil, scores: [Float]? = nil, addSpacePrefix: Bool? = nil,
                unknownTokenID: Int? = nil, spacePrefix: String? = nil, normalization: String? = nil) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.addBOSToken = addBOSToken
        self.chatTemplate = chatTemplate
        self.cleanSpaces = cleanSpaces
        self.scores = scores
        self.addSpacePrefix = addSpacePrefix
        self.unknownTokenID = unknownTokenID
        self.spacePrefix = spacePrefix
        self.normalization = normalization
    }

    enum CodingKeys: String, CodingKey {
        case model, pre, tokens, merges
        case tokenTypes = "token_types", bosTokenID = "bos_token_id", eosTokenID = "eos_token_id"
        case addBOSToken = "add_bos_token", chatTemplate = "chat_template", cleanSpaces = "clean_spaces"
        case scores, addSpacePrefix = "add_space_prefix", unknownTokenID = "unknown_token_id"
        case spacePrefix = "space_prefix", normalization
    }
}
