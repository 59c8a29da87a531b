import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// The SSH transports against real OpenSSH sshd hosts (scripts/testenv/up hosts).
@Suite(.serialized) struct SSHTransportTests {
    @Test func keyAuthRunsCommandsWithStdinExitCodesAndOutput() async throws {
        for key in ["id_ed25519", "id_ecdsa"] {
            let r = try await RealRun(runbook: """
                runbook { name = "auth" }
                step "probe" { on = "computes", run = function(host, ctx)
                  local r = host:run("echo $SHLVL-ok; echo to-stderr >&2")
                  host.state.out = r.stdout
                  host.state.err = r.stderr
                  host.state.stdin = host:run("tr a-z A-Z", { stdin = "piped text" }).stdout
                  host.state.code = host:run("exit 7", { check = false }).code
                  host.state.env = host:run("echo $FERRY_TEST", { env = { FERRY_TEST = "from-env" } }).stdout
                end }
                """, identity: TestEnvironment.ssh + "/" + key)
            let outcome = try await r.run()
            #expect(outcome.status == .succeeded, "\(key): \(outcome.message ?? "")")
            let hosts = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run)
            #expect(hosts.count == 3)
            for h in hosts {
                #expect(h.hostState?["out"].stringValue?.hasSuffix("-ok\n") == true)
                #expect(h.hostState?["err"] == "to-stderr\n")
                #expect(h.hostState?["stdin"] == "PIPED TEXT")
                #expect(h.hostState?["code"] == 7)
                #expect(h.hostState?["env"] == "from-env\n")
            }
            await r.shutdown()
        }
    }

    @Test func wrongKeyIsRejectedNamingTheKey() async throws {
        let dir = try TestEnvironment.directory()
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        proc.arguments = ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/stranger"]
        try proc.run()
        proc.waitUntilExit()
        let r = try await RealRun(runbook: """
            runbook { name = "wrong-key" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 1, identity: dir + "/stranger")
        let outcome = try await r.run()
        #expect(outcome.status == .failed)
        let message = outcome.failedHosts.first?.message ?? ""
        #expect(message.contains("authentication as root rejected"), "\(message)")
        #expect(message.contains(dir + "/stranger"))
        #expect(message.contains("SHA256:"))
        await r.shutdown()
    }

    @Test func hostKeyMismatchFailsFastWithBothFingerprints() async throws {
        let dir = try TestEnvironment.directory()
        let target = try TestEnvironment.addresses(1)[0]
        let port = try TestEnvironment.region().ssh.port
        // A known_hosts that expects another Ed25519 key for this host.
        let keygen = Process()
        keygen.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        keygen.arguments = ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/other"]
        try keygen.run()
        keygen.waitUntilExit()
        let other = try String(contentsOfFile: dir + "/other.pub", encoding: .utf8).split(separator: " ")
        try "[\(target.address)]:\(port) \(other[0]) \(other[1])\n".write(toFile: dir + "/kh", atomically: true, encoding: .utf8)
        let r = try await RealRun(runbook: """
            runbook { name = "mismatch" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 1, ssh: "connect_timeout: 60s", knownHosts: dir + "/kh")
        // Fails at once, not after a timeout and not after a retry: the handshake counters say so.
        let outcome = try await r.run()
        let stats = try #require(r.engine.transport as? NIOSSHTransport).handshakeStats
        #expect(stats.started == 1 && stats.failed == 1 && stats.timedOut == 0, "\(stats.summary)")
        let message = outcome.failedHosts.first?.message ?? ""
        #expect(message.contains("HOST KEY MISMATCH"), "\(message)")
        let fingerprints = message.components(separatedBy: "SHA256:").count - 1
        #expect(fingerprints == 2, "\(message)")
        #expect(message.contains(dir + "/kh:1"))
        await r.shutdown()
    }

    @Test func unknownHostIsRefusedStrictlyAndRecordedWithAcceptNew() async throws {
        let dir = try TestEnvironment.directory()
        try "".write(toFile: dir + "/empty_known_hosts", atomically: true, encoding: .utf8)
        let strict = try await RealRun(runbook: """
            runbook { name = "strict" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 2, knownHosts: dir + "/empty_known_hosts")
        let refused = try await strict.run()
        #expect(refused.status == .failed)
        #expect(refused.failedHosts.first?.message.contains("unknown host key") == true)
        await strict.shutdown()

        let accepting = try await RealRun(runbook: """
            runbook { name = "accept-new" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 2, ssh: "host_key_checking: accept-new", knownHosts: dir + "/empty_known_hosts")
        let accepted = try await accepting.run()
        #expect(accepted.status == .succeeded, "\(accepted.message ?? "")")
        let recorded = try String(contentsOfFile: accepting.directory + "/ferry_known_hosts", encoding: .utf8)
        #expect(recorded.split(separator: "\n").count == 2)
        #expect(recorded.contains(":\(try TestEnvironment.region().ssh.port)] ") || recorded.contains("]:"))
        await accepting.shutdown()
    }

    @Test func jumpHostsCarryConnectionsAndChainsWork() async throws {
        let hosts = try TestEnvironment.addresses(3)
        let r = try await RealRun(runbook: """
            runbook { name = "jump" }
            step "through" { on = "\(hosts[2].name)", run = function(host, ctx) host.state.name = host:run("echo via-jump").stdout end }
            """, count: 3, hostExtras: [hosts[1].name: "jump: \(hosts[0].name)", hosts[2].name: "jump: \(hosts[1].name)"])
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run).first?.hostState
        #expect(state?["name"] == "via-jump\n")
        await r.shutdown()

        // The jump host opens the TCP connection: a closed port on the target is
        // reported by the jump, naming it.
        let bad = try await RealRun(runbook: """
            runbook { name = "jump-refused" }
            step "through" { on = "\(hosts[1].name)", run = function(host, ctx) host:run("true") end }
            """, count: 2, hostExtras: [hosts[1].name: "jump: \(hosts[0].name), port: 1"])
        let failed = try await bad.run()
        #expect(failed.failedHosts.first?.message.contains("via \(hosts[0].name)") == true, "\(failed.failedHosts)")
        await bad.shutdown()
    }

    @Test func moreConcurrentCommandsThanMaxSessionsOnOneHost() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "sessions" }
            step "many" { on = "computes", run = function(host, ctx)
              local items = {}
              for i = 1, 25 do items[i] = i end
              local outs = parallel(items, function(i) return host:run("sleep 0.2; echo " .. i).stdout end, { limit = 25 })
              host.state.count = #outs
              host.state.last = outs[25]
            end }
            """, count: 1)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run).first?.hostState
        #expect(state?["count"] == 25)
        #expect(state?["last"] == "25\n")
        await r.shutdown()
    }

    @Test func oneConnectionPerHostIsReusedAcrossSteps() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "reuse" }
            for i = 1, 5 do
              step("s" .. i) { on = "computes", run = function(host, ctx)
                host.state.port = host:run("echo $SSH_CLIENT | cut -d' ' -f2").stdout
              end }
            end
            """, count: 2)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded)
        // The client port is the same in every step: one TCP connection, one handshake.
        var ports: [String: Set<String>] = [:]
        for i in 0..<5 {
            for h in try await r.engine.journal.hosts(outcome.runID, step: i, phase: .run) {
                ports[h.host, default: []].insert(h.hostState?["port"].stringValue ?? "?")
            }
        }
        #expect(ports.count == 2)
        #expect(ports.values.allSatisfy { $0.count == 1 })
        await r.shutdown()
    }

    @Test func timeoutKillsTheRemoteCommand() async throws {
        let marker = "ferry-remote-\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await RealRun(runbook: """
            runbook { name = "timeout" }
            step "slow" { on = "computes", run = function(host, ctx) host:run("sleep 30; echo \(marker)", { timeout = "1s" }) end }
            """, count: 1)
        let outcome = try await r.run()
        #expect(outcome.status == .failed)
        #expect(outcome.failedHosts.first?.message.contains("did not finish within 1.0s") == true, "\(outcome.failedHosts)")
        try await Processes.end(matching: marker)
        await r.shutdown()
    }

    @Test func largeOutputStreamsToFilesWithBoundedTails() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "output" }
            step "big" { on = "computes", run = function(host, ctx)
              local res = host:run("head -c 1048576 /dev/zero | tr '\\\\0' x")
              host.state.tail = #res.stdout
            end }
            """, count: 1)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let state = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run).first?.hostState
        #expect(state?["tail"] == .int(Int64(OutputCapture.defaultTailBytes)))
        let host = try TestEnvironment.addresses(1)[0].name
        let file = r.engine.journal.outputDirectory(for: outcome.runID) + "/000-big/\(host).out"
        let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int ?? 0
        #expect(size > 1_048_576 && size < 1_048_576 + 200)
        await r.shutdown()
    }

    @Test func uploadOf200MegabytesIsVerifiedByChecksum() async throws {
        let dir = try TestEnvironment.directory()
        let source = dir + "/payload.bin"
        _ = try shellOutput("head -c 209715200 /dev/urandom > \(source)")
        let r = try await RealRun(runbook: """
            runbook { name = "upload" }
            step "ship" { on = "computes", run = function(host, ctx)
              local dest = ctx.vars.out .. "/received-" .. host.name .. ".bin"
              host:put("payload.bin", dest, { mode = "0600" })
              host.state.sum = host:run("sha256sum " .. dest .. " | cut -d' ' -f1").stdout
              host.state.mode = host:run("stat -c %a " .. dest).stdout
            end }
            """, count: 1)
        try FileManager.default.moveItem(atPath: source, toPath: r.directory + "/payload.bin")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let expected = try shellOutput("sha256sum \(r.directory)/payload.bin | cut -d' ' -f1")
        let state = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run).first?.hostState
        #expect(state?["sum"].stringValue == expected)
        #expect(state?["mode"] == "600\n")
        await r.shutdown()
    }

    @Test func killedSessionIsReportedJournaledAndResumable() async throws {
        let marker = "ferry-kill-\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await RealRun(runbook: """
            runbook { name = "lost" }
            step "long" { on = "computes", run = function(host, ctx)
              -- Runs until the test creates out/quick (after the kill, before the resume).
              host:run("echo $$ > " .. ctx.vars.out .. "/shell-pid; " ..
                       "\(Wait.shellUntilExists("\" .. ctx.vars.out .. \"/quick")); echo \(marker) > /dev/null")
            end }
            """, count: 1)
        let ran = Latch()
        let task = Task { defer { ran.open() }; return try await r.run() }
        // The command's shell wrote its pid: kill its parent, the sshd session process.
        // Should the run end first, nothing is killed (and the expectations say so).
        let killed = try await Wait.until("the command's sshd session killed", every: .milliseconds(50), unless: .opened(ran, "the run")) {
            guard let text = try? String(contentsOfFile: r.directory + "/out/shell-pid", encoding: .utf8),
                  let shell = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return false }
            if let session = parentPID(shell), kill(session, SIGKILL) == 0 { return true }
            return false
        }
        #expect(killed)
        let outcome = try await task.value
        #expect(outcome.status == .failed)
        let message = outcome.failedHosts.first?.message ?? ""
        #expect(message.contains("connection was lost while the command ran; it may have run"), "\(message)")
        let journaled = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run).first
        #expect(journaled?.status == .failed)
        #expect(journaled?.message?.contains("may have run") == true)
        FileManager.default.createFile(atPath: r.directory + "/out/quick", contents: nil)
        let resumed = try await r.engine.resume(outcome.runID)
        #expect(resumed.status == .succeeded, "\(resumed.message ?? "")")
        for pid in Processes.matching(marker) { kill(pid, SIGKILL) }
        await r.shutdown()
    }

    /// 500 lab sshd processes share two cores with the rest of the suite and finish some
    /// 50 handshakes a second: at 400 started a second with nothing else holding them
    /// back, hundreds waited past their timeout. Handshakes in flight are capped
    /// (`max_handshakes`, 64 by default), so every host answers however loaded the machine.
    @Test func fiveHundredHostsInOneStep() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "fleet" }
            step "all" { on = "computes", run = function(host, ctx) host.state.h = host:run("echo " .. host.name).stdout end }
            """, count: 500, ssh: "connect_rate: 400\nconnect_timeout: 10s")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let hosts = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run)
        #expect(hosts.count == 500)
        #expect(hosts.allSatisfy { $0.status == .ok && $0.hostState?["h"].stringValue == $0.host + "\n" })
        let stats = try #require(r.engine.transport as? NIOSSHTransport).handshakeStats
        #expect(stats.succeeded == 500 && stats.timedOut == 0, "\(stats.summary)")
        #expect(stats.peakInFlight <= 64, "\(stats.summary)")
        // How connecting went is in the journal, for the operator.
        let events = try await r.engine.journal.events(outcome.runID)
        #expect(events.contains { $0.kind == "transport" && $0.message.contains("500 SSH handshakes") }, "\(events.map(\.message))")
        await r.shutdown()
    }

    /// A handshake's timeout counts from when its attempt starts, not while it waits for
    /// its turn: 20 hosts one at a time at 2 a second take some 9.5 s in all, longer than
    /// the 6 s connect timeout, and every one of them connects.
    @Test func waitingForATurnIsNotPartOfTheConnectTimeout() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "paced" }
            step "all" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 20, ssh: "connect_rate: 2\nmax_handshakes: 1\nadaptive_connect: false\nconnect_timeout: 6s")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "") \(outcome.failedHosts)")
        let stats = try #require(r.engine.transport as? NIOSSHTransport).handshakeStats
        #expect(stats.succeeded == 20 && stats.peakInFlight == 1, "\(stats.summary)")
        #expect(stats.span > 6, "\(stats.summary)")
        await r.shutdown()
    }

    @Test func opensshTransportRunsWithRSAKeysAndClassifiesItsOwnFailures() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "openssh" }
            step "probe" { on = "computes", run = function(host, ctx)
              host.state.out = host:run("echo hi; exit 0").stdout
              host.state.code = host:run("exit 255", { check = false }).code
              host.state.stdin = host:run("cat", { stdin = "in" }).stdout
            end }
            """, count: 2, identity: TestEnvironment.ssh + "/id_rsa", transport: "openssh")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        for h in try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run) {
            #expect(h.hostState?["out"] == "hi\n")
            // The remote command's own 255 is not mistaken for ssh's failure.
            #expect(h.hostState?["code"] == 255)
            #expect(h.hostState?["stdin"] == "in")
        }
        await r.shutdown()
        // Masters are closed when the run ends.
        try await Processes.end(matching: "ferry-ssh-\(getuid())")

        let refused = try await RealRun(runbook: """
            runbook { name = "openssh-refused" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 1, ssh: "port: 1", transport: "openssh")
        let failed = try await refused.run()
        #expect(failed.failedHosts.first?.message.contains("Connection refused") == true, "\(failed.failedHosts)")
        await refused.shutdown()
    }

    @Test func refusedAndRSAKeyErrorsAreClear() async throws {
        let refused = try await RealRun(runbook: """
            runbook { name = "refused" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 1, ssh: "port: 1")
        let r1 = try await refused.run()
        #expect(r1.failedHosts.first?.message.contains("connection refused") == true, "\(r1.failedHosts)")
        await refused.shutdown()
        let rsa = try await RealRun(runbook: """
            runbook { name = "rsa" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 1, identity: TestEnvironment.ssh + "/id_rsa")
        let r2 = try await rsa.run()
        #expect(r2.failedHosts.first?.message.contains("transport: openssh") == true, "\(r2.failedHosts)")
        await rsa.shutdown()
    }
}


