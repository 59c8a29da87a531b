import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSH
import Synchronization

/// The default transport: SSH in-process on swift-nio-ssh. One connection per host,
/// reused by every step of a run; at most `max_sessions` channels on it at once; a
/// global cap on connections; handshakes paced by ``HandshakePacer`` (in flight, per
/// second, adapting to how fast they complete); connect and
/// command timeouts; TCP keepalive; SSH keepalives that declare a silent host lost
/// (``SSHKeepaliveHandler``); one reconnect when an idle connection dropped.
public final class NIOSSHTransport: Transport {
    let region: Region
    let group: MultiThreadedEventLoopGroup
    let knownHosts: KnownHosts
    let pool: SSHConnectionPool
    /// Handshakes in flight and started per second (max_handshakes, connect_rate, adaptive_connect).
    let pacer: HandshakePacer
    private let keys = Mutex<[String: SSHKeyFile.Loaded]>([:])

    public init(region: Region, journalDirectory: String = ".ferry") {
        self.region = region
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(2, System.coreCount)))
        let home = RegionPaths.home
        let record = region.ssh.recordKnownHosts ?? (journalDirectory + "/known_hosts")
        knownHosts = KnownHosts(files: [region.ssh.knownHosts ?? home + "/.ssh/known_hosts"], recordFile: record)
        pool = SSHConnectionPool(settings: region.ssh)
        pacer = HandshakePacer(control: HandshakeControl(
            ceiling: region.ssh.connectRate, maxInFlight: region.ssh.maxHandshakes,
            adaptive: region.ssh.adaptiveConnect, timeout: region.ssh.connectTimeout))
        Self.raiseFileLimit()
    }

    /// Thousands of connections need thousands of descriptors.
    static func raiseFileLimit() {
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    func key(_ path: String?) throws -> SSHKeyFile.Loaded {
        let home = RegionPaths.home
        let candidates = path.map { [$0] } ?? ["\(home)/.ssh/id_ed25519", "\(home)/.ssh/id_ecdsa"]
        for candidate in candidates {
            if let cached = keys.withLock({ $0[candidate] }) { return cached }
            guard path != nil || FileManager.default.fileExists(atPath: candidate) else { continue }
            let loaded = try SSHKeyFile.load(candidate)
            keys.withLock { $0[candidate] = loaded }
            return loaded
        }
        throw SSHKeyError("no SSH key: set ssh.identity in the region (looked for \(candidates.joined(separator: ", ")))")
    }

    func target(for host: RegionHost) throws -> SSHTarget {
        let settings = region.sshSettings(for: host)
        let loaded: SSHKeyFile.Loaded
        do { loaded = try key(settings.identity) } catch let e as SSHKeyError {
            throw SSHError(.key, host: host.name, e.description)
        }
        return SSHTarget(
            name: host.name, address: host.address, port: settings.port, user: settings.user, key: loaded,
            knownHosts: knownHosts, policy: HostKeyPolicy(rawValue: region.ssh.hostKeyChecking) ?? .strict,
            connectTimeout: region.ssh.connectTimeout)
    }

    /// The connection to a host, through its jump hosts if it has any.
    func connection(for host: RegionHost) async throws -> SSHConnection {
        try await pool.connection(for: host.name) { [self] in
            let target = try self.target(for: host)
            var jump: SSHConnection?
            if let jumpName = region.sshSettings(for: host).jump, let jumpHost = region.hosts[jumpName] {
                do { jump = try await connection(for: jumpHost) } catch let e as SSHError {
                    throw SSHError(e.kind, host: host.name, "through jump host \(jumpName): \(e.message)")
                }
            }
            // Paced only around the handshake itself: a host waiting for its jump host
            // holds no place in flight (the jump host may need one), and the connect
            // timeout starts when the attempt does, not while it waits for a place.
            return try await pacer.handshake(isTimeout: { ($0 as? SSHError)?.kind == .timeout }) {
                try await SSHConnection.connect(target, via: jump, group: group, maxSessions: region.ssh.maxSessions,
                                                keepalive: region.ssh.keepalive, alive: KeepalivePolicy(region.ssh))
            }
        }
    }

    public func run(_ command: HostCommand, on host: RegionHost, output: OutputCapture) async throws -> CommandResult {
        let clock = ContinuousClock()
        let start = clock.now
        var text = command.shellText
        // The remote side enforces the timeout (killing the command's process group);
        // the client gives up a little later if the host stops answering.
        if let t = command.timeout {
            text = "timeout -k 5 \(Self.seconds(t)) /bin/sh -c \(ShellQuote.quote(text))"
        }
        var outcome: ExecOutcome
        do {
            outcome = try await exec(text, stdin: command.shellInput, host: host, output: output,
                                     deadline: command.timeout.map { $0 + 15 })
        } catch let e as SSHError where e.kind == .timeout && command.timeout != nil {
            throw TransportError(.timeout, host: host.name, "`\(command.command)` did not finish within \(DurationText.format(command.timeout!)); \(e.message)")
        }
        output.finish()
        if let t = command.timeout, outcome.exitStatus == 124 || outcome.exitStatus == 137 {
            throw TransportError(.timeout, host: host.name, "`\(command.command)` did not finish within \(DurationText.format(t)); it was killed")
        }
        let counts = output.byteCounts
        let signal = outcome.exitSignal.map { Self.signalNumber($0) }
        return CommandResult(exitCode: outcome.exitStatus.map { Int32($0) }, signal: signal, stdout: output.stdout,
                             stderr: output.stderr, stdoutBytes: counts.stdout, stderrBytes: counts.stderr,
                             duration: (clock.now - start).seconds)
    }

    /// Runs on the pooled connection; if that connection had dropped while idle,
    /// connects once more (the command had not started, so nothing runs twice).
    func exec(_ text: String, stdin: Data?, host: RegionHost, output: OutputCapture, deadline: Double?,
              feed: (@Sendable (any Channel) async throws -> Void)? = nil) async throws -> ExecOutcome
    {
        let connection = try await connection(for: host)
        do {
            return try await connection.exec(text, stdin: stdin, output: output, deadline: deadline, feed: feed)
        } catch let e as SSHError where e.kind == .lost && !e.mayHaveRun {
            await pool.drop(host.name, connection)
            let fresh = try await self.connection(for: host)
            return try await fresh.exec(text, stdin: stdin, output: output, deadline: deadline, feed: feed)
        }
    }

    public func put(file localPath: String, to remotePath: String, mode: Int?, on host: RegionHost) async throws {
        guard let handle = FileHandle(forReadingAtPath: localPath) else {
            throw TransportError(.transfer, host: host.name, "put: cannot read \(localPath)")
        }
        defer { try? handle.close() }
        // First pass: size and checksum, so the host can verify what it received.
        let digest = try await SHA256File.digest(localPath)
        let size = Int((try? FileManager.default.attributesOfItem(atPath: localPath))?[.size] as? Int ?? 0)
        try handle.seek(toOffset: 0)
        let dest = ShellQuote.quote(remotePath)
        let modeText = mode.map { String($0, radix: 8) } ?? "644"
        let script = """
            set -e; umask 077; mkdir -p "$(dirname \(dest))"; t=\(dest).ferry-part.$$; \
            trap 'rm -f "$t"' EXIT; cat > "$t"; s=$(wc -c < "$t" | tr -d ' '); \
            h=$(sha256sum "$t" | cut -d' ' -f1); \
            if [ "$s" != "\(size)" ] || [ "$h" != "\(digest)" ]; then echo "received $s bytes, sha256 $h; expected \(size) bytes, sha256 \(digest)" >&2; exit 3; fi; \
            chmod \(modeText) "$t"; mv -f "$t" \(dest); trap - EXIT
            """
        let output = OutputCapture()
        let reader = FileReader(handle: handle)
        let outcome = try await exec(script, stdin: nil, host: host, output: output, deadline: nil) { channel in
            // Sequential awaited writes: the SSH window paces the upload; one chunk in memory.
            while let chunk = try reader.next() {
                var buffer = channel.allocator.buffer(capacity: chunk.count)
                buffer.writeBytes(chunk)
                try await channel.writeAndFlush(SSHChannelData(type: .channel, data: .byteBuffer(buffer))).get()
            }
            try await channel.close(mode: .output).get()
        }
        guard outcome.exitStatus == 0 else {
            throw TransportError(.transfer, host: host.name, "put \(localPath) → \(remotePath) failed: \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// How the handshakes of this transport went (nil before the first).
    public var summary: String? {
        get async {
            let stats = pacer.stats
            return stats.started == 0 ? nil : stats.summary
        }
    }

    public var handshakeStats: HandshakeStats { pacer.stats }

    /// Connections open now (for tests and diagnostics).
    public var openConnections: Int { get async { await pool.openCount } }

    public func shutdown() async {
        await pool.closeAll()
        try? await group.shutdownGracefully()
    }

    static func seconds(_ t: Double) -> String {
        t == t.rounded() ? "\(Int(t))s" : String(format: "%.3fs", t)
    }

    static func signalNumber(_ name: String) -> Int32 {
        let names = ["HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9, "SEGV": 11, "PIPE": 13,
                     "ALRM": 14, "TERM": 15, "USR1": 10, "USR2": 12]
        return Int32(names[name] ?? 0)
    }
}

/// Reads a file in chunks for an upload.
final class FileReader: Sendable {
    private let handle: Mutex<FileHandle>
    init(handle: FileHandle) { self.handle = Mutex(handle) }
    func next() throws -> Data? {
        try handle.withLock { h in
            guard let d = try h.read(upToCount: 256 * 1024), !d.isEmpty else { return nil }
            return d
        }
    }
}

/// Connections by host: created once (concurrent callers share the attempt),
/// capped in number, closed when idle too long.
actor SSHConnectionPool {
    let settings: SSHSettings
    private var connections: [String: SSHConnection] = [:]
    private var connecting: [String: Task<SSHConnection, any Error>] = [:]
    private var sweeper: Task<Void, Never>?

    init(settings: SSHSettings) { self.settings = settings }

    func connection(for host: String, connect: @escaping @Sendable () async throws -> SSHConnection) async throws -> SSHConnection {
        if let c = connections[host], c.isActive { return c }
        if let pending = connecting[host] { return try await pending.value }
        connections[host] = nil
        let task = Task { () async throws -> SSHConnection in
            try await self.waitForRoom()
            return try await connect()
        }
        connecting[host] = task
        defer { connecting[host] = nil }
        let c = try await task.value
        connections[host] = c
        startSweeper()
        return c
    }

    /// The connection cap (the transport's pacer sets the rate and handshakes in flight).
    private func waitForRoom() async throws {
        var waited = 0
        while connections.values.filter(\.isActive).count + connecting.count > settings.maxConnections {
            // Close the least recently used idle connection to make room.
            if let victim = connections.filter({ $0.value.isIdle }).min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
                victim.value.close()
                connections[victim.key] = nil
            } else {
                waited += 1
                if waited > 6000 { throw SSHError(.timeout, host: "?", "no free connection slot within 10 minutes (max_connections \(settings.maxConnections))") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    func drop(_ host: String, _ connection: SSHConnection) {
        if connections[host] === connection { connections[host] = nil }
        connection.close()
    }

    private func startSweeper() {
        guard sweeper == nil else { return }
        let idle = settings.idleTimeout
        sweeper = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(min(30, max(1, idle / 4))))
                await self?.sweep(idle: idle)
            }
        }
    }

    private func sweep(idle: Double) {
        let now = ContinuousClock.now
        for (host, c) in connections where !c.isActive || (c.isIdle && now - c.lastUsed > .seconds(idle)) {
            c.close()
            connections[host] = nil
        }
    }

    var openCount: Int { connections.values.filter(\.isActive).count }

    func closeAll() async {
        sweeper?.cancel()
        sweeper = nil
        let all = Array(connections.values)
        connections = [:]
        for c in all { try? await c.channel.close().get() }
    }
}
