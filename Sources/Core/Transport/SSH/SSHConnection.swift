import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSH
import Synchronization

/// Where and as whom to connect.
struct SSHTarget: Sendable {
    var name: String
    var address: String
    var port: Int
    var user: String
    var key: SSHKeyFile.Loaded
    var knownHosts: KnownHosts
    var policy: HostKeyPolicy
    var connectTimeout: Double
}

/// Offers one private key; a second request means the server rejected it.
final class PublicKeyOffer: NIOSSHClientUserAuthenticationDelegate {
    private let target: SSHTarget
    private var offered = false

    init(target: SSHTarget) { self.target = target }

    func nextAuthenticationType(
        availableMethods: NIOSSHAvailableUserAuthenticationMethods,
        nextChallengePromise: EventLoopPromise<NIOSSHUserAuthenticationOffer?>
    ) {
        guard availableMethods.contains(.publicKey) else {
            nextChallengePromise.fail(SSHError(.authRejected, host: target.name, "the server does not accept public-key authentication for \(target.user)"))
            return
        }
        guard !offered else {
            nextChallengePromise.fail(SSHError(
                .authRejected, host: target.name,
                "authentication as \(target.user) rejected: the server refused the key \(target.key.path) (\(target.key.type) \(target.key.fingerprint))"))
            return
        }
        offered = true
        nextChallengePromise.succeed(NIOSSHUserAuthenticationOffer(
            username: target.user, serviceName: "", offer: .privateKey(.init(privateKey: target.key.key))))
    }
}

/// Checks the server's host key against known_hosts (strict, or accept-new).
final class HostKeyCheck: NIOSSHClientServerAuthenticationDelegate {
    private let target: SSHTarget

    init(target: SSHTarget) { self.target = target }

    func validateHostKey(hostKey: NIOSSHPublicKey, validationCompletePromise: EventLoopPromise<Void>) {
        let name = KnownHosts.hostKey(target.address, port: target.port)
        var names = [name]
        if target.name != target.address { names.append(KnownHosts.hostKey(target.name, port: target.port)) }
        let presented = "\(SSHFingerprint.type(hostKey)) \(SSHFingerprint.of(hostKey))"
        switch target.knownHosts.verify(hostKey, names: names) {
        case .known:
            validationCompletePromise.succeed(())
        case .revoked:
            validationCompletePromise.fail(SSHError(.hostKeyMismatch, host: target.name, "the host key \(presented) is marked @revoked in known_hosts"))
        case .mismatch(let expected, let file, let line):
            validationCompletePromise.fail(SSHError(
                .hostKeyMismatch, host: target.name,
                "HOST KEY MISMATCH for \(name): the server presented \(presented), but \(file):\(line) expects \(expected.joined(separator: " or ")). Someone may be intercepting the connection, or the host was reinstalled; check, then fix known_hosts"))
        case .unknown:
            if target.policy == .acceptNew {
                do {
                    try target.knownHosts.record(hostKey, name: name)
                    validationCompletePromise.succeed(())
                } catch {
                    validationCompletePromise.fail(SSHError(.hostKeyUnknown, host: target.name, "cannot record the new host key: \(error)"))
                }
            } else {
                let files = target.knownHosts.files.joined(separator: ", ")
                validationCompletePromise.fail(SSHError(
                    .hostKeyUnknown, host: target.name,
                    "unknown host key for \(name) (\(presented)); it is not in \(files.isEmpty ? "any known_hosts file" : files). Add it, or set ssh: { host_key_checking: accept-new }"))
            }
        }
    }
}

/// A counting semaphore for async code (channels per connection, connection slots).
final class AsyncSlots: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>
    init(_ count: Int) { state = Mutex(State(available: count)) }

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.available > 0 {
                    s.available -= 1
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if ready { c.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.available += 1
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }

    var inUse: Bool { state.withLock { !$0.waiters.isEmpty } }
}

/// One authenticated SSH connection, reused for every command a run sends to
/// the host; at most `maxSessions` channels are open on it at once.
final class SSHConnection: Sendable {
    let host: String
    let channel: any Channel
    let sessions: AsyncSlots
    /// Why Ferry closed this connection (the keepalives went unanswered), if it did.
    let fate: ConnectionFate
    private let activity = Mutex<(busy: Int, lastUsed: ContinuousClock.Instant)>((0, .now))

