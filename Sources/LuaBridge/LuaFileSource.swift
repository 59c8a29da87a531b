import Foundation
import Synchronization

/// Where the sandbox reads the modules Lua loads (`require`) and where the runbook loader
/// reads the runbook's own files: the disk, or a copy kept in the journal. (`io.open`
/// reads data, always from disk.)
///
/// Every file read through it is remembered (path and bytes, in the order read), so the
/// runbook a run started with can be journaled and run again later exactly as it was.
/// Files given at creation (`preloaded`) are served from memory and never looked up on
/// disk; any other file is read from disk when first asked for, and remembered.
public final class LuaFileSource: Sendable {
    private let preloaded: [String: Data]
    private let state = Mutex<(read: [String: Data], order: [String], taken: Int)>(([:], [], 0))

    /// `preloaded`: absolute path → bytes (a journaled runbook).
    public init(preloaded: [String: Data] = [:]) {
        self.preloaded = preloaded
    }

    /// Whether `path` is served from memory (it was journaled).
    public func isPreloaded(_ path: String) -> Bool { preloaded[path] != nil }

    /// The bytes of `path`: from memory when preloaded, else from disk (then remembered
    /// as read). Nil when there is no such file.
    public func contents(atPath path: String) -> Data? {
        if let data = preloaded[path] { return data }
        if let known = state.withLock({ $0.read[path] }) { return known }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        // The first read wins: a file read twice is the same file to the runbook.
        return state.withLock { s in
            if let earlier = s.read[path] { return earlier }
            s.read[path] = data
            s.order.append(path)
            return data
        }
    }

    public func fileExists(atPath path: String) -> Bool {
        if preloaded[path] != nil || state.withLock({ $0.read[path] != nil }) { return true }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// Files read from disk (not preloaded) since the last call, in the order first read.
    public func takeNewReads() -> [(path: String, data: Data)] {
        state.withLock { s in
            defer { s.taken = s.order.count }
            return s.order[s.taken...].map { ($0, s.read[$0]!) }
        }
    }
}
