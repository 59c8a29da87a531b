/// Nova and Placement across releases (docs/openstack-facts.md#nova-and-placement; nova doc/source/admin/upgrades.rst).
/// Sources are cited per fact as `repo@tag path`; the tags are nova's (12.0.0 Liberty … 17.0.0 Queens …
/// 28.0.0 2023.2), Kilo's is 2015.1.0; `versions/` is nova/db/sqlalchemy/migrate_repo/versions/.
enum NovaKnowledge {
    static let apiSync = ManageCommand(["nova-manage", "api_db", "sync"], "API database schema (run before the main database)")
    static let dbSync = ManageCommand(["nova-manage", "db", "sync"], "main database schema (and cell0 once it is mapped)")

    /// What `nova-manage db online_data_migrations --max-count N` says, by release. Every release prints
    /// "N rows matched query M, D migrated" per migration that matched rows, and "Error attempting to run M" for
    /// one that raised (that migration then counts as found = done = 0):
    /// - Mitaka returns nothing: exit 0 after one batch whatever is left, and after errors
    ///   (openstack/nova@13.0.0 nova/cmd/manage.py DbCommands.online_data_migrations, _run_migration);
    /// - Newton … Rocky return `ran and 1 or 0`: 1 when the batch migrated rows, 0 when it migrated none — also when a
    ///   migration raised or matched rows it could not migrate (openstack/nova@14.0.0, @17.0.0, @18.0.0 nova/cmd/manage.py);
    /// - Stein adds exit 2 ("Some migrations failed unexpectedly") for errors with no other progress
    ///   (openstack/nova@19.0.0 nova/cmd/manage.py).
    static func onlineMigrations(_ release: String) -> OnlineMigrationContract {
        let progress = "(%d+) rows matched query [%w_]+, (%d+) migrated"
        if Releases.before(release, "newton") {
            return OnlineMigrationContract(maxCountFlag: "--max-count", exitCodes: [0: "progress"], defaultMaxCount: 1000,
                                           failureText: "Error attempting to run", progressPattern: progress)
        }
        if Releases.before(release, "stein") {
            return OnlineMigrationContract(maxCountFlag: "--max-count", exitCodes: [0: "done", 1: "more"], defaultMaxCount: 1000,
                                           failureText: "Error attempting to run", progressPattern: progress)
        }
        return OnlineMigrationContract(maxCountFlag: "--max-count", exitCodes: [0: "done", 1: "more", 2: "errors"], defaultMaxCount: 1000,
                                       progressPattern: progress)
    }

    static func odm(_ release: String, requiredBefore: String? = nil) -> ManageCommand {
        var contract = onlineMigrations(release)
        contract.requiredBefore = requiredBefore
        return ManageCommand(["nova-manage", "db", "online_data_migrations"], "online data migrations, in batches until done",
                             onlineMigrations: contract)
    }

    /// Kilo's `nova-manage db migrate_flavor_data` skips every instance with a task_state, or in vm_state resized or
    /// rescued (unless --force), counts it as matched, and exits 0 all the same; Liberty's migration 291 then aborts
    /// while any flavor is left (openstack/nova@2015.1.0 nova/db/sqlalchemy/api.py migrate_flavor_data, nova/cmd/manage.py
    /// DbCommands.migrate_flavor_data; --force from openstack/nova@2015.1.1; openstack/nova@12.0.0
    /// versions/291_enforce_flavors_migrated.py). 2015.1.0 prints its message unformatted, followed by the counts
    /// (`print(_('%(total)i instances matched query, %(done)i completed'), {'total': …, 'done': …})`); 2015.1.1 on format it.
    static let flavorMigrationCompletion = CompletionCheck(
        patterns: ["(%d+) instances matched query, (%d+) completed", "'total': (%d+), 'done': (%d+)"],
        incomplete: "the others have a task_state, or are resized or rescued, and Kilo skips them (Liberty's migration 291 "
            + "would abort): let their operations finish, confirm or revert the resizes, unrescue, then run the step again "
            + "(nova.preflight.flavor_migration_blockers finds them)")

    /// Newton's cell setup depends on its point release: 14.0.0 … 14.0.3 require `simple_cell_setup --transport-url`
    /// (`def simple_cell_setup(self, transport_url)`), 14.0.4 on read [DEFAULT]/transport_url without it; before 14.0.7
    /// cell0's default database is named after the API database (`<api db>_cell0`, e.g. nova_api_cell0), from 14.0.7
    /// after the main one (`nova_cell0`, what the library creates) (openstack/nova@14.0.0, @14.0.3, @14.0.4, @14.0.6,
    /// @14.0.7 nova/cmd/manage.py CellV2Commands.simple_cell_setup, map_cell0 cell0_default_connection).
    static let newtonCellSetupMinimum = "14.0.7"

