import Foundation
import PetalsModel

// Request and response bodies of the native HTTP API (/health, /api/v1/generate, errors).
// Field names are the wire names (snake_case).

/// POST /api/v1/generate body.
struct GenerateRequest: Decodable {
    struct Parameters: Decodable {
        var max_new_tokens: Int?
        var temperature: Double?
        var top_p: Double?
        var top_k: Int?
        var repetition_penalty: Double?
        var do_sample: Bool?
        /// -1 (as llama.cpp) means a random seed.
        var seed: Int64?
        /// Generation ends before the first of these strings (one string or a list).
        var stop: StopList?
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

struct ErrorResponse: Encodable {
    var error: String
}
