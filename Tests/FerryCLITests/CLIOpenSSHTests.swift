import FerryCore
import Foundation
import Testing
import FerryTestSupport

/// `ferry` with the `openssh` transport against the lab's sshd hosts, as an operator runs
/// it: where `accept-new` records host keys (never in the operator's own known_hosts), and
/// what a signal leaves behind (no ControlMaster). Each test takes lab hosts no other suite
/// uses: masters are shared by every Ferry of this user (`/tmp/ferry-ssh-UID/%C`).
@Suite(.serialized) struct CLIOpenSSHTests {
    static var testenv: String { ProcessInfo.processInfo.environment["TESTENV_DIR"] ?? Repository.root + "/.testenv" }

    /// The lab host at `index` in `computes` (from 0), and the lab's ssh settings.
    static func labHost(_ index: Int) throws -> (name: String, address: String, port: Int) {
        let path = testenv + "/region.yaml"
        let lab = try #require(try? RegionLoader.load(path: path), "no lab region at \(path): scripts/testenv/up hosts")
        let names = lab.groups["computes"] ?? []
        try #require(names.count > index, "the lab has \(names.count) hosts; this test needs \(index + 1)")
        return (names[index], lab.hosts[names[index]]!.address, lab.ssh.port)
    }

    /// A region of the given lab hosts on the openssh transport.
    static func writeRegion(_ dir: String, hosts: [Int], ssh extra: String) throws {
        var text = "region: cli-openssh\ninventory:\n  groups:\n    computes: ["
        let picked = try hosts.map { try labHost($0) }
        text += picked.map(\.name).joined(separator: ", ") + "]\n  hosts:\n"
        for h in picked { text += "    \(h.name): { address: \(h.address) }\n" }
        text += """
            ssh:
              transport: openssh
              user: root
              port: \(picked[0].port)
              identity: \(testenv)/ssh/id_ed25519
              connect_timeout: 60s
            \(extra.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            vars: { out: \(dir)/out }

            """
        try text.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
    }

    static func directory() throws -> String {
        let dir = NSTemporaryDirectory() + "ferry-cli-openssh-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        return dir
    }

    /// Whether `file` (plain or hashed) has a key for the lab host.
    static func knows(_ file: String, _ host: (name: String, address: String, port: Int)) async throws -> Bool {
        try await ChildProcess.run("/usr/bin/ssh-keygen", ["-F", "[\(host.address)]:\(host.port)", "-f", file]).code == 0
    }

    /// The ControlMaster Ferry would use for `host`, asked through its socket (`ssh -O check`).
    static func masterRunning(_ host: (name: String, address: String, port: Int)) async throws -> Bool {
        try await ChildProcess.run("/usr/bin/ssh", [
            "-O", "check", "-o", "ControlPath=/tmp/ferry-ssh-\(getuid())/%C", "-l", "root", "-p", String(host.port), "--", host.address,
        ]).code == 0
    }

