import Foundation
import NIOCore
import NIOSSH

/// Completes when the connection is authenticated, or with the first error; and
/// closes the connection on any error (NIOSSHHandler reports errors but never
/// closes, so without this a host-key mismatch would hang forever).
final class SSHReadyHandler: ChannelInboundHandler {
    typealias InboundIn = Any

    private var ready: EventLoopPromise<Void>?
    private let host: String
    private var firstError: (any Error)?

    init(ready: EventLoopPromise<Void>, host: String) {
        self.ready = ready
        self.host = host
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is UserAuthSuccessEvent, let ready {
            self.ready = nil
            ready.succeed(())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if firstError == nil { firstError = error }
        if let ready {
            self.ready = nil
            ready.fail(error)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let ready {
            self.ready = nil
            ready.fail(firstError ?? SSHError(.lost, host: host, "the server closed the connection during the handshake"))
        }
        context.fireChannelInactive()
    }
}

/// Turns a direct-tcpip child channel into a byte stream for a nested SSH
/// connection (a jump host).
final class SSHChannelBytesHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHChannelData
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = SSHChannelData

    func handlerAdded(context: ChannelHandlerContext) {
        _ = context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .channel = message.type, case .byteBuffer(let bytes) = message.data else { return }
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(bytes))), promise: promise)
    }
}

/// The end of one exec channel.
struct ExecOutcome: Sendable {
    var exitStatus: Int?
    var exitSignal: String?
}

/// Runs one command on a session channel: sends the exec request, stdin and EOF,
/// streams stdout/stderr into an ``OutputCapture``, and completes with the exit
/// status or signal — or with an error that says whether the command may have run.
final class ExecHandler: ChannelDuplexHandler {
    typealias InboundIn = SSHChannelData
    typealias OutboundIn = SSHChannelData
    typealias OutboundOut = SSHChannelData

    private let command: String
    private let stdin: Data?
    /// When true, the caller streams stdin itself after `started` completes.
    private let streamsInput: Bool
    private let output: OutputCapture
    private var done: EventLoopPromise<ExecOutcome>?
    private var started: EventLoopPromise<Void>?
    private let host: String
    private var outcome = ExecOutcome()
    private var requestSent = false
    private var error: (any Error)?

    init(command: String, stdin: Data?, streamsInput: Bool, output: OutputCapture, host: String,
         started: EventLoopPromise<Void>?, done: EventLoopPromise<ExecOutcome>)
    {
        self.command = command
        self.stdin = stdin
        self.streamsInput = streamsInput
        self.output = output
        self.host = host
        self.started = started
        self.done = done
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // The server's EOF must not be answered with ours out of sequence.
        _ = context.channel.setOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !requestSent else { return }
        requestSent = true
        let request = SSHChannelRequestEvent.ExecRequest(command: command, wantReply: true)
        context.triggerUserOutboundEvent(request, promise: nil)
        if streamsInput {
            started?.succeed(())
            started = nil
            return
        }
        if let stdin, !stdin.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: stdin.count)
            buffer.writeBytes(stdin)
            context.write(wrapOutboundOut(SSHChannelData(type: .channel, data: .byteBuffer(buffer))), promise: nil)
        }
        context.flush()
        // EOF on stdin, as `ssh -n` does, so commands that read stdin do not wait.
        context.close(mode: .output, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        guard case .byteBuffer(let bytes) = message.data else { return }
        bytes.withUnsafeReadableBytes { raw in
            switch message.type {
            case .channel: output.append(stdout: raw)
            case .stdErr: output.append(stderr: raw)
            default: break
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let status as SSHChannelRequestEvent.ExitStatus:
            outcome.exitStatus = status.exitStatus
        case let signal as SSHChannelRequestEvent.ExitSignal:
            outcome.exitSignal = signal.signalName
        case is ChannelFailureEvent:
            error = SSHError(.channel, host: host, "the server refused to run the command")
            context.close(promise: nil)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.error == nil { self.error = error }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { finish() }

    private func finish() {
        started?.fail(error ?? SSHError(.lost, host: host, "the session closed before the command started"))
        started = nil
        guard let done else { return }
        self.done = nil
        if outcome.exitStatus != nil || outcome.exitSignal != nil {
            done.succeed(outcome)
        } else if let error = error as? SSHError {
            done.fail(error)
        } else if requestSent {
            let cause = error.map { " (\($0))" } ?? ""
            done.fail(SSHError(
                .lost, host: host,
                "the connection was lost while the command ran; it may have run (or be running) on the host\(cause)",
                mayHaveRun: true))
        } else if let error {
            done.fail(error)
        } else {
            done.fail(SSHError(
                .lost, host: host,
                "the connection was lost while the command ran; it may have run (or be running) on the host",
                mayHaveRun: requestSent))
        }
    }
}
