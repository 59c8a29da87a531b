import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A child process for tests, on swift-subprocess: stdout and stderr are drained together
/// as they fill (a child never blocks on a full pipe), no thread of the shared pool is
/// blocked, and the caller resumes once the child has exited and both streams ended.
public enum ChildProcess {
    /// How a child ended and what it wrote.
    public struct Output: Sendable {
        /// The exit code; nil when a signal ended it.
        public var code: Int32?
        /// The signal that ended it, if one did.
        public var signal: Int32?
        public var stdout: String
        public var stderr: String
    }

    /// A running child, for a test that acts on it while it runs (signals it, say).
    public struct Running: Sendable {
        public let pid: Int32
        fileprivate let send: @Sendable (Int32) throws -> Void
        /// Sends `signal` (SIGKILL, SIGINT, …) to the child.
        public func signal(_ signal: Int32) throws { try send(signal) }
    }

    /// Runs `executable` to the end with stdin empty.
    public static func run(_ executable: String, _ arguments: [String], in directory: String? = nil,
                           environment: [String: String] = [:]) async throws -> Output
    {
        try await run(executable, arguments, in: directory, environment: environment) { _ in }.output
    }

    /// Starts `executable`, runs `body` while it runs, then waits for it to end. The output
    /// is collected throughout, so `body` may wait as long as it likes.
    public static func run<R: Sendable>(_ executable: String, _ arguments: [String], in directory: String? = nil,
                                        environment: [String: String] = [:],
                                        while body: @escaping @Sendable (Running) async throws -> R) async throws -> (value: R, output: Output)
    {
        var env: [Environment.Key: String?] = [:]
        for (k, v) in environment { env[Environment.Key(stringLiteral: k)] = v }
        let result = try await Subprocess.run(
            .path(FilePath(executable)), arguments: Arguments(arguments), environment: .inherit.updating(env),
            workingDirectory: directory.map { FilePath($0) }, input: .none, output: .sequence, error: .sequence
        ) { execution -> (R, Data, Data) in
            let running = Running(pid: execution.processIdentifier.value) { signal in
                try execution.send(signal: Signal(rawValue: signal), toProcessGroup: false)
            }
            async let out = Self.drain(execution.standardOutput)
            async let err = Self.drain(execution.standardError)
            let value = try await body(running)
            return (value, try await out, try await err)
        }
        let (value, out, err) = result.closureResult
        var output = Output(code: nil, signal: nil, stdout: String(decoding: out, as: UTF8.self),
                            stderr: String(decoding: err, as: UTF8.self))
        switch result.terminationStatus {
        case .exited(let code): output.code = code
        case .signaled(let signal): output.signal = signal
        }
        return (value, output)
    }

    private static func drain(_ sequence: SubprocessOutputSequence) async throws -> Data {
        var data = Data()
        for try await chunk in sequence { chunk.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }
}
