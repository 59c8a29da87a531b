import Foundation
import NIOCore
import NIOPosix
import NIOSSH

/// A local TCP port whose connections are carried to `target:port` from an SSH
/// host (direct-tcpip), for clients that only speak TCP (the MariaDB client library).
public final class SSHLocalForward: Sendable {
    public let port: Int
    private let server: any Channel

    init(port: Int, server: any Channel) {
        self.port = port
        self.server = server
    }

    public func close() async { try? await server.close().get() }
}

/// Passes bytes between two channels; each side closes the other when it ends.
final class ForwardingGlue: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var partner: (any Channel)?
    private var pending: [ByteBuffer] = []

    func attach(_ partner: any Channel) {
        self.partner = partner
        for b in pending { partner.writeAndFlush(b, promise: nil) }
        pending = []
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if let partner { partner.writeAndFlush(bytes, promise: nil) } else { pending.append(bytes) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

extension NIOSSHTransport {
    /// Opens a local port on 127.0.0.1 forwarding to `target:port` as seen from `via`.
    public func forward(to target: String, port: Int, via host: RegionHost) async throws -> SSHLocalForward {
        let connection = try await connection(for: host)
        let hostName = host.name
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: true)
            .childChannelInitializer { inbound in
                let glue = ForwardingGlue()
                let loopBound = NIOLoopBound(glue, eventLoop: inbound.eventLoop)
                return inbound.eventLoop.makeCompletedFuture {
                    try inbound.pipeline.syncOperations.addHandler(glue)
                }.flatMap {
                    let opened = inbound.eventLoop.makePromise(of: (any Channel).self)
                    Task {
                        do {
                            let ssh = try await connection.openChannel(
                                .directTCPIP(.init(targetHost: target, targetPort: port,
                                                   originatorAddress: try SocketAddress(ipAddress: "127.0.0.1", port: 1)))
                            ) { child in
                                child.eventLoop.makeCompletedFuture {
                                    let back = ForwardingGlue()
                                    try child.pipeline.syncOperations.addHandler(SSHChannelBytesHandler())
                                    try child.pipeline.syncOperations.addHandler(back)
                                    back.attach(inbound)
                                }
                            }
                            opened.succeed(ssh)
                        } catch {
                            opened.fail(SSHError(.channel, host: hostName, "cannot forward to \(target):\(port) from \(hostName): \(error)"))
                        }
                    }
                    return opened.futureResult.map { ssh in loopBound.value.attach(ssh) }.flatMapErrorThrowing { error in
                        inbound.close(promise: nil)
                        throw error
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = server.localAddress?.port else { throw SSHError(.channel, host: hostName, "cannot open a local port") }
        return SSHLocalForward(port: port, server: server)
    }
}
