/// One message of a chat.
public struct ChatMessage: Codable, Equatable, Sendable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Renders chats into the prompt format a model was trained on. The GGUF/tokenizer template is
/// Jinja; rather than a Jinja engine we recognise the template families we support and render
/// them natively, keeping the family's default system prompt when the template has one.
public struct ChatTemplate: Sendable {
    public enum Family: Equatable, Sendable { case chatML(defaultSystem: String?) }
    public let family: Family

    /// Recognises `template` (the model's `chat_template`), or throws naming what is missing.
    public init(template: String?) throws {
        guard let template, !template.isEmpty else {
            throw ModelError.chatTemplateUnsupported("the model has no chat template; pass a plain prompt")
        }
        guard template.contains("<|im_start|>") else {
            throw ModelError.chatTemplateUnsupported("only ChatML-style templates (<|im_start|>) are supported")
        }
        family = .chatML(defaultSystem: Self.defaultSystemPrompt(in: template))
    }

    /// The system prompt a ChatML template inserts when the chat has none, e.g. SmolLM2's
    /// "{{ '<|im_start|>system\nYou are ...<|im_end|>\n' }}".
    static func defaultSystemPrompt(in template: String) -> String? {
        let marker = "<|im_start|>system\n"
        guard let start = template.range(of: marker),
              let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex)
        else { return nil }
        let text = String(template[start.upperBound..<end.lowerBound])
        // A Jinja expression here means the system text comes from the messages, not a default.
        return text.contains("{{") || text.contains("{%") ? nil : text
    }

    /// The prompt for `messages`, ending with the assistant's turn opened when
    /// `addGenerationPrompt` (what the model should continue).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        switch family {
        case .chatML(let defaultSystem):
            var out = ""
            if let defaultSystem, messages.first?.role != "system" {
                out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for message in messages {
                out += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
            }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
            return out
        }
    }
}
