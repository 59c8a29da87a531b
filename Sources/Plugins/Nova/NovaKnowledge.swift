/// Nova and Placement across releases (docs/openstack-facts.md#nova-and-placement; nova doc/source/admin/upgrades.rst).
enum NovaKnowledge {
    static let apiSync = ManageCommand(["nova-manage", "api_db", "sync"], "API database schema (run before the main database)")
    static let dbSync = ManageCommand(["nova-manage", "db", "sync"], "main database schema (and cell0 once it is mapped)")

    static let onlineMigrations = OnlineMigrationContract(
        maxCountFlag: "--max-count", exitCodes: [0: "done", 1: "more", 2: "errors"], defaultMaxCount: 1000)

    static func odm(requiredBefore: String? = nil) -> ManageCommand {
        var contract = onlineMigrations
        contract.requiredBefore = requiredBefore
        return ManageCommand(["nova-manage", "db", "online_data_migrations"], "online data migrations, in batches until done",
                             onlineMigrations: contract)
    }

    /// `migrate_version` of the main database after each release's sync (last migration of its tree).
    static let lastVersion: [String: Int] = [
        "kilo": 280, "liberty": 302, "mitaka": 319, "newton": 334, "ocata": 347, "pike": 362, "queens": 377, "train": 402,
    ]

    static let placementEndpoint = EndpointSpec(
        serviceName: "placement", serviceType: "placement", port: 8778, path: "",
        why: "placement is mandatory from Ocata: nova-compute refuses to start without [placement]")
    static let computeEndpoint = EndpointSpec(
        serviceName: "nova", serviceType: "compute", port: 8774, path: "/v2.1",
        why: "the Queens install guide registers compute at /v2.1 (no project id in the URL)")

    static let steps: [ReleaseStep] = {
        var steps: [ReleaseStep] = [
            ReleaseStep("nova", "liberty", commands: [
                .init(["nova-manage", "db", "migrate_flavor_data"], "move every instance's flavor to the new format (Liberty's "
                    + "migration 291_enforce_flavors_migrated aborts otherwise)", tool: "kilo"),
                dbSync,
            ], notes: [
                "migration 267 needs no NULL instance uuids: nova-manage db null_instance_uuid_scan [--delete] (nova.preflight.null_instance_uuids)",
                "the nova_api database appears (optional until Mitaka); /v2 is served by the v2.1 code in compatible mode",
            ]),
            ReleaseStep("nova", "mitaka", commands: [
                .init(["nova-manage", "api_db", "sync"], "create the nova_api schema: the database and [api_database]/connection are required from Mitaka"),
                dbSync,
                odm(requiredBefore: "newton (migration 330_enforce_mitaka_online_migrations)"),
            ], requiredStop: "Newton's migration 330 refuses until Mitaka's online migrations are done "
                + "(compute_nodes.uuid, aggregates.uuid, pci_devices.parent_addr)",
            notes: ["the EC2 API pipeline is no longer in api-paste.ini"]),
            ReleaseStep("nova", "newton", commands: [
                apiSync, dbSync,
                odm(requiredBefore: "ocata (migration 345_require_online_migration_completion)"),
                .init(["nova-manage", "cell_v2", "simple_cell_setup"], "map cell0 and the cell, hosts and instances (Ocata's API "
                    + "migration 030 requires it); needs an empty nova_cell0 database first",
                      options: [(flag: "--transport-url", parameter: "transport_url")]),
            ], requiredStop: "Ocata's API migration 030 needs cell mappings (cell0 and a cell) made here, and its migration 345 "
                + "needs Newton's online migrations done (flavors, keypairs, aggregates, instance groups move to the API database)",
            apiRemovals: ["the legacy v2 API code (/v2 is served by v2.1 in compatible mode)"],
            notes: ["placement API and cells v2 appear, optional until Ocata"]),
            ReleaseStep("nova", "ocata", commands: [apiSync, dbSync, odm()], endpoints: [placementEndpoint], notes: [
                "placement and cells v2 are mandatory; computes need network access to placement",
                "nova-manage cell_v2 discover_hosts whenever computes are added (or the scheduler's periodic discovery)",
                "nova-status upgrade check appears (cells v2, placement API, resource providers)",
            ]),
            ReleaseStep("nova", "pike", commands: [apiSync, dbSync, odm()], notes: [
                "the scheduler writes allocations to placement; nova's support for Cinder v2 is deprecated",
            ]),
            ReleaseStep("nova", "queens", commands: [apiSync, dbSync, odm()], endpoints: [computeEndpoint], notes: [
                "Cinder v2 is no longer supported: a volumev3 catalog entry must exist before nova Queens runs",
                "upgrade placement before the nova controllers and computes",
            ]),
            ReleaseStep("nova", "rocky", commands: [apiSync, dbSync, odm()], notes: [
                "nova-manage db purge and archive_deleted_rows --purge appear; nova-consoleauth deprecated",
            ]),
            ReleaseStep("nova", "stein", commands: [apiSync, dbSync, odm()], notes: [
                "placement is extracted to openstack/placement: move it to its own database here (placement's stein step)",
            ]),
            ReleaseStep("nova", "train", commands: [apiSync, dbSync, odm()],
                        requiredStop: "Wallaby's migrations start from 402_train / API 067_train: the databases must be synced "
                            + "by Train (and its online migrations done, for 400_enforce_service_uuid) before Wallaby",
                        notes: [
                "migration 400_enforce_service_uuid needs services.uuid filled by online data migrations",
                "placement code, nova-consoleauth and cells v1 are removed",
            ]),
        ]
        for r in Releases.all where Releases.atLeast(r.name, "ussuri") {
            var step = ReleaseStep("nova", r.name, commands: [apiSync, dbSync, odm()])
            switch r.name {
            case "victoria": step.notes = ["online data migration PciDevice.populate_dev_uuids"]
            case "wallaby":
                step.notes = ["migrations compacted to 402_train and API 067_train: the databases must be at Train level or later"]
            case "xena": step.notes = ["migrations move to Alembic"]
            case "2023.1":
                step.notes = ["SLURP: conductor refuses computes older than N-2"]
                step.requiredStop = "2023.2 drops the sqlalchemy-migrate migrations: the databases must have been synced by a "
                    + "Xena…2023.1 release (2023.1 is the last of them)"
            case "2023.2":
                step.notes = [
                    "the sqlalchemy-migrate migrations are gone: the database must have been synced by a Xena…2023.1 release",
                    "online data migration populate_instance_compute_id",
                ]
            default: break
            }
            steps.append(step)
        }
        return steps
    }()

