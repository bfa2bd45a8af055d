import Foundation
import ServiceRuntime

/// Flags first, then the suite's environment variables (SUITE.md), then the suite's defaults.
enum Environment {
    static func value(_ flag: String?, _ names: String...) -> String? {
        if let flag, !flag.isEmpty { return flag }
        let environment = ProcessInfo.processInfo.environment
        for name in names {
            if let value = environment[name], !value.isEmpty { return value }
        }
        return nil
    }

    /// The address of a process of the suite: `--addr`, else `CRM_<NAME>_ADDR`, else its default port.
    static func address(of service: String, flag: String? = nil) -> String {
        value(flag, "CRM_\(service.uppercased())_ADDR") ?? SuiteOptions.defaultAddresses[service] ?? "127.0.0.1:0"
    }
}
