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
        .library(name: "PluginAPI", type: .dynamic, targets: ["PluginAPI"]),
        .library(name: "GGUFPlugin", type: .dynamic, targets: ["GGUFPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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

        // MARK: Swift modules
        .target(name: "PluginAPI", dependencies: ["PluginABI"]),
        .target(
            name: "PetalsModel",
            dependencies: ["CKernels", "PluginAPI", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "plumise-petals",
            dependencies: [
                "PetalsModel", "PluginAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            linkerSettings: [.linkedLibrary("jemalloc")]
        ),

        // MARK: Plugins (each built as its own dynamic library product)
        .target(name: "GGUFPlugin", dependencies: ["PluginAPI"], path: "plugins/GGUF"),

        // MARK: Tests
        .testTarget(name: "PluginAPITests", dependencies: ["PluginAPI", "GGUFPlugin"]),
        // Fixtures are read from Tests/Fixtures via #filePath; GGUFPlugin is a dependency so that
        // `swift build` puts its library next to the test bundle for the plugin host to load.
        .testTarget(name: "PetalsModelTests", dependencies: ["PetalsModel", "PluginAPI", "GGUFPlugin"]),
    ],
    swiftLanguageModes: [.v5]
)
