/// Cinder across releases (docs/openstack-facts.md#cinder; cinder/db/migration.py INIT_VERSION per tag).
/// Sources are cited per fact as `repo@tag path`: cinder's tags are 2015.1.0 (Kilo), 7.0.0 (Liberty) … 12.0.0
/// (Queens) … 19.0.0 (Xena) … 23.0.0 (2023.2); `versions/` is cinder/db/sqlalchemy/migrate_repo/versions/.
enum CinderKnowledge {
    static let sync = ["cinder-manage", "db", "sync"]

    /// `migrate_version` after each release's sync (the last migration of its tree).
    static let lastVersion: [String: Int] = [
        "kilo": 41,      // openstack/cinder@2015.1.0 versions/041_add_modified_at_column_to_service.py
        "liberty": 60,   // openstack/cinder@7.0.0 versions/060_placeholder.py
        "mitaka": 72,    // openstack/cinder@8.0.0 versions/072_placeholder.py
        "newton": 79,    // openstack/cinder@9.0.0 versions/079_add_group_snapshots.py
        "ocata": 96,     // openstack/cinder@10.0.0 versions/096_placeholder.py
        "pike": 105,     // openstack/cinder@11.0.0 versions/105_add_backup_metadata.py
        "queens": 117,   // openstack/cinder@12.0.0 versions/117_add_encryption_key_id_to_backups.py
    ]

    /// The oldest database version each release's `db sync` accepts (its migrations were
    /// compacted below it).
    /// openstack/cinder@<tag> cinder/db/migration.py INIT_VERSION: 000 at 2015.1.0, 7.0.0 and 8.0.0 (Kilo…Mitaka
    /// sync from scratch), 45 at 9.0.0, 60 at 10.0.0, 72 at 11.0.0, 84 at 12.0.0 and 13.0.0, 96 at 14.0.0, 122 at
    /// 15.0.0…18.0.0; Xena's legacy tree starts at 135_cinder_init (MIGRATE_INIT_VERSION = 134 at 19.0.0).
    static let initVersion: [String: Int] = [
        "newton": 45, "ocata": 60, "pike": 72, "queens": 84, "rocky": 84, "stein": 96,
        "train": 122, "ussuri": 122, "victoria": 122, "wallaby": 122, "xena": 134,
    ]

    /// openstack/cinder@10.0.0 cinder/cmd/manage.py DbCommands.online_data_migrations: `--max_count`, exit 1 while a
    /// batch migrated rows, 0 when none was left (absent at 9.0.0).
    static let onlineMigrations = OnlineMigrationContract(
        maxCountFlag: "--max_count", exitCodes: [0: "done", 1: "more"], defaultMaxCount: 1000)

    static func odm(requiredBefore: String? = nil) -> ManageCommand {
        var contract = onlineMigrations
        contract.requiredBefore = requiredBefore
        return ManageCommand(["cinder-manage", "db", "online_data_migrations"], "online data migrations, in batches until done",
                             onlineMigrations: contract)
    }

    static let volumev3 = EndpointSpec(
        serviceName: "cinderv3", serviceType: "volumev3", port: 8776, path: "/v3/%(project_id)s",
        why: "nova Queens no longer supports Cinder v2: [cinder]catalog_info defaults to volumev3:cinderv3:publicURL")

