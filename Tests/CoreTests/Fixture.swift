import FerryCore
import Foundation
import LuaBridge
import Synchronization

/// A runbook and a local region written to a fresh directory.
struct Fixture {
    let directory: String

    init(runbook: String, region: String? = nil, extraFiles: [String: String] = [:]) throws {
        directory = NSTemporaryDirectory() + "ferry-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory + "/rb", withIntermediateDirectories: true)
        try runbook.write(toFile: directory + "/rb/runbook.lua", atomically: true, encoding: .utf8)
        for (name, text) in extraFiles {
            let path = directory + "/" + name
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let regionText = region ?? """
            region: test
            inventory:
              groups:
                computes: "cmp[001:010]"
                controllers: [ctl1]
            ssh: { transport: local, parallel: 20 }
            vars:
              out: \(directory)/out
            """
        try regionText.write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
    }

    var runbookPath: String { directory + "/rb/runbook.lua" }
    var out: String { directory + "/out" }

    func load() async throws -> Runbook { try await RunbookLoader.load(path: runbookPath) }
    func region() throws -> Region { try RegionLoader.load(path: directory + "/region.yaml") }
    func journal() throws -> RunJournal { try RunJournal(path: directory + "/journal.db") }

    func engine(approvals: any ApprovalProvider = NobodyToAsk(), observer: any RunObserver = NoObserver()) async throws -> Engine {
        Engine(runbook: try await load(), region: try region(), transport: LocalTransport(), journal: try journal(),
               observer: observer, approvals: approvals)
    }

    func lines(_ name: String) -> [String] {
        ((try? String(contentsOfFile: out + "/" + name, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}

/// Records engine events for assertions.
final class Recorder: RunObserver {
    let events = Mutex<[EngineEvent]>([])
    func handle(_ event: EngineEvent) { events.withLock { $0.append(event) } }
    var logs: [String] {
        events.withLock { $0.compactMap { if case .log(let l) = $0 { return l.message } else { return nil } } }
    }
}
