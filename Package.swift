// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "Ferry",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ferry", targets: ["ferry"]),
        .library(name: "FerryCore", targets: ["FerryCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssh", from: "0.15.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // Debian liblua5.4 through pkg-config, with a shim header for the macros Swift cannot import.
        .systemLibrary(
            name: "CLua",
            path: "Sources/CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        // MariaDB Connector/C through pkg-config (Debian libmariadb-dev).
        .systemLibrary(
            name: "CMariaDB",
            path: "Sources/CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["libmariadb-dev"])]
        ),
        // The only code that calls Lua API that may longjmp (lua_error, lua_yieldk, hooks).
        .target(name: "CLuaShim", dependencies: ["CLua"], path: "Sources/CLuaShim"),
        .target(name: "LuaBridge", dependencies: ["CLua", "CLuaShim"], path: "Sources/LuaBridge"),
        .target(
            name: "FerryCore",
            dependencies: [
                "LuaBridge", "CMariaDB",
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/Core"
        ),
        .target(name: "FerryPlugins", dependencies: ["FerryCore", "LuaBridge"], path: "Sources/Plugins"),
        .executableTarget(
            name: "ferry",
            dependencies: [
                "FerryCore", "FerryPlugins",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/ferry"
        ),
        // Benchmarks behind scripts/bench (release builds; figures, not pass/fail).
        .executableTarget(name: "ferry-bench", dependencies: ["FerryCore", "LuaBridge"], path: "Sources/FerryBench"),
        .testTarget(name: "LuaBridgeTests", dependencies: ["LuaBridge", "CLua"], path: "Tests/LuaBridgeTests"),
        .testTarget(name: "CoreTests", dependencies: ["FerryCore", "FerryPlugins", "LuaBridge"], path: "Tests/CoreTests"),
        // Against real services started by scripts/testenv (scripts/test starts them).
        .testTarget(name: "IntegrationTests", dependencies: ["FerryCore", "FerryPlugins", "LuaBridge"], path: "Tests/IntegrationTests"),
        .testTarget(name: "FerryCLITests", dependencies: ["ferry", "FerryCore", "FerryPlugins"], path: "Tests/FerryCLITests"),
        .testTarget(name: "PluginTests", dependencies: ["FerryPlugins", "FerryCore", "LuaBridge"], path: "Tests/PluginTests"),
    ],
    swiftLanguageModes: [.v6]
)