    static let steps: [ReleaseStep] = {
        var steps: [ReleaseStep] = [
            ReleaseStep("cinder", "liberty", commands: [.init(sync, "schema to version 060")],
                        notes: ["not a required stop: Mitaka's tree (INIT_VERSION 000) syncs Kilo's 041 directly"]),
            // Newton's INIT_VERSION 45 (openstack/cinder@9.0.0 cinder/db/migration.py); Mitaka's 000 with 001…072
            // (openstack/cinder@8.0.0 cinder/db/migration.py, versions/); v3: openstack/cinder@8.0.0 cinder/api/v3.
            ReleaseStep("cinder", "mitaka", commands: [.init(sync, "schema to version 072")],
                        requiredStop: "Newton's cinder-manage upgrades only from version 045 (Ocata's from 060) and Kilo ends at 041: "
                            + "a Liberty or Mitaka sync must run before Newton (Mitaka, the last before it, syncs Kilo's 041 directly)",
                        notes: [
                            "Block Storage API v3 with microversions appears",
                            "Pike's cinder-manage upgrades only from version 072 (this release or later; Ocata, a required stop, is later)",
                        ]),
            // service remove: openstack/cinder@9.0.0 cinder/cmd/manage.py ServiceCommands.remove
            ReleaseStep("cinder", "newton", commands: [.init(sync, "schema to version 079")],
                        notes: [
                            "cinder-manage db online_data_migrations does not exist yet (Ocata adds it)",
                            "cinder-manage service remove BINARY HOST purges services of hosts that are gone",
                        ]),
            // openstack/cinder@11.0.0 versions/097_enforce_ocata_online_migrations.py; enable_v1_api defaults to False at
            // 10.0.0 (cinder/common/config.py).
            ReleaseStep("cinder", "ocata", commands: [.init(sync, "schema to version 096"),
                                                      odm(requiredBefore: "pike (migration 097_enforce_ocata_online_migrations)")],
                        requiredStop: "Pike's migration 097 refuses while Ocata's online migrations (consistency groups → generic "
                            + "volume groups, message event ids) are not done; Queens upgrades only from version 084",
                        notes: ["Block Storage API v1 disabled by default (enable_v1_api)"]),
            ReleaseStep("cinder", "pike", commands: [.init(sync, "schema to version 105"), odm()],
                        notes: ["Block Storage API v2 deprecated; cinder talks to Glance v2"]),
            // cinder/api/v1 is gone at openstack/cinder@12.0.0.
            ReleaseStep("cinder", "queens", commands: [.init(sync, "schema to version 117"), odm()],
                        apiRemovals: ["Block Storage API v1 (remove it from api-paste.ini)"],
                        endpoints: [volumev3]),
            ReleaseStep("cinder", "rocky", commands: [.init(sync, "schema sync"), odm()]),
            // Train's INIT_VERSION 122 (openstack/cinder@15.0.0 cinder/db/migration.py); Rocky ends at 123
            // (openstack/cinder@13.0.0 versions/123_add_transfer_no_snapshots.py), Stein at 128.
            ReleaseStep("cinder", "stein", commands: [.init(sync, "schema sync"), odm()],
                        requiredStop: "Train's cinder-manage upgrades only from version 122, past Queens' 117: the database must "
                            + "be synced by a release after Queens (Stein, the last before Train, certainly reaches it)",
                        notes: ["upgrades only from version 096 (Ocata)"]),
            ReleaseStep("cinder", "train", commands: [.init(sync, "schema sync"), odm()],
                        notes: [
                            "upgrades only from version 122, past Queens' 117: run the releases before it",
                            "cinder-status upgrade check reports online migrations left from Queens on",
                        ]),
        ]
        for r in Releases.all where Releases.atLeast(r.name, "ussuri") {
            var step = ReleaseStep("cinder", r.name, commands: [.init(sync, "schema sync"), odm()])
            switch r.name {
            case "wallaby":
                // openstack/cinder@19.0.0 cinder/db/migration.py MIGRATE_INIT_VERSION = 134 (legacy_migrations start at
                // 135_cinder_init); Train ends at 132 (openstack/cinder@15.0.0 versions/132_create_default_volume_type.py),
                // Ussuri at 136 (16.0.0), Victoria at 140 (17.0.0), Wallaby at 141 (18.0.0).
                step.requiredStop = "Xena's cinder-manage upgrades a sqlalchemy-migrate database only from version 134, past "
                    + "Train's 132: an Ussuri, Victoria or Wallaby sync must run before Xena (Wallaby, the last before it, certainly does)"
            case "xena":
                // openstack/cinder@19.0.0 releasenotes/notes/remove-api-v2-dadd877ee5457f79.yaml, cinder/db/migrations
                step.apiRemovals = ["Block Storage API v2"]
                step.notes = ["migrations move to Alembic", "upgrades only from version 134 (Ussuri or later)"]
            case "2023.1":
                // openstack/cinder@23.0.0 releasenotes/notes/remove-sqlalchemy-migrate-c62b541fd5f4ab10.yaml
                step.requiredStop = "2023.2 drops the sqlalchemy-migrate migrations: the database must have been put under "
                    + "Alembic by a Xena…2023.1 sync (2023.1 is the last of them)"
            default: break
            }
            steps.append(step)
        }
        return steps
    }()

    static let knowledge = ComponentKnowledge(
        component: "cinder", steps: steps,
        services: [
            ServiceUnit(role: "api", rpm: "openstack-cinder-api", deb: "cinder-api"),
            ServiceUnit(role: "scheduler", rpm: "openstack-cinder-scheduler", deb: "cinder-scheduler"),
            ServiceUnit(role: "volume", rpm: "openstack-cinder-volume", deb: "cinder-volume"),
            ServiceUnit(role: "backup", rpm: "openstack-cinder-backup", deb: "cinder-backup"),
        ],
        packages: [.rpm: ["openstack-cinder"], .deb: ["cinder-api", "cinder-scheduler", "cinder-volume", "cinder-common"]])
}

extension CinderKnowledge {
    /// cinder.conf as each release's code registers it (Schemas/cinder-<release>.txt, made by
    /// scripts/knowledge/config-schema.py in the Ocata (10.0.8), Pike (11.2.2) and Queens (12.0.10)
    /// virtualenvs from the namespaces of openstack/cinder@<tag> cinder/config/cinder-config-generator.conf,
    /// tools/config/ from Queens). A backend section named in `[DEFAULT] enabled_backends` gets its
    /// options at start: the volume manager registers `volume_opts` (and each driver its own) in the
    /// backend's group (openstack/cinder@12.0.0 cinder/volume/configuration.py `Configuration`,
    /// `append_config_values`; the shared defaults are `[backend_defaults]` from Pike, `SHARED_CONF_GROUP`
    /// at openstack/cinder@11.0.0 cinder/volume/configuration.py, absent at 10.0.0, where they are `[DEFAULT]`'s).
    /// What those two sections' schemas know is judged, the rest (a driver's own options) recorded.
    /// Option names of the releases without a schema: Schemas/cinder-older.txt (scripts/knowledge/config-older.py,
    /// a text scan of openstack/cinder at those releases' tags; recorded, not judged, when no schema has them).
    static let config: ConfigJudge = {
        var judge = ConfigJudge(component: "cinder", schemas: [("ocata", PackageResources.cinder_ocata_txt), ("pike", PackageResources.cinder_pike_txt),
                                                                ("queens", PackageResources.cinder_queens_txt)], older: PackageResources.cinder_older_txt)
        judge.dynamic = { _, ini in
            var out: [String: ConfigJudge.Dynamic] = [:]
            for value in ini.values("DEFAULT", "enabled_backends") {
                for name in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                    out[ConfigSchema.section(name)] = ConfigJudge.Dynamic(
                        like: ["backend_defaults", "DEFAULT"],
                        why: "a backend section (enabled_backends): its driver registers its own options at start, not judged")
                }
            }
            return out
        }
        return judge
    }()

    static let configFiles = [ConfigJudge.File("/etc/cinder/cinder.conf", "cinder.conf")]
}
