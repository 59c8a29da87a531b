import FerryCore
import FerryTestSupport
import Foundation
import LuaBridge
import Testing

/// `{ file: PATH, key: NAME }`: one key of kolla's passwords.yml, OSA's user_secrets.yml,
/// an INI file or an openrc, encrypted with the real `ansible-vault` (ansible-core, which
/// scripts/setup --test installs) as a whole file, value by value, and with a vault id.
@Suite struct SecretFileTests {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    func resolve(_ lua: [String: LuaValue]) throws -> String {
        let ref = try #require(SecretReference(.map(lua)), "not a reference: \(lua)")
        return try ref.resolve(relativeTo: dir)
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    /// `ansible-vault` on PATH (Debian's ansible-core), run through the shell.
    func vault(_ args: String) throws -> String {
        try shellOutput("cd '\(dir)' && ansible-vault \(args) 2>/dev/null")
    }

    static let passwords = """
        ---
        database_password: hunter2-db
        nova_database_password: "n0va #pass: 'quoted'"
        keystone_admin_password: 'k$ one'
        rabbitmq_password: 5
        nested:
          inner:
            token: deep-value
        """

    @Test func aKeyOfAKollaPasswordsFile() throws {
        _ = try write("passwords.yml", Self.passwords)
        #expect(try resolve(["file": "passwords.yml", "key": "nova_database_password"]) == "n0va #pass: 'quoted'")
        #expect(try resolve(["file": "passwords.yml", "key": "keystone_admin_password"]) == "k$ one")
        #expect(try resolve(["file": "passwords.yml", "key": "rabbitmq_password"]) == "5")
        #expect(try resolve(["file": "passwords.yml", "key": "nested.inner.token"]) == "deep-value")
        let typo = message { _ = try resolve(["file": "passwords.yml", "key": "nova_database_pasword"]) }
        #expect(typo.contains("no key nova_database_pasword in \(dir)/passwords.yml (did you mean nova_database_password?)"), "\(typo)")
        let whole = message { _ = try resolve(["file": "passwords.yml", "key": "nested"]) }
        #expect(whole.contains("is not a single value (a mapping)"), "\(whole)")
        // No value of the file is ever in a message.
        for m in [typo, whole] { #expect(!m.contains("hunter2") && !m.contains("n0va") && !m.contains("deep-value")) }
    }

    @Test func aWholeFileVaultIsOpenedWithItsPasswordFile() throws {
        let pass = try write("vault-pass", "correct horse\n")
        _ = try write("passwords.yml", Self.passwords)
        _ = try vault("encrypt --vault-password-file '\(pass)' passwords.yml")
        let raw = try String(contentsOfFile: dir + "/passwords.yml", encoding: .utf8)
        try #require(raw.hasPrefix("$ANSIBLE_VAULT;1.1;AES256"), "ansible-vault did not encrypt: \(raw.prefix(40))")
        #expect(try resolve(["file": "passwords.yml", "key": "database_password", "vault_password_file": "vault-pass"]) == "hunter2-db")

        let none = message { _ = try resolve(["file": "passwords.yml", "key": "database_password"]) }
        #expect(none.contains("is encrypted with ansible-vault: name its password file with vault_password_file"), "\(none)")
        _ = try write("wrong-pass", "battery staple\n")
        let wrong = message { _ = try resolve(["file": "passwords.yml", "key": "database_password", "vault_password_file": "wrong-pass"]) }
        #expect(wrong.contains("the vault password does not open it"), "\(wrong)")
        #expect(!wrong.contains("hunter2") && !none.contains("hunter2"))
    }

    @Test func aVaultEncryptedPasswordFileWithoutKey() throws {
        let pass = try write("vault-pass", "pw")
        _ = try write("db.pass", "s3cret-line\n")
        _ = try vault("encrypt --vault-password-file '\(pass)' db.pass")
        #expect(try resolve(["file": "db.pass", "vault_password_file": "vault-pass"]) == "s3cret-line")
    }

    @Test func inlineVaultValuesOfAnOSASecretsFile() throws {
        let pass = try write("vault-pass", "osa-vault")
        let encrypted = try vault("encrypt_string --vault-password-file '\(pass)' --name keystone_auth_admin_password 'adm1n pass'")
        try #require(encrypted.contains("!vault |"), "encrypt_string printed: \(encrypted)")
        let labelled = try vault("encrypt_string --vault-id 'prod@\(pass)' --name galera_root_password 'g@lera'")
        try #require(labelled.contains("$ANSIBLE_VAULT;1.2;AES256;prod"), "\(labelled)")
        _ = try write("user_secrets.yml", "---\nplain_one: p1\n" + encrypted + "\n" + labelled + "\n")
        #expect(try resolve(["file": "user_secrets.yml", "key": "keystone_auth_admin_password", "vault_password_file": "vault-pass"]) == "adm1n pass")
        #expect(try resolve(["file": "user_secrets.yml", "key": "galera_root_password", "vault_password_file": "vault-pass"]) == "g@lera")
        // A plain value beside vaulted ones needs no password.
        #expect(try resolve(["file": "user_secrets.yml", "key": "plain_one"]) == "p1")
    }

    @Test func anExecutablePasswordFileIsRunAndAnEnvironmentVariableNamesIt() throws {
        let script = try write("vault-client", "#!/bin/sh\necho 'from-script'\n", mode: 0o700)
        let plain = try write("vault-plain", "from-script")
        _ = try write("s.yml", "k: v\n")
        _ = try vault("encrypt --vault-password-file '\(plain)' s.yml")
        #expect(try resolve(["file": "s.yml", "key": "k", "vault_password_file": .string(script)]) == "v")
        let failing = try write("vault-fail", "#!/bin/sh\nexit 3\n", mode: 0o700)
        let m = message { _ = try resolve(["file": "s.yml", "key": "k", "vault_password_file": .string(failing)]) }
        #expect(m.contains("the vault password script \(failing) exited 3"), "\(m)")
    }

    @Test func iniAndOpenrcFiles() throws {
        _ = try write("nova.conf", "[DEFAULT]\ntransport_url = rabbit://u:p@h\n[database]\nconnection = mysql+pymysql://nova:pw@db/nova\n")
        #expect(try resolve(["file": "nova.conf", "key": "database.connection"]) == "mysql+pymysql://nova:pw@db/nova")
        #expect(try resolve(["file": "nova.conf", "key": "transport_url"]) == "rabbit://u:p@h")
        let m = message { _ = try resolve(["file": "nova.conf", "key": "database.conection"]) }
        #expect(m.contains("no option conection in section [database]"), "\(m)")

        _ = try write("admin-openrc.sh", """
            # openrc
            export OS_USERNAME=admin
            export OS_PASSWORD='it''s "quoted" $x'
            export OS_AUTH_URL="http://ks:5000/v3" # comment
            OS_PROJECT_NAME=admin\\ project
            """)
        #expect(try resolve(["file": "admin-openrc.sh", "key": "OS_PASSWORD"]) == "its \"quoted\" $x")
        #expect(try resolve(["file": "admin-openrc.sh", "key": "OS_AUTH_URL"]) == "http://ks:5000/v3")
        #expect(try resolve(["file": "admin-openrc.sh", "key": "OS_PROJECT_NAME"]) == "admin project")
        let typo = message { _ = try resolve(["file": "admin-openrc.sh", "key": "OS_PASWORD"]) }
        #expect(typo.contains("did you mean OS_PASSWORD?"), "\(typo)")
    }

    @Test func theRegionLoaderHoldsReferencesToTheirShapes() throws {
        let ok = try RegionLoader.parse("""
            region: x
            databases:
              nova: { host: db, user: nova, database: nova, password: { file: /etc/kolla/passwords.yml, key: nova_database_password } }
            vars:
              v: { file: s.yml, key: k, vault_password_file: ~/.vault_pass }
              data: { file: /etc/motd, mode: "0644" }
            """, file: "x.yaml")
        #expect(ok.databases["nova"] != nil)
        #expect(SecretReference(ok.vars["v"] ?? .nil) == .file("s.yml", key: "k", vaultPasswordFile: "~/.vault_pass"))
        #expect(SecretReference(ok.vars["data"] ?? .nil) == nil)   // a mapping that is data, not a reference

        let typo = message {
            _ = try RegionLoader.parse("region: x\nvars:\n  v: { file: s.yml, kye: k }\n", file: "x.yaml")
        }
        #expect(typo.contains("x.yaml:3"), "\(typo)")
        #expect(typo.contains("unknown key kye (did you mean key?)"), "\(typo)")
        let empty = message { _ = try RegionLoader.parse("region: x\nvars:\n  v: { file: s.yml, key: \"\" }\n", file: "x.yaml") }
        #expect(empty.contains("a secret reference is"), "\(empty)")
    }

    /// A runbook's `secret()` may not make Ferry run a program: an executable
    /// `vault_password_file` runs only where the region file names it.
    @Test func aRunbookCannotRunAVaultPasswordProgramTheRegionDoesNotName() async throws {
        let canary = dir + "/ran"
        let script = try write("client", "#!/bin/sh\ntouch '\(canary)'\necho pw\n", mode: 0o700)
        _ = try write("s.yml", "k: v\n")
        let plain = try write("plain-pass", "pw")
        _ = try vault("encrypt --vault-password-file '\(plain)' s.yml")
        let runbook = """
            runbook { name = "vault-program" }
            step "read" { on = "ctl1", run = function(host, ctx)
              ctx.state.got = secret { file = "\(dir)/s.yml", key = "k", vault_password_file = "\(script)" }
            end }
            """
        let refused = try Fixture(runbook: runbook)
        let outcome = try await refused.engine().run(RunOptions())
        #expect(outcome.status == .failed)
        // The run's message is cut short; the whole is the step's error: check its start here,
        // and the sentence itself where resolve() is called directly, below.
        #expect((outcome.message ?? "").contains("the vault password file"), "\(outcome.message ?? "")")
        let direct = message {
            _ = try SecretReference.file(dir + "/s.yml", key: "k", vaultPasswordFile: script).resolve(programs: [])
        }
        #expect(direct.contains("is a program, and a runbook's secret() runs only the ones the region file"), "\(direct)")
        #expect(!FileManager.default.fileExists(atPath: canary), "the program ran")

        let named = try Fixture(runbook: runbook, region: """
            region: test
            inventory: { groups: { controllers: [ctl1] } }
            ssh: { transport: local }
            vars:
              vaulted: { file: \(dir)/s.yml, key: k, vault_password_file: \(script) }
            """)
        let ok = try await named.engine().run(RunOptions())
        #expect(ok.status == .succeeded, "\(ok.message ?? "")")
        #expect(FileManager.default.fileExists(atPath: canary))
    }
}
