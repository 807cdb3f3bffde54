import Foundation
import PetalsTestSupport
import PluginAPI
import XCTest

/// The transport plugins through the plugin host, over real sockets.
final class TransportTests: XCTestCase {
    private func listenAddress(_ transport: String) -> String {
        transport == "unix" ? NSTemporaryDirectory() + "petals-transport-\(getpid()).sock" : "127.0.0.1:0"
    }

    func testBothTransportsAreLoadedAsPlugins() throws {
        let names = try TestModel.host().transports.map(\.plugin.name).sorted()
        XCTAssertEqual(names, ["tcp", "unix"])
    }

    func testBytesCrossEachTransportInOrder() throws {
        for name in ["tcp", "unix"] {
            let transport = try TestModel.host().transport(named: name)
            let listener = try transport.listen(address: listenAddress(name))
            let client = try transport.connect(address: listener.boundAddress, timeout: 2)
            let server = try XCTUnwrap(try listener.accept(timeout: 2))
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

    func testConnectingToNothingIsAClearError() throws {
        let tcp = try TestModel.host().transport(named: "tcp")
        XCTAssertThrowsError(try tcp.connect(address: "127.0.0.1:1", timeout: 1)) {
            XCTAssertTrue("\($0)".contains("127.0.0.1:1"), "\($0)")
        }
        XCTAssertThrowsError(try tcp.connect(address: "no-port", timeout: 1)) {
            XCTAssertTrue("\($0)".contains("host:port"), "\($0)")
        }
        XCTAssertThrowsError(try TestModel.host().transport(named: "carrier-pigeon")) {
            XCTAssertTrue("\($0)".contains("tcp, unix"), "\($0)")
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
