import FerryCore
import Foundation
import LuaBridge
import Testing

/// Keystone credentials found the usual ways — a clouds.yaml cloud (with secure.yaml),
/// `OS_CLOUD`, `OS_*` variables, an openrc, an application credential — each used to
/// log in to the lab's real Keystone (scripts/testenv/up keystone) and list its services.
@Suite(.serialized) struct KeystoneCredentialsTests {
    struct Lab {
        let authURL: String       // with /v3
        let password: String
        let dir: String

        init() throws {
            let region = try TestEnvironment.region()
            guard let url = region.keystone["auth_url"].stringValue else {
                throw FerryError.failed("the lab has no keystone: run scripts/testenv/up keystone")
            }
            authURL = url
            password = try #require(try region.secretValue(region.keystone["password"]))
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-ks-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }

        /// The unversioned root, as clouds.yaml and openrc files usually give it.
        var root: String { authURL.hasSuffix("/v3") ? String(authURL.dropLast(3)) : authURL }

        func write(_ name: String, _ text: String) throws -> String {
            let path = dir + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func region(_ keystone: String) throws -> Region {
            let path = try write("region-\(UUID().uuidString).yaml", "region: lab\n" + keystone)
            return try RegionLoader.load(path: path)
        }
    }

    func services(_ credentials: KeystoneCredentials) async throws -> Set<String> {
        Set(try await KeystoneCatalog(credentials: credentials).services().map(\.type))
    }

    func message(_ body: () async throws -> Void) async -> String {
        do { try await body(); return "no error" } catch { return "\(error)" }
    }

    @Test func aCloudOfCloudsYamlWithItsPasswordInSecureYaml() async throws {
        let lab = try Lab()
        _ = try lab.write("clouds.yaml", """
            clouds:
              other: { auth: { auth_url: http://127.0.0.1:1/v3 } }
              lab:
                auth:
                  auth_url: \(lab.root)
                  username: admin
                  project_name: admin
                  user_domain_name: Default
                  project_domain_name: Default
                region_name: RegionOne
                identity_api_version: 3
            """)
        _ = try lab.write("secure.yaml", "clouds:\n  lab:\n    auth:\n      password: '\(lab.password)'\n")
        let region = try lab.region("keystone: { cloud: lab, clouds_file: \(lab.dir)/clouds.yaml }\n")
        let c = try KeystoneCredentials.resolve(region: region, environment: [:])
        #expect(c.authURL == lab.authURL)
        #expect(c.source.contains("cloud lab of \(lab.dir)/clouds.yaml"))
        #expect(try await services(c).contains("identity"))

        // OS_CLOUD with OS_CLIENT_CONFIG_FILE, for a region file with no keystone: section.
        let bare = try lab.region("")
        let env = ["OS_CLOUD": "lab", "OS_CLIENT_CONFIG_FILE": lab.dir + "/clouds.yaml", "OS_CLIENT_SECURE_FILE": lab.dir + "/secure.yaml"]
        #expect(try await services(try KeystoneCredentials.resolve(region: bare, environment: env)).contains("identity"))

        let missing = await message { _ = try KeystoneCredentials.resolve(region: try lab.region("keystone: { cloud: lba, clouds_file: \(lab.dir)/clouds.yaml }\n"), environment: [:]) }
        #expect(missing.contains("no cloud lba in \(lab.dir)/clouds.yaml (it has lab, other)"), "\(missing)")
    }

