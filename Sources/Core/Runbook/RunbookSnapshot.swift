import Crypto
import Foundation
import LuaBridge

/// One Lua file of a runbook: one of its own files, or a module it required (while
/// loading, or later in a step) from the runbook's directory or the scripts directory.
public struct RunbookFile: Sendable, Equatable {
    /// Which directory `path` is relative to.
    public enum Root: String, Sendable {
        /// The runbook's directory (a runbook file's parent, or the runbook directory).
        case runbook
        /// The scripts directory (`lib/` and friends).
        case scripts
    }
    public var root: Root
    public var path: String
    /// A file of the runbook itself (run in order), rather than one it required or read.
    public var entry: Bool
    public var content: Data
    /// The hex SHA-256 of `content`.
    public var sha256: String

    public init(root: Root, path: String, entry: Bool, content: Data, sha256: String? = nil) {
        self.root = root
        self.path = path
        self.entry = entry
        self.content = content
        self.sha256 = sha256 ?? RunbookFile.hash(content)
    }

    static func hash(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }
}

/// The files a runbook was loaded from, as the journal keeps them at a run's start, so
/// `resume` and `rollback` run the code that the run ran, not whatever the disk holds now.
public struct RunbookSnapshot: Sendable {
    /// The runbook as given (file or directory), absolute.
    public var runbookPath: String
    /// The runbook's directory: what `root: .runbook` paths are relative to.
    public var directory: String
    /// The scripts directory, when there was one.
    public var scripts: String?
    /// Entries first, in the order they ran; then the other files in the order read.
    public var files: [RunbookFile]

    public init(runbookPath: String, directory: String, scripts: String?, files: [RunbookFile]) {
        self.runbookPath = runbookPath
        self.directory = directory
        self.scripts = scripts
        self.files = files
    }

    /// The commit of the git checkout holding ``directory`` when the run started (with
    /// `-dirty` when the directory's files differ from it); nil outside a checkout or
    /// without git. Journaled with the files, shown by the report.
    public var gitCommit: String?
    /// Each step's `desc`, by step name, for the report.
    public var stepDescriptions: [String: String] = [:]

    /// The snapshot with what the report shows beside it: the git commit of its checkout
    /// (read now) and the steps' descriptions of `runbook`, the runbook loaded from it.
    public func noted(_ runbook: Runbook) -> RunbookSnapshot {
        var noted = self
        noted.gitCommit = Self.gitCommit(directory: directory)
        noted.stepDescriptions = Dictionary(
            runbook.steps.compactMap { step in step.desc.map { (step.name, $0) } }, uniquingKeysWith: { first, _ in first })
        return noted
    }

    /// The commit of the git checkout `directory` is in (`git rev-parse HEAD`), with
    /// `-dirty` when `git status` sees a change under the directory; nil when it is in no
    /// checkout or git is not there.
    public static func gitCommit(directory: String) -> String? {
        guard let head = git(["rev-parse", "--verify", "HEAD"], in: directory)?.trimmingCharacters(in: .whitespacesAndNewlines),
              head.count >= 40, head.allSatisfy(\.isHexDigit)
        else { return nil }
        let changes = git(["status", "--porcelain", "--", "."], in: directory) ?? ""
        return changes.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? head : head + "-dirty"
    }

    static func git(_ arguments: [String], in directory: String) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_OPTIONAL_LOCKS"] = "0"  // status writes nothing to the checkout
        environment["LC_ALL"] = "C"
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// One SHA-256 over every file (root, path, whether an entry, its SHA-256), in order.
    public var digest: String { Self.digest(files) }

    static func digest(_ files: [RunbookFile]) -> String {
        var text = ""
        for f in files { text += "\(f.root.rawValue)\t\(f.path)\t\(f.entry ? 1 : 0)\t\(f.sha256)\n" }
        return RunbookFile.hash(Data(text.utf8))
    }

    /// Where a journaled file lives (or lived) on disk.
    public func absolutePath(_ file: RunbookFile) -> String {
        (file.root == .runbook ? directory : scripts ?? directory) + "/" + file.path
    }

