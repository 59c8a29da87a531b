import Foundation
import Subprocess

/// Runs a local program with its output streamed into an ``OutputCapture``, in its
/// own process group so a timeout kills its children too.
enum ProcessRunner {
    enum Failure: Error {
        case timedOut
        case launch(String)
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data?,
                    output: OutputCapture, timeout: Double?, directory: String? = nil) async throws -> CommandResult
    {
        let clock = ContinuousClock()
        let start = clock.now
        var options = PlatformOptions()
        options.processGroupID = 0
        var env: [Environment.Key: String?] = [:]
        for (k, v) in environment { env[Environment.Key(stringLiteral: k)] = v }
        let result: ExecutionResult<Bool, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                .path(.init(executable)), arguments: Arguments(arguments), environment: .inherit.updating(env),
                workingDirectory: directory.map { .init($0) }, platformOptions: options, input: .data(stdin ?? Data()), output: .sequence, error: .sequence
            ) { execution in
                // A cancelled caller (a step timeout, Ctrl-C) kills the command's whole
                // process group instead of leaving it running.
                try await withTaskCancellationHandler {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for try await chunk in execution.standardOutput { chunk.withUnsafeBytes { output.append(stdout: $0) } }
                        return false
                    }
                    group.addTask {
                        for try await chunk in execution.standardError { chunk.withUnsafeBytes { output.append(stderr: $0) } }
                        return false
                    }
                    if let timeout {
                        group.addTask {
                            try await Task.sleep(for: .seconds(timeout))
                            return true
                        }
                    }
                    var finishedStreams = 0
                    while let timedOut = try await group.next() {
                        if timedOut {
                            try? execution.send(signal: .kill, toProcessGroup: true)
                            group.cancelAll()
                            return true
                        }
                        finishedStreams += 1
                        if finishedStreams == 2 {
                            group.cancelAll()
                            return false
                        }
                    }
                    return false
                }
                } onCancel: {
                    try? execution.send(signal: .kill, toProcessGroup: true)
                }
            }
        } catch is CancellationError {
            output.finish()
            throw CancellationError()
        } catch {
            output.finish()
            throw Failure.launch(String(describing: error))
        }
        output.finish()
        if result.closureResult { throw Failure.timedOut }
        let counts = output.byteCounts
        let duration = (clock.now - start).seconds
        switch result.terminationStatus {
        case .exited(let code):
            return CommandResult(exitCode: code, stdout: output.stdout, stderr: output.stderr, stdoutBytes: counts.stdout,
                                 stderrBytes: counts.stderr, duration: duration)
        case .signaled(let signal):
            return CommandResult(exitCode: nil, signal: signal, stdout: output.stdout, stderr: output.stderr,
                                 stdoutBytes: counts.stdout, stderrBytes: counts.stderr, duration: duration)
        }
    }
}
