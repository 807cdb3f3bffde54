import PetalsSwarm
import XCTest

final class RoutePlannerTests: XCTestCase {
    private func server(_ address: String, _ blocks: Range<Int>, latency: Double = 0.01, free: Int = 4096,
                        perBlock: Double = 0.001) -> ServerCandidate {
        ServerCandidate(address: address, blocks: blocks, freeCacheTokens: free, latencySeconds: latency,
                        secondsPerBlock: perBlock)
    }

    func testChainsTwoServersThatSplitTheModel() throws {
        let route = try RoutePlanner.plan(servers: [server("b", 15..<30), server("a", 0..<15)],
                                          blockCount: 30, sessionLength: 128)
        XCTAssertEqual(route.map(\.server.address), ["a", "b"])
        XCTAssertEqual(route.map(\.blocks), [0..<15, 15..<30])
    }

    func testPrefersTheLowerLatencyReplica() throws {
        let route = try RoutePlanner.plan(
            servers: [server("a", 0..<15), server("slow", 15..<30, latency: 0.5), server("fast", 15..<30, latency: 0.02)],
            blockCount: 30, sessionLength: 128)
        XCTAssertEqual(route.map(\.server.address), ["a", "fast"])
    }

    func testUsesPartOfAnOverlappingServer() throws {
        // c serves 10..<30; after a (0..<20) the route continues with c from block 20.
        let route = try RoutePlanner.plan(servers: [server("a", 0..<20), server("c", 10..<30)],
                                          blockCount: 30, sessionLength: 16)
        XCTAssertEqual(route.map(\.blocks), [0..<20, 20..<30])
    }

    func testSkipsFullAndBannedServers() throws {
        let servers = [server("a", 0..<15), server("full", 15..<30, free: 10), server("banned", 15..<30),
                       server("ok", 15..<30, latency: 0.3)]
        let route = try RoutePlanner.plan(servers: servers, blockCount: 30, sessionLength: 64, excluding: ["banned"])
        XCTAssertEqual(route.map(\.server.address), ["a", "ok"])
    }

    func testNamesTheMissingBlocksWhenNoRouteExists() {
        XCTAssertThrowsError(try RoutePlanner.plan(servers: [server("a", 0..<10), server("b", 20..<30)],
                                                   blockCount: 30, sessionLength: 8)) { error in
            XCTAssertEqual(error as? RouteError, .noRoute(missing: [10..<20], blockCount: 30))
            XCTAssertTrue("\(error)".contains("[10, 20)"))
        }
    }
}
