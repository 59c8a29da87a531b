import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs commands on this machine with `/bin/sh -c`, whatever host they are for.
/// It makes the whole engine testable before SSH, and serves single-machine labs.
public struct LocalTransport: Transport {
    public init() {}

    public func run(_ command: HostCommand, on host: RegionHost, output: OutputCapture) async throws -> CommandResult {
        do {
            return try await ProcessRunner.run(
                "/bin/sh", ["-c", command.shellText], environment: ["FERRY_HOST": host.name, "FERRY_HOST_ADDRESS": host.address],
                stdin: command.shellInput, output: output, timeout: command.timeout)
        } catch ProcessRunner.Failure.timedOut {
            throw TransportError(
                .timeout, host: host.name,
                "`\(command.command)` did not finish within \(DurationText.format(command.timeout ?? 0)); it was killed")
        } catch ProcessRunner.Failure.launch(let message) {
            throw TransportError(.launch, host: host.name, "cannot start /bin/sh: \(message)")
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
