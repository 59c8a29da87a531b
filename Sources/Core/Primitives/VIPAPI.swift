import Foundation
import LuaBridge

/// The natives behind `vip.*`.
enum VIPAPI {
    static func natives(_ box: RuntimeBox) -> [LuaFunction] {
        @Sendable func directory(_ what: String) throws -> VIPDirectory {
            try box.require(what).vips
        }
        @Sendable func dry(_ what: String, _ call: LuaCall) -> Bool {
            guard let env = box.current, env.dryRun else { return false }
            env.log(LogLine(level: .info, message: "[dry run] would \(what)", invocation: call.invocation))
            return true
        }
        return [
            LuaFunction("__native.vip_url") { call in .value(.string(try directory("vip.url").url(try call.string(1)))) },
            LuaFunction("__native.vip_get") { call in
                let driver = try directory("vip.get").driver(try call.string(1))
                return .yield { [try await driver.get().luaValue] }
            },
            LuaFunction("__native.vip_switch") { call in
                let name = try call.string(1)
                let dir = try directory("vip.switch")
                let selector = try RuntimeAPI.selectors(call, 2, "vip.switch")
                let targets = VIPDirectory.serverNames(selector, settings: try dir.settings(name))
                let driver = try dir.driver(name)
                if dry("switch VIP \(name) to \(targets.joined(separator: ", "))", call) {
                    return .yield { [(try? await driver.get())?.luaValue ?? .nil] }
                }
                return .yield { [try await driver.switchTo(targets).luaValue] }
            },
            LuaFunction("__native.vip_restore") { call in
                let value = try call.value(1)
                guard let name = VIPSwitchRecord.vip(of: value) else {
                    throw LuaArgumentError("vip.restore(previous): expected the table vip.switch returned")
                }
                let driver = try directory("vip.restore").driver(name)
                // Read after the dry-run check: a dry run's vip.switch returned vip.get's table.
                if dry("restore VIP \(name)", call) { return .none }
                let previous: VIPSwitchRecord
                do { previous = try VIPSwitchRecord(lua: value) } catch let e as LuaRecordError {
                    throw VIPError(vip: name, message: "restore: expected what vip.switch returned (\(e))")
                }
                return .yield {
                    try await driver.restore(previous)
                    return []
                }
            },
            LuaFunction("__native.vip_maintenance") { call in
                let name = try call.string(1)
                let mode: String
                switch try call.value(2) {
                case .bool(true): mode = "all"
                case .bool(false), .nil: mode = "off"
                case .string(let m) where ["all", "writes", "off"].contains(m): mode = m
                case let other:
                    throw LuaArgumentError("vip.maintenance(name, mode): mode is \"all\", \"writes\", true or false, got \(other.jsonString())")
                }
                let driver = try directory("vip.maintenance").driver(name)
                if dry("set maintenance \(mode) on VIP \(name)", call) { return .none }
                return .yield {
                    try await driver.maintenance(mode)
                    return []
                }
            },
        ]
    }
}
