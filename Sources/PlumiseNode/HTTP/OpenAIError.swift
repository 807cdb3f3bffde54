/// OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, so OpenAI clients show
/// the message (the /v1 routes answer errors with it).
struct OpenAIErrorResponse: Encodable {
    struct Body: Encodable {
        let message: String
        let type: String
        let param: String?
        let code: String?

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(type, forKey: .type)
            try container.encode(param, forKey: .param) // null, not absent
            try container.encode(code, forKey: .code)
        }

        enum CodingKeys: String, CodingKey { case message, type, param, code }
    }

    let error: Body

    init(_ error: APIError) {
        self.error = Body(message: error.message, type: error.status.code >= 500 ? "server_error" : "invalid_request_error",
                          param: nil, code: error.code)
    }
}
