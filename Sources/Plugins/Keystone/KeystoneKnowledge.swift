/// Keystone across releases (docs/openstack-facts.md#keystone; keystone release notes).
/// Sources are cited per fact as `repo@tag path`: keystone's tags are 2015.1.0 (Kilo), 8.0.0 (Liberty),
/// 9.0.0 (Mitaka) … 13.0.0 (Queens) … 20.0.0 (Xena), 21.0.0 (Yoga), 22.0.0 (Zed), 23.0.0 (2023.1), 24.0.0 (2023.2).
enum KeystoneKnowledge {
    static let sync = ManageCommand(["keystone-manage", "db_sync"], "schema sync")

    static let identityV3 = EndpointSpec(
        serviceName: "keystone", serviceType: "identity", port: 5000, path: "/v3",
        why: "Identity API v2.0 is removed in Queens: clients and catalog entries move to /v3")

    static let steps: [ReleaseStep] = Releases.all.filter { Releases.atLeast($0.name, "liberty") }.map { r in
        var step = ReleaseStep("keystone", r.name, commands: [sync])
        switch r.name {
        case "mitaka":
            // Kilo ends at openstack/keystone@2015.1.0 keystone/common/sql/migrate_repo/versions/067_drop_redundant_mysql_index.py;
            // openstack/keystone@9.0.0 … @20.0.0 keystone/common/sql/migrate_repo/versions/ start at 067_kilo.py.
            step.notes = ["the migration repository of Mitaka…Xena starts at 067_kilo: each of them syncs a Kilo database"]
        case "newton":
            // openstack/keystone@10.0.0 keystone/cmd/cli.py (--expand/--migrate/--contract), keystone/common/sql/expand_repo
            step.notes = ["rolling upgrades: keystone-manage db_sync --expand, --migrate, --contract"]
        case "ocata":
            step.apiRemovals = ["PKI and PKIz token formats"]  // openstack/keystone@11.0.0 releasenotes/notes/removed-as-of-ocata-436bb4b839e74494.yaml
        case "xena":
            // openstack/keystone@21.0.0 keystone/common/sql/upgrades.py INITIAL_VERSION = 72 (legacy_migrations/expand_repo
            // starts at 073_expand_initial_migration.py; a repository not yet under version control is stamped 72),
            // releasenotes/notes/remove-legacy-migrations-647f60019c8dd9e8.yaml (the pre-Newton repository is gone).
            step.requiredStop = "Yoga removes the 067_kilo…109 repository and starts the expand, data migration and contract "
                + "repositories at 72: a database no Newton…Xena keystone synced would be stamped 72 without those migrations "
                + "(no refusal): Xena, the last before Yoga, must sync first"
        case "queens":
            // openstack/keystone@13.0.0 releasenotes/notes/removed-as-of-queens-94c04e88c08f89aa.yaml
            step.apiRemovals = ["Identity API v2.0 (except the EC2 v2 API)", "admin_token_auth middleware"]
            step.endpoints = [identityV3]
            step.notes = ["keystone-manage bootstrap no longer creates a member role"]
        case "rocky":
            // openstack/keystone@14.0.0 releasenotes/notes/removed-as-of-rocky-f44c3ba7c3e73d01.yaml
            step.apiRemovals = ["uuid token provider and sql token driver: Fernet only (keystone.preflight.fernet_tokens)"]
        case "zed":
            step.notes = ["migrations move to Alembic"]  // openstack/keystone@22.0.0 releasenotes/notes/switch-to-alembic-1fa5248f0ce824ae.yaml
        case "2023.1":
            // openstack/keystone@24.0.0 releasenotes/notes/remove-sqlalchemy-migrate-a4fa47685c7e28c6.yaml, keystone/common/sql/upgrades.py
            step.requiredStop = "2023.2 drops the sqlalchemy-migrate migrations: the database must have been put under Alembic "
                + "by a Zed or 2023.1 db_sync (2023.1 is the last of them)"
        default: break
        }
        return step
    }

    /// The `%(key)s` names a token's catalog substitutes in endpoint URLs, by release. An endpoint
    /// whose URL names any other key is left out of the token's catalog (logged as "Malformed
    /// endpoint", nothing else): a service reading its catalog finds no such endpoint.
    /// openstack/keystone@2015.1.0 keystone/catalog/core.py format_url (WHITELISTED_PROPERTIES: tenant_id, user_id,
    /// public_bind_host, admin_bind_host, compute_host, compute_port, admin_port, public_port, public_endpoint,
    /// admin_endpoint; a KeyError raises MalformedEndpoint) and keystone/catalog/backends/sql.py get_v3_catalog
    /// (`except exception.MalformedEndpoint: continue`); openstack/keystone@8.0.0 the same without compute_port;
    /// openstack/keystone@9.0.0 keystone/catalog/core.py adds `project_id` (and backends/sql.py substitutes it with
    /// the token's project), kept through openstack/keystone@13.0.0 keystone/common/utils.py.
    static func urlSubstitutions(_ release: String) -> Set<String> {
        var keys: Set<String> = ["tenant_id", "user_id", "public_bind_host", "admin_bind_host", "compute_host", "admin_port",
                                 "public_port", "public_endpoint", "admin_endpoint"]
        if Releases.before(release, "liberty") { keys.insert("compute_port") }
        if Releases.atLeast(release, "mitaka") { keys.insert("project_id") }
        return keys
    }

    /// The project key an endpoint template should use on a Keystone of `release`: `project_id` from Mitaka,
    /// `tenant_id` before (the only one Kilo and Liberty substitute).
    static func projectKey(_ release: String) -> String { Releases.atLeast(release, "mitaka") ? "project_id" : "tenant_id" }

    static let knowledge = ComponentKnowledge(
        component: "keystone", steps: steps,
        services: [ServiceUnit(role: "api", rpm: "httpd", deb: "apache2")],
        packages: [.rpm: ["openstack-keystone"], .deb: ["keystone"]],
        notes: [
            "registering endpoints (volumev3, compute v2.1, placement) is Keystone-side work for the other services",
            "a token's catalog substitutes only tenant_id (and user_id, some [DEFAULT] options) in endpoint URLs before "
                + "Mitaka, which adds project_id: a Kilo or Liberty Keystone silently leaves an endpoint with %(project_id)s "
                + "out of every token's catalog (keystone.url_template, catalog.token_catalog())",
        ])
}

extension KeystoneKnowledge {
    /// keystone.conf as Pike's (12.0.3) and Queens' (13.0.4) code registers it (Schemas/keystone-<release>.txt,
    /// made by scripts/knowledge/config-schema.py from openstack/keystone@<tag> config-generator/keystone.conf).
    /// Ocata's keystone is not on the registry (scripts/testenv/services/releases.sh): no schema.
    /// Option names of the releases without a schema: Schemas/keystone-older.txt (scripts/knowledge/config-older.py,
    /// a text scan of openstack/keystone at those releases' tags; recorded, not judged, when no schema has them).
    static let config = ConfigJudge(component: "keystone", schemas: [("pike", PackageResources.keystone_pike_txt),
                                                                      ("queens", PackageResources.keystone_queens_txt)],
                                    older: PackageResources.keystone_older_txt)
    static let configFiles = [ConfigJudge.File("/etc/keystone/keystone.conf", "keystone.conf")]
}
