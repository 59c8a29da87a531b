import Foundation
import NIOCore
import NIOPosix

/// Talks to HAProxy's runtime API: a local unix socket, a TCP address, or a socket
/// on the balancer host reached through the transport (`socat` there).
struct HAProxyRuntime: Sendable {
    enum Endpoint: Sendable {
        case unix(String)
        case tcp(String, Int)
        case remote(host: RegionHost, socket: String, transport: any Transport)
    }

    let vip: String
    let endpoint: Endpoint

    var place: String {
        switch endpoint {
        case .unix(let p): return p
        case .tcp(let h, let p): return "\(h):\(p)"
        case .remote(let host, let socket, _): return "\(socket) on \(host.name)"
        }
    }

    /// Sends one command line (several commands joined with `;` apply together).
    func send(_ command: String) async throws -> String {
        let reply: String
        switch endpoint {
        case .unix, .tcp:
            reply = try await local(command)
        case .remote(let host, let socket, let transport):
            let script = "socat -t 10 stdio UNIX-CONNECT:\(ShellQuote.quote(socket))"
            let result = try await transport.run(HostCommand(script, stdin: Data((command + "\n").utf8), timeout: 30), on: host,
                                                 output: OutputCapture())
            guard result.exitCode == 0 else {
                throw VIPError(vip: vip, message: "cannot reach HAProxy's runtime API at \(place): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            reply = result.stdout
        }
        // HAProxy answers errors in plain text on the same channel.
        for line in reply.split(separator: "\n") {
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.hasPrefix("No such") || l.hasPrefix("Unknown command") || l.hasPrefix("Require") || l.contains("is not allowed")
                || l.hasPrefix("Invalid") || l.hasPrefix("Missing") || l.contains("not found") || l.hasPrefix("Permission denied")
            {
                throw VIPError(vip: vip, message: "HAProxy refused `\(command)`: \(l)")
            }
        }
        return reply
    }

    private func local(_ command: String) async throws -> String {
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.next().makePromise(of: String.self)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Collector(done: done)) }
            }
        let channel: any Channel
        do {
            switch endpoint {
            case .unix(let path): channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            case .tcp(let host, let port): channel = try await bootstrap.connect(host: host, port: port).get()
            case .remote: fatalError("unreachable")
            }
        } catch {
            done.fail(error)
            let reason: String
            if case .unix(let path) = endpoint, !FileManager.default.fileExists(atPath: path) {
                reason = "no such socket (is HAProxy running, with `stats socket \(path) level admin`?)"
            } else {
                reason = "\(error)"
            }
            throw VIPError(vip: vip, message: "cannot reach HAProxy's runtime API at \(place): \(reason)")
        }
        try await channel.writeAndFlush(ByteBuffer(string: command + "\n")).get()
        let timer = channel.eventLoop.scheduleTask(in: .seconds(30)) {
            done.fail(VIPError(vip: vip, message: "HAProxy at \(place) did not answer `\(command)` within 30s"))
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await done.futureResult.get()
    }

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        private var text = ""
        private let done: EventLoopPromise<String>
        init(done: EventLoopPromise<String>) { self.done = done }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            text += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        func channelInactive(context: ChannelHandlerContext) { done.succeed(text) }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            done.fail(error)
            context.close(promise: nil)
        }
    }

    struct Server: Sendable {
        var name: String
        var address: String
        var port: Int?
        var operational: Int
        var admin: Int
        /// ready, drain or maint, as `set server … state` takes it.
        var state: String {
            // 0x23: forced, inherited or resolution maintenance. A config-disabled server
            // set ready keeps 0x04, so that bit alone does not mean maintenance.
            if admin & 0x23 != 0 { return "maint" }
            if admin & 0x18 != 0 { return "drain" }
            return "ready"
        }
    }

    func servers(_ backend: String) async throws -> [Server] {
        let reply = try await send("show servers state \(backend)")
        let trimmed = reply.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            throw VIPError(vip: vip, message: "HAProxy at \(place) closed the connection without answering `show servers state \(backend)`")
        }
        if trimmed.hasPrefix("Can't find backend") {
            throw VIPError(vip: vip, message: "HAProxy at \(place) has no backend '\(backend)'")
        }
        // The answer starts with its format's version ("1"); anything else was cut short or is not HAProxy's.
        guard let first = trimmed.split(separator: "\n").first, Int(first.trimmingCharacters(in: .whitespaces)) != nil else {
            throw VIPError(vip: vip, message: "HAProxy at \(place) gave an answer cut short (or not its own) to `show servers state \(backend)`: "
                + "\(trimmed.prefix(80))")
        }
        var out: [Server] = []
        for line in reply.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 7, f[1] == backend else { continue }
            out.append(Server(name: f[3], address: f[4], port: f.count > 18 ? Int(f[18]) : nil,
                              operational: Int(f[5]) ?? 0, admin: Int(f[6]) ?? 0))
        }
        if out.isEmpty { throw VIPError(vip: vip, message: "HAProxy at \(place) has no backend '\(backend)' (or it has no servers)") }
        return out
    }
}

public struct VIPError: Error, CustomStringConvertible, Sendable {
    public let vip: String
    public let message: String
    public var description: String { "vip \(vip): \(message)" }

    public init(vip: String, message: String) {
        self.vip = vip
        self.message = message
    }
}
