import FerryTestSupport
import Foundation
import Testing

/// The tests' own waiting (FerryTestSupport's `Wait`): a latch is waited for while what sets
/// it runs, and the wait stops as soon as that has ended without it — never on a clock.
@Suite struct WaitTests {
    @Test func aLatchSetByAChildIsFoundAndAChildThatEndsWithoutItStopsTheWait() async throws {
        let dir = NSTemporaryDirectory() + "ferry-wait-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // The child writes the latch, then waits for the test's go (the shell loop of the hosts).
        let (found, first) = try await ChildProcess.run(
            "/bin/sh", ["-c", "echo 42 > \(dir)/latch.tmp && mv \(dir)/latch.tmp \(dir)/latch; \(Wait.shellUntilExists("\(dir)/go"))"]
        ) { child -> Int? in
            let value = try await Wait.for("the latch", unless: .child(child, "sh")) {
                (try? String(contentsOfFile: dir + "/latch", encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            }
            #expect(Processes.isRunning(child.pid), "the child still waits for its go")
            FileManager.default.createFile(atPath: dir + "/go", contents: nil)
            return value
        }
        #expect(found == 42)
        #expect(first.code == 0)

        // A child that exits without the latch: the wait says so (false), it does not wait on.
        let (held, second) = try await ChildProcess.run("/bin/sh", ["-c", "exit 3"]) { child in
            try await Wait.until("a latch nobody sets", unless: .child(child, "sh")) {
                FileManager.default.fileExists(atPath: dir + "/never")
            }
        }
        #expect(!held)
        #expect(second.code == 3)
        await #expect(throws: Wait.Ended.self) {
            try await Wait.required("a latch nobody sets", unless: Ending("a finished producer") { true }) { nil as Int? }
        }
    }

    @Test func aLatchSetJustBeforeItsProducerEndedStillCounts() async throws {
        // The end is seen first, the latch read after: a producer that set it and ended
        // between two polls is not mistaken for one that ended without it.
        let ended = Latch()
        let task = Task { defer { ended.open() }; return 7 }
        _ = await task.value
        #expect(try await Wait.for("the value", unless: .opened(ended, "the task")) { 7 } == 7)
    }

    @Test func aProcessIsRunningUntilItHasExited() async throws {
        let (pid, _) = try await ChildProcess.run("/bin/sh", ["-c", "exit 0"]) { child -> Int32 in
            // Unreaped until the body returns: a zombie is not running.
            _ = try await Wait.until("sh to exit", unless: .never) { !Processes.isRunning(child.pid) }
            return child.pid
        }
        #expect(!Processes.isRunning(pid))
        #expect(Processes.isRunning(getpid()))
    }
}
