import FerryCore
import Foundation
import LuaBridge
import Testing

@Suite struct RegionTests {
    @Test func hostRangesExpandLikeAnsible() throws {
        #expect(try HostPattern.expand("cmp[001:003]") == ["cmp001", "cmp002", "cmp003"])
        #expect(try HostPattern.expand("n[1:10:4]") == ["n1", "n5", "n9"])
        #expect(try HostPattern.expand("web[a:c].example") == ["weba.example", "webb.example", "webc.example"])
        #expect(try HostPattern.expand("r[1:2]c[1:2]") == ["r1c1", "r1c2", "r2c1", "r2c2"])
        #expect(try HostPattern.expand("cmp[001:480]").count == 480)
        #expect(throws: FerryError.self) { try HostPattern.expand("cmp[3:1]") }
        #expect(throws: FerryError.self) { try HostPattern.expand("cmp[1:x]") }
    }

    @Test func regionFileReadsInventorySSHAndVars() throws {
        let text = """
            region: kr1
            inventory:
              groups:
                glance_old: [ctl1, ctl2]
                computes: "cmp[001:480]"
              hosts:
                ctl1: { address: 10.1.0.11, port: 2222, user: admin }
            ssh: { user: root, port: 22, parallel: 200, transport: local }
            databases:
              glance: { host: db-vip, password: { env: DB_PASSWORD } }
            vars: { answer: 42, name: "x" }
            """
        let region = try RegionLoader.parse(text, file: "kr1.yaml")
        #expect(region.name == "kr1")
        #expect(region.groups["computes"]?.count == 480)
        #expect(region.hosts["ctl1"]?.address == "10.1.0.11")
        #expect(region.hosts["ctl1"]?.port == 2222)
        #expect(region.hosts["ctl2"]?.address == "ctl2")
        #expect(region.ssh.parallel == 200)
        #expect(region.ssh.transport == .local)
        #expect(region.vars["answer"] == 42)
        #expect(SecretReference(region.databases["glance"]!["password"]) == .environment("DB_PASSWORD"))
        let sel = HostSelector(region: region)
        #expect(try sel.names("glance_old:&ctl2") == ["ctl2"])
        #expect(try sel.names("computes:&cmp00[1-3]") == ["cmp001", "cmp002", "cmp003"])
        // The filter Ferry wrote `group:glob` is Ansible's union now: refused, pointing to `:&`.
        #expect(throws: FerryError.self) { try sel.names("computes:cmp00[1-3]") }
        do { _ = try sel.names("computes:cmp00*") } catch let e as FerryError {
            #expect(e.message.contains("write 'computes:&cmp00*'"), "\(e.message)")
        }
        #expect(try sel.names("glance_old:ctl2") == ["ctl1", "ctl2"])
        #expect(try sel.names("ctl1,cmp[001:002]") == ["ctl1", "cmp001", "cmp002"])
    }

    @Test func regionMistakesNameTheLine() throws {
        let cases: [(String, String)] = [
            ("region: x\nssh:\n  transport: telnet\n", "x.yaml:3: ssh.transport: unknown transport 'telnet'"),
            ("region: x\ninventroy: {}\n", "x.yaml:2: unknown key 'inventroy' (did you mean 'inventory'?)"),
            ("region: x\ninventory:\n  groups:\n    c: \"cmp[5:1]\"\n", "x.yaml:4: inventory.groups.c: host range 'cmp[5:1]': start is after end"),
            ("ssh: {}\n", "missing 'region:'"),
            ("region: x\nvars:\n  pw: { env: 3, file: 4 }\n", ""),
        ]
        for (text, expected) in cases where !expected.isEmpty {
            do {
                _ = try RegionLoader.parse(text, file: "x.yaml")
                Issue.record("no error for \(text)")
            } catch let e as FerryError {
                #expect(e.message.contains(expected), "\(e.message)")
            }
        }
    }

    /// A host's package family: its own vars.family, else its groups' (inventory.families, the later group winning),
    /// else the region's vars.family, else rpm; Lua sees the result as host.family.
    @Test func packageFamilyIsPerHostWithGroupAndRegionDefaults() throws {
        let text = """
            region: kr1
            inventory:
              groups:
                nova_old: [ctl1, ctl2]
                computes: "cmp[001:003]"
                gpu: [cmp003]
              families: { computes: centos, gpu: ubuntu }
              hosts:
                cmp002: { vars: { family: deb } }
            vars: { family: ubuntu }
            """
        let region = try RegionLoader.parse(text, file: "kr1.yaml")
        #expect(region.hosts["ctl1"]?.family == .deb)       // the region's
        #expect(region.hosts["cmp001"]?.family == .rpm)     // its group's over the region's
        #expect(region.hosts["cmp002"]?.family == .deb)     // its own over its group's
        #expect(region.hosts["cmp003"]?.family == .deb)     // the later of its groups
        #expect(region.hosts["cmp001"]?.luaValue["family"] == "rpm")
        let plain = try RegionLoader.parse("region: x\ninventory:\n  groups:\n    g: [h1]\n", file: "x.yaml")
        #expect(plain.hosts["h1"]?.family == .rpm && plain.hosts["h1"]?.luaValue["family"] == "rpm")
    }

