import Foundation
import PluginAPI
import XCTest

/// The host against real shared libraries: the GGUF plugin built by `swift build`, and small C
/// libraries compiled here to play broken plugins.
final class PluginHostTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("plugin-host-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Compiles `source` into scratch/lib<name>Plugin.so with the system C compiler.
    private func compilePlugin(_ name: String, source: String) throws -> String {
        let src = scratch.appendingPathComponent("\(name).c")
        try source.write(to: src, atomically: true, encoding: .utf8)
        let out = scratch.appendingPathComponent("lib\(name)Plugin.so").path
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-shared", "-fPIC", "-o", out, src.path]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0, "cc failed for \(name)")
        return out
    }

    private static let fakeModelPlugin = """
    #include <stdint.h>
    #include <stddef.h>
    typedef struct { uint32_t abi_version, kind; const char *name, *version, *description; const void *vtable; } desc;
    static int dummy;
    static const desc d = { ABI, 1, "fake", "9", "fake plugin", &dummy };
    const desc *plumise_plugin_entry(void) { return &d; }
    """

    func testLoadsTheBuiltGGUFPluginFromTheBuildDirectory() throws {
        let host = try PluginHost(directory: PluginHost.resolveDirectory())
        let gguf = try XCTUnwrap(host.plugin(named: "gguf"), "failures: \(host.failures)")
        XCTAssertEqual(gguf.kind, .modelFormat)
        XCTAssertTrue(gguf.file.hasSuffix("libGGUFPlugin.so"))
        XCTAssertNotNil(gguf.modelFormat)
    }

    func testRejectsAPluginBuiltForAnotherABIVersionAndNamesTheFile() throws {
        let file = try compilePlugin("Future", source: "#define ABI 99u\n" + Self.fakeModelPlugin)
        let host = try PluginHost(directory: scratch.path)
        XCTAssertTrue(host.plugins.isEmpty)
        XCTAssertEqual(host.failures, [.abiMismatch(file: file, found: 99, expected: 1)])
        XCTAssertTrue(host.failures[0].description.contains("libFuturePlugin.so"))
    }

    func testRejectsALibraryWithoutTheEntrySymbol() throws {
        let file = try compilePlugin("NoEntry", source: "int something_else(void) { return 1; }\n")
        let host = try PluginHost(directory: scratch.path)
        XCTAssertEqual(host.failures, [.missingEntry(file: file)])
    }

    func testRejectsAFileThatIsNotASharedLibrary() throws {
        let file = scratch.appendingPathComponent("libGarbagePlugin.so").path
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }).write(to: URL(fileURLWithPath: file))
        let host = try PluginHost(directory: scratch.path)
        guard case .loadFailed(let failedFile, _)? = host.failures.first else {
            return XCTFail("expected a load failure, got \(host.failures)")
        }
        XCTAssertEqual(failedFile, file)
    }

    func testRejectsAnIncompleteFunctionTableWithoutCrashing() throws {
        // ABI matches, but the vtable is a 4-byte int: struct_size is garbage-small.
        _ = try compilePlugin("Hollow", source: "#define ABI 1u\n" + Self.fakeModelPlugin)
        let host = try PluginHost(directory: scratch.path)
        guard case .malformedDescriptor(_, let reason)? = host.failures.first else {
            return XCTFail("expected a malformed descriptor, got \(host.failures)")
        }
        XCTAssertTrue(reason.contains("incomplete"))
    }

    func testAMissingDirectoryIsAClearError() {
        XCTAssertThrowsError(try PluginHost(directory: scratch.appendingPathComponent("nope").path)) { error in
            XCTAssertTrue("\(error)".contains("PLUMISE_PLUGINS_DIR"))
        }
    }

    func testLoadingAMissingFileIsRecordedNotThrown() throws {
        let host = try PluginHost(directory: scratch.path)
        XCTAssertNil(host.load(file: scratch.appendingPathComponent("libGonePlugin.so").path))
        XCTAssertEqual(host.failures.count, 1)
    }

    func testEnvironmentOverridesTheDefaultDirectory() {
        XCTAssertEqual(PluginHost.resolveDirectory(environment: ["PLUMISE_PLUGINS_DIR": "/x"]), "/x")
        XCTAssertEqual(PluginHost.resolveDirectory(explicit: "/y", environment: ["PLUMISE_PLUGINS_DIR": "/x"]), "/y")
    }

    func testNoModelFormatPluginForAPathIsAClearError() throws {
        let host = try PluginHost(directory: scratch.path)
        XCTAssertThrowsError(try host.openModel(path: "/tmp/model.bin")) { error in
            XCTAssertEqual(error as? PluginError, .noPluginFor(path: "/tmp/model.bin", available: []))
        }
    }
}
