import Foundation
import Hummingbird

/// An error answered the way NestJS answers it, so clients of the real oracle read the dev
/// oracle's errors alike:
/// - `BadRequestException(msg)` / `UnauthorizedException(msg)`: {statusCode, message, error}
/// - ValidationPipe: {statusCode: 400, message: [messages], error: "Bad Request"}
/// - `HttpException(msg, status)` (plumise-oracle's pipeline controller): {statusCode, message}
public struct NestError: Error, Equatable, CustomStringConvertible {
    public let status: Int
    public let messages: [String]
    /// Whether `message` is an array (validation) rather than one string.
    public let isList: Bool
    /// The status's reason phrase, absent for a plain HttpException.
    public let error: String?

    public static func badRequest(_ message: String) -> NestError {
        NestError(status: 400, messages: [message], isList: false, error: "Bad Request")
    }
    public static func unauthorized(_ message: String) -> NestError {
        NestError(status: 401, messages: [message], isList: false, error: "Unauthorized")
    }
    public static func validation(_ messages: [String]) -> NestError {
        NestError(status: 400, messages: messages, isList: true, error: "Bad Request")
    }
    public static func httpException(_ message: String, status: Int = 400) -> NestError {
        NestError(status: status, messages: [message], isList: false, error: nil)
    }

    public var description: String { "HTTP \(status): \(messages.joined(separator: "; "))" }

    var body: Body { Body(statusCode: status, message: isList ? .list(messages) : .one(messages.first ?? ""), error: error) }

    struct Body: Encodable {
        enum Message: Encodable {
            case one(String), list([String])
            func encode(to encoder: Encoder) throws {
                var c = encoder.singleValueContainer()
                switch self {
                case .one(let m): try c.encode(m)
                case .list(let m): try c.encode(m)
                }
            }
        }
        let statusCode: Int
        let message: Message
        let error: String?
    }
}
