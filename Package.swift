// swift-tools-version:6.0
import PackageDescription

// C kernels are always optimised: a debug build of the Swift code must still run the model at
// a usable speed, and the tests exercise the real model.
let kernelCFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno", "-Wall"])]

let package = Package(
    name: "plumise-petals",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "plumise-petals", targets: ["plumise-petals"]),
        .executable(name: "petals-bench", targets: ["petals-bench"]),
        .library(name: "PluginAPI", type: .dynamic, targets: ["PluginAPI"]),
        .library(name: "GGUFPlugin", type: .dynamic, targets: ["GGUFPlugin"]),
        .library(name: "SafetensorsPlugin", type: .dynamic, targets: ["SafetensorsPlugin"]),
        .library(name: "TCPPlugin", type: .dynamic, targets: ["TCPPlugin"]),
        .library(name: "UnixPlugin", type: .dynamic, targets: ["UnixPlugin"]),
        .library(name: "TLSPlugin", type: .dynamic, targets: ["TLSPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/attaswift/BigInt", from: "6.0.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // MARK: C layers
        .target(
            name: "CKernels",
            path: "CKernels",
            sources: ["src"],
            publicHeadersPath: "include",
            cSettings: kernelCFlags,
            linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("m"), .linkedLibrary("pthread")]
        ),
        .target(name: "PluginABI", path: "Sources/PluginABI"),
        .systemLibrary(name: "CSecp256k1", path: "Sources/CSecp256k1", pkgConfig: "libsecp256k1",
                       providers: [.apt(["libsecp256k1-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),

        // MARK: Swift modules
        .target(name: "PluginAPI", dependencies: ["PluginABI"]),
        .target(
            name: "PetalsModel",
            dependencies: ["CKernels", "PluginAPI", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "PetalsSwarm",
            dependencies: ["PetalsModel", "PluginAPI", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "PlumiseChain",
            dependencies: [
                "CKernels", "CSecp256k1",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "BigInt", package: "BigInt"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        .target(
            name: "PlumiseNode",
            dependencies: [
                "PlumiseChain", "PetalsModel", "PetalsSwarm",
                .product(name: "BigInt", package: "BigInt"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The local chain and oracle of `plumise-petals devnet` (SQLite through GRDB).
        .target(
            name: "PlumiseDevnet",
            dependencies: [
                "PlumiseChain",
                .product(name: "BigInt", package: "BigInt"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .executableTarget(
            name: "plumise-petals",
            dependencies: [
                "PetalsModel", "PetalsSwarm", "PluginAPI", "PlumiseChain", "PlumiseNode", "PlumiseDevnet",
                .product(name: "BigInt", package: "BigInt"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),

        .executableTarget(
            name: "petals-bench",
            dependencies: [
                "PetalsModel", "PetalsSwarm", "PluginAPI", "CKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks",
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),

        // MARK: Plugins (each built as its own dynamic library product)
        .target(name: "GGUFPlugin", dependencies: ["PluginAPI"], path: "plugins/GGUF"),
        // The format code is its own target so tests can link it without the plugin's entry
        // symbol (which would clash with the GGUF plugin's in the test bundle).
        .target(name: "SafetensorsFormat", dependencies: ["PluginAPI"], path: "plugins/Safetensors/Format"),
        .target(name: "SafetensorsPlugin", dependencies: ["SafetensorsFormat", "PluginAPI"], path: "plugins/Safetensors/Plugin"),
        // Socket code shared by the TCP and Unix transports (linked into each).
        .target(name: "PluginSockets", dependencies: ["PluginAPI"], path: "plugins/Sockets"),
        .target(name: "TCPPlugin", dependencies: ["PluginAPI", "PluginSockets"], path: "plugins/TCP"),
        .target(name: "UnixPlugin", dependencies: ["PluginAPI", "PluginSockets"], path: "plugins/Unix"),
        .target(name: "TLSPlugin", dependencies: ["PluginAPI", "PluginSockets", "COpenSSL"], path: "plugins/TLS"),

        // MARK: Tests
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels"]),
        .testTarget(name: "PluginAPITests", dependencies: ["PluginAPI"]),
        .testTarget(name: "GGUFPluginTests", dependencies: ["GGUFPlugin", "PluginAPI"]),
        .testTarget(name: "SafetensorsPluginTests", dependencies: ["SafetensorsFormat", "PluginAPI"]),
        // The real model and build products, shared by the tests that need them.
        .target(
            name: "PetalsTestSupport",
            dependencies: [
                "PetalsModel", "PluginAPI", "PlumiseChain",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/PetalsTestSupport"
        ),
        .testTarget(name: "PetalsModelTests", dependencies: ["PetalsModel", "PluginAPI", "CKernels", "PetalsTestSupport"]),
        .testTarget(
            name: "PlumiseChainTests",
            dependencies: [
                "PlumiseChain", "PlumiseNode", "PetalsTestSupport",
                .product(name: "BigInt", package: "BigInt"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PlumiseNodeTests",
            dependencies: [
                "PlumiseNode", "PlumiseChain", "PetalsModel", "PetalsTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PlumiseDevnetTests",
            dependencies: [
                "PlumiseDevnet", "PlumiseChain", "PlumiseNode", "PetalsTestSupport",
                .product(name: "BigInt", package: "BigInt"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "PetalsSwarmTests",
                    dependencies: ["PetalsSwarm", "PetalsModel", "PluginAPI", "PetalsTestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
