import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// "Server down mid-call" for the HTTP primitives and the HAProxy runtime API: a server
/// that takes the request and dies halfway through its answer. Each call fails at once,
/// naming the primitive, the target and the cause, and the run says where.
@Suite(.serialized) struct MidCallTests {
    /// A server on loopback that reads a request, starts an answer and drops the connection
    /// (HTTP on a TCP port, and the same on a unix socket for HAProxy's runtime API).
    struct Dropper {
        let directory: String
        let pid: String
        let port: Int
        var socket: String { directory + "/admin.sock" }

        init() async throws {
            directory = try TestEnvironment.directory()
            let server = """
                import os, socket, threading
                os.closerange(3, 65536)
                def serve(listener, answer):
                    while True:
                        conn, _ = listener.accept()
                        try:
                            conn.recv(65536)
                            conn.sendall(answer)
                        finally:
                            conn.close()
                http = socket.socket(); http.bind(('127.0.0.1', 0)); http.listen(16)
                unix = socket.socket(socket.AF_UNIX); unix.bind('admin.sock'); unix.listen(16)
                threading.Thread(target=serve, args=(unix, b'# be,srv'), daemon=True).start()
                open('port.tmp', 'w').write(str(http.getsockname()[1])); os.rename('port.tmp', 'port')
                serve(http, b'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 400\\r\\n\\r\\n{"partial": ')
                """
            try server.write(toFile: directory + "/server.py", atomically: true, encoding: .utf8)
            (pid, port) = try await startPythonServer(in: directory, what: "the dropping server")
        }

        func stop() { _ = try? shellOutput("kill -9 \(pid)") }
    }

    @Test func keystoneRabbitMQAndHAProxyDroppingMidAnswerAreNamed() async throws {
        let server = try await Dropper()
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)"
        let dir = try TestEnvironment.directory()
        try """
            runbook { name = "mid-call" }
            step "calls" { run = function(ctx)
              local t0 = os.time()
              local ok1, e1 = pcall(catalog.services)
              local t1 = os.time()
              local ok2, e2 = pcall(broker.overview)
              local t2 = os.time()
              local ok3, e3 = pcall(vip.get, "dropped")
              local t3 = os.time()
              ctx.state.errors = { tostring(e1), tostring(e2), tostring(e3) }
              ctx.state.oks = { ok1, ok2, ok3 }
              ctx.state.call_seconds = { t1 - t0, t2 - t1, t3 - t2 }
              ctx.state.seconds = t3 - t0
            end }
            """.write(toFile: dir + "/runbook.lua", atomically: true, encoding: .utf8)
        try """
            region: dropped
            inventory: { groups: { one: [one] } }
            ssh: { transport: local }
            keystone: { auth_url: \(base)/v3, username: admin, password: x }
            broker: { url: \(base), username: guest, password: x }
            vips:
              dropped: { driver: haproxy, socket: \(server.socket), backend: be, url: \(base) }
            """.write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let engine = Engine(runbook: try await RunbookLoader.load(path: dir + "/runbook.lua"),
                            region: try RegionLoader.load(path: dir + "/region.yaml"),
                            transport: LocalTransport(), journal: try RunJournal(path: dir + "/journal.db"))
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await engine.journal.run(outcome.runID).state
        #expect(s["oks"] == [false, false, false], "\(s)")
        let errors = (s["errors"].arrayValue ?? []).compactMap(\.stringValue)
        try #require(errors.count == 3, "\(s)")
        let cause = "the connection closed before the whole answer arrived"
        #expect(errors[0].contains("catalog: Keystone at \(base)/v3") && errors[0].contains(cause), "\(errors[0])")
        #expect(errors[1].contains("broker: RabbitMQ management API at \(base)") && errors[1].contains(cause), "\(errors[1])")
        #expect(errors[2].contains("vip dropped: HAProxy at \(server.socket) gave an answer cut short"), "\(errors[2])")
        #expect(errors.allSatisfy { $0.contains("runbook.lua:") }, "\(errors)")
        // Failing, not waiting out a deadline. Each call would wait 30 s for a missing answer
        // (http's default timeout for Keystone and RabbitMQ, the runtime API's 30 s for
        // HAProxy), so each is bounded below that, and the three together by a wide 60 s.
        let calls = (s["call_seconds"].arrayValue ?? []).map { $0.doubleValue ?? 999 }
        #expect(calls.count == 3 && calls.allSatisfy { $0 < 30 }, "\(s)")
        #expect((s["seconds"].doubleValue ?? 999) < 60, "\(s)")
    }
}
