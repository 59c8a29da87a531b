import Foundation
import NIOCore
import NIOSSH
import Synchronization

/// How often to probe a silent connection, and how many probes may go unanswered
/// (`ssh.keepalive_interval`, `ssh.keepalive_count`).
struct KeepalivePolicy: Sendable {
    var interval: Double
    var count: Int

    init(interval: Double, count: Int) {
        self.interval = interval
        self.count = count
    }

    init(_ settings: SSHSettings) {
        self.init(interval: settings.keepaliveInterval, count: settings.keepaliveCount)
    }

    /// Silence after which the connection counts as lost.
    var limit: Double { interval * Double(count + 1) }
}

/// Why a connection was closed by Ferry itself, for the commands that were running on
/// it (their channels only see the connection go away).
final class ConnectionFate: Sendable {
    private let reason = Mutex<String?>(nil)
    func record(_ text: String) { reason.withLock { if $0 == nil { $0 = text } } }
    var closedBecause: String? { reason.withLock { $0 } }
}

/// SSH-level keepalives and the connection's inactivity limit.
///
/// TCP keepalive cannot see a host whose sshd has stopped (SIGSTOP, a hung process, a
/// frozen VM behind a live hypervisor): the kernel still answers for it. So when nothing
/// has arrived for `interval`, this handler sends a request the server must answer, and
/// once `count` of them in a row got no answer — nothing at all arrived for
/// `interval × (count + 1)` — it closes the connection as lost. Any byte from the server
/// counts as an answer, so a command that prints nothing for an hour (`sleep 3600`) keeps
/// its connection as long as the server answers: the limit is about the connection, not
/// about a command's output.
///
/// It sits below `NIOSSHHandler` (it sees the encrypted bytes as they arrive, one clock
/// read per read) and starts once the connection is authenticated.
final class SSHKeepaliveHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let policy: KeepalivePolicy
    private let host: String
    private let fate: ConnectionFate
    private var lastHeard = NIODeadline.now()
    /// When the last probe went out; anything heard after it answers it.
    private var lastProbe = NIODeadline.distantPast
    private var unanswered = 0
    private var check: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(policy: KeepalivePolicy, host: String, fate: ConnectionFate) {
        self.policy = policy
        self.host = host
        self.fate = fate
    }

    private var interval: TimeAmount { .nanoseconds(Int64(policy.interval * 1_000_000_000)) }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastHeard = .now()
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    /// Starts probing; on the channel's event loop, once the connection is authenticated
    /// (a global request is only allowed then).
    func start() {
        guard let context, check == nil, context.channel.isActive else { return }
        lastHeard = .now()
        schedule(at: lastHeard + interval, context)
    }

    private func stop() {
        check?.cancel()
        check = nil
    }

    private func schedule(at deadline: NIODeadline, _ context: ChannelHandlerContext) {
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            self.tick(context)
        }
    }

    private func tick(_ context: ChannelHandlerContext) {
        check = nil
        guard context.channel.isActive else { return }
        let now = NIODeadline.now()
        // Something arrived since the last probe: the server is there. (Judged by the
        // probe's time, not by this check's: on a loaded machine a check may run late,
        // after an answer that came in time.)
        if lastHeard > lastProbe { unanswered = 0 }
        if now - lastHeard < interval {
            schedule(at: lastHeard + interval, context)
            return
        }
        if unanswered >= policy.count {
            let silent = DurationText.format(Double((now - lastHeard).nanoseconds) / 1_000_000_000)
            fate.record("no answer from the host for \(silent) (\(unanswered) SSH keepalive\(unanswered == 1 ? "" : "s") unanswered; ssh.keepalive_interval \(DurationText.format(policy.interval)), keepalive_count \(policy.count)): the connection was closed as lost")
            context.close(promise: nil)
            return
        }
        unanswered += 1
        lastProbe = now
        sendProbe(context)
        schedule(at: now + interval, context)
    }

    /// swift-nio-ssh (0.15) has no public way to send OpenSSH's `keepalive@openssh.com`.
    /// A `cancel-tcpip-forward` for a forwarding this connection never asked for is a
    /// global request with want-reply, which a server must answer (RFC 4254 §4; OpenSSH
    /// answers "request failure" and changes nothing): the answer, like any byte, proves
    /// the server alive. Ferry asks for no forwardings, so nothing else waits on replies.
    private func sendProbe(_ context: ChannelHandlerContext) {
        guard let ssh = try? context.pipeline.syncOperations.handler(type: NIOSSHHandler.self) else { return }
        ssh.sendTCPForwardingRequest(.cancel(host: "keepalive@ferry", port: 0), promise: nil)
    }
}
