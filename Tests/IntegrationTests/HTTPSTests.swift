import FerryCore
import Foundation
import FerryTestSupport
import Testing

/// `http.request` over TLS against a real HTTPS server on loopback (Python's ssl module) whose
/// certificate is signed by a CA made for the test: untrusted by default, trusted through
/// `ca_file`, and accepted with `insecure = true`, which is logged loudly.
@Suite(.serialized) struct HTTPSTests {
    /// A CA, a server certificate for 127.0.0.1 signed by it, and a server answering on a free port.
    struct Server {
        let directory: String
        let pid: String
        let port: Int

        init() async throws {
            directory = try TestEnvironment.directory()
            let server = """
                import http.server, os, ssl
                os.closerange(3, 65536)  # let the test's output pipe close: the server must not hold it
                class H(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        body = b'{"ok": true}'
                        self.send_response(200); self.send_header('Content-Type', 'application/json')
                        self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
                    def log_message(self, *a): pass
                s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
                c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('server.pem', 'server.key')
                s.socket = c.wrap_socket(s.socket, server_side=True)
                open('port.tmp', 'w').write(str(s.server_address[1])); os.rename('port.tmp', 'port')
                s.serve_forever()
                """
            try server.write(toFile: directory + "/server.py", atomically: true, encoding: .utf8)
            (pid, port) = try await startPythonServer(in: directory, setup: """
                openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=Ferry Test CA' 2>/dev/null
                openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1' 2>/dev/null
                printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
                openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null
                """, what: "the HTTPS test server")
        }

        func stop() { _ = try? shellOutput("kill -9 \(pid)") }
    }

    @Test func untrustedCertificateFailsAtOnceCAFileAndInsecureSucceed() async throws {
        let server = try await Server()
        defer { server.stop() }
        let url = "https://127.0.0.1:\(server.port)/health"
        let directory = try TestEnvironment.directory()
        try """
            runbook { name = "https" }
            step "tls" { run = function(ctx)
              local t0 = os.time()
              local ok, err = pcall(http.request, { url = "\(url)", timeout = "\(Wait.hangGuardSeconds)s" })
              ctx.state.untrusted_ok = ok
              ctx.state.untrusted_error = tostring(err)
              ctx.state.untrusted_seconds = os.time() - t0
              local r = http.request { url = "\(url)", ca_file = "\(server.directory)/ca.pem" }
              ctx.state.ca_status = r.status
              ctx.state.ca_json_ok = r.json.ok
              local missing_ok, missing_err = pcall(http.request, { url = "\(url)", ca_file = "\(server.directory)/nope.pem" })
              ctx.state.missing_error = tostring(missing_err)
              local i = http.request { url = "\(url)", insecure = true }
              ctx.state.insecure_status = i.status
            end }
            """.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        try "region: https\ninventory: { groups: { one: [one] } }\nssh: { transport: local }\n".write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        let engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua"),
                            region: try RegionLoader.load(path: directory + "/region.yaml"),
                            transport: LocalTransport(), journal: try RunJournal(path: directory + "/journal.db"))
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let s = try await engine.journal.run(outcome.runID).state
        #expect(s["untrusted_ok"] == false)
        let message = s["untrusted_error"].stringValue ?? ""
        #expect(message.contains("not trusted") && message.contains("127.0.0.1:\(server.port)"), "\(message)")
        // It fails on the handshake, not by waiting for the request's deadline (the hang guard,
        // 30 minutes). A genuine bound, kept wide (10 minutes) so a loaded machine cannot make
        // this flake, and far below that deadline.
        #expect((s["untrusted_seconds"].doubleValue ?? 9999) < 600, "\(s["untrusted_seconds"])")
        #expect(s["ca_status"] == 200)
        #expect(s["ca_json_ok"] == true)
        #expect((s["missing_error"].stringValue ?? "").contains("nope.pem does not exist"))
        #expect(s["insecure_status"] == 200)
        let logs = try await engine.journal.events(outcome.runID).filter { $0.kind == "log" }.map(\.message)
        #expect(logs.contains { $0.contains("INSECURE") && $0.contains(url) }, "\(logs)")
    }

    /// `insecure: true` in the region's keystone: and broker: sections is as loud as
    /// http.request's: one journaled warning per section per run, naming the target.
    @Test func insecureKeystoneAndBrokerSectionsAreLoud() async throws {
        let server = try await Server()
        defer { server.stop() }
        let base = "https://127.0.0.1:\(server.port)"
        let directory = try TestEnvironment.directory()
        try """
            runbook { name = "insecure-sections" }
            step "calls" { run = function(ctx)
              for i = 1, 3 do
                pcall(catalog.services)
                pcall(broker.overview)
              end
            end }
            """.write(toFile: directory + "/runbook.lua", atomically: true, encoding: .utf8)
        try """
            region: insecure
            inventory: { groups: { one: [one] } }
            ssh: { transport: local }
            keystone: { auth_url: \(base)/v3, username: admin, password: x, insecure: true }
            broker: { url: \(base), username: guest, password: x, insecure: true }
            """.write(toFile: directory + "/region.yaml", atomically: true, encoding: .utf8)
        let engine = Engine(runbook: try await RunbookLoader.load(path: directory + "/runbook.lua"),
                            region: try RegionLoader.load(path: directory + "/region.yaml"),
                            transport: LocalTransport(), journal: try RunJournal(path: directory + "/journal.db"))
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let warnings = try await engine.journal.events(outcome.runID).filter { $0.kind == "log" && $0.message.contains("INSECURE") }.map(\.message)
        #expect(warnings.filter { $0.contains("keystone at \(base)/v3") }.count == 1, "\(warnings)")
        #expect(warnings.filter { $0.contains("broker at \(base)") }.count == 1, "\(warnings)")
    }
}