    /// The oldest libvirt and QEMU (kvm/qemu virt_type) nova-compute's libvirt driver starts on, per release: `init_host`
    /// raises InternalError "Nova requires libvirt version X or greater." / "Nova requires QEMU version X or greater."
    /// (openstack/nova@2015.1.0, @12.0.0, @13.0.0, @14.0.0, @15.0.0, @16.0.0, @17.0.0, @18.0.0
    /// nova/virt/libvirt/driver.py MIN_LIBVIRT_VERSION, MIN_QEMU_VERSION; no QEMU minimum before Newton).
    static let hypervisorMinimum: [String: (libvirt: String, qemu: String?)] = [
        "kilo": ("0.9.11", nil), "liberty": ("0.9.11", nil), "mitaka": ("0.10.2", nil),
        "newton": ("1.2.1", "1.5.3"), "ocata": ("1.2.1", "1.5.3"), "pike": ("1.2.9", "2.1.0"), "queens": ("1.2.9", "2.1.0"),
        "rocky": ("1.3.1", "2.5.0"),
    ]

    /// nova-compute refuses to start without `[placement] os_region_name` from Ocata through Queens: `init_host` raises
    /// PlacementNotConfigured (openstack/nova@15.0.0, @17.0.0 nova/compute/manager.py init_host, nova/exception.py;
    /// gone at @18.0.0, where the placement client's keystoneauth options replace the check).
    static func requiresPlacementSection(_ release: String) -> Bool {
        Releases.atLeast(release, "ocata") && !Releases.atLeast(release, "rocky")
    }

    /// `migrate_version` of the main database after each release's sync (last migration of its tree).
    static let lastVersion: [String: Int] = [
        "kilo": 280,     // openstack/nova@2015.1.0 versions/280_add_nullable_false_to_keypairs_name.py
        "liberty": 302,  // openstack/nova@12.0.0 versions/302_pgsql_add_instance_system_metadata_index.py
        "mitaka": 319,   // openstack/nova@13.0.0 versions/319_add_instances_deleted_created_at_index.py
        "newton": 334,   // openstack/nova@14.0.0 versions/334_device_metadata_in_extra.py
        "ocata": 347,    // openstack/nova@15.0.0 versions/347_add_updated_at_index.py
        "pike": 362,     // openstack/nova@16.0.0 versions/362_add_pci_devices_uuid.py
        "queens": 378,   // openstack/nova@17.0.0 versions/378_add_instance_actions_updated_at_index.py
        "train": 402,    // openstack/nova@20.0.0 versions/402_add_resources.py
    ]

    /// `migrate_version` of the API database (repository `nova_api`) after each release's `api_db sync`, read back on
    /// real code (the lab's releases service: nova 15.1.5, 16.1.8, 17.0.13; ocata-to-queens-walk): the last migration of
    /// openstack/nova@{15.0.0,16.0.0,17.0.0} nova/db/sqlalchemy/api_migrations/migrate_repo/versions/ (Queens:
    /// 052_request_specs_spec_mediumtext.py; each release also adds placeholders after its own, e.g. 044_pike.py…).
    static let apiLastVersion: [String: Int] = ["ocata": 31, "pike": 45, "queens": 52]

    /// Why a release is a required stop for nova when the next one has no sharper reason: nova
    /// upgrades from the previous release only (openstack/nova@17.0.0 doc/source/user/upgrade.rst:
    /// "old (N) and new (N+1)"; each release's prelude names the one it upgrades from, e.g.
    /// openstack/nova@17.0.0 releasenotes/notes/queens_prelude-4bdf895167f979b2.yaml "from 16.0.0 (Pike)").
    static func previousReleaseOnly(_ release: String, _ reason: String? = nil) -> String {
        let next = Releases.index(release).flatMap { i in i + 1 < Releases.all.count ? Releases.all[i + 1].name : nil } ?? "the next release"
        return "nova upgrades N → N+1 only: \(next) upgrades from \(release), not from an older release" + (reason.map { "; \($0)" } ?? "")
    }

