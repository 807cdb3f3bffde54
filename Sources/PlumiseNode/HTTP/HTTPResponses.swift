import Foundation
import Hummingbird
import NIOCore

/// Decoding request bodies and encoding JSON and server-sent-event responses.
extension HTTPAPI {
    func decode<T: Decodable>(_ type: T.Type, _ body: Data) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch let error as APIError {
            throw error // a field's own decoding named the problem
        } catch let error as DecodingError {
            throw APIError(.badRequest, "invalid JSON body: \(Self.describe(error))")
        } catch {
            throw APIError(.badRequest, "invalid JSON body: \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "" : " at " + keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)'\(path(context))"
        case .typeMismatch(let type, let context):
            return "expected \(type)\(path(context))"
        case .valueNotFound(let type, let context):
            return "expected \(type)\(path(context)), found null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : context.debugDescription + path(context)
        @unknown default:
            return "\(error)"
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func encode<T: Encodable>(_ value: T) -> String {
        // Our response types always encode; the fallback keeps the stream well-formed anyway.
        guard let data = try? encoder.encode(value) else { return #"{"error":"encoding failed"}"# }
        return String(decoding: data, as: UTF8.self)
    }

    func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: Self.encode(value))))
    }

    /// A `text/event-stream` response: each string passed to `send` becomes one `data:` event,
    /// then `data: [DONE]` ends the stream. The response starts only with the first event: a
    /// failure before it (a refused request, a route that cannot hold the session) is answered
    /// as a plain HTTP error in `style`; a failure after it becomes a final error event before
    /// `[DONE]`. When the client goes away, the producer is cancelled.
    func eventStream(style: ErrorStyle,
                     _ produce: @escaping @Sendable (_ send: @escaping @Sendable (String) async -> Void) async throws -> Void)
        async -> Response
    {
        let (events, continuation) = AsyncStream<StreamEvent>.makeStream()
        let producer = Task {
            do {
                try await produce { continuation.yield(.data($0)) }
            } catch {
                continuation.yield(.failed(error))
            }
            continuation.finish()
        }
        let reader = StreamReader(events.makeAsyncIterator())
        let first = await reader.next()
        if case .failed(let error)? = first {
            return errorResponse(apiError(from: error), style: style)
        }
        let api = self
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                do {
                    var event = first
                    while let current = event {
                        switch current {
                        case .data(let text):
                            try await writer.write(ByteBuffer(string: "data: \(text)\n\n"))
                        case .failed(let error):
                            let failure = api.apiError(from: error)
                            // Stopped by shutdown or refused for lack of room: expected, not a fault.
                            if failure.status == .serviceUnavailable {
                                api.logger.notice("streamed generation ended: \(failure.message)")
                            } else {
                                api.logger.error("streamed generation failed: \(failure.message)")
                            }
                            try await writer.write(ByteBuffer(string: "data: \(api.errorEvent(failure, style: style))\n\n"))
                        }
                        event = await reader.next()
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                } catch {
                    producer.cancel()
                    throw error
                }
                try await writer.finish(nil)
            })
    }
}

enum StreamEvent: Sendable {
    case data(String)
    case failed(Error)
}

/// The one consumer of a stream's events, handed from the request to the response body.
final class StreamReader: @unchecked Sendable {
    private var iterator: AsyncStream<StreamEvent>.Iterator

    init(_ iterator: AsyncStream<StreamEvent>.Iterator) { self.iterator = iterator }

    func next() async -> StreamEvent? { await iterator.next() }
}
