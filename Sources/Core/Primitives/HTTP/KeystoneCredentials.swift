import Foundation
import LuaBridge
import Yams

/// How Ferry logs in to Keystone, found the ways OpenStack's own clients find it
/// (openstacksdk `openstack/config/loader.py`, keystoneauth's `OS_*` options):
///
/// 1. the region's `keystone:` section: its own keys, over a `cloud:` of clouds.yaml and
///    over an `openrc:` file's `OS_*` assignments (the section's keys win);
/// 2. with no `keystone:` section: `OS_CLOUD` (a clouds.yaml entry), else the `OS_*`
///    variables of Ferry's environment (an operator who sourced an openrc).
///
/// A password or an application credential (by id, or by name with its user).
public struct KeystoneCredentials: Sendable, Equatable {
    public enum Method: Sendable, Equatable {
        case password(username: String, password: String, userDomain: String, project: String, projectDomain: String)
        /// `id`, or `name` with the user (by name and domain) it belongs to.
        case applicationCredential(id: String?, name: String?, username: String?, userDomain: String, secret: String)
    }

    public var authURL: String
    public var method: Method
    public var region: String?
    public var caFile: String?
    public var insecure: Bool
    /// Where the settings came from, for messages: `keystone: section`, `cloud kr1 of ~/.config/openstack/clouds.yaml`, `OS_* variables`.
    public var source: String

    public var who: String {
        switch method {
        case .password(let user, _, _, _, _): return user
        case .applicationCredential(let id, let name, _, _, _): return "application credential \(id ?? name ?? "?")"
        }
    }

    /// The JSON body of `POST /v3/auth/tokens`.
    var authBody: LuaValue {
        switch method {
        case .password(let user, let password, let userDomain, let project, let projectDomain):
            return ["auth": [
                "identity": ["methods": ["password"], "password": ["user": [
                    "name": .string(user), "domain": ["name": .string(userDomain)], "password": .string(password),
                ]]],
                "scope": ["project": ["name": .string(project), "domain": ["name": .string(projectDomain)]]],
            ]]
        case .applicationCredential(let id, let name, let user, let userDomain, let secret):
            // An application credential carries its own scope: a request with `scope` is refused.
            var credential: [String: LuaValue] = ["secret": .string(secret)]
            if let id {
                credential["id"] = .string(id)
            } else {
                credential["name"] = .string(name ?? "")
                credential["user"] = ["name": .string(user ?? ""), "domain": ["name": .string(userDomain)]]
            }
            return ["auth": ["identity": ["methods": ["application_credential"], "application_credential": .map(credential)]]]
        }
    }

    // MARK: Finding them

    /// The keys a region's `keystone:` section may have.
    public static let sectionKeys = [
        "auth_url", "username", "password", "project", "user_domain", "project_domain", "region_name", "ca_file", "insecure",
        "cloud", "clouds_file", "openrc", "auth_type", "application_credential_id", "application_credential_name",
        "application_credential_secret",
    ]

