/// Glance across releases (docs/openstack-facts.md#glance; glance alembic_migrations/versions).
/// Sources are cited per fact as `repo@tag path`: glance's tags are 2015.1.0 (Kilo), 11.0.0 (Liberty) … 16.0.0
/// (Queens) … 28.0.0 (2024.1); `legacy/` is glance/db/sqlalchemy/migrate_repo/versions/, `alembic/` is
/// glance/db/sqlalchemy/alembic_migrations/versions/.
enum GlanceKnowledge {
    static let sync = ["glance-manage", "db_sync"]
    static let syncOcata = ["glance-manage", "db", "sync"]

    /// `migrate_version` of a legacy (sqlalchemy-migrate) database after each release's sync.
    static let migrateVersion: [String: Int] = [
        "kilo": 41,     // openstack/glance@2015.1.0 legacy/041_add_artifact_tables.py
        "liberty": 42,  // openstack/glance@11.0.0 legacy/042_add_changes_to_reinstall_unique_metadef_constraints.py
        "mitaka": 44,   // openstack/glance@12.0.0 legacy/044_update_metadef_os_nova_server.py
        "newton": 44,   // openstack/glance@13.0.0 legacy/ (044 is still the last)
    ]

    /// `alembic_version` after a full `db sync` of each release: Ocata and Pike end on the
    /// single-branch heads, later releases on the contract branch head of their tree.
    /// Xena, Yoga and Zed added no migration: Zed's real `glance-manage db sync` (Debian's
    /// glance 25) ends at `wallaby_contract01`, checked by GlancePluginTests on the lab.
    /// Sources: openstack/glance@14.0.0 and @15.0.0 glance/db/migration.py LATEST_REVISION (ocata01, pike01); the
    /// newest `<release>_contract01/02` file of alembic/ at each tag: @16.0.0 queens_contract01, @17.0.0 and @18.0.0
    /// rocky_contract02, @19.0.0 train_contract01, @20.0.0 and @21.0.0 ussuri_contract01, @22.0.0…@25.0.0
    /// wallaby_contract01 (xena/yoga/zed files first appear at @26.0.0), @26.0.0 and @27.0.0 2023_1_contract01,
    /// @28.0.0 2024_1_contract01.
    static let alembicVersion: [String: String] = [
        "ocata": "ocata01", "pike": "pike01", "queens": "queens_contract01", "rocky": "rocky_contract02",
        "stein": "rocky_contract02", "train": "train_contract01", "ussuri": "ussuri_contract01",
        "victoria": "ussuri_contract01", "wallaby": "wallaby_contract01", "xena": "wallaby_contract01",
        "yoga": "wallaby_contract01", "zed": "wallaby_contract01", "2023.1": "2023_1_contract01",
        "2023.2": "2023_1_contract01", "2024.1": "2024_1_contract01",
    ]

