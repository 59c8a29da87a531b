import ArgumentParser
import FerryCore
import Foundation
import LuaBridge
import Synchronization

struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec", abstract: "Run one command on many hosts; output grouped by identical result.")
    @Argument(help: "Hosts, as an Ansible pattern: all, a group, a host, a:b (union), a:&b, a:!b, g[0], g[0:9], ~regex, a glob, a range like cmp[001:010].") var selector: String
    @Option(name: .shortAndLong, help: "A region file (or a name under scripts/regions).") var region: String
    @Option(name: .long, help: "Hosts at once (default: the region's ssh.parallel).") var parallel: Int?
    @Option(name: .long, help: "Kill the command after this long, e.g. 30s.") var timeout: String?
    @Flag(name: .long, help: "Run through sudo -n.") var sudo = false
    @Flag(name: .long, help: "Print results as JSON.") var json = false
    @OptionGroup var journalOptions: JournalOptions
    @Argument(parsing: .postTerminator, help: "The command (after --).") var command: [String] = []

    @OptionGroup var cloud: CloudOptions

    func run() async throws {
        try await guarded {
            try cloud.apply()
            guard !command.isEmpty else { throw FerryError.usage("give the command after --, e.g. ferry exec computes -r lab -- uptime") }
            // A simulated region is the one beside this journal (as the runs left it).
            let target = try Composition.target(region, journal: journalOptions.journal)
            let r = target.region
            let hosts = try HostSelector(region: r).hosts(selector)
            var hostCommand = HostCommand(command.joined(separator: " "), sudo: sudo)
            if let timeout {
                guard let t = DurationText.seconds(timeout) else { throw FerryError.usage("--timeout: '\(timeout)' is not a duration") }
                hostCommand.timeout = t
            }
            let transport = try target.sim?.transport ?? Composition.transport(for: r, journal: journalOptions.journal)
            let counter = Mutex((done: 0, failed: 0))
            let total = hosts.count
            let live = Console.isTerminal && !json
            // Ctrl-C ends `exec` at once: its masters are closed first (openssh).
            let results = await Composition.closingOnSignal(transport) {
                await AdHocExec.run(hostCommand, on: hosts, transport: transport, parallel: parallel ?? r.ssh.parallel) { result in
                    let (done, failed) = counter.withLock { c -> (Int, Int) in
                        c.done += 1
                        if !result.ok { c.failed += 1 }
                        return (c.done, c.failed)
                    }
                    if live && (done % 10 == 0 || done == total) { Console.errorRaw("\r\(done)/\(total) done, \(failed) failed\u{1B}[K") }
                }
            }
            let connecting = await transport.summary
            await transport.shutdown()
            if live { Console.errorRaw("\r\u{1B}[K") }
            if let connecting, !json { Console.error("ferry: \(connecting)") }
            if json {
                Console.out(LuaValue.array(results.map { r in
                    var m: [String: LuaValue] = ["host": .string(r.host), "stdout": .string(r.stdout), "stderr": .string(r.stderr)]
                    if let c = r.exitCode { m["code"] = .int(Int64(c)) }
                    if let e = r.error { m["error"] = .string(e) }
                    return .map(m)
                }).jsonString())
            } else {
                for g in AdHocExec.group(results) {
                    Console.out(String(repeating: "-", count: 16))
                    Console.out("\(AdHocExec.compress(g.hosts)) (\(g.hosts.count) host\(g.hosts.count == 1 ? "" : "s")): \(g.status)")
                    Console.out(String(repeating: "-", count: 16))
                    if !g.output.isEmpty { Console.out(g.output.hasSuffix("\n") ? String(g.output.dropLast()) : g.output) }
                }
                var counts: [String: Int] = [:]
                for r in results {
                    let key = r.error != nil ? "failed to run" : "exit \(r.exitCode ?? -1)"
                    counts[key, default: 0] += 1
                }
                let summary = counts.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                Console.out("\(results.count) host(s): \(summary)")
            }
            return results.allSatisfy(\.ok) ? 0 : 1
        }
    }
}
