import Foundation
import PetalsModel

// Response bodies of the OpenAI-compatible API (wire names, snake_case).

struct Usage: Encodable {
    var prompt_tokens: Int
    var completion_tokens: Int
    var total_tokens: Int

    init(_ outputs: [GenerationOutput]) {
        prompt_tokens = outputs.reduce(0) { $0 + $1.promptTokens }
        completion_tokens = outputs.reduce(0) { $0 + $1.tokens }
        total_tokens = prompt_tokens + completion_tokens
    }

    /// n choices of one prompt: the prompt counted once.
    init(choicesOfOnePrompt outputs: [GenerationOutput]) {
        self.init(outputs.enumerated().map { index, output in
            var counted = output
            if index > 0 { counted.promptTokens = 0 }
            return counted
        })
    }
}

/// Chat logprobs: `{"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}`.
struct ChatLogprobs: Encodable {
    struct Entry: Encodable {
        var token: String
        var logprob: Double
        var bytes: [UInt8]
        var top_logprobs: [Alternative]?
    }
    struct Alternative: Encodable {
        var token: String
        var logprob: Double
        var bytes: [UInt8]
    }
    var content: [Entry]
    var refusal: String? = nil

    enum CodingKeys: String, CodingKey { case content, refusal }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(content, forKey: .content)
        try c.encode(refusal, forKey: .refusal)
    }
}

/// Completion logprobs: parallel lists of tokens, their logprobs, the top alternatives and the
/// text offsets.
struct CompletionLogprobs: Encodable {
    var tokens: [String]
    var token_logprobs: [Double]
    var top_logprobs: [[String: Double]]
    var text_offset: [Int]
}

enum ChoiceLogprobs: Encodable {
    case chat(ChatLogprobs)
    case completion(CompletionLogprobs)

    func encode(to encoder: Encoder) throws {
        switch self {
        case .chat(let value): try value.encode(to: encoder)
        case .completion(let value): try value.encode(to: encoder)
        }
    }
}

/// An OpenAI choice: `message` (chat), `delta` (chat chunk) or `text` (completion), with a
/// `finish_reason` and `logprobs` that are encoded as null when absent.
struct Choice: Encodable {
    struct Message: Encodable {
        var role: String?
        var content: String?
    }
    var index = 0
    var message: Message?
    var delta: Message?
    var text: String?
    var finish_reason: String?
    var logprobs: ChoiceLogprobs?

    enum CodingKeys: String, CodingKey { case index, message, delta, text, finish_reason, logprobs }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encodeIfPresent(delta, forKey: .delta)
        try c.encodeIfPresent(text, forKey: .text)
        try c.encode(logprobs, forKey: .logprobs)
        try c.encode(finish_reason, forKey: .finish_reason)
    }
}

/// An OpenAI completion, chat completion or chunk of either.
struct CompletionObject: Encodable {
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?
    var system_fingerprint: String? = nil

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage, system_fingerprint }
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        try c.encodeIfPresent(usage, forKey: .usage)
        try c.encode(system_fingerprint, forKey: .system_fingerprint)
    }
}

struct ModelObject: Encodable {
    var id: String
    var object = "model"
    var created: Int
    var owned_by = "plumise"
}

struct ModelList: Encodable {
    var object = "list"
    var data: [ModelObject]
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
struct OpenAIErrorBody: Encodable {
    struct Detail: Encodable {
        var message: String
        var type: String
        var param: String?
        var code: String?

        enum CodingKeys: String, CodingKey { case message, type, param, code }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(message, forKey: .message)
            try c.encode(type, forKey: .type)
            try c.encode(param, forKey: .param)
            try c.encode(code, forKey: .code)
        }
    }
    var error: Detail

    init(_ error: APIError) {
        let type: String
        switch error.status.code {
        case 429: type = "rate_limit_error"
        case 400..<500: type = "invalid_request_error"
        default: type = "server_error"
        }
        self.error = Detail(message: error.message, type: type, param: error.param, code: error.code)
    }
}
