import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// HTTPService.shared keeps one AsyncHTTPClient per TLS setting for the process.
@Suite struct HTTPServiceConcurrencyTests {
    /// Concurrent first requests with the same TLS setting (here: a CA file no request used
    /// before) must share one client. When the lookup and the insert took two locks, racing
    /// callers each made one and the one overwritten was released without shutdown(): a
    /// debug build trapped in HTTPClient.deinit and the whole test process died (seen when
    /// CatalogTests and BrokerTests started together).
    @Test func concurrentFirstRequestsShareOneClient() async throws {
        let ca = NSTemporaryDirectory() + "ferry-race-\(UUID().uuidString).pem"
        try "".write(toFile: ca, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<16 {
                group.addTask { try await HTTPService.shared.request(method: "GET", url: "http://127.0.0.1:25000/v3", caFile: ca).status }
            }
            var out: [Int] = []
            for try await s in group { out.append(s) }
            return out
        }
        #expect(statuses == Array(repeating: 200, count: 16), "\(statuses)")
    }
}

/// A keep-alive connection the server closes just as a request goes out on it (gunicorn,
/// which serves the lab's Keystone, closes idle ones after 2 s) resets that request before
/// any answer. CI once failed a Keystone login on exactly that (`POST /v3/auth/tokens:
/// Connection reset by peer`). A request that may be repeated is sent again on a new
/// connection; a POST that may have created something is not.
@Suite(.serialized) struct StaleConnectionTests {
    /// Answers the first request of each connection (naming the connection), then resets
    /// the connection when its second request arrives — after reading it, so the client
    /// has sent it and sees the reset while it waits for the answer.
    struct Resetter {
        let pid: String
        let port: Int

        init() async throws {
            let directory = try TestEnvironment.directory()
            let server = """
                import os, socket, struct, threading
                os.closerange(3, 65536)
                def read_request(conn):
                    data = b''
                    while b'\\r\\n\\r\\n' not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return None
                        data += chunk
                    head, _, rest = data.partition(b'\\r\\n\\r\\n')
                    length = 0
                    for line in head.split(b'\\r\\n')[1:]:
                        name, _, value = line.partition(b':')
                        if name.strip().lower() == b'content-length':
                            length = int(value)
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    return head.split(b' ')[0]
                def serve(conn, number):
                    method = read_request(conn)
                    body = ('connection %d %s' % (number, method.decode())).encode()
                    conn.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s' % (len(body), body))
                    if read_request(conn) is not None:
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                    conn.close()
                listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen(16)
                open('port.tmp', 'w').write(str(listener.getsockname()[1])); os.rename('port.tmp', 'port')
                number = 0
                while True:
                    conn, _ = listener.accept()
                    number += 1
                    threading.Thread(target=serve, args=(conn, number), daemon=True).start()
                """
            try server.write(toFile: directory + "/server.py", atomically: true, encoding: .utf8)
            (pid, port) = try await startPythonServer(in: directory, what: "the resetting server")
        }

        func stop() { _ = try? shellOutput("kill -9 \(pid)") }
    }

    @Test func aResetBeforeTheAnswerIsRetriedOnlyForRequestsThatMayBeRepeated() async throws {
        let server = try await Resetter()
        defer { server.stop() }
        // Our own client: the pool's idle connections must be this test's alone.
        let ca = NSTemporaryDirectory() + "ferry-stale-\(UUID().uuidString).pem"
        try "".write(toFile: ca, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let http = HTTPService.shared
        let url = "http://127.0.0.1:\(server.port)/"
        func body(_ method: String, idempotent: Bool? = nil) async -> String {
            do { return try await http.request(method: method, url: url, body: method == "GET" ? nil : Data("{}".utf8), caFile: ca,
                                               idempotent: idempotent).body }
            catch { return "error: \(error)" }
        }
        #expect(await body("GET") == "connection 1 GET")
        // The pooled connection 1 is reset under the second GET: sent again on connection 2.
        #expect(await body("GET") == "connection 2 GET")
        // Connection 2's second request is a POST: it is not sent again, and says why.
        let post = await body("POST")
        #expect(post.hasPrefix("error: POST \(url): "), "\(post)")
        #expect(post.contains("reset") || post.contains("closed"), "\(post)")
        // A POST its caller declares repeatable (a Keystone login) is.
        #expect(await body("GET") == "connection 3 GET")
        #expect(await body("POST", idempotent: true) == "connection 4 POST")
    }
}
