import AsyncHTTPClient
import Foundation
import LuaBridge
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// An HTTP response as primitives and runbooks see it.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: String
    public var duration: Double

    public init(status: Int, headers: [String: String], body: String, duration: Double) {
        self.status = status
        self.headers = headers
        self.body = body
        self.duration = duration
    }

    public var luaValue: LuaValue {
        ["status": .int(Int64(status)), "headers": .map(headers.mapValues { .string($0) }), "body": .string(body),
         "duration": .number(duration)]
    }

    /// The body parsed as JSON (nil if it is not).
    public var json: LuaValue? { try? LuaValue.fromJSON(body) }
}

public struct HTTPFailure: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(description: String) { self.description = description }
}

/// HTTP clients by TLS setting (default trust, a custom CA file, or insecure), shared by a process.
///
/// Every client is Ferry's own, with `retryConnectionEstablishment` off: AsyncHTTPClient's pool
/// otherwise retries a refused connection or a failed TLS handshake until the request's deadline,
/// so an untrusted certificate would surface as "no answer within 30s" instead of its cause.
/// Callers that want retries say so (`within`/`every` in checks, `wait_until`).
public final class HTTPService: Sendable {
    public static let shared = HTTPService()

    private let clients = Mutex<[String: HTTPClient]>([:])

    func client(caFile: String?, insecure: Bool) throws -> HTTPClient {
        let key = "\(caFile ?? "")|\(insecure)"
        if let caFile, !FileManager.default.fileExists(atPath: caFile) {
            throw HTTPFailure(description: "CA file \(caFile) does not exist")
        }
        // Looked up and made under one lock: two first requests at once must share one
        // client (a second one dropped without shutdown() traps in AsyncHTTPClient).
        return clients.withLock { clients in
            if let c = clients[key] { return c }
            var tls = TLSConfiguration.makeClientConfiguration()
            if insecure { tls.certificateVerification = .none }
            if let caFile { tls.trustRoots = .file(caFile) }
            var config = HTTPClient.Configuration(tlsConfiguration: tls)
            config.timeout = .init(connect: .seconds(10))
            config.connectionPool.retryConnectionEstablishment = false
            let c = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            clients[key] = c
            return c
        }
    }

    /// Methods HTTP defines as idempotent (RFC 9110 §9.2.2): sending one twice leaves the
    /// server as sending it once.
    static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]

    /// Sends a request; a transport failure raises, any HTTP status returns.
    ///
    /// A request that may be repeated (`idempotent`, by default the idempotent methods) is
    /// sent once more when its connection was reset or closed before any answer came: a
    /// pooled keep-alive connection the server closed as the request went out (gunicorn
    /// closes idle ones after 2 s; Apache, HAProxy and nginx after their own timeouts) fails
    /// that way, and the request never reached the application. A POST that creates
    /// something is not repeated: the server may have acted on it.
    public func request(method: String, url: String, headers: [String: String] = [:], body: Data? = nil, timeout: Double = 30,
                        caFile: String? = nil, insecure: Bool = false, idempotent: Bool? = nil) async throws -> HTTPResponse
    {
        let clock = ContinuousClock()
        let start = clock.now
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method.uppercased())
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let client = try client(caFile: caFile, insecure: insecure)
        let repeatable = idempotent ?? Self.idempotentMethods.contains(method.uppercased())
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        do {
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, deadline: deadline)
            } catch where repeatable && Self.isStaleConnection(error) {
                response = try await client.execute(request, deadline: deadline)
            }
            let bytes = try await response.body.collect(upTo: 64 << 20)
            var h: [String: String] = [:]
            for (name, value) in response.headers { h[name.lowercased()] = h[name.lowercased()].map { $0 + ", " + value } ?? value }
            return HTTPResponse(status: Int(response.status.code), headers: h, body: String(buffer: bytes),
                                duration: (clock.now - start).seconds)
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout {
            throw HTTPFailure(description: "\(method) \(url): no answer within \(DurationText.format(timeout))")
        } catch {
            throw HTTPFailure(description: "\(method) \(url): \(Self.describe(error))")
        }
    }

    /// The connection was reset or closed before the answer's head: the request can be sent
    /// again on a new connection.
    static func isStaleConnection(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError, e == .remoteConnectionClosed { return true }
        if let e = error as? IOError, [ECONNRESET, EPIPE].contains(e.errnoCode) { return true }
        // The pooled connection was closed under the request before it was written (CI saw
        // `GET …/v3/services: I/O on closed channel` against the lab's gunicorn Keystone).
        if let e = error as? ChannelError, e == .ioOnClosedChannel || e == .outputClosed { return true }
        return false
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return "connection refused (is the service running?)"
        }
        if text.contains("stream ended at an unexpected time") || text.contains("remoteConnectionClosed") || text.contains("invalidEOFState") {
            return "the connection closed before the whole answer arrived (the server went away mid-call)"
        }
        if text.contains("NIOSSL") || text.contains("certificate") || text.contains("handshake") {
            if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
                return "TLS failed: the server's certificate is not trusted (give ca_file = the CA that signed it; insecure = true skips the check): \(text)"
            }
            return "TLS failed: \(text)"
        }
        return text
    }
}
