import Foundation
import LuaBridge

/// A loaded runbook: its declarations, and the Lua VM that holds its functions.
public final class Runbook: Sendable {
    /// The file or directory given, as an absolute path.
    public let path: String
    /// The Lua files that make it, in the order they ran.
    public let files: [String]
    /// The directory runbook code may read from.
    public let directory: String
    public let info: RunbookInfo
    public let steps: [StepDefinition]
    public let checks: [String: CheckDefinition]
    public let checkOrder: [String]
    public let vm: LuaVM
    /// What the native primitives act on during a run.
    public let runtime: RuntimeBox
    /// Changes when any of the runbook's files change.
    public let fingerprint: String
    /// The files it was loaded from (and any read since, see ``takeLateFiles()``), as a
    /// run journals them.
    public let snapshot: RunbookSnapshot
    /// Loaded from a run's journaled files rather than from disk.
    public let fromJournal: Bool
    let fileSource: LuaFileSource

    let entry: EntryPoints

    struct EntryPoints: Sendable {
        let invokeHost: LuaRef
        let invokeWave: LuaRef
        let probe: LuaRef
        let select: LuaRef
        let makeContext: LuaRef
        let state: LuaRef
        let parallelItem: LuaRef
    }

    init(path: String, files: [String], directory: String, info: RunbookInfo, steps: [StepDefinition],
         checks: [String: CheckDefinition], checkOrder: [String], vm: LuaVM, runtime: RuntimeBox,
         fingerprint: String, entry: EntryPoints, snapshot: RunbookSnapshot, fileSource: LuaFileSource, fromJournal: Bool)
    {
        self.snapshot = snapshot
        self.fileSource = fileSource
        self.fromJournal = fromJournal
        self.path = path
        self.files = files
        self.directory = directory
        self.info = info
        self.steps = steps
        self.checks = checks
        self.checkOrder = checkOrder
        self.vm = vm
        self.runtime = runtime
        self.fingerprint = fingerprint
        self.entry = entry
    }

    public func step(named name: String) -> StepDefinition? { steps.first { $0.name == name } }

    /// Files read from disk since loading (a `require` inside a step), for the journal:
    /// the run's copy then holds every file its code read.
    public func takeLateFiles() -> [RunbookFile] {
        fileSource.takeNewReads().compactMap { snapshot.file(at: $0.path, data: $0.data, entry: false) }
    }
}