    static let knowledge = ComponentKnowledge(
        component: "nova", steps: steps,
        services: [
            ServiceUnit(role: "api", rpm: "openstack-nova-api", deb: "nova-api"),
            ServiceUnit(role: "conductor", rpm: "openstack-nova-conductor", deb: "nova-conductor"),
            ServiceUnit(role: "scheduler", rpm: "openstack-nova-scheduler", deb: "nova-scheduler"),
            ServiceUnit(role: "novncproxy", rpm: "openstack-nova-novncproxy", deb: "nova-novncproxy"),
            ServiceUnit(role: "consoleauth", rpm: "openstack-nova-consoleauth", deb: "nova-consoleauth", until: "train"),
            // Deprecated in Newton, removed in Pike (with the os-certificates API).
            ServiceUnit(role: "cert", rpm: "openstack-nova-cert", deb: "nova-cert", until: "pike"),
            ServiceUnit(role: "compute", placement: "compute", rpm: "openstack-nova-compute", deb: "nova-compute"),
            ServiceUnit(role: "placement-api", rpm: "httpd", deb: "apache2", from: "ocata", until: "train"),
        ],
        packages: [
            .rpm: ["openstack-nova-api", "openstack-nova-conductor", "openstack-nova-scheduler", "openstack-nova-novncproxy",
                   "openstack-nova-compute"],
            .deb: ["nova-api", "nova-conductor", "nova-scheduler", "nova-novncproxy", "nova-compute"],
        ])

    /// Placement on its own (Stein on); in Ocata…Stein it lives in nova_api and nova's steps.
    static let placement = ComponentKnowledge(
        component: "placement",
        steps: Releases.all.filter { Releases.atLeast($0.name, "stein") }.map { r in
            r.name == "stein"
                ? ReleaseStep("placement", "stein", commands: [.init(["placement-manage", "db", "sync"], "placement database schema")],
                              requiredStop: "placement must leave nova_api before Train removes it from nova",
                              notes: [
                                  "copy the placement tables from nova_api with mysql-migrate-db.sh --migrate (control plane stopped), "
                                      + "then placement-manage db stamp b4ed3a175331 if needed, then db sync",
                              ])
                : ReleaseStep("placement", r.name, commands: [.init(["placement-manage", "db", "sync"], "placement database schema")])
        },
        services: [ServiceUnit(role: "api", rpm: "httpd", deb: "apache2", from: "stein")],
        packages: [.rpm: ["openstack-placement-api"], .deb: ["placement-api"]],
        firstRelease: "stein")
}
