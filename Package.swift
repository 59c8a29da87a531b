// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "Ferry",
    // Ferry builds and runs on Linux only (Debian): NIOSSHTransport calls getrlimit with glibc's
    // `__rlimit_resource_t`, which does not compile against Darwin; the engine reads /proc; CLua and
    // CMariaDB are found through Debian's pkg-config names. `platforms` only sets the minimum
    // deployment target for Apple platforms; it is harmless on Linux and is no claim that macOS works.
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
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
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
        // Lua sources and other long texts live in files beside the Swift that uses them, embedded
        // in the binary (`PackageResources.<file_ext>`, [UInt8]): no resource bundle at run time.
        .target(
            name: "LuaBridge", dependencies: ["CLua", "CLuaShim"], path: "Sources/LuaBridge",
            resources: [.embedInCode("sandbox.lua")]
        ),
        .target(
            name: "FerryCore",
            dependencies: [
                "LuaBridge", "CMariaDB",
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOSSH", package: "swift-nio-ssh"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/Core",
            resources: [
                .embedInCode("Runbook/prelude.lua"),
                .embedInCode("Report/report.css"),
                .embedInCode("Report/gantt-defs.svg"),
                .embedInCode("Primitives/Playbook/ferry_events.py"),
            ]
        ),
        // The simulated region (model, transport, drivers, faults, persistence): hands a run its
        // transport, clock and drivers. Knows no component: the plugins teach it (SimComponent).
        .target(name: "FerrySimulation", dependencies: ["FerryCore", "LuaBridge"], path: "Sources/Simulation"),
        .target(
            name: "FerryPlugins", dependencies: ["FerryCore", "FerrySimulation", "LuaBridge"], path: "Sources/Plugins",
            resources: [
                .embedInCode("Release/release.lua"),
                .embedInCode("Glance/glance.lua"),
                .embedInCode("Cinder/cinder.lua"),
                .embedInCode("Keystone/keystone.lua"),
                .embedInCode("Neutron/neutron.lua"),
                .embedInCode("Nova/nova.lua"),
                .embedInCode("RabbitMQ/rabbitmq.lua"),
                // Each release's config schema (scripts/knowledge/config-schema.py): PackageResources.<component>_<release>_txt.
                .embedInCode("Cinder/Schemas/cinder-older.txt"),
                .embedInCode("Cinder/Schemas/cinder-ocata.txt"),
                .embedInCode("Cinder/Schemas/cinder-pike.txt"),
                .embedInCode("Cinder/Schemas/cinder-queens.txt"),
                .embedInCode("Glance/Schemas/glance-older.txt"),
                .embedInCode("Glance/Schemas/glance-pike.txt"),
                .embedInCode("Keystone/Schemas/keystone-older.txt"),
                .embedInCode("Keystone/Schemas/keystone-pike.txt"),
                .embedInCode("Keystone/Schemas/keystone-queens.txt"),
                .embedInCode("Neutron/Schemas/neutron-older.txt"),
                .embedInCode("Neutron/Schemas/neutron-ocata.txt"),
                .embedInCode("Neutron/Schemas/neutron-pike.txt"),
                .embedInCode("Neutron/Schemas/neutron-queens.txt"),
                .embedInCode("Nova/Schemas/nova-older.txt"),
                .embedInCode("Nova/Schemas/nova-ocata.txt"),
                .embedInCode("Nova/Schemas/nova-pike.txt"),
                .embedInCode("Nova/Schemas/nova-queens.txt"),
            ]
        ),
        .executableTarget(
            name: "ferry",
            dependencies: [
                "FerryCore", "FerrySimulation", "FerryPlugins", "LuaBridge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/ferry"
        ),
        // Benchmarks behind scripts/bench (release builds; figures, not pass/fail).
        .executableTarget(name: "ferry-bench", dependencies: ["FerryCore", "LuaBridge"], path: "Sources/FerryBench"),
        // What the test targets share (repository root, latches, a child-process runner on
        // swift-subprocess that drains stdout and stderr together), so no test syncs on a sleep.
        .target(name: "FerryTestSupport", dependencies: [.product(name: "Subprocess", package: "swift-subprocess")], path: "Tests/Support"),
        .testTarget(name: "LuaBridgeTests", dependencies: ["FerryTestSupport", "LuaBridge"], path: "Tests/LuaBridgeTests"),
        .testTarget(
            name: "CoreTests",
            dependencies: ["FerryTestSupport", "FerryCore", "FerrySimulation", "LuaBridge", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/CoreTests"),
        // Against real services started by scripts/testenv (scripts/test starts them).
        .testTarget(name: "IntegrationTests", dependencies: ["FerryTestSupport", "FerryCore", "FerryPlugins", "LuaBridge"], path: "Tests/IntegrationTests"),
        // `ferry` is not imported: the dependency builds the binary these tests run.
        // GRDB: the journal tests damage journals the way other tools would (a newer version, a dropped column).
        .testTarget(
            name: "FerryCLITests",
            dependencies: ["FerryTestSupport", "ferry", "FerryCore", "FerrySimulation", "FerryPlugins", "LuaBridge",
                           .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/FerryCLITests"),
        // Fixtures/: runbooks the tests read from the repository (not compiled).
        .testTarget(name: "PluginTests", dependencies: ["FerryTestSupport", "FerryPlugins", "FerrySimulation", "FerryCore"],
                    path: "Tests/PluginTests", exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
