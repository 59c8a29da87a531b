/// Cinder across releases (docs/openstack-facts.md#cinder; cinder/db/migration.py INIT_VERSION per tag).
enum CinderKnowledge {
    static let sync = ["cinder-manage", "db", "sync"]

    /// `migrate_version` after each release's sync (the last migration of its tree).
    static let lastVersion: [String: Int] = [
        "kilo": 41, "liberty": 60, "mitaka": 72, "newton": 79, "ocata": 96, "pike": 105, "queens": 117,
    ]

    /// The oldest database version each release's `db sync` accepts (its migrations were
    /// compacted below it).
    static let initVersion: [String: Int] = [
        "newton": 45, "ocata": 60, "pike": 72, "queens": 84, "rocky": 84, "stein": 96,
        "train": 122, "ussuri": 122, "victoria": 122, "wallaby": 122,
    ]

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
                        requiredStop: "Newton's cinder-manage upgrades only from version 045 and Ocata's from 060; Kilo ends at 041"),
            ReleaseStep("cinder", "mitaka", commands: [.init(sync, "schema to version 072")],
                        notes: [
                            "Block Storage API v3 with microversions appears",
                            "Pike's cinder-manage upgrades only from version 072 (this release or later; Ocata, a required stop, is later)",
                        ]),
            ReleaseStep("cinder", "newton", commands: [.init(sync, "schema to version 079")],
                        notes: [
                            "cinder-manage db online_data_migrations does not exist yet (Ocata adds it)",
                            "cinder-manage service remove BINARY HOST purges services of hosts that are gone",
                        ]),
            ReleaseStep("cinder", "ocata", commands: [.init(sync, "schema to version 096"),
                                                      odm(requiredBefore: "pike (migration 097_enforce_ocata_online_migrations)")],
                        requiredStop: "Pike's migration 097 refuses while Ocata's online migrations (consistency groups → generic "
                            + "volume groups, message event ids) are not done; Queens upgrades only from version 084",
                        notes: ["Block Storage API v1 disabled by default (enable_v1_api)"]),
            ReleaseStep("cinder", "pike", commands: [.init(sync, "schema to version 105"), odm()],
                        notes: ["Block Storage API v2 deprecated; cinder talks to Glance v2"]),
            ReleaseStep("cinder", "queens", commands: [.init(sync, "schema to version 117"), odm()],
                        apiRemovals: ["Block Storage API v1 (remove it from api-paste.ini)"],
                        endpoints: [volumev3]),
            ReleaseStep("cinder", "rocky", commands: [.init(sync, "schema sync"), odm()]),
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
            if r.name == "xena" {
                step.apiRemovals = ["Block Storage API v2"]
                step.notes = ["migrations move to Alembic"]
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
