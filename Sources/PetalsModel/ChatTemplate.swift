import Foundation

/// One message of a chat.
public struct ChatMessage: Codable, Equatable, Sendable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Text to tokenize, with the UTF-8 byte ranges that must be read as plain text: a chat's
/// message contents, where a special-token text such as "<|im_start|>" is what the user
/// typed, not a turn marker. A plain prompt has no such ranges (special texts in it are
/// tokens, as llama.cpp's `parse_special`).
public struct PromptText: Equatable, Sendable, ExpressibleByStringLiteral {
    public var text: String
    /// Sorted, non-overlapping UTF-8 byte ranges of `text`.
    public var literalRanges: [Range<Int>]

    public init(_ text: String, literalRanges: [Range<Int>] = []) {
        self.text = text
        self.literalRanges = literalRanges
    }

    public init(stringLiteral value: String) { self.init(value) }
}

/// Renders chats into the prompt format a model was trained on, by running the model's own
/// Jinja chat template (GGUF `tokenizer.chat_template`, or tokenizer_config.json /
/// chat_template.jinja) with the variables Hugging Face's `apply_chat_template` passes:
/// `messages`, `add_generation_prompt`, `bos_token`, `eos_token`. The template is parsed once;
/// one that uses a construct outside the implemented Jinja subset is refused at load, naming
/// the construct.
public struct ChatTemplate: @unchecked Sendable {  // immutable after init
    public let source: String
    public let bosToken: String
    public let eosToken: String
    private let template: JinjaTemplate
    private let now: @Sendable () -> Date

    /// Parses `template` (the model's `chat_template`), or throws naming what is missing or
    /// unsupported.
    public init(template: String?, bosToken: String = "", eosToken: String = "",
                now: @escaping @Sendable () -> Date = { Date() }) throws {
        guard let template, !template.isEmpty else {
            throw ModelError.chatTemplateUnsupported("the model has no chat template; pass a plain prompt")
        }
        do {
            self.template = try JinjaTemplate(template)
        } catch let error as JinjaError {
            throw ModelError.chatTemplateUnsupported(error.description)
        }
        source = template
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.now = now
    }

    /// The chat template of a model: its own (`template`), else the built-in one for its
    /// architecture; `bos_token` and `eos_token` are the vocabulary's texts of those tokens.
    public init(template: String?, architecture: String, tokenizer: BPETokenizer) throws {
        try self.init(template: template ?? BuiltInChatTemplates.template(forArchitecture: architecture),
                      bosToken: tokenizer.bosTokenID.flatMap(tokenizer.tokenText) ?? "",
                      eosToken: tokenizer.eosTokenID.flatMap(tokenizer.tokenText) ?? "")
    }

    /// The prompt for `messages`, ending with the assistant's turn opened when
    /// `addGenerationPrompt` (what the model should continue). Message contents are marked
    /// in the result's `literalRanges`.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> PromptText {
        let messageValues: [JinjaValue] = messages.map { message in
            .dict(JinjaDict([("role", .string(JinjaText(message.role, isContent: true))),
                             ("content", .string(JinjaText(message.content, isContent: true)))]))
        }
        let variables: [String: JinjaValue] = [
            "messages": .list(messageValues),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        do {
            let rendered = try template.render(variables, now: now)
            return PromptText(rendered.string, literalRanges: rendered.contentRanges)
        } catch let error as JinjaError {
            throw ModelError.chatTemplateUnsupported(error.description)
        }
    }
}
