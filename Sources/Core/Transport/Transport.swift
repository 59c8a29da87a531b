import Foundation
import Synchronization

/// A command to run on a host.
public struct HostCommand: Sendable {
    public var command: String
    public var stdin: Data?
    public var environment: [String: String]
    /// Run through `sudo -n` (never prompts).
    public var sudo: Bool
    /// The user sudo runs the command as (`sudo -u`; nil: root). Set from the host's
    /// `ansible_become_user` by ``HostPolicyTransport``.
    public var sudoUser: String?
    /// Seconds after which the command is killed.
    public var timeout: Double?
    /// Whose time the command takes when time is simulated: the host a per-host step
    /// runs for (nil: the host it runs on). Real transports ignore it.
    public var lane: String?

    public init(_ command: String, stdin: Data? = nil, environment: [String: String] = [:], sudo: Bool = false,
                timeout: Double? = nil)
    {
        self.command = command
        self.stdin = stdin
        self.environment = environment
        self.sudo = sudo
        self.timeout = timeout
    }

    /// The shell text with environment and sudo applied. The environment's values are not
    /// in it: the shell reads them from the head of its stdin (``shellInput``) with
    /// `head -c`, which reads exactly their length, so no process list, on the host or on
    /// the Ferry machine, shows a secret passed as `env`.
    public var shellText: String {
        var text = command
        if let block = environmentBlock { text = "eval \"$(head -c \(block.count))\"; \(text)" }
        if sudo {
            let user = sudoUser.map { "-u \(ShellQuote.quote($0)) " } ?? ""
            text = "sudo -n \(user)/bin/sh -c \(ShellQuote.quote(text))"
        }
        return text
    }

    /// What the shell reads on stdin: the environment's assignments first, then the
    /// command's own input.
    public var shellInput: Data? {
        guard let block = environmentBlock else { return stdin }
        return block + (stdin ?? Data())
    }

    var environmentBlock: Data? {
        guard !environment.isEmpty else { return nil }
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\(ShellQuote.quote($0.value))" }
        return Data("export \(assignments.joined(separator: " "))\n".utf8)
    }
}

public struct CommandResult: Sendable {
    /// The exit status, or nil when the command was ended by a signal.
    public var exitCode: Int32?
    public var signal: Int32?
    public var stdout: String
    public var stderr: String
    public var stdoutBytes: Int
    public var stderrBytes: Int
    public var duration: Double

    public init(exitCode: Int32?, signal: Int32? = nil, stdout: String, stderr: String, stdoutBytes: Int = 0,
                stderrBytes: Int = 0, duration: Double)
    {
        self.exitCode = exitCode
        self.signal = signal
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutBytes = stdoutBytes
        self.stderrBytes = stderrBytes
        self.duration = duration
    }

    public var succeeded: Bool { exitCode == 0 }
}

/// How Ferry reaches hosts: runs commands and copies files. The engine never asks
/// which transport it has.
public protocol Transport: Sendable {
    func run(_ command: HostCommand, on host: RegionHost, output: OutputCapture) async throws -> CommandResult
    /// Copies a local file to the host, verifying size and checksum there.
    func put(file localPath: String, to remotePath: String, mode: Int?, on host: RegionHost) async throws
    /// Reads, replaces or restores a file (``FileOperation``). Real transports run
    /// ``ShellFileOperations`` (the default); the simulated one applies it to its model.
    func file(_ operation: FileOperation, on host: RegionHost) async throws -> FileOperationResult
    /// Closes connections; called when a run ends.
    func shutdown() async
    /// One line on how connecting went (SSH handshakes: how many, how fast, whether
    /// pacing slowed down), or nil when the transport has nothing to say.
    var summary: String? { get async }
}

extension Transport {
    public var summary: String? { get async { nil } }

    public func file(_ operation: FileOperation, on host: RegionHost) async throws -> FileOperationResult {
        try await ShellFileOperations.perform(operation, on: host, with: self)
    }
}

/// A command that could not be run or did not finish; names the host and what to do.
public struct TransportError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable { case launch, timeout, unreachable, lost, transfer }
    public let kind: Kind
    public let host: String
    public let message: String
    public init(_ kind: Kind, host: String, _ message: String) {
        self.kind = kind
        self.host = host
        self.message = message
    }
    public var description: String { "\(host): \(message)" }
}

/// A command that exited non-zero when the runbook expected success.
public struct CommandFailed: Error, CustomStringConvertible, Sendable {
    public let host: String
    public let command: String
    public let result: CommandResult
    public init(host: String, command: String, result: CommandResult) {
        self.host = host
        self.command = command
        self.result = result
    }
    public var description: String {
        let status = result.exitCode.map { "exited \($0)" } ?? "killed by signal \(result.signal ?? 0)"
        let tail = result.stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
        let short = command.count > 80 ? String(command.prefix(77)) + "..." : command
        return "\(host): `\(short)` \(status)\(tail.isEmpty ? "" : ": \(tail)")"
    }
}

