import FerryCore
import Foundation
import LuaBridge
import Testing

/// `extends:` — a region file that overrides only what differs from another.
struct RegionExtendsTests {
    static func files(_ files: [String: String]) throws -> String {
        let dir = NSTemporaryDirectory() + "ferry-extends-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/base", withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func anOverlayChangesOnlyWhatItSays() throws {
        let dir = try Self.files([
            "base/kr1.yaml": """
                region: kr1
                inventory:
                  groups:
                    controllers: [ctl1, ctl2]
                    computes: "cmp[001:010]"
                ssh: { user: cloud, identity: keys/id_ed25519, parallel: 80 }
                databases:
                  nova: { host: db1, user: nova, password: { file: secrets/nova.pw } }
                vips:
                  nova: { driver: haproxy, socket: /run/haproxy.sock, backend: nova_api, url: http://nova.kr1:8774 }
                vars: { family: rpm, notify: ops@kr1 }
                keystone: { auth_url: https://keystone.kr1:5000/v3, ca_file: certs/ca.pem }
                broker: { url: https://rabbit.kr1:15671, ca_file: /etc/ssl/rabbit-ca.pem }
                """,
            "kr2.yaml": """
                region: kr2
                extends: base/kr1.yaml
                inventory:
                  groups:
                    computes: "cmp[001:004]"
                vips:
                  nova: { url: http://nova.kr2:8774 }
                vars: { notify: ops@kr2 }
                """,
        ])
        let r = try RegionLoader.load(path: dir + "/kr2.yaml")
        #expect(r.name == "kr2")
        #expect(r.groups["computes"]?.count == 4)
        #expect(r.groups["controllers"] == ["ctl1", "ctl2"])
        #expect(r.ssh.user == "cloud" && r.ssh.parallel == 80)
        // Relative paths of the base stay relative to the base file.
        #expect(r.ssh.identity == dir + "/base/keys/id_ed25519")
        #expect(r.databases["nova"]?["password"]["file"] == .string(dir + "/base/secrets/nova.pw"))
        #expect(r.keystone["ca_file"] == .string(dir + "/base/certs/ca.pem"))
        #expect(r.broker["ca_file"] == "/etc/ssl/rabbit-ca.pem")
        // Mappings merge key by key.
        #expect(r.vips["nova"]?["url"] == "http://nova.kr2:8774")
        #expect(r.vips["nova"]?["backend"] == "nova_api")
        #expect(r.vars["notify"] == "ops@kr2" && r.vars["family"] == "rpm")
    }

    @Test func mistakesNameTheFileTheyAreIn() throws {
        let dir = try Self.files([
            "base/kr1.yaml": "region: kr1\ninventory: { groups: { computes: [cmp1] } }\nssh: { usr: cloud }\n",
            "kr2.yaml": "region: kr2\nextends: base/kr1.yaml\nvars: { a: 1 }\n",
            "bad.yaml": "region: kr3\nextends: base/kr1.yaml\nssh: { user: x }\ndatabasse: {}\n",
            "missing.yaml": "region: kr4\nextends: nowhere.yaml\n",
            "loop.yaml": "region: loop\nextends: loop.yaml\n",
        ])
        #expect {
            try RegionLoader.load(path: dir + "/kr2.yaml")
        } throws: { "\($0)".contains("base/kr1.yaml:3: ssh: unknown key 'usr'") }
        #expect {
            try RegionLoader.load(path: dir + "/bad.yaml")
        } throws: { "\($0)".contains("bad.yaml:4") && "\($0)".contains("unknown key 'databasse'") }
        #expect {
            try RegionLoader.load(path: dir + "/missing.yaml")
        } throws: { "\($0)".contains("missing.yaml:2: extends: cannot read \(dir)/nowhere.yaml") }
        #expect {
            try RegionLoader.load(path: dir + "/loop.yaml")
        } throws: { "\($0)".contains("more than 8 files deep") }
    }
}
