import Foundation
import PetalsModel

// Request bodies of the OpenAI-compatible API (wire names, snake_case). Parameters a model
// server can honour are decoded here; ``OpenAIParameters`` refuses the others by name.

/// `stop`: one string or up to four.
struct StopList: Decodable {
    var sequences: [String]

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) {
            sequences = [one]
        } else {
            sequences = try c.decode([String].self)
        }
    }
}

/// A chat message's `content`: a string, or an array of content parts of which only text parts
/// can be honoured.
struct MessageContent: Decodable {
    var text: String

    struct Part: Decodable {
        var type: String
        var text: String?
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            text = ""
        } else if let plain = try? c.decode(String.self) {
            text = plain
        } else {
            let parts = try c.decode([Part].self)
            text = try parts.enumerated().map { index, part in
                guard part.type == "text", let text = part.text else {
                    throw APIError(.badRequest, "content part \(index) has type '\(part.type)'; this model reads only text parts",
                                   param: "messages.content")
                }
                return text
            }.joined()
        }
    }
}

struct ChatMessageBody: Decodable {
    var role: String
    var content: MessageContent?
}

struct StreamOptions: Decodable {
    var include_usage: Bool?
}

struct ResponseFormat: Decodable {
    var type: String
}

/// What chat and text completions share: sampling, stopping, streaming, the number of choices.
struct CompletionCommon: Decodable {
    var model: String?
    var temperature: Double?
    var top_p: Double?
    var top_k: Int?
    var repetition_penalty: Double?
    var presence_penalty: Double?
    var frequency_penalty: Double?
    var logit_bias: [String: Double]?
    var seed: Int64?
    var stream: Bool?
    var stream_options: StreamOptions?
    var stop: StopList?
    var n: Int?
    var user: String?
}

/// POST /v1/chat/completions body.
struct ChatCompletionRequest: Decodable {
    var common: CompletionCommon
    var messages: [ChatMessageBody]
    var max_tokens: Int?
    var max_completion_tokens: Int?
    var logprobs: Bool?
    var top_logprobs: Int?
    var response_format: ResponseFormat?

    enum CodingKeys: String, CodingKey {
        case messages, max_tokens, max_completion_tokens, logprobs, top_logprobs, response_format
    }

    init(from decoder: Decoder) throws {
        common = try CompletionCommon(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        messages = try c.decode([ChatMessageBody].self, forKey: .messages)
        max_tokens = try c.decodeIfPresent(Int.self, forKey: .max_tokens)
        max_completion_tokens = try c.decodeIfPresent(Int.self, forKey: .max_completion_tokens)
        logprobs = try c.decodeIfPresent(Bool.self, forKey: .logprobs)
        top_logprobs = try c.decodeIfPresent(Int.self, forKey: .top_logprobs)
        response_format = try c.decodeIfPresent(ResponseFormat.self, forKey: .response_format)
    }
}

/// `prompt` of /v1/completions: a string, a list of strings, a list of token ids, or a list of
/// token-id lists.
struct PromptList: Decodable {
    var prompts: [PromptInput]

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let text = try? c.decode(String.self) {
            prompts = [.text(PromptText(text))]
        } else if let texts = try? c.decode([String].self) {
            prompts = texts.map { .text(PromptText($0)) }
        } else if let ids = try? c.decode([Int].self) {
            prompts = [.tokens(ids)]
        } else if let lists = try? c.decode([[Int]].self) {
            prompts = lists.map(PromptInput.tokens)
        } else {
            throw APIError(.badRequest, "prompt must be a string, a list of strings, a list of token ids or a list of such lists",
                           param: "prompt")
        }
    }
}

/// POST /v1/completions body.
struct CompletionRequest: Decodable {
    var common: CompletionCommon
    var prompt: PromptList
    var max_tokens: Int?
    var best_of: Int?
    var logprobs: Int?
    var echo: Bool?

    enum CodingKeys: String, CodingKey { case prompt, max_tokens, best_of, logprobs, echo }

    init(from decoder: Decoder) throws {
        common = try CompletionCommon(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decode(PromptList.self, forKey: .prompt)
        max_tokens = try c.decodeIfPresent(Int.self, forKey: .max_tokens)
        best_of = try c.decodeIfPresent(Int.self, forKey: .best_of)
        logprobs = try c.decodeIfPresent(Int.self, forKey: .logprobs)
        echo = try c.decodeIfPresent(Bool.self, forKey: .echo)
    }
}

/// Which top-level parameters each endpoint takes, and a clear refusal for the OpenAI ones this
/// server cannot honour (a parameter sent with null counts as absent).
enum OpenAIParameters {
    static let common: Set<String> = [
        "model", "temperature", "top_p", "top_k", "repetition_penalty", "presence_penalty", "frequency_penalty",
        "logit_bias", "seed", "stream", "stream_options", "stop", "n", "user",
    ]
    static let chat = common.union(["messages", "max_tokens", "max_completion_tokens", "logprobs", "top_logprobs",
                                    "response_format"])
    static let completion = common.union(["prompt", "max_tokens", "best_of", "logprobs", "echo"])
    /// Known OpenAI parameters and why they are refused.
    static let refused: [String: String] = [
        "tools": "tool calling is not supported by this server",
        "tool_choice": "tool calling is not supported by this server",
        "parallel_tool_calls": "tool calling is not supported by this server",
        "functions": "function calling is not supported by this server",
        "function_call": "function calling is not supported by this server",
        "suffix": "insertion (suffix) is not supported by this server",
        "audio": "audio output is not supported by this server",
        "modalities": "only text output is supported",
        "prediction": "predicted outputs are not supported by this server",
        "reasoning_effort": "this model has no reasoning settings",
        "web_search_options": "web search is not supported by this server",
        "service_tier": "this server has no service tiers",
        "store": "stored completions are not supported by this server",
        "metadata": "stored completions (metadata) are not supported by this server",
    ]

    /// Throws a 400 naming the first parameter of `body` not in `supported`.
    static func check(_ body: Data, supported: Set<String>) throws {
        guard let object = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            throw APIError(.badRequest, "invalid JSON body: not valid JSON")
        }
        guard let fields = object as? [String: Any] else {
            throw APIError(.badRequest, "the request body must be a JSON object")
        }
        for key in fields.keys.sorted() where !supported.contains(key) && !(fields[key] is NSNull) {
            let why = refused[key] ?? "unknown parameter"
            throw APIError(.badRequest, "\(key): \(why)", param: key, code: "unsupported_parameter")
        }
        if let messages = fields["messages"] as? [Any] {
            for (index, item) in messages.enumerated() {
                guard let message = item as? [String: Any] else { continue }
                for key in message.keys.sorted() where !["role", "content"].contains(key) && !(message[key] is NSNull) {
                    throw APIError(.badRequest, "messages[\(index)].\(key) is not supported (messages carry role and content)",
                                   param: "messages[\(index)].\(key)", code: "unsupported_parameter")
                }
            }
        }
    }
}
