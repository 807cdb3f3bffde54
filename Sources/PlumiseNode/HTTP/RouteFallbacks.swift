import Hummingbird

/// What the router answers for requests no route takes: 405 with `Allow` when the path exists
/// for other methods, else 404, both with a JSON body (OpenAI's error shape under /v1, the
/// native `{"error": message}` elsewhere) instead of an empty one.
struct RouteFallbacks<Context: RequestContext>: RouterMiddleware {
    /// Paths (without the leading slash) and the methods each serves.
    let routes: [String: [HTTPRequest.Method]]
    let respond: @Sendable (_ status: HTTPResponse.Status, _ message: String, _ path: String) -> Response

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = String(request.uri.path.drop { $0 == "/" })
            let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
            guard let allowed = routes[trimmed] else {
                return respond(.notFound, "no route for \(request.method) /\(path)", path)
            }
            var response = respond(.methodNotAllowed,
                                   "/\(trimmed) accepts \(allowed.map(\.rawValue).joined(separator: ", ")), not \(request.method)",
                                   path)
            response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
            return response
        }
    }
}