    /// How error messages and notes name a file: as the loader named it (relative to the
    /// working directory when under it).
    public func displayName(_ file: RunbookFile) -> String { LuaVM.displayPath(absolutePath(file)) }

    /// A file read at `absolute` as a journal entry: relative to the runbook's directory
    /// when under it, else to the scripts directory; nil when under neither.
    func file(at absolute: String, data: Data, entry: Bool) -> RunbookFile? {
        for (root, base) in [(RunbookFile.Root.runbook, directory), (.scripts, scripts)] {
            guard let base else { continue }
            for candidate in Set([base, URL(fileURLWithPath: base).resolvingSymlinksInPath().path]) {
                let prefix = candidate.hasSuffix("/") ? candidate : candidate + "/"
                if absolute.hasPrefix(prefix) {
                    return RunbookFile(root: root, path: String(absolute.dropFirst(prefix.count)), entry: entry, content: data)
                }
            }
        }
        return nil
    }

    /// Refuses a journaled copy whose bytes are not what was journaled: a file whose
    /// content does not hash to its SHA-256, or a set that does not hash to `digest`.
    public func verify(digest journaled: String, run: String) throws {
        for f in files where RunbookFile.hash(f.content) != f.sha256 {
            throw FerryError.invalid(
                "run \(run): the journaled copy of \(displayName(f)) does not match its SHA-256 (journaled \(f.sha256.prefix(12))…, its content hashes to \(RunbookFile.hash(f.content).prefix(12))…): the journal was changed or damaged, so Ferry will not run that code. Keep the journal for the record; to run the runbook on disk instead, add --runbook-changed=use-new")
        }
        if digest != journaled {
            throw FerryError.invalid(
                "run \(run): the journaled runbook's files do not match the journaled digest (\(journaled.prefix(12))…, the files hash to \(digest.prefix(12))…): the journal was changed or damaged (a file added, removed or renamed), so Ferry will not run that code. Keep the journal for the record; to run the runbook on disk instead, add --runbook-changed=use-new")
        }
    }

    /// How the files on disk differ from this copy, without running any of them: a file
    /// changed or gone, or (for a runbook directory) a `.lua` file added to it.
    public func differencesOnDisk() -> RunbookFileChanges {
        var changes = RunbookFileChanges()
        for f in files {
            let path = absolutePath(f)
            guard let data = FileManager.default.contents(atPath: path) else {
                changes.removed.append(displayName(f))
                continue
            }
            if data != f.content { changes.changed.append(displayName(f)) }
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: runbookPath, isDirectory: &isDirectory), isDirectory.boolValue {
            let entries = Set(files.filter(\.entry).map(\.path))
            let names = (try? FileManager.default.contentsOfDirectory(atPath: runbookPath)) ?? []
            for name in names.filter({ $0.hasSuffix(".lua") }).sorted() where !entries.contains(name) {
                changes.added.append(LuaVM.displayPath(runbookPath + "/" + name))
            }
        } else if !FileManager.default.fileExists(atPath: runbookPath) && !changes.removed.contains(LuaVM.displayPath(runbookPath)) {
            changes.removed.append(LuaVM.displayPath(runbookPath))
        }
        return changes
    }
}

/// Which of a runbook's files differ between two versions.
public struct RunbookFileChanges: Sendable, Equatable {
    public var changed: [String] = []
    public var added: [String] = []
    public var removed: [String] = []
    public init() {}

    public var isEmpty: Bool { changed.isEmpty && added.isEmpty && removed.isEmpty }

    /// `runbook.lua, lib/x.lua changed; 20-new.lua added; lib/old.lua gone`.
    public var summary: String {
        var parts: [String] = []
        if !changed.isEmpty { parts.append("\(changed.joined(separator: ", ")) changed") }
        if !added.isEmpty { parts.append("\(added.joined(separator: ", ")) added") }
        if !removed.isEmpty { parts.append("\(removed.joined(separator: ", ")) gone") }
        return parts.joined(separator: "; ")
    }
}
