import Foundation
import Hummingbird
import PetalsModel

/// The OpenAI-compatible surface: POST /v1/chat/completions, POST /v1/completions,
/// GET /v1/models[/{id}], and a clear refusal on POST /v1/embeddings. Errors use OpenAI's body.
extension HTTPAPI {
    static let openAIRoutes: [String: [HTTPRequest.Method]] = [
        "v1/models": [.get, .head], "v1/chat/completions": [.post], "v1/completions": [.post],
        "v1/embeddings": [.post],
    ]

    func addOpenAIRoutes(to router: Router<APIRequestContext>) {
        router.get("v1/models") { _, _ in self.models() }
        router.get("v1/models/:id") { _, context in self.model(id: context.parameters.get("id") ?? "") }
        router.post("v1/chat/completions") { request, context in
            await self.handle(request, context, style: .openAI, self.chatCompletions)
        }
        router.post("v1/completions") { request, context in
            await self.handle(request, context, style: .openAI, self.completions)
        }
        router.post("v1/embeddings") { _, _ in
            self.errorResponse(APIError(.badRequest, "embeddings are not available: this node serves the text-generation "
                                            + "model \(self.service.modelName)", param: "model", code: "unsupported_endpoint"),
                               style: .openAI)
        }
    }

    var modelObject: ModelObject { ModelObject(id: service.modelName, created: OpenAIClock.startTime) }

    func models() -> Response { json(ModelList(data: [modelObject])) }

    func model(id: String) -> Response {
        let wanted = id.removingPercentEncoding ?? id
        guard wanted == service.modelName else {
            return errorResponse(APIError(.notFound, "the model '\(wanted)' does not exist here; this node serves '\(service.modelName)'",
                                          param: "model", code: "model_not_found"), style: .openAI)
        }
        return json(modelObject)
    }

    // MARK: Chat

    func chatCompletions(_ body: Data, _ isConnected: @escaping @Sendable () -> Bool) async throws -> Response {
        try OpenAIParameters.check(body, supported: OpenAIParameters.chat)
        let request = try decode(ChatCompletionRequest.self, body)
        guard !request.messages.isEmpty else { throw APIError(.badRequest, "messages must not be empty", param: "messages") }
        if let format = request.response_format?.type, format != "text" {
            throw APIError(.badRequest, "response_format '\(format)' is not supported: this server does not constrain "
                               + "output to JSON", param: "response_format", code: "unsupported_parameter")
        }
        if request.top_logprobs != nil && request.logprobs != true {
            throw APIError(.badRequest, "top_logprobs needs logprobs: true", param: "top_logprobs")
        }
        let logprobs = try request.logprobs == true ? checked(request.top_logprobs ?? 0, in: 0...20, "top_logprobs") : nil
        let maxTokens = try openAIMaxTokens(request.max_tokens, request.max_completion_tokens)
        let count = try checked(request.common.n ?? 1, in: 1...8, "n")
        let sampling = try openAISampling(request.common)
        let options = GenerationOptions(stop: try stopSequences(request.common.stop), logprobs: logprobs)
        let messages = try request.messages.enumerated().map { index, message -> ChatMessage in
            switch message.role {
            case "system", "user", "assistant": return ChatMessage(role: message.role, content: message.content?.text ?? "")
            case "developer": return ChatMessage(role: "system", content: message.content?.text ?? "")
            default:
                throw APIError(.badRequest, "messages[\(index)].role '\(message.role)' is not supported "
                                   + "(system, developer, user, assistant)", param: "messages[\(index)].role")
            }
        }
        let prompt: PromptText
        do {
            prompt = try service.chatPrompt(messages)
        } catch {
            throw APIError(.badRequest, "cannot render the chat: \(error)", param: "messages")
        }
        let id = "chatcmpl-" + OpenAIClock.randomID()
        let created = Int(Date().timeIntervalSince1970)
        let model = service.modelName
        func generation(_ index: Int) -> GenerationRequest {
            GenerationRequest(prompt: .text(prompt), maxNewTokens: maxTokens, sampling: sampling.forChoice(index),
                              options: options)
        }

        guard request.common.stream == true else {
            var choices: [Choice] = []
            var outputs: [GenerationOutput] = []
            for index in 0..<count {
                let output = try await runGeneration(generation(index), isConnected: isConnected)
                outputs.append(output)
                choices.append(Choice(index: index, message: .init(role: "assistant", content: output.text),
                                      finish_reason: output.finishReason,
                                      logprobs: logprobs == nil ? nil : .chat(chatLogprobs(output.logprobs))))
            }
            return json(CompletionObject(id: id, object: "chat.completion", created: created, model: model,
                                         choices: choices, usage: Usage(choicesOfOnePrompt: outputs)))
        }
        let includeUsage = request.common.stream_options?.include_usage == true
        return await eventStream(style: .openAI) { send in
            @Sendable func chunk(_ choices: [Choice], usage: Usage? = nil) -> String {
                Self.encode(CompletionObject(id: id, object: "chat.completion.chunk", created: created,
                                             model: model, choices: choices, usage: usage))
            }
            var outputs: [GenerationOutput] = []
            for index in 0..<count {
                // The role chunk waits for the first text, so failures before it are HTTP errors.
                let opened = OneWayFlag()
                let output = try await self.runGeneration(generation(index), isConnected: isConnected) { piece in
                    if opened.claim() { await send(chunk([Choice(index: index, delta: .init(role: "assistant", content: ""))])) }
                    await send(chunk([Choice(index: index, delta: .init(content: piece))]))
                }
                if opened.claim() { await send(chunk([Choice(index: index, delta: .init(role: "assistant", content: ""))])) }
                outputs.append(output)
                await send(chunk([Choice(index: index, delta: .init(), finish_reason: output.finishReason,
                                         logprobs: logprobs == nil ? nil : .chat(self.chatLogprobs(output.logprobs)))]))
            }
            if includeUsage { await send(chunk([], usage: Usage(choicesOfOnePrompt: outputs))) }
        }
    }