    @Test func acceptNewRecordsKeysBesideTheJournalAndNeverInTheOperatorsKnownHosts() async throws {
        let dir = try Self.directory()
        let home = dir + "/home"
        try FileManager.default.createDirectory(atPath: home + "/.ssh", withIntermediateDirectories: true)
        let operatorFile = home + "/.ssh/known_hosts"
        let unrelated = "unrelated.example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPxzuE9goYm4k9a8hDJ98rhjP6zRvfoX3DbBeNHRLmVR\n"
        try unrelated.write(toFile: operatorFile, atomically: true, encoding: .utf8)
        let environment = ["HOME": home]

        // The operator's file named as known_hosts: read, never written.
        let first = try Self.labHost(483)
        try Self.writeRegion(dir, hosts: [483], ssh: "host_key_checking: accept-new\nknown_hosts: \(operatorFile)")
        let exec = try await ChildProcess.run(FerryProcess.binary, ["exec", "computes", "-r", "region.yaml", "--journal", "state/j.db", "--", "echo", "ok"],
                                              in: dir, environment: environment)
        #expect(exec.code == 0, "\(exec.stdout)\(exec.stderr)")
        try #require(try String(contentsOfFile: operatorFile, encoding: .utf8) == unrelated, "the operator's known_hosts was written")
        let recorded = dir + "/state/known_hosts"
        try #require(try await Self.knows(recorded, first), "the key is not in \(recorded)")
        let mode = try FileManager.default.attributesOfItem(atPath: recorded)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        // No known_hosts set: $HOME/.ssh/known_hosts is the second source, read only.
        let known = try Self.labHost(484)
        let lab = try String(contentsOfFile: Self.testenv + "/ssh/known_hosts", encoding: .utf8)
        let knownLines = lab.split(separator: "\n").filter { $0.hasPrefix("[\(known.address)]:") }.map { $0 + "\n" }.joined()
        try (unrelated + knownLines).write(toFile: operatorFile, atomically: true, encoding: .utf8)
        try Self.writeRegion(dir, hosts: [484], ssh: "host_key_checking: strict")
        let strict = try await ChildProcess.run(FerryProcess.binary, ["exec", "computes", "-r", "region.yaml", "--journal", "strict/j.db", "--", "echo", "ok"],
                                                in: dir, environment: environment)
        #expect(strict.code == 0, "the key in $HOME/.ssh/known_hosts is trusted: \(strict.stdout)\(strict.stderr)")

        let fresh = try Self.labHost(485)
        try Self.writeRegion(dir, hosts: [485], ssh: "host_key_checking: accept-new")
        let accepted = try await ChildProcess.run(FerryProcess.binary, ["exec", "computes", "-r", "region.yaml", "--journal", "state2/j.db", "--", "echo", "ok"],
                                                  in: dir, environment: environment)
        #expect(accepted.code == 0, "\(accepted.stdout)\(accepted.stderr)")
        #expect(try await Self.knows(dir + "/state2/known_hosts", fresh))
        #expect(try String(contentsOfFile: operatorFile, encoding: .utf8) == unrelated + knownLines, "the operator's known_hosts was written")
    }

    @Test func sigtermLeavesNoControlMasterRunning() async throws {
        let dir = try Self.directory()
        let host = try Self.labHost(486)
        try Self.writeRegion(dir, hosts: [486], ssh: "known_hosts: \(Self.testenv)/ssh/known_hosts")
        try """
            runbook { name = "terminated" }
            step "long" { on = "computes", run = function(host, ctx)
              host:run("touch " .. ctx.vars.out .. "/started; \(Wait.shellUntilExists("\" .. ctx.vars.out .. \"/release"))")
            end }
            """.write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)
        defer {
            FileManager.default.createFile(atPath: dir + "/out/release", contents: nil)
            _ = try? shellOutput("ssh -O exit -o ControlPath=/tmp/ferry-ssh-\(getuid())/%C -l root -p \(host.port) -- \(host.address) 2>/dev/null")
        }
        let (wasRunning, stopped) = try await FerryProcess.run(["run", "runbook.lua", "-r", "region.yaml", "--yes", "--journal", "j.db"], in: dir) { child in
            // The latch: the command runs on the host, so its master is up. Should the run end
            // first, it is not signalled (the expectations below say how it ended).
            guard try await Wait.until("the command started on the host", unless: .child(child, "ferry run"), {
                FileManager.default.fileExists(atPath: dir + "/out/started")
            }) else { return false }
            let running = try await Self.masterRunning(host)
            try child.signal(SIGTERM)
            return running
        }
        #expect(wasRunning, "the run's ControlMaster was up before the signal")
        #expect(stopped.code == 3, "\(stopped.stderr)")
        #expect(try await !Self.masterRunning(host), "the ControlMaster outlived ferry: \(stopped.stderr)")
    }
}

