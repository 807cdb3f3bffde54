import Foundation
import PetalsModel

// Request and response bodies of the HTTP API. Field names are the wire names (snake_case).

/// POST /api/v1/generate body.
struct GenerateRequest: Decodable {
    struct Parameters: Decodable {
        var max_new_tokens: Int?
        var temperature: Double?
        var top_p: Double?
        var top_k: Int?
        var repetition_penalty: Double?
        var do_sample: Bool?
        var seed: UInt64?
    }
    var inputs: String
    var parameters: Parameters?
    var stream: Bool?
}

/// POST /api/v1/generate response.
struct GenerateResponse: Encodable {
    var generated_text: String
    var num_tokens: Int
    var finish_reason: String
}

/// One streamed piece of /api/v1/generate.
struct GenerateTokenEvent: Encodable {
    var token: String
}

/// The last streamed event of /api/v1/generate, with the totals.
struct GenerateFinalEvent: Encodable {
    var generated_text: String
    var num_tokens: Int
    var prompt_tokens: Int
    var finish_reason: String
    var done = true
}

/// POST /v1/chat/completions body.
struct ChatCompletionRequest: Decodable {
    var model: String?
    var messages: [ChatMessage]
    var max_tokens: Int?
    var temperature: Double?
    var top_p: Double?
    var top_k: Int?
    var repetition_penalty: Double?
    var seed: UInt64?
    var stream: Bool?
}

/// POST /v1/completions body; `prompt` is a string or an array holding one string.
struct CompletionRequest: Decodable {
    var model: String?
    var prompt: String
    var max_tokens: Int?
    var temperature: Double?
    var top_p: Double?
    var top_k: Int?
    var repetition_penalty: Double?
    var seed: UInt64?
    var stream: Bool?

    enum CodingKeys: String, CodingKey {
        case model, prompt, max_tokens, temperature, top_p, top_k, repetition_penalty, seed, stream
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        if let text = try? c.decode(String.self, forKey: .prompt) {
            prompt = text
        } else {
            let list = try c.decode([String].self, forKey: .prompt)
            guard list.count == 1 else {
                throw DecodingError.dataCorruptedError(forKey: .prompt, in: c,
                                                       debugDescription: "prompt must be a string or an array of one string")
            }
            prompt = list[0]
        }
        max_tokens = try c.decodeIfPresent(Int.self, forKey: .max_tokens)
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        top_p = try c.decodeIfPresent(Double.self, forKey: .top_p)
        top_k = try c.decodeIfPresent(Int.self, forKey: .top_k)
        repetition_penalty = try c.decodeIfPresent(Double.self, forKey: .repetition_penalty)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream)
    }
}

struct Usage: Encodable {
    var prompt_tokens: Int
    var completion_tokens: Int
    var total_tokens: Int
}

/// An OpenAI choice: `message` (chat), `delta` (chat chunk) or `text` (completion), with a
/// `finish_reason` that is encoded as null while streaming.
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

    enum CodingKeys: String, CodingKey { case index, message, delta, text, finish_reason, logprobs }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(index, forKey: .index)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encodeIfPresent(delta, forKey: .delta)
        if let text {
            try c.encode(text, forKey: .text)
            try c.encodeNil(forKey: .logprobs)
        }
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
}

struct ModelList: Encodable {
    struct Model: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var owned_by = "plumise"
    }
    var object = "list"
    var data: [Model]
}

struct ErrorResponse: Encodable {
    var error: String
}
