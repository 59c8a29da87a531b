import Foundation
import LuaBridge

/// keepalived: a VIP moves between balancers when their VRRP priorities change.
/// `switch` raises the target balancer's priority above the others and reloads it
/// (SIGHUP), then waits until the address lives on the target — checked on the
/// hosts themselves, not assumed.
struct KeepalivedVIP: VIPDriver {
    struct Balancer: Sendable {
        var host: RegionHost
        var config: String
        var pidfile: String
    }

    let name: String
    let address: String
    let balancers: [String: Balancer]
    let transport: any Transport
    let settle: Double

    init(name: String, settings: [String: LuaValue], region: Region, transport: any Transport) throws {
        self.name = name
        self.transport = transport
        guard let address = settings["address"]?.stringValue else { throw VIPError(vip: name, message: "keepalived driver needs `address` (the VIP)") }
        self.address = address.split(separator: "/").first.map(String.init) ?? address
        guard case .map(let list)? = settings["balancers"], !list.isEmpty else {
            throw VIPError(vip: name, message: "keepalived driver needs `balancers: { HOST: { config: PATH, pidfile: PATH } }`")
        }
        var out: [String: Balancer] = [:]
        for (hostName, value) in list {
            guard let host = region.hosts[hostName] else { throw VIPError(vip: name, message: "balancers: no host named '\(hostName)' in the region") }
            out[hostName] = Balancer(host: host, config: value["config"].stringValue ?? "/etc/keepalived/keepalived.conf",
                                     pidfile: value["pidfile"].stringValue ?? "/run/keepalived.pid")
        }
        balancers = out
        if let given = settings["settle"], !given.isNil {
            guard let seconds = RuntimeAPI.seconds(given) else {
                throw VIPError(vip: name, message: "settle: '\(given.stringValue ?? given.jsonString())' is not a duration (write 30s, 2m or a number of seconds)")
            }
            settle = seconds
        } else {
            settle = 30
        }
    }

    func run(_ host: RegionHost, _ command: String) async throws -> CommandResult {
        let result = try await transport.run(HostCommand(command, timeout: 30), on: host, output: OutputCapture())
        guard result.exitCode == 0 else {
            throw VIPError(vip: name, message: "\(host.name): `\(command)` exited \(result.exitCode ?? -1): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result
    }

    /// Each balancer's priority and whether the address lives on it now.
    func state() async throws -> [String: (priority: Int, holds: Bool)] {
        var out: [String: (Int, Bool)] = [:]
        for (hostName, b) in balancers.sorted(by: { $0.key < $1.key }) {
            let text = try await run(b.host, """
                p=$(grep -m1 -E '^[[:space:]]*priority[[:space:]]+[0-9]+' \(ShellQuote.quote(b.config)) | awk '{print $2}'); \
                if ip -4 -o addr show | awk '{print $4}' | cut -d/ -f1 | grep -qx \(ShellQuote.quote(address)); then h=yes; else h=no; fi; echo "$p $h"
                """).stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
            guard text.count == 2, let p = Int(text[0]) else {
                throw VIPError(vip: name, message: "\(hostName): cannot read the priority in \(b.config)")
            }
            out[hostName] = (p, text[1] == "yes")
        }
        return out
    }

    func get() async throws -> VIPState {
        let s = try await state()
        return VIPState(vip: name, address: address, holder: s.first { $0.value.holds }?.key,
                        balancers: s.mapValues { VIPState.Balancer(priority: $0.priority, holds: $0.holds) })
    }

    func setPriority(_ hostName: String, _ priority: Int) async throws {
        guard let b = balancers[hostName] else { throw VIPError(vip: name, message: "no balancer named '\(hostName)'") }
        _ = try await run(b.host, """
            sed -i -E '0,/^([[:space:]]*priority[[:space:]]+)[0-9]+/s//\\1\(priority)/' \(ShellQuote.quote(b.config)) && \
            kill -HUP "$(cat \(ShellQuote.quote(b.pidfile)))"
            """)
    }

    /// Waits until the address lives on `holder` alone.
    func waitFor(_ holder: String) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(settle)
        var last: [String: (priority: Int, holds: Bool)] = [:]
        while clock.now < deadline {
            last = try await state()
            if last[holder]?.holds == true && last.filter({ $0.value.holds }).count == 1 { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        let where_ = last.filter { $0.value.holds }.map(\.key).sorted().joined(separator: ", ")
        throw VIPError(vip: name, message: "the address \(address) did not move to \(holder) within \(DurationText.format(settle)) (it is on: \(where_.isEmpty ? "no balancer" : where_))")
    }

    func switchTo(_ targets: [String]) async throws -> VIPSwitchRecord {
        guard targets.count == 1, let target = targets.first, balancers[target] != nil else {
            throw VIPError(vip: name, message: "switch: name one balancer of \(balancers.keys.sorted().joined(separator: ", ")) (got \(targets.joined(separator: ", ")))")
        }
        let before = try await state()
        let previous = VIPSwitchRecord(vip: name, holder: before.first { $0.value.holds }?.key,
                                       priorities: before.mapValues(\.priority))
        let highest = before.filter { $0.key != target }.map(\.value.priority).max() ?? 0
        if (before[target]?.priority ?? 0) <= highest {
            try await setPriority(target, min(254, highest + 50))
        }
        try await waitFor(target)
        return previous
    }

    func restore(_ previous: VIPSwitchRecord) async throws {
        guard let priorities = previous.priorities else {
            throw VIPError(vip: name, message: "restore: expected what vip.switch returned")
        }
        for (hostName, p) in priorities.sorted(by: { $0.key < $1.key }) { try await setPriority(hostName, p) }
        if let holder = previous.holder { try await waitFor(holder) }
    }

    func maintenance(_ mode: String) async throws {
        throw VIPError(vip: name, message: "keepalived moves an address; a maintenance window needs the haproxy driver in front of the API")
    }
}
