import ArgumentParser
import FerryCore
import Foundation
import Synchronization

@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Carry an OpenStack region from one release to another with Lua runbooks.",
        // Listed by --help; `ferry --version` itself prints FerryLibrary.versionText (with the commit).
        version: "ferry \(FerryLibrary.release)",
        subcommands: [
            ValidateCommand.self, PlanCommand.self, RunCommand.self, ResumeCommand.self, RollbackCommand.self,
            StatusCommand.self, CheckCommand.self, ExecCommand.self, ReleasesCommand.self, ReportCommand.self, DrillCommand.self,
            InitCommand.self,
        ])

    /// Ferry's exit codes (docs/runbook-guide.md#exit-codes): a command line that cannot be parsed is bad usage (2),
    /// not ArgumentParser's 64.
    static func main() async {
        Signals.install()
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(FerryLibrary.versionText)
            return
        }
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure || (code != .success && !(error is ExitCode)) {
                Console.error(fullMessage(for: error))
                Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// Options every command takes.
struct JournalOptions: ParsableArguments {
    @Option(name: .long, help: "The journal (SQLite). Default: .ferry/journal.db")
    var journal: String = ".ferry/journal.db"

    /// The journal to write to (created if need be).
    func open() throws -> RunJournal { try RunJournal(path: journal) }
    /// The journal only to read from: nothing is written, so a read-only file or file system will do.
    func openForReading() throws -> RunJournal { try RunJournal(path: journal, access: .readOnly) }
    var exists: Bool { FileManager.default.fileExists(atPath: journal) }
}

/// Runs a command body, printing errors the way users read them and mapping them
/// to Ferry's exit codes (1 failed or invalid, 2 bad usage, 3 stopped, 4 locked by another ferry;
/// docs/design-facts.md#exit-codes).
func guarded(_ body: () async throws -> Int32) async throws {
    let code: Int32
    do {
        code = try await body()
    } catch let e as ExitCode {
        throw e
    } catch let e as ValidationErrors {
        Console.error(e.problems.joined(separator: "\n"))
        code = 1
    } catch let e as FerryError {
        Console.error("ferry: " + e.message)
        switch e.kind {
        case .invalid, .failed: code = 1
        case .usage: code = 2
        case .stopped: code = 3
        case .locked: code = 4
        }
    } catch {
        Console.error("ferry: \(error)")
        code = 1
    }
    if code != 0 { throw ExitCode(code) }
}

/// Everything `ferry` prints. Lines may carry host output and runbook text, so control
/// characters in them are shown as visible escapes (``TerminalText``); only Ferry's own
/// cursor control goes through `errorRaw`.
enum Console {
    static let isTerminal = isatty(STDERR_FILENO) == 1
    static func out(_ s: String) {
        // A full disk or a closed pipe loses the line; FileHandle.write(_:) would trap.
        let handle: FileHandle = outToStandardError.withLock { $0 } ? .standardError : .standardOutput
        try? handle.write(contentsOf: Data(line(s).utf8))
    }
    /// While true, `out` writes to stderr (`--json`: stdout is the event stream's alone).
    static let outToStandardError = Mutex(false)
    static func toStandardError<T>(_ body: () -> T) -> T {
        outToStandardError.withLock { $0 = true }
        defer { outToStandardError.withLock { $0 = false } }
        return body()
    }
    static func error(_ s: String) {
        try? FileHandle.standardError.write(contentsOf: Data(line(s).utf8))
    }
    private static func line(_ s: String) -> String {
        let text = TerminalText.neutralized(s)
        return text.hasSuffix("\n") ? text : text + "\n"
    }
}
