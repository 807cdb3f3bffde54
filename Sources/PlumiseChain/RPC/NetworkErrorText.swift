import Foundation
import NIOCore

/// A network failure in words a user can read: NIO's socket errors print their reason with an
/// unbalanced parenthesis ("connection reset (error set): Connection refused) (errno: 111)");
/// this gives "Connection refused (errno 111)".
public func networkErrorText(_ error: Error) -> String {
    if let io = error as? IOError {
        return "\(String(cString: strerror(io.errnoCode))) (errno \(io.errnoCode))"
    }
    return "\(error)"
}
