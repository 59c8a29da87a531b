import FerryCore
import Foundation
import Testing

@Suite struct LeaseTests {
    func journal() throws -> RunJournal {
        try RunJournal(path: NSTemporaryDirectory() + "ferry-leases-" + UUID().uuidString + "/journal.db")
    }

    func holder(_ run: String, pid: Int32 = getpid(), host: String = ProcessIdentity.hostname, start: String? = nil) -> LeaseHolder {
        LeaseHolder(runID: run, command: "run", pid: pid, hostname: host, processStart: start ?? ProcessIdentity.start(of: pid),
                    since: Date())
    }

    /// Scopes are taken all or none: a refusal leaves nothing of the request behind.
    @Test func scopesAreTakenAllOrNone() async throws {
        let j = try journal()
        let first = try await j.leases.acquire([.region("kr1")], for: holder("a"), breakLock: false)
        await #expect(throws: FerryError.self) {
            _ = try await j.leases.acquire([.region("kr2"), .region("kr1")], for: holder("b"), breakLock: false)
        }
        #expect(try await j.leases.leases().map(\.scope) == [.region("kr1")])
        try await first.release()
        try await first.release()
        let second = try await j.leases.acquire([.region("kr2"), .region("kr1")], for: holder("b"), breakLock: false)
        #expect(second.takenOver.isEmpty)
        #expect(Set(try await j.leases.leases().map(\.scope)) == [.region("kr1"), .region("kr2")])
    }

    /// A live holder on this host keeps its lock even against --break-lock; one whose
    /// pid now belongs to another process (another start time) is gone.
    @Test func liveHoldersKeepTheirLockAndReusedPidsDoNot() async throws {
        let j = try journal()
        _ = try await j.leases.acquire([.region("kr1")], for: holder("a"), breakLock: false)
        do {
            _ = try await j.leases.acquire([.region("kr1")], for: holder("b"), breakLock: true)
            Issue.record("a live holder's lock was taken")
        } catch let e as FerryError {
            #expect(e.kind == .locked)
            #expect(e.message.contains("region kr1 is held by run a (pid \(getpid()) on \(ProcessIdentity.hostname), since "))
            #expect(e.message.contains("--break-lock does not take its lock"))
        }
        let reused = holder("old", start: "another-boot/1")
        #expect(reused.liveness == .gone)
        _ = try await j.leases.acquire([.region("kr9")], for: reused, breakLock: false)
        let taken = try await j.leases.acquire([.region("kr9")], for: holder("new"), breakLock: false)
        #expect(taken.takenOver.map(\.lease.holder.runID) == ["old"])
        #expect(!taken.takenOver[0].broken)
    }

    /// A takeover is journaled no earlier than what the taken-over run journaled last: a simulated run's clock runs
    /// ahead of the wall clock, and its report would otherwise put the takeover before the attempt it ends.
    @Test func aTakeoverIsJournaledAfterTheRunsLastEvent() async throws {
        let j = try journal()
        let ahead = Date().timeIntervalSince1970 + 7200
        j.clock = VirtualClock(start: ahead)
        j.event("old", kind: "log", message: "the last thing the old run did")
        try await j.flush()
        _ = try await j.leases.acquire([.region("kr7")], for: holder("old", start: "another-boot/1"), breakLock: false)
        let taken = try await j.leases.acquire([.region("kr7")], for: holder("new"), breakLock: false)
        #expect(taken.takenOver.map(\.lease.holder.runID) == ["old"])
        let lock = try #require(try await j.events("old").first { $0.kind == "lock" })
        #expect(lock.at.timeIntervalSince1970 >= ahead, "\(lock.at.timeIntervalSince1970) < \(ahead)")
    }

    /// A lock released by one holder does not release another's: a holder whose lock
    /// was broken and later ends gives back nothing of the new holder's.
    @Test func releaseGivesBackOnlyOwnLeases() async throws {
        let j = try journal()
        let far = holder("far", pid: 4242, host: "elsewhere-1", start: nil)
        let farLock = try await j.leases.acquire([.region("kr1")], for: far, breakLock: false)
        let near = try await j.leases.acquire([.region("kr1")], for: holder("near"), breakLock: true)
        #expect(near.takenOver.map(\.broken) == [true])
        try await farLock.release()
        #expect(try await j.leases.leases().map(\.holder.runID) == ["near"])
        near.releaseBeforeExit()
        #expect(try await j.leases.leases().isEmpty)
    }
}