    public static func resolve(region: Region, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KeystoneCredentials {
        let k = region.keystone
        var o = Options()
        var source: String
        if case .map(let m) = k, !m.isEmpty {
            source = "the region's keystone: section"
            if let openrc = k["openrc"].stringValue {
                let path = RegionPaths.expand(openrc, relativeTo: region.directory)
                o.merge(try Options(openrc: path), over: false)
                source += " (openrc \(path))"
            }
            if let cloud = k["cloud"].stringValue {
                let (options, file) = try Options.cloud(cloud, file: k["clouds_file"].stringValue.map { RegionPaths.expand($0, relativeTo: region.directory) },
                                                        environment: environment)
                o.merge(options, over: true)
                source += " (cloud \(cloud) of \(file))"
            }
            o.merge(try Options(section: k, region: region), over: true)
        } else if let cloud = environment["OS_CLOUD"], !cloud.isEmpty {
            let (options, file) = try Options.cloud(cloud, file: nil, environment: environment)
            o = options
            source = "OS_CLOUD=\(cloud) (\(file))"
        } else if environment["OS_AUTH_URL"] != nil {
            o = Options(environment: environment)
            source = "the OS_* variables of Ferry's environment"
        } else {
            throw HTTPFailure(description: "catalog: region \(region.name) has no keystone: section, and neither OS_CLOUD nor OS_AUTH_URL is set")
        }
        return try o.credentials(source: source)
    }

    /// The options of any source, by their clouds.yaml names, before they are checked.
    struct Options {
        var values: [String: String] = [:]

        init() {}

        /// `over`: the given values replace ones already here.
        mutating func merge(_ other: Options, over: Bool) {
            values.merge(other.values) { mine, theirs in over ? theirs : mine }
        }

        /// The region's section (secrets resolved now).
        init(section k: LuaValue, region: Region) throws {
            let names = [
                "auth_url": "auth_url", "username": "username", "project": "project_name", "user_domain": "user_domain_name",
                "project_domain": "project_domain_name", "region_name": "region_name", "auth_type": "auth_type",
                "application_credential_id": "application_credential_id", "application_credential_name": "application_credential_name",
            ]
            for (key, name) in names { if let v = k[key].stringValue { values[name] = v } }
            if let p = try region.secretValue(k["password"]) { values["password"] = p }
            if let s = try region.secretValue(k["application_credential_secret"]) { values["application_credential_secret"] = s }
            if let ca = k["ca_file"].stringValue { values["cacert"] = RegionPaths.expand(ca, relativeTo: region.directory) }
            if let insecure = k["insecure"].boolValue { values["insecure"] = insecure ? "true" : "false" }
        }

        /// `OS_*` variables: keystoneauth's names, upper-cased, `OS_` in front.
        init(environment: [String: String]) {
            let names = [
                "OS_AUTH_URL": "auth_url", "OS_USERNAME": "username", "OS_PASSWORD": "password", "OS_PROJECT_NAME": "project_name",
                "OS_TENANT_NAME": "project_name", "OS_USER_DOMAIN_NAME": "user_domain_name", "OS_PROJECT_DOMAIN_NAME": "project_domain_name",
                "OS_REGION_NAME": "region_name", "OS_AUTH_TYPE": "auth_type", "OS_CACERT": "cacert", "OS_INSECURE": "insecure",
                "OS_APPLICATION_CREDENTIAL_ID": "application_credential_id", "OS_APPLICATION_CREDENTIAL_NAME": "application_credential_name",
                "OS_APPLICATION_CREDENTIAL_SECRET": "application_credential_secret", "OS_IDENTITY_API_VERSION": "identity_api_version",
                "OS_DEFAULT_DOMAIN_NAME": "default_domain_name",
            ]
            // OS_PROJECT_NAME wins over the older OS_TENANT_NAME.
            for (env, name) in names.sorted(by: { $0.key > $1.key }) { if let v = environment[env], !v.isEmpty { values[name] = v } }
        }

        /// An openrc file's `OS_*` assignments.
        init(openrc path: String) throws {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw HTTPFailure(description: "catalog: cannot read the openrc file \(path)")
            }
            self.init(environment: SecretFile.shellAssignments(String(decoding: data, as: UTF8.self)))
        }

        /// A cloud of clouds.yaml, with secure.yaml's values for it laid over
        /// (openstacksdk: `OS_CLIENT_CONFIG_FILE`, else ./clouds.yaml,
        /// ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml, the first that
        /// exists; secure.yaml the same way with `OS_CLIENT_SECURE_FILE`).
        static func cloud(_ name: String, file: String?, environment: [String: String]) throws -> (Options, String) {
            func candidates(_ base: String, _ variable: String) -> [String] {
                if let f = environment[variable], !f.isEmpty { return [f] }
                let home = environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? RegionPaths.home
                return [FileManager.default.currentDirectoryPath + "/\(base).yaml", home + "/.config/openstack/\(base).yaml",
                        "/etc/openstack/\(base).yaml"]
            }
            let configs = file.map { [$0] } ?? candidates("clouds", "OS_CLIENT_CONFIG_FILE")
            guard let path = configs.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                throw HTTPFailure(description: "catalog: cloud \(name): no clouds.yaml (looked at \(configs.joined(separator: ", ")))")
            }
            var o = try Options(cloud: name, in: path, required: true)
            let secureCandidates = file.map { [URL(fileURLWithPath: $0).deletingLastPathComponent().path + "/secure.yaml"] }
                ?? candidates("secure", "OS_CLIENT_SECURE_FILE")
            if let secure = secureCandidates.first(where: { FileManager.default.fileExists(atPath: $0) }) {
                o.merge(try Options(cloud: name, in: secure, required: false), over: true)
            }
            return (o, path)
        }

