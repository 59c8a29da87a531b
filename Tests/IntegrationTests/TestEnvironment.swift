import FerryCore
import Foundation
import Testing
import LuaBridge
import Synchronization
import FerryTestSupport

/// The real services scripts/testenv started (sshd hosts for now).
enum TestEnvironment {
    static let root = Repository.root
    /// The test environment's folder (`.testenv`, or TESTENV_DIR as scripts/testenv takes it).
    static var testenv: String { ProcessInfo.processInfo.environment["TESTENV_DIR"] ?? root + "/.testenv" }
    static var ssh: String { testenv + "/ssh" }

    /// The testenv region; fails loudly when the services are not up.
    static func region() throws -> Region {
        let path = testenv + "/region.yaml"
        guard FileManager.default.fileExists(atPath: path) else {
            throw FerryError.failed("the test environment is not up: run `scripts/testenv/up hosts` (scripts/test does)")
        }
        return try RegionLoader.load(path: path)
    }

    /// Addresses of `count` test hosts, from the first (or from the `skip`-th on: tests that
    /// must not share an openssh ControlMaster with other suites take hosts of their own).
    static func addresses(_ count: Int, skip: Int = 0) throws -> [(name: String, address: String)] {
        let r = try region()
        let names = r.groups["computes"] ?? []
        guard names.count >= skip + count else {
            throw FerryError.failed("the test environment has \(names.count) hosts; these tests need \(skip + count) (HOSTS=\(skip + count) scripts/testenv/up hosts)")
        }
        return names.dropFirst(skip).prefix(count).map { ($0, r.hosts[$0]!.address) }
    }

    /// A region file for `count` test hosts with extra ssh settings and host lines.
    static func writeRegion(count: Int, directory: String, ssh extra: String = "", identity: String? = nil,
                            knownHosts: String? = nil, transport: String = "nio", hostExtras: [String: String] = [:],
                            skip: Int = 0) throws -> String
    {
        let hosts = try addresses(count, skip: skip)
        let port = try region().ssh.port
        var text = "region: it\ninventory:\n  groups:\n    computes: [\(hosts.map(\.name).joined(separator: ", "))]\n  hosts:\n"
        for h in hosts {
            text += "    \(h.name): { address: \(h.address)\(hostExtras[h.name].map { ", " + $0 } ?? "") }\n"
        }
        var settings: [(String, String)] = [
            ("user", "root"), ("port", String(port)), ("identity", identity ?? ssh + "/id_ed25519"),
            ("known_hosts", knownHosts ?? ssh + "/known_hosts"), ("record_known_hosts", directory + "/ferry_known_hosts"),
            ("transport", transport), ("parallel", "500"),
            // Generous: other suites load the machine; tests about timeouts set their own.
            ("connect_timeout", "60s"),
        ]
        for line in extra.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            settings.removeAll { $0.0 == parts[0] }
            settings.append((parts[0], parts[1]))
        }
        text += "ssh:\n" + settings.map { "  \($0.0): \($0.1)\n" }.joined()
        text += "vars: { out: \(directory)/out }\n"
        let path = directory + "/region.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func directory() throws -> String {
        let dir = NSTemporaryDirectory() + "ferry-it-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        return dir
    }
}

/// A runbook run through a real transport.
struct RealRun {
    let directory: String
    let engine: Engine

    init(runbook: String, count: Int = 3, ssh: String = "", identity: String? = nil, knownHosts: String? = nil,
         transport: String = "nio", hostExtras: [String: String] = [:], localTransport: Bool = false, skip: Int = 0) async throws
    {
        directory = try TestEnvironment.directory()
        try runbook.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        let regionPath = try TestEnvironment.writeRegion(
            count: count, directory: directory, ssh: ssh, identity: identity, knownHosts: knownHosts, transport: transport,
            hostExtras: hostExtras, skip: skip)
        let region = try RegionLoader.load(path: regionPath)
        let transportImpl: any Transport
        if localTransport {
            transportImpl = LocalTransport()
        } else if transport == "openssh" {
            transportImpl = OpenSSHTransport(region: region, journalDirectory: directory)
        } else {
            transportImpl = NIOSSHTransport(region: region, journalDirectory: directory)
        }
        engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua"), region: region,
                        transport: transportImpl, journal: try RunJournal(path: directory + "/journal.db"))
    }

    func run() async throws -> RunOutcome { try await engine.run(RunOptions()) }
    func state(_ outcome: RunOutcome) async throws -> LuaValue { try await engine.journal.run(outcome.runID).state }
    func shutdown() async { await engine.transport.shutdown() }
}

func parentPID(_ pid: Int32) -> Int32? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
    return fields.count > 1 ? Int32(fields[1]) : nil
}

/// The suites that change the lab's HAProxy VIP (`glance`: servers, maintenance) run one
/// after another, never beside each other: a maintenance window one of them opens must not
/// answer another's health check with 503. They are nested here, in extensions.
@Suite(.serialized) struct LabHAProxy {}

/// Starts `python3 server.py` (already written in `directory`) in the background, after
/// `setup` (shell lines run there first), and waits until it writes its port to `port` (the
/// server writes `port.tmp` and renames it, so the file is whole once it is there). However
/// long that takes on a loaded machine: it fails only when the server has exited without
/// writing it (with its server.log), or at the hang guard.
/// Stop it with SIGKILL (`kill -9`): it inherits the test process's signal mask, in which SIGTERM is blocked, so a
/// plain `kill` left every such server running after the suite.
func startPythonServer(in directory: String, setup: String = "", what: String) async throws -> (pid: String, port: Int) {
    let pid = try shellOutput("""
        set -e
        cd '\(directory)'
        \(setup)
        python3 server.py </dev/null >server.log 2>&1 &
        echo $!
        """).trimmingCharacters(in: .whitespacesAndNewlines)
    let log = { (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "" }
    guard let serverPID = Int32(pid) else { throw FerryError.failed("\(what) did not start: no pid from the shell: \(pid)") }
    do {
        let port = try await Wait.for("\(what)'s port file", every: .milliseconds(100), unless: .process(serverPID, "python3 server.py")) {
            (try? String(contentsOfFile: directory + "/port", encoding: .utf8)).flatMap { Int($0) }
        }
        if let port { return (pid, port) }
        throw FerryError.failed("\(what) did not start: it exited without writing its port: " + log())
    } catch let hung as Wait.Hung {
        _ = try? shellOutput("kill -9 \(pid)")
        throw FerryError.failed("\(what) did not start: \(hung): " + log())
    }
}