    static let steps: [ReleaseStep] = {
        var steps: [ReleaseStep] = [
            ReleaseStep("glance", "liberty", commands: [.init(sync, "schema to version 042")],
                        notes: ["not a required stop: Mitaka's and Newton's legacy trees (001…044, INIT_VERSION 0) sync Kilo's 041"]),
            ReleaseStep("glance", "mitaka", commands: [.init(sync, "schema to version 044")]),
            // openstack/glance@14.0.0 glance/db/sqlalchemy/alembic_migrations/__init__.py place_database_under_alembic_control
            // (42 → liberty, 43 → mitaka01, 44 → mitaka02, below 42 refused); openstack/glance@13.0.0 legacy/ holds 001…044
            // and glance/db/migration.py INIT_VERSION = 0.
            ReleaseStep("glance", "newton", commands: [.init(sync, "no Newton migration: stays at 044")],
                        requiredStop: "Ocata and later glance-manage refuse a legacy database below version 42 (\"The current database "
                            + "version is not supported any more. Please upgrade to Liberty release first.\"): a Liberty, Mitaka or "
                            + "Newton db_sync must run before Ocata (Newton, the last before it, syncs Kilo's 041 to 044)"),
            ReleaseStep("glance", "ocata", commands: [.init(syncOcata, "migration engine becomes Alembic; ocata01 turns is_public into visibility")],
                        notes: [
                            "is_public → visibility (private, public, shared, community; default shared): private images with members "
                                + "become shared; an image must be shared to accept members",
                            "zero-downtime glance-manage db expand / migrate / contract exists but is EXPERIMENTAL (Ocata–Queens); "
                                + "it needs Images API v2 only, no Registry, and MySQL SUPER or log_bin_trust_function_creators=1",
                        ]),
            ReleaseStep("glance", "pike", commands: [.init(syncOcata, "pike01 drops the artifacts tables")]),
            ReleaseStep("glance", "queens", commands: [.init(syncOcata, "expand, migrate and contract in one offline run")]),
            // openstack/glance@17.0.0 releasenotes/notes/rocky-rc-b0ea7628b7a74c96.yaml (v1 removed),
            // releasenotes/notes/bp-mitigate-ossn-0075-c0e74e60d86d8ea2.yaml; alembic/rocky_expand01_add_os_hidden.py
            ReleaseStep("glance", "rocky", commands: [.init(syncOcata, "adds os_hidden and os_hash columns")],
                        apiRemovals: ["Images API v1 (nova uses v2 since Newton, cinder since Pike)"],
                        notes: ["glance-manage db purge_images_table exists (OSSN-0075: purging images lets IDs be reused)"]),
        ]
        for r in Releases.all where Releases.atLeast(r.name, "stein") {
            var step = ReleaseStep("glance", r.name, commands: [.init(syncOcata, "expand, migrate and contract in one offline run")])
            if r.name == "wallaby" {
                // openstack/glance@23.0.0 releasenotes/notes/drop-support-for-sqlalchemy-migrate-4bcbe7b200697586.yaml
                // ("to upgrade from a pre-Ocata release to Xena or later, you must upgrade to Wallaby or earlier first")
                step.requiredStop = "Xena drops glance-manage's support for sqlalchemy-migrate: a database still at a legacy "
                    + "version must be put under Alembic by an Ocata…Wallaby sync first (Wallaby is the last of them)"
            }
            steps.append(step)
        }
        return steps
    }()

    static let knowledge = ComponentKnowledge(
        component: "glance", steps: steps,
        services: [
            ServiceUnit(role: "api", rpm: "openstack-glance-api", deb: "glance-api"),
            // glance-registry: openstack/glance@20.0.0 (Ussuri) setup.cfg and glance/cmd/registry.py; gone at 21.0.0 (Victoria).
            ServiceUnit(role: "registry", rpm: "openstack-glance-registry", deb: "glance-registry", until: "victoria"),
        ],
        packages: [.rpm: ["openstack-glance"], .deb: ["glance-api", "glance-common"]])
}

extension GlanceKnowledge {
    /// glance-api.conf as Pike's code registers it (Schemas/glance-pike.txt, made by
    /// scripts/knowledge/config-schema.py in the Pike virtualenv (glance 15.0.2) from openstack/glance@15.0.2
    /// etc/oslo-config-generator/glance-api.conf). Ocata's and Queens' glance are not on the registry
    /// (scripts/testenv/services/releases.sh): no schema, not judged.
    /// Option names of the releases without a schema: Schemas/glance-older.txt (scripts/knowledge/config-older.py,
    /// a text scan of openstack/glance at those releases' tags; recorded, not judged, when no schema has them).
    static let config = ConfigJudge(component: "glance", schemas: [("pike", PackageResources.glance_pike_txt)],
                                    older: PackageResources.glance_older_txt)
    static let configFiles = [ConfigJudge.File("/etc/glance/glance-api.conf", "glance-api.conf")]
}