        init(cloud name: String, in path: String, required: Bool) throws {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw HTTPFailure(description: "catalog: cannot read \(path)")
            }
            let root: Node?
            do { root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) } catch {
                throw HTTPFailure(description: "catalog: \(path) is not YAML: \(error)")
            }
            let clouds = root?.mapping?.value("clouds")?.mapping
            guard let cloud = clouds?.value(name)?.mapping else {
                if !required { return }
                let known = clouds?.compactMap { $0.key.string }.sorted() ?? []
                throw HTTPFailure(description: "catalog: no cloud \(name) in \(path)" + (known.isEmpty ? "" : " (it has \(known.joined(separator: ", ")))"))
            }
            for (key, value) in cloud {
                guard let k = key.string else { continue }
                if k == "auth", let auth = value.mapping {
                    for (ak, av) in auth { if let ak = ak.string, let s = av.string { values[ak] = s } }
                } else if k == "verify", let s = value.string {
                    values["insecure"] = ["false", "no", "off"].contains(s.lowercased()) ? "true" : "false"
                } else if let s = value.string {
                    values[k] = s
                }
            }
        }

        /// Checked and turned into credentials.
        func credentials(source: String) throws -> KeystoneCredentials {
            func fail(_ m: String) -> HTTPFailure { HTTPFailure(description: "catalog: Keystone credentials from \(source): \(m)") }
            guard var url = values["auth_url"], !url.isEmpty else { throw fail("no auth_url") }
            while url.hasSuffix("/") { url.removeLast() }
            // clouds.yaml and openrc files often give the unversioned root; the v3 API is under /v3.
            if !url.hasSuffix("/v3") { url += "/v3" }
            let domain = values["default_domain_name"] ?? "Default"
            let userDomain = values["user_domain_name"] ?? domain
            let type = values["auth_type"]?.lowercased()
            let method: Method
            if type == "v3applicationcredential" || type == "application_credential"
                || (type == nil && values["application_credential_secret"] != nil) {
                guard let secret = values["application_credential_secret"] else { throw fail("an application credential needs its secret") }
                let id = values["application_credential_id"], name = values["application_credential_name"]
                guard id != nil || (name != nil && values["username"] != nil) else {
                    throw fail("an application credential needs its id, or its name and the user's name")
                }
                method = .applicationCredential(id: id, name: id == nil ? name : nil, username: values["username"], userDomain: userDomain, secret: secret)
            } else if type == nil || type == "password" || type == "v3password" {
                method = .password(username: values["username"] ?? "admin", password: values["password"] ?? "",
                                   userDomain: userDomain, project: values["project_name"] ?? "admin",
                                   projectDomain: values["project_domain_name"] ?? domain)
            } else {
                throw fail("auth_type \(type!) is not supported (password and v3applicationcredential are)")
            }
            let insecure = ["true", "1", "yes"].contains((values["insecure"] ?? "").lowercased())
            return KeystoneCredentials(authURL: url, method: method, region: values["region_name"], caFile: values["cacert"],
                                       insecure: insecure, source: source)
        }
    }
}

extension Node.Mapping {
    fileprivate func value(_ key: String) -> Node? { first { $0.key.string == key }?.value }
}