/// Streams a command's output to files beside the journal (when given) and keeps
/// a bounded tail of each stream in memory.
///
/// A write that fails (a full disk) is kept, not thrown: the command runs to its end
/// (its output still read, only its tail kept) and whoever ran it asks ``checkWrites()``.
public final class OutputCapture: Sendable {
    public static let defaultTailBytes = 16 * 1024
    private struct State {
        var stdoutTail: [UInt8] = []
        var stderrTail: [UInt8] = []
        var stdoutBytes = 0
        var stderrBytes = 0
        var stdoutFile: PrivateFile?
        var stderrFile: PrivateFile?
        var writeFailure: LocalWriteError?
        /// Standard output after its last newline, while ``onLine`` waits for the rest.
        var partialLine: [UInt8] = []
    }
    private let state = Mutex(State())
    private let onLine: (@Sendable (String) -> Void)?
    private let stdoutPath: String?
    private let stderrPath: String?
    private let tailBytes: Int
    private let header: String?

    /// - Parameters: paths of the files to append to (created on first output).
    ///   - onLine: called with each complete line of standard output (without its newline),
    ///     in order, as it arrives (a streamed event log); the last line without a newline at ``finish()``.
    public init(stdoutPath: String? = nil, stderrPath: String? = nil, header: String? = nil,
                tailBytes: Int = OutputCapture.defaultTailBytes, onLine: (@Sendable (String) -> Void)? = nil)
    {
        self.onLine = onLine
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        self.tailBytes = tailBytes
        self.header = header
    }

    public func append(stdout bytes: UnsafeRawBufferPointer) { append(bytes, err: false) }
    public func append(stderr bytes: UnsafeRawBufferPointer) { append(bytes, err: true) }

    private func append(_ bytes: UnsafeRawBufferPointer, err: Bool) {
        guard bytes.count > 0 else { return }
        let lines = state.withLock { s -> [String] in
            guard !err, onLine != nil else { return [] }
            var lines: [String] = []
            for byte in bytes {
                if byte == 10 {
                    lines.append(String(decoding: s.partialLine, as: UTF8.self))
                    s.partialLine.removeAll(keepingCapacity: true)
                } else if s.partialLine.count < 1 << 20 {
                    s.partialLine.append(byte)
                }
            }
            return lines
        }
        for line in lines { onLine?(line) }
        state.withLock { s in
            if let path = err ? stderrPath : stdoutPath, s.writeFailure == nil {
                do {
                    var file = err ? s.stderrFile : s.stdoutFile
                    if file == nil {
                        // Command output may hold secrets: 0600 files in 0700 directories.
                        let opened = try PrivateFile(appendingTo: path)
                        if err { s.stderrFile = opened } else { s.stdoutFile = opened }
                        if let header { try opened.write(Data(header.utf8)) }
                        file = opened
                    }
                    try file?.write(Data(bytes))
                } catch {
                    // Nothing more is written to either file: the first failure is the one to report.
                    s.writeFailure = error as? LocalWriteError ?? LocalWriteError(path: path, reason: "\(error)", diskFull: false)
                    s.stdoutFile?.close()
                    s.stderrFile?.close()
                }
            }
            if err {
                s.stderrBytes += bytes.count
                Self.keepTail(&s.stderrTail, bytes, limit: tailBytes)
            } else {
                s.stdoutBytes += bytes.count
                Self.keepTail(&s.stdoutTail, bytes, limit: tailBytes)
            }
        }
    }

    private static func keepTail(_ tail: inout [UInt8], _ bytes: UnsafeRawBufferPointer, limit: Int) {
        if bytes.count >= limit {
            tail = Array(bytes.suffix(limit))
        } else {
            tail.append(contentsOf: bytes)
            if tail.count > limit { tail.removeFirst(tail.count - limit) }
        }
    }

    public var stdout: String { state.withLock { String(decoding: $0.stdoutTail, as: UTF8.self) } }
    public var stderr: String { state.withLock { String(decoding: $0.stderrTail, as: UTF8.self) } }
    public var byteCounts: (stdout: Int, stderr: Int) { state.withLock { ($0.stdoutBytes, $0.stderrBytes) } }

    /// The first write to the output files that failed, if one did.
    public var writeFailure: LocalWriteError? { state.withLock { $0.writeFailure } }

    /// Throws the first write that failed (`disk full writing /…/cmp001.out: No space left on device`).
    public func checkWrites() throws {
        if let failure = writeFailure { throw failure }
    }

    /// Closes the files.
    public func finish() {
        let rest = state.withLock { s -> String? in
            defer { s.partialLine = [] }
            return s.partialLine.isEmpty ? nil : String(decoding: s.partialLine, as: UTF8.self)
        }
        if let rest { onLine?(rest) }
        state.withLock { s in
            s.stdoutFile?.close()
            s.stderrFile?.close()
            s.stdoutFile = nil
            s.stderrFile = nil
        }
    }
}

public enum ShellQuote {
    /// Single-quotes a word for /bin/sh.
    public static func quote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:@%+,".contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
