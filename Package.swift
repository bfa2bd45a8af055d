// swift-tools-version: 6.0
import PackageDescription

/// The CRM suite: shared runtime libraries in Sources/, one folder per deployable service in services/.
let package = Package(
    name: "crm",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ProtoWire", targets: ["ProtoWire"]),
        .library(name: "RPCCore", targets: ["RPCCore"]),
        .library(name: "RPCHTTP2", targets: ["RPCHTTP2"]),
        .library(name: "CRMProto", targets: ["CRMProto"]),
        .executable(name: "crm-protogen", targets: ["crm-protogen"]),
        .executable(name: "crm-interop-server", targets: ["crm-interop-server"]),
        .executable(name: "crm-leads", targets: ["crm-leads"]),
        .executable(name: "crm-customers", targets: ["crm-customers"]),
        .executable(name: "crm-opportunities", targets: ["crm-opportunities"]),
        .executable(name: "crm-tickets", targets: ["crm-tickets"]),
        .executable(name: "crm-forecast", targets: ["crm-forecast"]),
        .executable(name: "crm-gateway", targets: ["crm-gateway"]),
        .library(name: "CRMClient", targets: ["CRMClient"]),
        .executable(name: "crm-admin", targets: ["crm-admin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // MARK: C libraries, found through pkg-config
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),

        // MARK: Protocol: codec, generated contracts, code generator
        .target(name: "ProtoWire"),
        .target(name: "RPCCore", dependencies: ["ProtoWire"]),
        .target(name: "ProtoJSON", dependencies: ["ProtoWire"], path: "Sources/ProtoJSON"),
        .target(name: "ProtoGen"),
        .executableTarget(name: "crm-protogen", dependencies: [
            "ProtoGen", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "CRMProto", dependencies: ["ProtoWire", "RPCCore"]),
        .target(name: "InteropProto", dependencies: ["ProtoWire", "RPCCore"]),

        // MARK: Transport: gRPC over HTTP/2 on nghttp2
        .target(name: "RPCHTTP2", dependencies: [
            "CNGHTTP2", "RPCCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // MARK: Storage and the runtime every process shares
        .target(name: "CRMStore", dependencies: [
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        .target(name: "ServiceRuntime", dependencies: [
            "RPCHTTP2", "CRMProto", "CRMStore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: Executables
        .executableTarget(name: "crm-interop-server", dependencies: ["InteropProto", "ServiceRuntime"]),
        .executableTarget(name: "crm-codec-probe", dependencies: ["CRMProto", "InteropProto"],
                          path: "Tests/CodecProbe"),

        // MARK: Services (one folder each: a library with handlers, rules and schema; a thin main)
        .target(name: "LeadsService", dependencies: ["ServiceRuntime"], path: "services/leads/Service"),
        .executableTarget(name: "crm-leads", dependencies: ["LeadsService"], path: "services/leads/main"),
        .target(name: "CustomersService", dependencies: ["ServiceRuntime"], path: "services/customers/Service"),
        .executableTarget(name: "crm-customers", dependencies: ["CustomersService"], path: "services/customers/main"),
        .target(name: "OpportunitiesService", dependencies: ["ServiceRuntime"], path: "services/opportunities/Service"),
        .executableTarget(name: "crm-opportunities", dependencies: ["OpportunitiesService"], path: "services/opportunities/main"),
        .target(name: "TicketsService", dependencies: ["ServiceRuntime"], path: "services/tickets/Service"),
        .executableTarget(name: "crm-tickets", dependencies: ["TicketsService"], path: "services/tickets/main"),
        .target(name: "ForecastService", dependencies: ["ServiceRuntime"], path: "services/forecast/Service"),
        .executableTarget(name: "crm-forecast", dependencies: ["ForecastService"], path: "services/forecast/main"),
        .target(name: "GatewayService", dependencies: [
            "ServiceRuntime", "ProtoJSON", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "services/gateway/Service"),
        .executableTarget(name: "crm-gateway", dependencies: ["GatewayService"], path: "services/gateway/main"),
        .target(name: "CRMClient", dependencies: ["CRMProto", "RPCHTTP2"]),
        .executableTarget(name: "crm-admin", dependencies: [
            "ServiceRuntime", "CRMClient", "CRMProto", "ProtoWire", "ProtoJSON", "RPCCore", "RPCHTTP2", "CRMStore", "TicketsService", "OpportunitiesService",
            "LeadsService", "CustomersService", "ForecastService", "GatewayService",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ], path: "Sources/crm-admin"),

        // MARK: Benchmarks (benchmarks/run builds it; not part of the test run)
        .executableTarget(name: "crm-bench-load", dependencies: ["CRMProto", "RPCCore", "RPCHTTP2"], path: "benchmarks/load"),

        // MARK: Tests
        .testTarget(name: "ProtoWireTests", dependencies: ["ProtoWire", "CRMProto", "InteropProto"]),
        .testTarget(name: "ProtoGenTests", dependencies: ["ProtoGen"]),
        .testTarget(name: "CRMStoreTests", dependencies: ["CRMStore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "ProtoJSONTests", dependencies: ["ProtoJSON", "CRMProto", "ProtoWire"]),
        .testTarget(name: "RPCTests", dependencies: ["RPCHTTP2", "ServiceRuntime", "InteropProto", "CRMProto"]),
    ]
)