    /// An unknown family is an error when the region loads, wherever it is written, naming the closest known one.
    @Test func anUnknownPackageFamilyIsAnErrorWithASuggestion() throws {
        let cases: [(String, String)] = [
            ("region: x\nvars:\n  family: ubunut\n", "x.yaml:3: vars.family: unknown package family 'ubunut' (did you mean 'ubuntu'?)"),
            ("region: x\ninventory:\n  groups: { c: [h1] }\n  families:\n    c: centso\n",
             "x.yaml:5: inventory.families.c: group c: unknown package family 'centso' (did you mean 'centos'?)"),
            ("region: x\ninventory:\n  hosts:\n    h1: { vars: { family: dbe } }\n",
             "host 'h1': unknown package family 'dbe' (did you mean 'deb'?)"),
            ("region: x\ninventory:\n  groups: { computes: [h1] }\n  families: { compute: rpm }\n",
             "inventory.families: no group named 'compute' in the inventory (did you mean 'computes'?)"),
            ("region: x\nvars:\n  family: solaris\n", "unknown package family 'solaris'; known: rpm, deb, centos"),
        ]
        for (text, expected) in cases {
            do {
                _ = try RegionLoader.parse(text, file: "x.yaml")
                Issue.record("no error for \(text)")
            } catch let e as FerryError {
                #expect(e.message.contains(expected), "\(e.message)")
            }
        }
        // An Ansible inventory's family (a group var here) is checked the same way.
        let dir = NSTemporaryDirectory() + "ferry-family-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "[computes]\ncmp1\n\n[computes:vars]\nfamily=RedHat\n".write(toFile: dir + "/good.ini", atomically: true, encoding: .utf8)
        try "[computes]\ncmp1\n\n[computes:vars]\nfamily=redhta\n".write(toFile: dir + "/bad.ini", atomically: true, encoding: .utf8)
        let good = try RegionLoader.parse("region: x\ninventory:\n  ansible: \(dir)/good.ini\n  reader: builtin\nvars: { family: deb }\n",
                                          file: dir + "/x.yaml")
        #expect(good.hosts["cmp1"]?.family == .rpm)
        #expect(throws: FerryError.self) {
            _ = try RegionLoader.parse("region: x\ninventory:\n  ansible: \(dir)/bad.ini\n  reader: builtin\n", file: dir + "/x.yaml")
        }
        do {
            _ = try RegionLoader.parse("region: x\ninventory:\n  ansible: \(dir)/bad.ini\n  reader: builtin\n", file: dir + "/x.yaml")
        } catch let e as FerryError {
            #expect(e.message.contains("host 'cmp1': vars.family: unknown package family 'redhta' (did you mean 'redhat'?)"), "\(e.message)")
        }
    }

    @Test func sshKeepalivesDefaultToFifteenSecondsAndThreeAndAreChecked() throws {
        let defaults = try RegionLoader.parse("region: x\n", file: "x.yaml")
        #expect(defaults.ssh.keepaliveInterval == 15 && defaults.ssh.keepaliveCount == 3)
        #expect(defaults.ssh.inactivityLimit == 60)
        let set = try RegionLoader.parse("region: x\nssh: { keepalive_interval: 2s, keepalive_count: 1 }\n", file: "x.yaml")
        #expect(set.ssh.keepaliveInterval == 2 && set.ssh.keepaliveCount == 1 && set.ssh.inactivityLimit == 4)
        let cases: [(String, String)] = [
            ("region: x\nssh:\n  keepalive_interval: 0s\n", "x.yaml:3: ssh.keepalive_interval: must be a duration above zero"),
            ("region: x\nssh:\n  keepalive_interval: soon\n", "x.yaml:3: ssh.keepalive_interval: must be a duration above zero"),
            ("region: x\nssh:\n  keepalive_count: 0\n", "x.yaml:3: ssh.keepalive_count: must be at least 1"),
        ]
        for (text, expected) in cases {
            #expect(throws: FerryError.self) { _ = try RegionLoader.parse(text, file: "x.yaml") }
            do { _ = try RegionLoader.parse(text, file: "x.yaml") } catch let e as FerryError {
                #expect(e.message.contains(expected), "\(e.message)")
            }
        }
    }

    @Test func ansibleINIInventoryWithChildrenRangesAndVars() throws {
        let dir = NSTemporaryDirectory() + "ferry-ansible-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            # an operator's inventory
            bastion ansible_host=192.0.2.1

            [controllers]
            ctl[1:2] ansible_user=stack
            ctl3 ansible_host=192.0.2.13 ansible_port=2200 role="primary db"

            [computes]
            cmp[01:04]

            [openstack:children]
            controllers
            computes

            [openstack:vars]
            release=kilo
            ntp=pool

            [computes:vars]
            ntp=local ; comment

            [all:vars]
            dc=kr1
            """.write(toFile: dir + "/inventory.ini", atomically: true, encoding: .utf8)
        // Ansible itself keeps ` ; comment` in a [group:vars] value (only comment lines and a host
        // line's `#` are comments in lib/ansible/plugins/inventory/ini.py @ v2.14.18); the built-in
        // reader strips it. Everything else reads the same through both.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/ansible-inventory") {
            try "region: kr1\ninventory:\n  ansible: ./inventory.ini\n  reader: ansible\n"
                .write(toFile: dir + "/ansible.yaml", atomically: true, encoding: .utf8)
            let viaAnsible = try RegionLoader.load(path: dir + "/ansible.yaml")
            #expect(viaAnsible.hosts["cmp02"]?.vars["ntp"] == "local ; comment")
            #expect(viaAnsible.hosts["ctl3"]?.port == 2200 && viaAnsible.hosts["ctl3"]?.vars["role"] == "primary db")
            #expect(viaAnsible.hosts["ctl2"]?.vars["release"] == "kilo" && viaAnsible.hosts["bastion"]?.vars["dc"] == "kr1")
            #expect(viaAnsible.groups["openstack"]?.count == 7)
        }
        try "region: kr1\ninventory:\n  ansible: ./inventory.ini\n  reader: builtin\n  groups:\n    glance_old: [ctl1]\n"
            .write(toFile: dir + "/region.yaml", atomically: true, encoding: .utf8)
        let region = try RegionLoader.load(path: dir + "/region.yaml")
        #expect(region.groups["openstack"]?.count == 7)
        #expect(region.groups["computes"] == ["cmp01", "cmp02", "cmp03", "cmp04"])
        #expect(region.hosts["ctl3"]?.address == "192.0.2.13")
        #expect(region.hosts["ctl3"]?.port == 2200)
        #expect(region.hosts["ctl3"]?.vars["role"] == "primary db")
        #expect(region.hosts["ctl1"]?.user == "stack")
        #expect(region.hosts["cmp02"]?.vars["ntp"] == "local")
        #expect(region.hosts["ctl2"]?.vars["ntp"] == "pool")
        #expect(region.hosts["ctl2"]?.vars["release"] == "kilo")
        #expect(region.hosts["bastion"]?.vars["dc"] == "kr1")
        #expect(region.groups["glance_old"] == ["ctl1"])
        #expect(region.hosts["ctl1"]?.groups.contains("openstack") == true)
    }

    @Test func ansibleYAMLInventory() throws {
        let dir = NSTemporaryDirectory() + "ferry-ansible-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            all:
              vars: { dc: kr1 }
              children:
                openstack:
                  vars: { release: kilo }
                  children:
                    controllers:
                      hosts:
                        ctl1: { ansible_host: 192.0.2.11, ansible_port: 2201 }
                    computes:
                      hosts:
                        cmp[01:03]:
                      vars: { release: liberty }
            """.write(toFile: dir + "/hosts.yml", atomically: true, encoding: .utf8)
        try "region: kr1\ninventory: { ansible: hosts.yml }\n".write(toFile: dir + "/r.yaml", atomically: true, encoding: .utf8)
        let region = try RegionLoader.load(path: dir + "/r.yaml")
        #expect(region.groups["openstack"]?.sorted() == ["cmp01", "cmp02", "cmp03", "ctl1"])
        #expect(region.hosts["ctl1"]?.address == "192.0.2.11")
        #expect(region.hosts["ctl1"]?.port == 2201)
        #expect(region.hosts["cmp02"]?.vars["release"] == "liberty")
        #expect(region.hosts["ctl1"]?.vars["release"] == "kilo")
        #expect(region.hosts["ctl1"]?.vars["dc"] == "kr1")
    }

    @Test func durationsParse() {
        #expect(DurationText.seconds("500ms") == 0.5)
        #expect(DurationText.seconds("30s") == 30)
        #expect(DurationText.seconds("5m") == 300)
        #expect(DurationText.seconds("2h") == 7200)
        #expect(DurationText.seconds("1h30m") == 5400)
        #expect(DurationText.seconds("soon") == nil)
        #expect(DurationText.seconds("5") == 5)
    }

    @Test func iniEditsKeepCommentsOrderAndRepeatedKeys() {
        var doc = IniDocument("""
            # nova.conf
            [DEFAULT]
            debug = false
            transport_url = rabbit://old
            # a comment that stays

            [database]
            connection = mysql://x
            [filter]
            enabled = a
            enabled = b

            """)
        #expect(doc.values("filter", "enabled") == ["a", "b"])
        #expect(doc.set("DEFAULT", "transport_url", "rabbit://new") == "rabbit://old")
        doc.set("database", "max_pool_size", "10")
        doc.set("oslo_messaging_notifications", "driver", "messagingv2")
        #expect(doc.text == """
            # nova.conf
            [DEFAULT]
            debug = false
            transport_url = rabbit://new
            # a comment that stays

            [database]
            connection = mysql://x
            max_pool_size = 10
            [filter]
            enabled = a
            enabled = b

            [oslo_messaging_notifications]
            driver = messagingv2

            """)
    }

    /// oslo.config refuses keys outside a section: a DEFAULT key written to a new file, or
    /// to one without a [DEFAULT] header, gets the header; headerless keys stay as they are.
    @Test func defaultKeysGetTheirHeader() {
        var empty = IniDocument("")
        empty.set("DEFAULT", "transport_url", "rabbit://new")
        #expect(empty.text == "[DEFAULT]\ntransport_url = rabbit://new\n")
        #expect(IniDocument(empty.text).get("DEFAULT", "transport_url") == "rabbit://new")

        var sections = IniDocument("[database]\nconnection = mysql://x\n")
        sections.set("DEFAULT", "debug", "true")
        #expect(sections.text == "[DEFAULT]\ndebug = true\n\n[database]\nconnection = mysql://x\n")

        var headerless = IniDocument("debug = false\n[database]\nconnection = mysql://x\n")
        headerless.set("DEFAULT", "verbose", "true")
        #expect(headerless.text == "debug = false\nverbose = true\n[database]\nconnection = mysql://x\n")
    }
}

/// What a VIP's settings are checked for before anything is switched.
@Suite struct VIPSettingsTests {
    static func region(_ vip: String) throws -> Region {
        try RegionLoader.parse("""
            region: vips
            inventory: { groups: { lb: [lb1, lb2] } }
            ssh: { transport: local }
            vips:
              \(vip)
            """, file: "vips.yaml")
    }

    @Test func keepalivedSettleTakesDurationsAndNumbersAndRefusesTheRest() throws {
        let balancers = "balancers: { lb1: {}, lb2: {} }"
        for good in ["settle: 20s", "settle: 45", "settle: 2m"] {
            let r = try Self.region("api: { driver: keepalived, address: 10.0.0.5/24, \(good), \(balancers) }")
            #expect(throws: Never.self) { _ = try VIPDirectory(region: r, transport: LocalTransport()).driver("api") }
        }
        let bad = try Self.region("api: { driver: keepalived, address: 10.0.0.5/24, settle: soon, \(balancers) }")
        #expect { _ = try VIPDirectory(region: bad, transport: LocalTransport()).driver("api") } throws: {
            "\($0)".contains("settle: 'soon' is not a duration")
        }
        let unknown = try Self.region("api: { driver: f5 }")
        #expect { _ = try VIPDirectory(region: unknown, transport: LocalTransport()).driver("api") } throws: {
            "\($0)".contains("unknown driver 'f5' (haproxy, keepalived, command)")
        }
    }
}

/// Drivers are chosen by name from one registry per kind.
@Suite struct DriverRegistryTests {
    @Test func transportNamesComeFromTheRegistry() throws {
        #expect(Transports.known == ["nio", "openssh", "local"])
        for name in Transports.known {
            let region = try RegionLoader.parse("region: r\nssh: { transport: \(name) }\n", file: "r.yaml")
            #expect(region.ssh.transport.rawValue == name)
        }
        #expect(throws: FerryError.self) { try RegionLoader.parse("region: r\nssh: { transport: telnet }\n", file: "r.yaml") }
        do {
            _ = try RegionLoader.parse("region: r\nssh: { transport: telnet }\n", file: "r.yaml")
        } catch {
            #expect("\(error)".contains("unknown transport 'telnet' (one of: nio, openssh, local)"), "\(error)")
        }
        let local = try RegionLoader.parse("region: r\nssh: { transport: local }\n", file: "r.yaml")
        #expect(try Transports.make(for: local, keyDirectory: NSTemporaryDirectory()) is LocalTransport)
    }

    @Test func vipDriverNamesComeFromTheRegistry() {
        #expect(VIPDrivers.known == ["haproxy", "keepalived", "command"])
        #expect(VIPDrivers.defaultKind == "haproxy")
        #expect(VIPDrivers.make("f5") == nil)
    }
}