    @Test func osVariablesAndAnOpenrc() async throws {
        let lab = try Lab()
        let env = ["OS_AUTH_URL": lab.root, "OS_USERNAME": "admin", "OS_PASSWORD": lab.password, "OS_PROJECT_NAME": "admin",
                   "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3"]
        let bare = try lab.region("")
        let c = try KeystoneCredentials.resolve(region: bare, environment: env)
        #expect(c.source == "the OS_* variables of Ferry's environment")
        #expect(try await services(c).contains("identity"))

        let quoted = lab.password.replacingOccurrences(of: "'", with: "'\\''")
        _ = try lab.write("admin-openrc.sh", """
            # as Horizon writes it
            export OS_AUTH_URL=\(lab.root)
            export OS_USERNAME="admin"
            export OS_PASSWORD='\(quoted)'
            export OS_PROJECT_NAME=admin
            export OS_USER_DOMAIN_NAME=Default
            export OS_PROJECT_DOMAIN_NAME=Default
            """)
        let fromFile = try KeystoneCredentials.resolve(region: try lab.region("keystone: { openrc: admin-openrc.sh }\n"), environment: [:])
        #expect(try await services(fromFile).contains("identity"))

        // The section's own keys win over the openrc's: a wrong password is rejected.
        _ = try lab.write("wrong.pass", "not-the-password")
        let wrong = try KeystoneCredentials.resolve(
            region: try lab.region("keystone: { openrc: admin-openrc.sh, password: { file: wrong.pass } }\n"), environment: [:])
        let refused = await message { _ = try await services(wrong) }
        #expect(refused.contains("authentication as admin rejected"), "\(refused)")
        #expect(!refused.contains("not-the-password"))

        let none = await message { _ = try KeystoneCredentials.resolve(region: bare, environment: [:]) }
        #expect(none.contains("has no keystone: section, and neither OS_CLOUD nor OS_AUTH_URL is set"), "\(none)")
    }

    @Test func anApplicationCredentialByIdAndByName() async throws {
        let lab = try Lab()
        // Log in as admin and make an application credential for admin, as an operator would.
        let http = HTTPService.shared
        let login: LuaValue = ["auth": [
            "identity": ["methods": ["password"], "password": ["user": [
                "name": "admin", "domain": ["name": "Default"], "password": .string(lab.password)]]],
            "scope": ["project": ["name": "admin", "domain": ["name": "Default"]]]]]
        let token = try await http.request(method: "POST", url: lab.authURL + "/auth/tokens", headers: ["Content-Type": "application/json"],
                                           body: Data(login.jsonString().utf8), caFile: nil, insecure: false)
        try #require(token.status == 201, "\(token.body)")
        let subject = try #require(token.headers["x-subject-token"])
        let userID = try #require(token.json?["token"]["user"]["id"].stringValue)
        let name = "ferry-test-\(UInt32.random(in: 0..<UInt32.max))"
        let made = try await http.request(method: "POST", url: lab.authURL + "/users/\(userID)/application_credentials",
                                          headers: ["Content-Type": "application/json", "X-Auth-Token": subject],
                                          body: Data(#"{"application_credential": {"name": "\#(name)"}}"#.utf8), caFile: nil, insecure: false)
        try #require(made.status == 201, "\(made.body)")
        let id = try #require(made.json?["application_credential"]["id"].stringValue)
        let secret = try #require(made.json?["application_credential"]["secret"].stringValue)
        var failure: (any Error)?
        do { try await useIt(lab: lab, id: id, name: name, secret: secret) } catch { failure = error }
        _ = try? await http.request(method: "DELETE", url: lab.authURL + "/users/\(userID)/application_credentials/\(id)",
                                    headers: ["X-Auth-Token": subject], caFile: nil, insecure: false)
        if let failure { throw failure }
    }

    func useIt(lab: Lab, id: String, name: String, secret: String) async throws {
        _ = try lab.write("appcred.secret", secret + "\n")

        let byID = try KeystoneCredentials.resolve(region: try lab.region("""
            keystone: { auth_url: \(lab.authURL), application_credential_id: \(id), application_credential_secret: { file: appcred.secret } }
            """), environment: [:])
        #expect(byID.who == "application credential \(id)")
        #expect(try await services(byID).contains("identity"))

        let env = ["OS_AUTH_URL": lab.root, "OS_AUTH_TYPE": "v3applicationcredential", "OS_APPLICATION_CREDENTIAL_NAME": name,
                   "OS_USERNAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_APPLICATION_CREDENTIAL_SECRET": secret]
        let byName = try KeystoneCredentials.resolve(region: try lab.region(""), environment: env)
        #expect(try await services(byName).contains("identity"))

        var badEnv = env
        badEnv["OS_APPLICATION_CREDENTIAL_SECRET"] = "wrong-secret"
        let refused = await message { _ = try await services(try KeystoneCredentials.resolve(region: try lab.region(""), environment: badEnv)) }
        #expect(refused.contains("authentication as application credential \(name) rejected"), "\(refused)")
        #expect(!refused.contains("wrong-secret") && !refused.contains(secret))
    }
}
