@testable import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// The `openssh` transport's own failures, as the operator reads them, against real sshd
/// hosts. Each test takes hosts no other suite uses (`skip:`): ControlMasters are shared
/// by every Ferry of this user (`/tmp/ferry-ssh-UID/%C`), so a test that kills a
/// connection must not kill another suite's.
@Suite(.serialized) struct OpenSSHTransportTests {
    @Test func aChangedHostKeyShowsSSHsExplanation() async throws {
        let dir = try TestEnvironment.directory()
        let target = try TestEnvironment.addresses(1, skip: 480)[0]
        let port = try TestEnvironment.region().ssh.port
        _ = try shellOutput("ssh-keygen -q -t ed25519 -N '' -f \(dir)/other")
        let other = try String(contentsOfFile: dir + "/other.pub", encoding: .utf8).split(separator: " ")
        try "[\(target.address)]:\(port) \(other[0]) \(other[1])\n".write(toFile: dir + "/kh", atomically: true, encoding: .utf8)
        let r = try await RealRun(runbook: """
            runbook { name = "changed-key" }
            step "probe" { on = "computes", run = function(host, ctx) host:run("true") end }
            """, count: 1, knownHosts: dir + "/kh", transport: "openssh", skip: 480)
        let outcome = try await r.run()
        await r.shutdown()
        #expect(outcome.status == .failed)
        let message = outcome.failedHosts.first?.message ?? ""
        print("OpenSSHTransportTests: \(message)")
        #expect(message.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(message)")
        #expect(message.contains("The fingerprint for the ED25519 key sent by the remote host is SHA256:"), "\(message)")
        #expect(message.contains("Offending ED25519 key in \(dir)/kh:1"), "\(message)")
        #expect(message.contains("remove it with: ssh-keygen -f"), "\(message)")
        #expect(message.contains("Host key verification failed."), "\(message)")
        // One line, without ssh's banner or carriage returns.
        #expect(!message.contains("\r") && !message.contains("\n") && !message.contains("@@@"), "\(message)")
    }

    @Test func aKilledConnectionSaysTheConnectionWasLost() async throws {
        let r = try await RealRun(runbook: """
            runbook { name = "openssh-lost" }
            step "long" { on = "computes", run = function(host, ctx)
              host:run("echo $PPID > " .. ctx.vars.out .. "/session-pid; " ..
                       "\(Wait.shellUntilExists("\" .. ctx.vars.out .. \"/release"))")
            end }
            """, count: 1, transport: "openssh", skip: 481)
        let out = r.directory + "/out"
        defer { FileManager.default.createFile(atPath: out + "/release", contents: nil) }
        let ran = Latch()
        let task = Task { defer { ran.open() }; return try await r.run() }
        // The latch: the command runs and has named its sshd session process; kill that.
        // Should the run end first, nothing is killed (and the expectations say so).
        let killed = try await Wait.until("the command's sshd session killed", unless: .opened(ran, "the run")) {
            guard let text = try? String(contentsOfFile: out + "/session-pid", encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return false }
            return kill(pid, SIGKILL) == 0
        }
        #expect(killed)
        let outcome = try await task.value
        await r.shutdown()
        #expect(outcome.status == .failed)
        let message = outcome.failedHosts.first?.message ?? ""
        print("OpenSSHTransportTests: \(message)")
        #expect(message.contains("was lost while"), "\(message)")
        #expect(message.contains("may have run"), "\(message)")
        #expect(!message.contains("exited 255"), "\(message)")
    }

    @Test func sshsFailureLinesAreSplitAtCRLF() {
        let stderr = "@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@\r\n"
            + "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n"
            + "The fingerprint for the ED25519 key sent by the remote host is\nSHA256:abc.\r\n"
            + "Please contact your system administrator.\r\nAdd correct host key in /k to get rid of this message.\r\n"
            + "Offending ED25519 key in /k:3\r\n  remove with:\r\n  ssh-keygen -f \"/k\" -R \"[h]:22\"\r\n"
            + "Host key verification failed.\r\n"
        let failure = OpenSSHTransport.sshFailure(stderr)
        #expect(failure?.0 == .launch)
        #expect(failure?.1 == "ssh failed: REMOTE HOST IDENTIFICATION HAS CHANGED! The fingerprint for the ED25519 key sent by the remote host is SHA256:abc. Offending ED25519 key in /k:3 (remove it with: ssh-keygen -f \"/k\" -R \"[h]:22\"). Host key verification failed.")
        #expect(OpenSSHTransport.sshFailure("ssh: connect to host 10.0.0.1 port 22: Connection refused\r\n")?.1
            == "ssh failed: ssh: connect to host 10.0.0.1 port 22: Connection refused")
        #expect(OpenSSHTransport.sshFailure("") == nil)
    }
}
