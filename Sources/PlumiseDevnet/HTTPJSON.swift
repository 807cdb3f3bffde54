import Foundation
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// JSON bodies in and out of the devnet's Hummingbird servers.
enum HTTPJSON {
    /// Largest request body either server reads.
    static let maxBody = 4 << 20

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Our response types always encode; the fallback keeps the body valid JSON anyway.
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"encoding failed"}"#.utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    static func body(_ request: Request) async throws -> Data {
        Data(buffer: try await request.body.collect(upTo: maxBody))
    }

    /// An application listening on `host:port` (0: any free port) that reports the bound port.
    static func application(router: Router<BasicRequestContext>, host: String, port: Int, name: String,
                            onServerRunning: @escaping @Sendable (Int) async -> Void)
        -> Application<RouterResponder<BasicRequestContext>>
    {
        Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: name),
                    onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) })
    }
}