    init(host: String, channel: any Channel, maxSessions: Int, fate: ConnectionFate = ConnectionFate()) {
        self.host = host
        self.channel = channel
        self.fate = fate
        sessions = AsyncSlots(maxSessions)
    }

    var isActive: Bool { channel.isActive }
    var isIdle: Bool { activity.withLock { $0.busy == 0 } }
    var lastUsed: ContinuousClock.Instant { activity.withLock { $0.lastUsed } }

    func close() { channel.close(promise: nil) }

    /// Connects directly, or through `jump` (a direct-tcpip channel carrying a nested SSH connection).
    static func connect(_ target: SSHTarget, via jump: SSHConnection?, group: any EventLoopGroup, maxSessions: Int,
                        keepalive: Bool, alive: KeepalivePolicy) async throws -> SSHConnection
    {
        let fate = ConnectionFate()
        let loop = jump?.channel.eventLoop ?? group.next()
        // One budget for the TCP connect, the handshake and authentication together,
        // counted from the start of this attempt.
        let deadline = NIODeadline.now() + .milliseconds(Int64(target.connectTimeout * 1000))
        let ready = loop.makePromise(of: Void.self)
        let initialize: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                if jump != nil { try sync.addHandler(SSHChannelBytesHandler()) }
                try sync.addHandler(SSHKeepaliveHandler(policy: alive, host: target.name, fate: fate))
                let config = SSHClientConfiguration(userAuthDelegate: PublicKeyOffer(target: target),
                                                    serverAuthDelegate: HostKeyCheck(target: target))
                try sync.addHandler(NIOSSHHandler(role: .client(config), allocator: channel.allocator, inboundChildChannelInitializer: nil))
                try sync.addHandler(SSHReadyHandler(ready: ready, host: target.name))
            }
        }
        let channel: any Channel
        do {
            if let jump {
                channel = try await jump.openChannel(
                    .directTCPIP(.init(targetHost: target.address, targetPort: target.port,
                                       originatorAddress: try SocketAddress(ipAddress: "127.0.0.1", port: 22))),
                    initializer: initialize)
            } else {
                channel = try await ClientBootstrap(group: loop)
                    .connectTimeout(.milliseconds(Int64(target.connectTimeout * 1000)))
                    .channelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_KEEPALIVE), value: keepalive ? 1 : 0)
                    .channelOption(ChannelOptions.socket(SocketOptionLevel(IPPROTO_TCP), TCP_NODELAY), value: 1)
                    .channelInitializer(initialize)
                    .connect(host: target.address, port: target.port).get()
            }
        } catch {
            ready.fail(error)
            throw classify(error, target: target, via: jump?.host)
        }
        // The handshake and authentication must finish within what is left of it.
        let timeout = loop.scheduleTask(deadline: deadline) {
            ready.fail(SSHError(.timeout, host: target.name, "no SSH handshake from \(target.address):\(target.port) within \(DurationText.format(target.connectTimeout))"))
            channel.close(promise: nil)
        }
        do {
            try await ready.futureResult.get()
            timeout.cancel()
            // Keepalives from now on: a global request is allowed once authenticated.
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.handler(type: SSHKeepaliveHandler.self).start()
            }.get()
        } catch {
            timeout.cancel()
            channel.close(promise: nil)
            throw classify(error, target: target, via: jump?.host)
        }
        return SSHConnection(host: target.name, channel: channel, maxSessions: maxSessions, fate: fate)
    }

    static func classify(_ error: any Error, target: SSHTarget, via jump: String?) -> SSHError {
        if let e = error as? SSHError { return e }
        let place = "\(target.address):\(target.port)\(jump.map { " via \($0)" } ?? "")"
        if let e = error as? NIOConnectionError {
            return classify(e.connectionErrors.first?.error ?? error, target: target, via: jump)
        }
        if let e = error as? IOError {
            switch e.errnoCode {
            case ECONNREFUSED: return SSHError(.refused, host: target.name, "connection refused by \(place) (is sshd running on that port?)")
            case EHOSTUNREACH, ENETUNREACH, EHOSTDOWN: return SSHError(.unreachable, host: target.name, "\(place) is unreachable")
            case ETIMEDOUT: return SSHError(.timeout, host: target.name, "connecting to \(place) timed out")
            default: return SSHError(.unreachable, host: target.name, "cannot connect to \(place): \(e)")
            }
        }
        if let e = error as? ChannelError, case .connectTimeout = e {
            return SSHError(.timeout, host: target.name, "connecting to \(place) timed out after \(DurationText.format(target.connectTimeout)) (unreachable?)")
        }
        if let e = error as? NIOSSHError {
            return SSHError(.protocolError, host: target.name, "SSH with \(place) failed: \(e)")
        }
        let text = String(describing: error)
        if text.contains("channelSetupRejected") || text.contains("Connect") {
            return SSHError(.refused, host: target.name, "the jump host \(jump ?? "?") could not reach \(place): \(text)")
        }
        return SSHError(.protocolError, host: target.name, "SSH with \(place) failed: \(text)")
    }

    /// Opens a child channel with the given pipeline.
    func openChannel(_ type: SSHChannelType, initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>) async throws
        -> any Channel
    {
        let promise = channel.eventLoop.makePromise(of: (any Channel).self)
        let parent = channel
        channel.eventLoop.execute {
            do {
                let ssh = try parent.pipeline.syncOperations.handler(type: NIOSSHHandler.self)
                ssh.createChannel(promise, channelType: type) { child, _ in initializer(child) }
            } catch {
                promise.fail(error)
            }
        }
        return try await promise.futureResult.get()
    }

    /// Runs a command. `feed`, when given, streams stdin after the command starts.
    func exec(_ command: String, stdin: Data?, output: OutputCapture, deadline: Double?,
              feed: (@Sendable (any Channel) async throws -> Void)? = nil) async throws -> ExecOutcome
    {
        await sessions.acquire()
        activity.withLock { $0.busy += 1 }
        defer {
            activity.withLock {
                $0.busy -= 1
                $0.lastUsed = .now
            }
            sessions.release()
        }
        guard channel.isActive else {
            throw SSHError(.lost, host: host, fate.closedBecause ?? "the connection is closed", mayHaveRun: false)
        }
        let loop = channel.eventLoop
        let host = self.host
        let streams = feed != nil
        var child: (any Channel)?
        var done = loop.makePromise(of: ExecOutcome.self)
        var started = loop.makePromise(of: Void.self)
        // A server may refuse a session while it is still tearing down a previous one
        // (OpenSSH counts it against MaxSessions until its process is reaped): wait a
        // little and ask again, a bounded number of times, with fresh promises.
        var attempt = 0
        while child == nil {
            let attemptDone = done
            let attemptStarted = started
            do {
                child = try await openChannel(.session) { child in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.addHandler(ExecHandler(
                            command: command, stdin: stdin, streamsInput: streams, output: output, host: host,
                            started: attemptStarted, done: attemptDone))
                    }
                }
            } catch {
                attemptDone.fail(error)
                attemptStarted.fail(error)
                if let e = error as? NIOSSHError, e.type == .channelSetupRejected, attempt < 40, channel.isActive {
                    attempt += 1
                    try await Task.sleep(for: .milliseconds(min(200, 10 * attempt)))
                    done = loop.makePromise(of: ExecOutcome.self)
                    started = loop.makePromise(of: Void.self)
                    continue
                }
                if !channel.isActive { throw SSHError(.lost, host: host, "the connection closed before the command started", mayHaveRun: false) }
                throw SSHError(.channel, host: host, "cannot open a session channel: \(error)")
            }
        }
        guard let child else { throw SSHError(.channel, host: host, "cannot open a session channel") }
        if let feed {
            try await started.futureResult.get()
            do {
                try await feed(child)
            } catch {
                child.close(promise: nil)
                _ = try? await done.futureResult.get()
                throw error
            }
        }
        let finalDone = done
        let timer = deadline.map { deadline in
            loop.scheduleTask(in: .milliseconds(Int64(deadline * 1000))) {
                finalDone.fail(SSHError(.timeout, host: host, "no answer within \(DurationText.format(deadline)); the session was closed"))
                child.close(promise: nil)
            }
        }
        defer { timer?.cancel() }
        // A cancelled caller closes the session (sshd then hangs up on the command).
        return try await withTaskCancellationHandler {
            do {
                return try await finalDone.futureResult.get()
            } catch let e as SSHError where e.kind == .lost {
                // The keepalives closed the connection: say so, not just that it went away.
                guard let reason = fate.closedBecause else { throw e }
                throw SSHError(.lost, host: host, e.mayHaveRun ? "\(reason); the command may have run (or be running) on the host" : reason,
                               mayHaveRun: e.mayHaveRun)
            }
        } onCancel: {
            finalDone.fail(CancellationError())
            child.close(promise: nil)
        }
    }
}