    // MARK: Completions

    func completions(_ body: Data, _ isConnected: @escaping @Sendable () -> Bool) async throws -> Response {
        try OpenAIParameters.check(body, supported: OpenAIParameters.completion)
        let request = try decode(CompletionRequest.self, body)
        let prompts = request.prompt.prompts
        guard !prompts.isEmpty else { throw APIError(.badRequest, "prompt must not be an empty list", param: "prompt") }
        guard prompts.count <= 16 else { throw APIError(.badRequest, "at most 16 prompts per request", param: "prompt") }
        let maxTokens = try openAIMaxTokens(request.max_tokens, nil)
        let count = try checked(request.common.n ?? 1, in: 1...8, "n")
        if let bestOf = request.best_of, bestOf != count {
            throw APIError(.badRequest, "best_of \(bestOf) is not supported: choices are not ranked, so best_of must "
                               + "equal n (\(count))", param: "best_of", code: "unsupported_parameter")
        }
        let logprobs = try request.logprobs.map { try checked($0, in: 0...5, "logprobs") }
        let echo = request.echo == true
        if echo && logprobs != nil {
            throw APIError(.badRequest, "echo with logprobs is not supported: the prompt's own logprobs are not computed",
                           param: "echo", code: "unsupported_parameter")
        }
        let sampling = try openAISampling(request.common)
        let options = GenerationOptions(stop: try stopSequences(request.common.stop), logprobs: logprobs)
        let id = "cmpl-" + OpenAIClock.randomID()
        let created = Int(Date().timeIntervalSince1970)
        let model = service.modelName
        let jobs = prompts.indices.flatMap { p in (0..<count).map { (p, $0) } }
        func generation(_ prompt: Int, _ choice: Int) -> GenerationRequest {
            GenerationRequest(prompt: prompts[prompt], maxNewTokens: maxTokens, sampling: sampling.forChoice(choice),
                              options: options)
        }
        /// Each prompt counted once (with its first choice), every completion.
        func usage(_ outputs: [(Int, GenerationOutput)]) -> Usage {
            Usage(outputs.map { choice, output in
                var counted = output
                if choice != 0 { counted.promptTokens = 0 }
                return counted
            })
        }

        guard request.common.stream == true else {
            var choices: [Choice] = []
            var outputs: [(Int, GenerationOutput)] = []
            for (index, (p, c)) in jobs.enumerated() {
                let output = try await runGeneration(generation(p, c), isConnected: isConnected)
                outputs.append((c, output))
                let prefix = echo ? output.promptText : ""
                choices.append(Choice(index: index, text: prefix + output.text, finish_reason: output.finishReason,
                                      logprobs: logprobs == nil ? nil
                                          : .completion(completionLogprobs(output.logprobs, offset: prefix.count))))
            }
            return json(CompletionObject(id: id, object: "text_completion", created: created, model: model,
                                         choices: choices, usage: usage(outputs)))
        }
        let includeUsage = request.common.stream_options?.include_usage == true
        return await eventStream(style: .openAI) { send in
            @Sendable func chunk(_ choices: [Choice], usage: Usage? = nil) -> String {
                Self.encode(CompletionObject(id: id, object: "text_completion", created: created,
                                             model: model, choices: choices, usage: usage))
            }
            var outputs: [(Int, GenerationOutput)] = []
            for (index, (p, c)) in jobs.enumerated() {
                let opened = OneWayFlag()
                let echoed: String
                if echo, case .text(let text) = prompts[p] { echoed = text.text } else { echoed = "" }
                let output = try await self.runGeneration(generation(p, c), isConnected: isConnected) { piece in
                    if opened.claim(), !echoed.isEmpty { await send(chunk([Choice(index: index, text: echoed)])) }
                    await send(chunk([Choice(index: index, text: piece)]))
                }
                if opened.claim(), echo { await send(chunk([Choice(index: index, text: output.promptText)])) }
                outputs.append((c, output))
                await send(chunk([Choice(index: index, text: "", finish_reason: output.finishReason,
                                         logprobs: logprobs == nil ? nil
                                             : .completion(self.completionLogprobs(output.logprobs, offset: 0)))]))
            }
            if includeUsage { await send(chunk([], usage: usage(outputs))) }
        }
    }

