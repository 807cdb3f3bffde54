import Foundation
import PetalsTestSupport
import PluginAPI
import XCTest

/// The transport plugins through the plugin host, over real sockets.
final class TransportTests: XCTestCase {
    private func listenAddress(_ transport: String) throws -> String {
        switch transport {
        case "unix": return NSTemporaryDirectory() + "petals-transport-\(getpid()).sock"
        case "tls":
            let identity = try TestCertificates.shared()
            return "127.0.0.1:0?cert=\(identity.certificate)&key=\(identity.key)"
        default: return "127.0.0.1:0"
        }
    }

    func testBothTransportsAreLoadedAsPlugins() throws {
        let names = try TestModel.host().transports.map(\.plugin.name).sorted()
        XCTAssertEqual(names, ["tcp", "tls", "unix"])
    }

    func testBytesCrossEachTransportInOrder() throws {
        for name in ["tcp", "unix", "tls"] {
            let transport = try TestModel.host().transport(named: name)
            let listener = try transport.listen(address: listenAddress(name))
            let accepted = try accepting(listener)
            let client = try transport.connect(address: listener.boundAddress, timeout: 2)
            let server = try accepted.value()
            let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let sender = Thread { try? client.send(payload) }
            sender.start()
            XCTAssertEqual(try server.receive(exactly: payload.count, timeout: 5), payload, name)
            try server.send([1, 2, 3])
            XCTAssertEqual(try client.receive(exactly: 3, timeout: 2), [1, 2, 3], name)
            // Nothing more is coming: a receive times out without consuming anything.
            XCTAssertNil(try client.receive(exactly: 1, timeout: 0.05), name)
            server.close()
            XCTAssertThrowsError(try client.receive(exactly: 1, timeout: 2), name)
            listener.close()
        }
    }

    /// Accepts on another thread and completes the transport's handshake there (an empty
    /// receive): a TLS client's connect waits for the server's side of the handshake.
    private func accepting(_ listener: TransportListener) throws -> Accepted {
        let accepted = Accepted()
        let thread = Thread {
            accepted.set(Result {
                let connection = try XCTUnwrap(try listener.accept(timeout: 5))
                _ = try connection.receive(exactly: 0, timeout: 5)
                return connection
            })
        }
        thread.start()
        return accepted
    }

    func testTLSVerifiesTheServerAgainstTheGivenCA() throws {
        let tls = try TestModel.host().transport(named: "tls")
        let identity = try TestCertificates.shared()
        let stranger = try TestCertificates.shared("stranger")
        let listener = try tls.listen(address: "127.0.0.1:0?cert=\(identity.certificate)&key=\(identity.key)")
        // The server's own certificate as the CA: verification succeeds and bytes flow.
        var server = try accepting(listener)
        let trusted = try tls.connect(address: listener.boundAddress + "?ca=\(identity.certificate)", timeout: 2)
        try trusted.send([7])
        XCTAssertEqual(try server.value().receive(exactly: 1, timeout: 2), [7])
        // A CA that did not sign it: the handshake fails with a clear error.
        server = try accepting(listener)
        XCTAssertThrowsError(try tls.connect(address: listener.boundAddress + "?ca=\(stranger.certificate)", timeout: 2)) {
            XCTAssertTrue("\($0)".contains("handshake failed"), "\($0)")
        }
        XCTAssertThrowsError(try tls.listen(address: "127.0.0.1:0")) {
            XCTAssertTrue("\($0)".contains("needs cert and key"), "\($0)")
        }
        XCTAssertThrowsError(try tls.listen(address: "127.0.0.1:0?cert=/nonexistent&key=/nonexistent")) {
            XCTAssertTrue("\($0)".contains("cannot load certificate /nonexistent"), "\($0)")
        }
    }

    func testConnectingToNothingIsAClearError() throws {
        let tcp = try TestModel.host().transport(named: "tcp")
        XCTAssertThrowsError(try tcp.connect(address: "127.0.0.1:1", timeout: 1)) {
            XCTAssertTrue("\($0)".contains("127.0.0.1:1"), "\($0)")
        }
        XCTAssertThrowsError(try tcp.connect(address: "no-port", timeout: 1)) {
            XCTAssertTrue("\($0)".contains("host:port"), "\($0)")
        }
        XCTAssertThrowsError(try TestModel.host().transport(named: "carrier-pigeon")) {
            XCTAssertTrue("\($0)".contains("tcp, tls, unix"), "\($0)")
        }
        let unix = try TestModel.host().transport(named: "unix")
        XCTAssertThrowsError(try unix.connect(address: "/nonexistent/petals.sock", timeout: 1))
    }

    func testAcceptTimesOutWhenNoClientComes() throws {
        let listener = try TestModel.host().transport(named: "tcp").listen(address: "127.0.0.1:0")
        XCTAssertTrue(listener.boundAddress.hasPrefix("127.0.0.1:"))
        XCTAssertNotEqual(listener.boundAddress, "127.0.0.1:0")
        XCTAssertNil(try listener.accept(timeout: 0.05))
    }
}

/// A connection accepted on another thread, waited for on first use.
final class Accepted: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<TransportConnection, Error>?

    func set(_ value: Result<TransportConnection, Error>) {
        result = value
        done.signal()
    }

    func value() throws -> TransportConnection {
        if result == nil { _ = done.wait(timeout: .now() + 10) }
        guard let result else { throw TransportError.closed }
        return try result.get()
    }
}
