/// Glance across releases (docs/openstack-facts.md#glance; glance alembic_migrations/versions).
enum GlanceKnowledge {
    static let sync = ["glance-manage", "db_sync"]
    static let syncOcata = ["glance-manage", "db", "sync"]

    /// `migrate_version` of a legacy (sqlalchemy-migrate) database after each release's sync.
    static let migrateVersion: [String: Int] = ["kilo": 41, "liberty": 42, "mitaka": 44, "newton": 44]

    /// `alembic_version` after a full `db sync` of each release: Ocata and Pike end on the
    /// single-branch heads, later releases on the contract branch head of their tree.
    /// Xena, Yoga and Zed added no migration: Zed's real `glance-manage db sync` (Debian's
    /// glance 25) ends at `wallaby_contract01`, checked by GlancePluginTests on the lab.
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
                        requiredStop: "Ocata and later glance-manage refuse a database below version 42 (\"The current database "
                            + "version is not supported any more. Please upgrade to Liberty release first.\")"),
            ReleaseStep("glance", "mitaka", commands: [.init(sync, "schema to version 044")]),
            ReleaseStep("glance", "newton", commands: [.init(sync, "no Newton migration: stays at 044")]),
            ReleaseStep("glance", "ocata", commands: [.init(syncOcata, "migration engine becomes Alembic; ocata01 turns is_public into visibility")],
                        notes: [
                            "is_public → visibility (private, public, shared, community; default shared): private images with members "
                                + "become shared; an image must be shared to accept members",
                            "zero-downtime glance-manage db expand / migrate / contract exists but is EXPERIMENTAL (Ocata–Queens); "
                                + "it needs Images API v2 only, no Registry, and MySQL SUPER or log_bin_trust_function_creators=1",
                        ]),
            ReleaseStep("glance", "pike", commands: [.init(syncOcata, "pike01 drops the artifacts tables")]),
            ReleaseStep("glance", "queens", commands: [.init(syncOcata, "expand, migrate and contract in one offline run")]),
            ReleaseStep("glance", "rocky", commands: [.init(syncOcata, "adds os_hidden and os_hash columns")],
                        apiRemovals: ["Images API v1 (nova uses v2 since Newton, cinder since Pike)"],
                        notes: ["glance-manage db purge_images_table exists (OSSN-0075: purging images lets IDs be reused)"]),
        ]
        for r in Releases.all where Releases.atLeast(r.name, "stein") {
            steps.append(ReleaseStep("glance", r.name, commands: [.init(syncOcata, "expand, migrate and contract in one offline run")]))
        }
        return steps
    }()

    static let knowledge = ComponentKnowledge(
        component: "glance", steps: steps,
        services: [
            ServiceUnit(role: "api", rpm: "openstack-glance-api", deb: "glance-api"),
            ServiceUnit(role: "registry", rpm: "openstack-glance-registry", deb: "glance-registry", until: "ussuri"),
        ],
        packages: [.rpm: ["openstack-glance"], .deb: ["glance-api", "glance-common"]])
}
