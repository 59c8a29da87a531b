import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// Region files (and the Ansible inventories they read) are input like any other:
/// addresses and users reach ssh's command line, host names reach file names, and
/// the YAML itself reaches the parser.
@Suite struct HostileRegionTests {
    func directory() throws -> String {
        let dir = NSTemporaryDirectory() + "ferry-hostile-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The error loading `region` gives (nil: it loaded), with `files` beside it.
    func loadError(_ region: String, files: [String: String] = [:]) throws -> String? {
        let dir = try directory()
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        try region.write(toFile: dir + "/hostile.yaml", atomically: true, encoding: .utf8)
        do {
            _ = try RegionLoader.load(path: dir + "/hostile.yaml")
            return nil
        } catch let e as FerryError {
            return e.message
        }
    }

    static let proxyCommand = "-oProxyCommand=sh -c 'id > /tmp/x'"

    // MARK: Addresses and users (item: they become ssh options)

    @Test func hostileAddressesAndUsersAreRefusedNamingFileAndHost() throws {
        // (region text, inventory.ini, what the error must say)
        let cases: [(String, String?, [String])] = [
            ("inventory:\n  hosts:\n    evil: { address: \"\(Self.proxyCommand)\" }\n", nil,
             ["hostile.yaml:4:", "'evil'", "starts with '-'"]),
            ("inventory:\n  hosts:\n    evil: { address: \"a b\" }\n", nil, ["hostile.yaml:4:", "'evil'", "not a hostname or an IP address"]),
            ("inventory:\n  hosts:\n    evil: { address: \"db1;id\" }\n", nil, ["hostile.yaml:4:", "'evil'", "not a hostname"]),
            ("inventory:\n  hosts:\n    evil: { address: \"$(id)\" }\n", nil, ["'evil'", "not a hostname"]),
            ("inventory:\n  hosts:\n    evil: { address: \"db1\\nProxyCommand x\" }\n", nil, ["'evil'", "not a hostname"]),
            ("inventory:\n  hosts:\n    evil: { address: \"db1%eth0\" }\n", nil, ["'evil'", "not a hostname"]),
            ("inventory:\n  hosts:\n    evil: { user: \"\(Self.proxyCommand)\" }\n", nil, ["hostile.yaml:4:", "'evil'", "user", "starts with '-'"]),
            ("inventory:\n  hosts:\n    evil: { user: \"root;id\" }\n", nil, ["hostile.yaml:4:", "'evil'", "not a POSIX user name"]),
            ("inventory:\n  hosts:\n    ok1: {}\nssh: { user: \"-oProxyCommand=x\" }\n", nil, ["hostile.yaml:5:", "ssh.user", "starts with '-'"]),
            ("inventory:\n  groups: { g: [ok1] }\nssh:\n  groups:\n    g: { user: \"a b\" }\n", nil,
             ["hostile.yaml:6:", "ssh.groups.g.user", "not a POSIX user name"]),
            // A host without an address is reached by its name.
            ("inventory:\n  groups:\n    g: [\"-oProxyCommand=id\"]\n", nil, ["hostile.yaml", "'-oProxyCommand=id'", "starts with '-'", "reached by its name"]),
            ("inventory:\n  ansible: inventory.ini\n", "[web]\nevil ansible_host=\"\(Self.proxyCommand)\"\n",
             ["inventory.ini", "'evil'", "ansible_host", "starts with '-'"]),
            ("inventory:\n  ansible: inventory.ini\n", "[web]\nevil\n[web:vars]\nansible_user=-oProxyCommand=x\n",
             ["inventory.ini", "'evil'", "ansible_user", "starts with '-'"]),
            ("inventory:\n  ansible: inventory.yaml\n", nil, ["inventory.yaml", "'evil'", "ansible_host"]),
        ]
        for (i, (body, ini, expected)) in cases.enumerated() {
            var files: [String: String] = ["inventory.yaml": "all:\n  hosts:\n    evil: { ansible_host: \"-oProxyCommand=x\" }\n"]
            if let ini { files["inventory.ini"] = ini }
            guard let message = try loadError("region: hostile\n" + body, files: files) else {
                Issue.record("case \(i) loaded: \(body)")
                continue
            }
            for e in expected { #expect(message.contains(e), "case \(i): missing \(e) in: \(message)") }
        }
    }

    @Test func ordinaryAddressesAndUsersLoad() throws {
        let message = try loadError("""
            region: fine
            inventory:
              hosts:
                a: { address: 10.1.0.11, user: root }
                b: { address: "2001:db8::10", user: svc_ferry }
                c: { address: "fe80::1%eth0", user: ferry-ops }
                d: { address: ctl1.kr1.example.com., user: deploy.user }
                e: { address: under_score-1, user: "machine$" }
                f: { address: "::1" }
                "cmp-[01:03]": {}
            ssh: { user: Admin2 }
            """)
        #expect(message == nil, "\(message ?? "")")
    }

    /// The transport itself puts `--` before the destination: a region built in code (never
    /// loaded, so never checked) cannot make ssh read an address as an option.
    @Test func openSSHNeverReadsAnAddressAsAnOption() async throws {
        let dir = try directory()
        let canary = dir + "/canary"
        var region = Region(name: "hostile")
        region.addHost(RegionHost(name: "evil", address: "-oProxyCommand=sh -c 'touch \(canary)'"))
        region.ssh.transport = .openssh
        region.ssh.connectTimeout = 5
        let transport = OpenSSHTransport(region: region, journalDirectory: dir)
        do {
            _ = try await transport.run(HostCommand("true"), on: region.hosts["evil"]!, output: OutputCapture())
        } catch {}
        try "x".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        do {
            try await transport.put(file: dir + "/file", to: "/tmp/file", mode: nil, on: region.hosts["evil"]!)
        } catch {}
        await transport.shutdown()
        #expect(!FileManager.default.fileExists(atPath: canary), "ssh ran the address as a ProxyCommand")
    }

    // MARK: Host names (item: a host name escapes the output directory)

    @Test func hostNamesWithSlashesOrControlCharactersAreRefused() throws {
        let cases: [(String, [String])] = [
            ("inventory:\n  hosts:\n    \"../../../../tmp/x\": { address: 10.0.0.1 }\n", ["hostile.yaml:4:", "contains '/'"]),
            ("inventory:\n  groups:\n    g: [\"a/b\"]\n", ["hostile.yaml:4:", "'a/b'", "contains '/'"]),
            ("inventory:\n  hosts:\n    \"evil\\u0000x\": { address: 10.0.0.1 }\n", ["contains a control character"]),
            ("inventory:\n  hosts:\n    \"evil\\ex\": { address: 10.0.0.1 }\n", ["contains a control character", "'evil\\u{1b}x'"]),
            ("inventory:\n  ansible: inventory.ini\n", ["inventory.ini", "contains a control character"]),
        ]
        for (i, (body, expected)) in cases.enumerated() {
            guard let message = try loadError("region: hostile\n" + body, files: ["inventory.ini": "[web]\nev\u{1B}il\n"]) else {
                Issue.record("case \(i) loaded: \(body)")
                continue
            }
            for e in expected { #expect(message.contains(e), "case \(i): missing \(e) in: \(message)") }
        }
    }

    /// Output files are named after the step and the host; a region built in code (never
    /// checked) with a host named `../../x`, and a step named `../../../x`, still write
    /// only inside the run's output directory.
    @Test func hostAndStepNamesStayInsideTheRunsOutputDirectory() async throws {
        let f = try Fixture(runbook: """
            runbook { name = "escape" }
            step "../../../escaped-step" { on = "evil", run = function(host, ctx) host:run("echo out; echo err >&2") end }
            """)
        var region = try f.region()
        let names = ["../../escaped-host", "..", "%2E%2E", "a\u{1B}b"]
        for name in names {
            region.addHost(RegionHost(name: name, address: "127.0.0.1"))
            region.addToGroup("evil", name)
        }
        let engine = Engine(runbook: try await f.load(), region: region, transport: LocalTransport(), journal: try f.journal())
        let outcome = try await engine.run(RunOptions())
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "")")
        let runDirectory = "runs/\(outcome.runID)/"
        let files = (FileManager.default.enumerator(atPath: f.directory)?.allObjects as? [String]) ?? []
        var outputs: [String] = []
        for path in files {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: f.directory + "/" + path, isDirectory: &isDirectory)
            if isDirectory.boolValue { continue }
            if path.hasPrefix(runDirectory) { outputs.append(path); continue }
            let known = path.hasPrefix("journal.db") || path == "region.yaml" || path.hasPrefix("rb/")
            #expect(known, "written outside the run's directory: \(path)")
        }
        // One .out and one .err per host, each in the step's own folder, none shared.
        #expect(outputs.count == names.count * 2, "\(outputs)")
        #expect(Set(outputs.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }).count == 1, "\(outputs)")
        for path in outputs where path.hasSuffix(".out") {
            let text = try String(contentsOfFile: f.directory + "/" + path, encoding: .utf8)
            #expect(text.hasSuffix("out\n"), "\(path): \(text)")
        }
    }

    // MARK: YAML aliases (item: billion laughs)

    static func billionLaughs(levels: Int) -> String {
        var text = "region: laughs\nvars:\n  l0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
        for i in 1...levels {
            let refs = Array(repeating: "*l\(i - 1)", count: 9).joined(separator: ", ")
            text += "  l\(i): &l\(i) [\(refs)]\n"
        }
        return text
    }

    /// Nine levels would be 9^9 (387 million) values if the aliases were expanded; the
    /// time limit only turns a regression into a failure instead of a hang.
    @Test(.timeLimit(.minutes(Wait.hangGuardMinutes))) func yamlAliasesAreRefusedBeforeTheyExpand() throws {
        let message = try loadError(Self.billionLaughs(levels: 9))
        #expect(message?.contains("hostile.yaml:4: YAML aliases are not supported (*l0)") == true, "\(message ?? "loaded")")
        // In an Ansible inventory too, and one alias is enough.
        // (The built-in reader's check: through ansible-inventory, Ansible's YAML loader reads it.)
        let ansible = try loadError("region: r\ninventory: { ansible: inventory.yaml, reader: builtin }\n", files: [
            "inventory.yaml": "all:\n  vars: &v { a: 1 }\n  children:\n    web:\n      vars: *v\n",
        ])
        #expect(ansible?.contains("inventory.yaml:5: YAML aliases are not supported (*v)") == true, "\(ansible ?? "loaded")")
        let deep = try loadError("region: r\nvars:\n  x: " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "\n")
        #expect(deep?.contains("nested more than 64 levels deep") == true, "\(deep ?? "loaded")")
    }

    // MARK: Size (item: loading a region is quadratic)

    /// Correctness at 100,000 hosts (the time is measured by scripts/bench/region-load).
    @Test func aRegionOfAHundredThousandHostsLoadsWithEveryMembership() throws {
        let n = 100_000
        var text = "region: big\ninventory:\n  groups:\n    computes: \"cmp[000001:\(n)]\"\n    first: \"cmp[000001:000010]\"\n  hosts:\n"
        for i in stride(from: 1, through: n, by: 1) {
            let name = String(format: "cmp%06d", i)
            text += "    \(name): { address: 10.\(i / 65536).\(i / 256 % 256).\(i % 256), groups: [rack\(i % 40), computes] }\n"
        }
        let dir = try directory()
        try text.write(toFile: dir + "/big.yaml", atomically: true, encoding: .utf8)
        let region = try RegionLoader.load(path: dir + "/big.yaml")
        #expect(region.hostOrder.count == n)
        #expect(region.groups["computes"]?.count == n)
        #expect(region.groups["rack7"]?.count == n / 40)
        #expect(region.hosts["cmp000007"]?.groups == ["rack7", "computes", "first"])
        #expect(region.hosts["cmp054321"]?.address == "10.0.212.49")
        let selector = HostSelector(region: region)
        #expect(try selector.names("rack3").count == n / 40)
        #expect(try selector.names("computes:&cmp00000?").count == 9)
        // A comma list of 20,000 names: the union keeps one set across its terms (linear).
        let many = (1...20000).map { "cmp" + String(repeating: "0", count: 6 - String($0).count) + String($0) }
        #expect(try selector.names(many.joined(separator: ",")) == many)
        #expect(try selector.names("computes:!rack1:!rack2").count == n - 2 * n / 40)
        #expect(try selector.hosts(["first", "rack1", "cmp000001"]).count == 10 + n / 40 - 1)
    }
}
