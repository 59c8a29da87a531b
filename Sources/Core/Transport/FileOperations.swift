import Foundation

/// What Ferry itself does to files on hosts (`host:ini`'s edits and their undo), as typed
/// operations: a real transport runs them as shell commands (``ShellFileOperations``), a
/// simulated one applies them to its model. Nothing parses the shell text back.
public enum FileOperation: Sendable, Equatable {
    /// The file's text, or nil when it does not exist.
    case read(path: String)
    /// Replaces the file with `content`, first copying the old one to `backup` (an empty
    /// backup when there was none); mode and owner are kept.
    case replace(path: String, content: String, backup: String)
    /// Puts the file back from `backup`, or removes it when it did not exist before.
    case restore(path: String, backup: String, existed: Bool)
}

/// What a ``FileOperation`` found: the text read (nil: no such file), for `.read`.
public struct FileOperationResult: Sendable, Equatable {
    public var content: String?
    public init(content: String? = nil) { self.content = content }
}

/// A file operation the host refused: the command (or what stands for it) and its result.
extension FileOperation {
    /// How it is named in errors and the journal: `read /etc/myservice/myservice.conf`.
    public var label: String {
        switch self {
        case .read(let path): "read \(path)"
        case .replace(let path, _, _): "write \(path)"
        case .restore(let path, let backup, let existed): existed ? "restore \(path) from \(backup)" : "remove \(path)"
        }
    }
}

/// File operations as POSIX shell commands over any transport's `run`.
public enum ShellFileOperations {
    /// Exit status of the read command when the file does not exist.
    static let absent: Int32 = 3

    public static func command(_ op: FileOperation) -> HostCommand {
        switch op {
        case .read(let path):
            let p = ShellQuote.quote(path)
            return HostCommand("if [ -e \(p) ]; then cat \(p); else exit \(absent); fi")
        case .replace(let path, let content, let backup):
            let p = ShellQuote.quote(path)
            let b = ShellQuote.quote(backup)
            let script = "set -e; if [ -e \(p) ]; then cp -p \(p) \(b); else : > \(b); fi; "
                + "cat > \(p).ferry-new; if [ -e \(p) ]; then chmod --reference=\(p) \(p).ferry-new 2>/dev/null || true; "
                + "chown --reference=\(p) \(p).ferry-new 2>/dev/null || true; fi; "
                + "mv \(p).ferry-new \(p)"
            return HostCommand(script, stdin: Data(content.utf8))
        case .restore(let path, let backup, let existed):
            return HostCommand(existed ? "cp -p \(ShellQuote.quote(backup)) \(ShellQuote.quote(path))" : "rm -f \(ShellQuote.quote(path))")
        }
    }

    public static func perform(_ op: FileOperation, on host: RegionHost, with transport: any Transport) async throws -> FileOperationResult {
        var command = command(op)
        command.lane = RunLane.current
        let result = try await transport.run(command, on: host, output: OutputCapture(tailBytes: 4 << 20))
        if case .read = op, result.exitCode == absent { return FileOperationResult(content: nil) }
        guard result.succeeded else { throw CommandFailed(host: host.name, command: op.label, result: result) }
        if case .read = op { return FileOperationResult(content: result.stdout) }
        return FileOperationResult()
    }
}