@Suite struct AdHocExecIntegrationTests {
    @Test func execFansOutAndGroupsRealResults() async throws {
        let dir = try TestEnvironment.directory()
        let region = try RegionLoader.load(path: try TestEnvironment.writeRegion(count: 20, directory: dir))
        let transport = NIOSSHTransport(region: region, journalDirectory: dir)
        let hosts = try HostSelector(region: region).hosts("computes")
        let results = await AdHocExec.run(
            HostCommand("case $(echo $SSH_CONNECTION | cut -d' ' -f3) in *.1|*.2) echo odd; exit 3;; *) echo same;; esac"),
            on: hosts, transport: transport, parallel: 8)
        await transport.shutdown()
        let groups = AdHocExec.group(results)
        #expect(groups.count == 2)
        #expect(groups[0].hosts.count == 18)
        #expect(groups[0].output == "same\n")
        #expect(groups[1].status == "exit 3")
        #expect(AdHocExec.compress(groups[1].hosts) == "cmp[001-002]")
    }
}

@Suite(.serialized) struct SSHConnectionTests {
    @Test func aDroppedIdleConnectionIsReopenedOnce() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "reconnect" }
            step "first" { on = "computes", run = function(host, ctx)
              local session = host:run("echo $PPID").stdout:gsub("%s+", "")
              host:run("echo " .. session .. " > " .. ctx.vars.out .. "/session-pid")
              host.state.port = host:run("echo $SSH_CLIENT | cut -d' ' -f2").stdout
            end }
            step "wait" { run = function(ctx)
              -- Waits on a local file, so the connection stays idle while the test kills it.
              -- Within the hang guard: the test's latch, however long the machine takes to set it.
              wait_until(function() return io.open("out/killed") ~= nil end, { within = "\(Wait.hangGuardSeconds)s", every = "100ms" })
            end }
            step "second" { on = "computes", run = function(host, ctx)
              host.state.port = host:run("echo $SSH_CLIENT | cut -d' ' -f2").stdout
            end }
            """, count: 1)
        _ = r
        // Kill the session while "wait" polls a local file: once the journal has the host
        // done in "first", no command of it is left running, and "second" waits for the file.
        let ran = Latch()
        let task = Task { defer { ran.open() }; return try await r.run() }
        // Should the run end first (say "first" failed), nothing is killed and the
        // expectations below say how it ended.
        let session = try await Wait.for("the host done in \"first\" and its session pid", every: .milliseconds(50),
                                         unless: .opened(ran, "the run")) { () async -> Int32? in
            guard let run = try? await r.engine.journal.runs().first,
                  (try? await r.engine.journal.hosts(run.id, step: 0, phase: .run).first?.status) == .ok,
                  let text = try? String(contentsOfFile: r.directory + "/out/session-pid", encoding: .utf8)
            else { return nil }
            return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let killed = session.map { kill($0, SIGKILL) == 0 } ?? false
        FileManager.default.createFile(atPath: r.directory + "/out/killed", contents: nil)
        #expect(killed)
        let outcome = try await task.value
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let first = try await r.engine.journal.hosts(outcome.runID, step: 0, phase: .run).first?.hostState?["port"]
        let second = try await r.engine.journal.hosts(outcome.runID, step: 2, phase: .run).first?.hostState?["port"]
        #expect(first != nil && second != nil && first != second, "a new connection (new client port) after the drop")
        await r.shutdown()
    }

    @Test func aSilentServerTimesOutInsteadOfHanging() async throws {
        // A TCP listener that accepts and never speaks SSH.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(try TestEnvironment.addresses(1)[0].address)
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(listener, 16)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = Int(UInt16(bigEndian: bound.sin_port))
        defer { close(listener) }
        let r = try await RealRun(runbook: """
            runbook { name = "silent" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 1, ssh: "port: \(port)\nconnect_timeout: 1s")
        let outcome = try await r.run()
        #expect(outcome.failedHosts.first?.message.contains("no SSH handshake") == true, "\(outcome.failedHosts)")
        await r.shutdown()
    }

    @Test func theConnectionCapClosesIdleConnectionsToMakeRoom() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "cap" }
            for i = 1, 2 do
              step("s" .. i) { on = "computes", parallel = 3, run = function(host, ctx) host:run("true") end }
            end
            """, count: 20, ssh: "max_connections: 4")
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        #expect(try await r.engine.journal.hosts(outcome.runID, step: 1, phase: .run).filter { $0.status == .ok }.count == 20)
        let open = await (r.engine.transport as! NIOSSHTransport).openConnections
        #expect(open <= 4)
        await r.shutdown()
    }
}

@Suite struct HashedKnownHostsTests {
    @Test func hashedKnownHostsEntriesAreVerified() async throws {
        let dir = try TestEnvironment.directory()
        let hashed = dir + "/known_hosts"
        try FileManager.default.copyItem(atPath: TestEnvironment.ssh + "/known_hosts", toPath: hashed)
        _ = try shellOutput("ssh-keygen -q -H -f \(hashed) 2>&1; rm -f \(hashed).old")
        let text = try String(contentsOfFile: hashed, encoding: .utf8)
        #expect(text.hasPrefix("|1|"))
        #expect(!text.contains("127.0.1.1"))
        let r = try await RealRun(runbook: """
            runbook { name = "hashed" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 2, knownHosts: hashed)
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        await r.shutdown()
    }
}
