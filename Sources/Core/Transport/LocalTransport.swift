import Foundation
import Subprocess

#if canImport(Glibc)
    import Glibc
#endif

/// Runs commands on this machine with `/bin/sh -c`, whatever host they are for.
/// It makes the whole engine testable before SSH, and serves single-machine labs.
public struct LocalTransport: Transport {
    public init() {}

    public func run(_ command: HostCommand, on host: RegionHost, output: OutputCapture) async throws -> CommandResult {
        let clock = ContinuousClock()
        let start = clock.now
        var options = PlatformOptions()
        // Its own process group, so a timeout kills the command's children too.
        options.processGroupID = 0
        var env: [Environment.Key: String?] = ["FERRY_HOST": host.name, "FERRY_HOST_ADDRESS": host.address]
        for (k, v) in command.environment { env[Environment.Key(stringLiteral: k)] = v }
        let timeout = command.timeout
        let hostName = host.name
        let result: ExecutionResult<Bool, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                .path("/bin/sh"), arguments: ["-c", command.shellText], environment: .inherit.updating(env),
                platformOptions: options, input: .data(command.stdin ?? Data()), output: .sequence, error: .sequence
            ) { execution in
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
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            output.finish()
            throw TransportError(.launch, host: hostName, "cannot start /bin/sh: \(error)")
        }
        output.finish()
        let duration = (clock.now - start).seconds
        if result.closureResult {
            throw TransportError(
                .timeout, host: hostName, "`\(command.command)` did not finish within \(DurationText.format(timeout ?? 0)); it was killed")
        }
        let counts = output.byteCounts
        switch result.terminationStatus {
        case .exited(let code):
            return CommandResult(exitCode: code, stdout: output.stdout, stderr: output.stderr, stdoutBytes: counts.stdout,
                                 stderrBytes: counts.stderr, duration: duration)
        case .signaled(let signal):
            return CommandResult(exitCode: nil, signal: signal, stdout: output.stdout, stderr: output.stderr,
                                 stdoutBytes: counts.stdout, stderrBytes: counts.stderr, duration: duration)
        }
    }

    public func put(file localPath: String, to remotePath: String, mode: Int?, on host: RegionHost) async throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: localPath) else {
            throw TransportError(.transfer, host: host.name, "put: no local file \(localPath)")
        }
        let destination = URL(fileURLWithPath: remotePath)
        do {
            try fm.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            let temporary = remotePath + ".ferry-tmp"
            if fm.fileExists(atPath: temporary) { try fm.removeItem(atPath: temporary) }
            try fm.copyItem(atPath: localPath, toPath: temporary)
            if let mode { try fm.setAttributes([.posixPermissions: mode], ofItemAtPath: temporary) }
            let sourceSize = try fm.attributesOfItem(atPath: localPath)[.size] as? Int
            let copiedSize = try fm.attributesOfItem(atPath: temporary)[.size] as? Int
            guard sourceSize == copiedSize else {
                throw TransportError(.transfer, host: host.name, "put: size mismatch after copying \(localPath)")
            }
            if fm.fileExists(atPath: remotePath) { try fm.removeItem(atPath: remotePath) }
            try fm.moveItem(atPath: temporary, toPath: remotePath)
        } catch let e as TransportError {
            throw e
        } catch {
            throw TransportError(.transfer, host: host.name, "put \(localPath) → \(remotePath): \(error.localizedDescription)")
        }
    }

    public func shutdown() async {}
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