    // MARK: Parameters

    private func checked(_ value: Int, in range: ClosedRange<Int>, _ name: String) throws -> Int {
        guard range.contains(value) else {
            throw APIError(.badRequest, "\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)", param: name)
        }
        return value
    }

    /// `max_completion_tokens` (the current name) or `max_tokens`; both must agree when both are sent.
    private func openAIMaxTokens(_ maxTokens: Int?, _ maxCompletionTokens: Int?) throws -> Int {
        if let maxTokens, let maxCompletionTokens, maxTokens != maxCompletionTokens {
            throw APIError(.badRequest, "max_tokens (\(maxTokens)) and max_completion_tokens (\(maxCompletionTokens)) differ; "
                               + "send one of them", param: "max_completion_tokens")
        }
        let name = maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens"
        do {
            return try checkedMaxTokens(maxCompletionTokens ?? maxTokens, name: name)
        } catch var error as APIError {
            error.param = name
            throw error
        }
    }

    private func stopSequences(_ stop: StopList?) throws -> [String] {
        let sequences = stop?.sequences ?? []
        guard sequences.count <= 4 else {
            throw APIError(.badRequest, "stop takes at most 4 sequences, got \(sequences.count)", param: "stop")
        }
        guard !sequences.contains("") else { throw APIError(.badRequest, "stop sequences must not be empty", param: "stop") }
        return sequences
    }

    /// OpenAI defaults: temperature 1, top_p 1, no top-k. `seed` -1 (as llama.cpp) means random.
    private func openAISampling(_ r: CompletionCommon) throws -> SamplingParameters {
        let (presence, frequency, logitBias) = (r.presence_penalty, r.frequency_penalty, r.logit_bias)
        var s = try samplingParameters(temperature: r.temperature, topP: r.top_p, topK: r.top_k,
                                       repetitionPenalty: r.repetition_penalty,
                                       seed: r.seed.flatMap { $0 == -1 ? nil : UInt64(bitPattern: $0) },
                                       defaults: SamplingParameters(temperature: 1, topK: 0, topP: 1))
        for (name, value) in [("presence_penalty", presence), ("frequency_penalty", frequency)] {
            guard let value else { continue }
            guard value.isFinite, (-2...2).contains(value) else {
                throw APIError(.badRequest, "\(name) must be in -2...2, got \(value)", param: name)
            }
        }
        s.presencePenalty = Float(presence ?? 0)
        s.frequencyPenalty = Float(frequency ?? 0)
        for (key, bias) in logitBias ?? [:] {
            guard let token = Int(key), token >= 0 else {
                throw APIError(.badRequest, "logit_bias keys are token ids, got '\(key)'", param: "logit_bias")
            }
            guard bias.isFinite, (-100...100).contains(bias) else {
                throw APIError(.badRequest, "logit_bias for token \(token) must be in -100...100, got \(bias)",
                               param: "logit_bias")
            }
            s.logitBias[token] = Float(bias)
        }
        return s
    }

    // MARK: Logprobs

    private func tokenString(_ id: Int) -> (String, [UInt8]) {
        let bytes = service.tokenBytes(id) ?? []
        return (String(decoding: bytes, as: UTF8.self), bytes)
    }

    func chatLogprobs(_ entries: [TokenLogprob]) -> ChatLogprobs {
        ChatLogprobs(content: entries.map { entry in
            let (text, bytes) = tokenString(entry.token)
            return .init(token: text, logprob: entry.logprob, bytes: bytes, top_logprobs: entry.top.map { alternative in
                let (text, bytes) = tokenString(alternative.token)
                return .init(token: text, logprob: alternative.logprob, bytes: bytes)
            })
        })
    }

    func completionLogprobs(_ entries: [TokenLogprob], offset: Int) -> CompletionLogprobs {
        var result = CompletionLogprobs(tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [])
        var at = offset
        for entry in entries {
            let text = tokenString(entry.token).0
            result.tokens.append(text)
            result.token_logprobs.append(entry.logprob)
            result.text_offset.append(at)
            at += text.count
            var top: [String: Double] = [:]
            for alternative in entry.top { top[tokenString(alternative.token).0] = max(top[tokenString(alternative.token).0] ?? -.infinity, alternative.logprob) }
            result.top_logprobs.append(top)
        }
        return result
    }
}

extension SamplingParameters {
    /// The parameters of choice `index` of n: a given seed advances per choice so the choices
    /// differ yet stay reproducible.
    func forChoice(_ index: Int) -> SamplingParameters {
        var s = self
        if let seed, index > 0 { s.seed = seed &+ UInt64(index) }
        return s
    }
}

/// Ids and timestamps of OpenAI objects.
enum OpenAIClock {
    static let startTime = Int(Date().timeIntervalSince1970)

    static func randomID() -> String {
        String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24))
    }
}