    static let placementEndpoint = EndpointSpec(
        serviceName: "placement", serviceType: "placement", port: 8778, path: "",
        why: "placement is mandatory from Ocata: nova-compute refuses to start without [placement]")
    static let computeEndpoint = EndpointSpec(
        serviceName: "nova", serviceType: "compute", port: 8774, path: "/v2.1",
        why: "the Queens install guide registers compute at /v2.1 (no project id in the URL)")

    static let steps: [ReleaseStep] = {
        var steps: [ReleaseStep] = [
            // migrate_flavor_data is Kilo's (openstack/nova@2015.1.0 nova/cmd/manage.py; gone from 12.0.0's);
            // openstack/nova@12.0.0 versions/291_enforce_flavors_migrated.py.
            ReleaseStep("nova", "liberty", commands: [
                .init(["nova-manage", "db", "migrate_flavor_data"], "move every instance's flavor to the new format (Liberty's "
                    + "migration 291_enforce_flavors_migrated aborts otherwise)", tool: "kilo", completion: flavorMigrationCompletion),
                dbSync,
            ], requiredStop: previousReleaseOnly("liberty"), notes: [
                // openstack/nova@2015.1.0 nova/db/sqlalchemy/api_migrations/migrate_repo/versions/002_instance_mapping.py,
                // nova/cmd/manage.py ApiDbCommands; openstack/nova@13.0.0 releasenotes/notes/api-database-now-required-6245f39d36885d1c.yaml
                "the nova_api database exists since Kilo (nova-manage api_db sync, optional) and is required from Mitaka; "
                    + "/v2 is served by the v2.1 code in compatible mode",
            ]),
            // openstack/nova@14.0.0 versions/330_enforce_mitaka_online_migrations.py
            ReleaseStep("nova", "mitaka", commands: [
                .init(["nova-manage", "api_db", "sync"], "create the nova_api schema: the database and [api_database]/connection are required from Mitaka"),
                dbSync,
                odm("mitaka", requiredBefore: "newton (migration 330_enforce_mitaka_online_migrations)"),
            ], requiredStop: "Newton's migration 330 refuses until Mitaka's online migrations are done "
                + "(compute_nodes.uuid, aggregates.uuid, pci_devices.parent_addr)",
            notes: ["the EC2 API pipeline is no longer in api-paste.ini"]),  // openstack/nova@13.0.0 etc/nova/api-paste.ini
            // openstack/nova@15.0.0 nova/db/sqlalchemy/api_migrations/migrate_repo/versions/030_require_cell_setup.py,
            // versions/345_require_online_migration_completion.py; simple_cell_setup --transport-url: openstack/nova@14.0.0 nova/cmd/manage.py
            ReleaseStep("nova", "newton", commands: [
                apiSync, dbSync,
                odm("newton", requiredBefore: "ocata (migration 345_require_online_migration_completion)"),
                .init(["nova-manage", "cell_v2", "simple_cell_setup"], "map cell0 and the cell, hosts and instances (Ocata's API "
                    + "migration 030 requires it); needs an empty nova_cell0 database first",
                      options: [(flag: "--transport-url", parameter: "transport_url")]),
            ], requiredStop: "Ocata's API migration 030 needs cell mappings (cell0 and a cell) made here, and its migration 345 "
                + "needs Newton's online migrations done (flavors, keypairs, aggregates, instance groups move to the API database)",
            apiRemovals: ["the legacy v2 API code (/v2 is served by v2.1 in compatible mode)"],
            notes: ["placement API and cells v2 appear, optional until Ocata",
                    "use Newton \(newtonCellSetupMinimum) or later: 14.0.0…14.0.3 require simple_cell_setup --transport-url, and "
                        + "before 14.0.7 cell0's database is named after the API database (nova_api_cell0), not the main one "
                        + "(nova_cell0): preflight.newton_nova_version"]),
            // nova-status: openstack/nova@15.0.0 nova/cmd/status.py (absent at 14.0.0).
            ReleaseStep("nova", "ocata", commands: [apiSync, dbSync, odm("ocata")],
                        requiredStop: previousReleaseOnly("ocata", "Pike's scheduler no longer falls back for computes that do not "
                            + "report to placement: it needs Ocata's placement (API 1.4) and computes "
                            + "(openstack/nova@16.0.0 releasenotes/notes/no-placement-fallback-5db2d0645f51aca8.yaml)"),
                        endpoints: [placementEndpoint], notes: [
                "placement and cells v2 are mandatory; computes need network access to placement",
                "nova-manage cell_v2 discover_hosts whenever computes are added (or the scheduler's periodic discovery)",
                "nova-status upgrade check appears (cells v2, placement API, resource providers)",
            ]),
            ReleaseStep("nova", "pike", commands: [apiSync, dbSync, odm("pike")],
                        requiredStop: previousReleaseOnly("pike", "Pike's computes migrate ironic instances' flavors at runtime, "
                            + "which Queens expects done (openstack/nova@17.0.0 releasenotes/notes/"
                            + "ironic_offline_flavor_migration-4845307799f0e24e.yaml)"),
                        notes: [
                "the scheduler writes allocations to placement; nova's support for Cinder v2 is deprecated",
            ]),
            ReleaseStep("nova", "queens", commands: [apiSync, dbSync, odm("queens")], requiredStop: previousReleaseOnly("queens"),
                        endpoints: [computeEndpoint], notes: [
                "Cinder v2 is no longer supported: a volumev3 catalog entry must exist before nova Queens runs",
                "upgrade placement before the nova controllers and computes",
            ]),
            // openstack/nova@18.0.0 nova/cmd/manage.py (purge), releasenotes/notes/deprecate-nova-consoleauth-ed6ccbc324a0fb10.yaml
            ReleaseStep("nova", "rocky", commands: [apiSync, dbSync, odm("rocky")], requiredStop: previousReleaseOnly("rocky"), notes: [
                "nova-manage db purge and archive_deleted_rows --purge appear; nova-consoleauth deprecated",
            ]),
            ReleaseStep("nova", "stein", commands: [apiSync, dbSync, odm("stein")], requiredStop: previousReleaseOnly("stein"), notes: [
                "placement is extracted to openstack/placement: move it to its own database here (placement's stein step)",
            ]),
            // openstack/nova@23.0.0 versions/402_train.py and api_migrations/.../067_train.py;
            // openstack/nova@20.0.0 versions/400_enforce_service_uuid.py; nova/cells, nova/cmd/consoleauth.py and
            // nova/api/openstack/placement are gone at 20.0.0.
            ReleaseStep("nova", "train", commands: [apiSync, dbSync, odm("train")],
                        requiredStop: "Wallaby's migrations start from 402_train / API 067_train: the databases must be synced "
                            + "by Train (and its online migrations done, for 400_enforce_service_uuid) before Wallaby",
                        notes: [
                "migration 400_enforce_service_uuid needs services.uuid filled by online data migrations",
                "placement code, nova-consoleauth and cells v1 are removed",
            ]),
        ]
        for r in Releases.all where Releases.atLeast(r.name, "ussuri") {
            var step = ReleaseStep("nova", r.name, commands: [apiSync, dbSync, odm(r.name)])
            // Before the first SLURP release every release is a stop; from 2023.1 on only the SLURP
            // releases are (a SLURP hop skips the release between).
            if Releases.before(r.name, "2023.1") { step.requiredStop = previousReleaseOnly(r.name) }
            switch r.name {
            case "wallaby":
                // openstack/nova@23.0.0 nova/cmd/manage.py online_migrations (absent at 22.0.0 and victoria-eol)
                step.notes = [
                    "migrations compacted to 402_train and API 067_train: the databases must be at Train level or later",
                    "online data migration PciDevice.populate_dev_uuids",
                ]
            case "xena": step.notes = ["migrations move to Alembic"]  // openstack/nova@24.0.0 nova/db/main/migrations
            case "2023.1":
                // openstack/nova@27.0.0 nova/objects/service.py OLDEST_SUPPORTED_SERVICE_VERSION = 'Yoga';
                // openstack/nova@28.0.0 nova/db/main (no legacy_migrations)
                step.notes = ["SLURP: conductor refuses computes older than N-2"]
                step.requiredStop = "2023.2 drops the sqlalchemy-migrate migrations: the databases must have been synced by a "
                    + "Xena…2023.1 release (2023.1 is the last of them)"
            case "2023.2":
                step.notes = [
                    "the sqlalchemy-migrate migrations are gone: the database must have been synced by a Xena…2023.1 release",
                    "online data migration populate_instance_compute_id",  // openstack/nova@28.0.0 nova/cmd/manage.py
                ]
            default: break
            }
            steps.append(step)
        }
        return steps
    }()

    /// Kilo's migration 267 (openstack/nova@2015.1.0 versions/267_instance_uuid_non_nullable.py) ran in Kilo's own
    /// db sync: a database at 280 is past it.
    static let kiloMigration267 = "migration 267_instance_uuid_non_nullable is Kilo's: a nova database Kilo synced "
        + "(migrate_version 280) is past it; only one below 267 (Kilo's sync never finished) needs "
        + "nova-manage db null_instance_uuid_scan [--delete] before its next sync (nova.preflight.null_instance_uuids)"

    /// Unit names per package family: RDO's spec installs `%{_unitdir}/openstack-nova-<role>.service`
    /// (rdo-packages/nova-distgit@rpm-kilo and @queens-rdo, 17.0.13, openstack-nova.spec; placement's Apache site
    /// `/etc/httpd/conf.d/00-nova-placement-api.conf` at queens-rdo); Debian/Ubuntu name each unit after its package
    /// (`nova-compute.service`, generated by openstack-pkg-tools from debian/nova-compute.init.in:
    /// openstack/deb-nova@debian/ocata, the packaging Ubuntu's nova source follows; `nova-placement-api` runs under
    /// apache2). Both read /etc/nova/nova.conf.
    static let knowledge = ComponentKnowledge(
        component: "nova", steps: steps,
        services: [
            ServiceUnit(role: "api", rpm: "openstack-nova-api", deb: "nova-api"),
            ServiceUnit(role: "conductor", rpm: "openstack-nova-conductor", deb: "nova-conductor"),
            ServiceUnit(role: "scheduler", rpm: "openstack-nova-scheduler", deb: "nova-scheduler"),
            ServiceUnit(role: "novncproxy", rpm: "openstack-nova-novncproxy", deb: "nova-novncproxy"),
            // openstack/nova@19.0.0 nova/cmd/consoleauth.py; gone at 20.0.0.
            ServiceUnit(role: "consoleauth", rpm: "openstack-nova-consoleauth", deb: "nova-consoleauth", until: "train"),
            // Deprecated in Newton, removed in Pike (with the os-certificates API): openstack/nova@15.0.0
            // nova/cmd/cert.py; gone at 16.0.0.
            ServiceUnit(role: "cert", rpm: "openstack-nova-cert", deb: "nova-cert", until: "pike"),
            ServiceUnit(role: "compute", placement: "compute", rpm: "openstack-nova-compute", deb: "nova-compute"),
            // nova-placement-api is in openstack/nova@14.0.0 setup.cfg (optional in Newton, mandatory from Ocata) and
            // gone at 20.0.0 (nova/api/openstack/placement removed).
            ServiceUnit(role: "placement-api", rpm: "httpd", deb: "apache2", from: "ocata", until: "train"),
        ],
        packages: [
            .rpm: ["openstack-nova-api", "openstack-nova-conductor", "openstack-nova-scheduler", "openstack-nova-novncproxy",
                   "openstack-nova-compute"],
            .deb: ["nova-api", "nova-conductor", "nova-scheduler", "nova-novncproxy", "nova-compute"],
        ],
        notes: [kiloMigration267])

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

extension NovaKnowledge {
    /// nova.conf as each release's code registers it (Schemas/nova-<release>.txt, made by
    /// scripts/knowledge/config-schema.py in the Ocata (15.1.5), Pike (16.1.8) and Queens (17.0.13)
    /// virtualenvs from the namespaces of openstack/nova@<tag> etc/nova/nova-config-generator.conf).
    /// Kilo–Newton are not installable (no schema); of them, Kilo's [neutron] credentials are known
    /// (openstack/nova@2015.1.0 nova/network/neutronv2/api.py `neutron_opts`: admin_username,
    /// admin_password, admin_tenant_name, admin_tenant_id, admin_user_id, admin_auth_url,
    /// auth_strategy; gone at openstack/nova@15.0.0 nova/conf/neutron.py).
    /// Option names of the releases without a schema: Schemas/nova-older.txt (scripts/knowledge/config-older.py,
    /// a text scan of openstack/nova at those releases' tags; recorded, not judged, when no schema has them).
    static let config: ConfigJudge = {
        var judge = ConfigJudge(component: "nova", schemas: [("ocata", PackageResources.nova_ocata_txt), ("pike", PackageResources.nova_pike_txt),
                                                              ("queens", PackageResources.nova_queens_txt)], older: PackageResources.nova_older_txt)
        for option in ["admin_username", "admin_password", "admin_tenant_name", "admin_tenant_id", "admin_user_id", "admin_auth_url", "auth_strategy"] {
            judge.older[.init(file: "nova.conf", section: "neutron", option: option)] = "kilo (openstack/nova@2015.1.0 nova/network/neutronv2/api.py)"
        }
        return judge
    }()

    static let configFiles = [ConfigJudge.File("/etc/nova/nova.conf", "nova.conf")]
}
