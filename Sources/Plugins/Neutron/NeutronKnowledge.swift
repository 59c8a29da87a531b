/// Neutron across releases (docs/openstack-facts.md#neutron; neutron admin/migration-database.rst).
/// Sources: openstack/neutron@7.0.0 (Liberty) neutron/db/migration/cli.py (`upgrade --expand` / `--contract`;
/// no has_offline_migrations), openstack/neutron@8.0.0 (Mitaka) neutron/db/migration/cli.py has_offline_migrations;
/// the chain's base: openstack/neutron@2015.1.0 neutron/db/migration/alembic_migrations/versions/HEAD is `kilo`, and
/// versions/kilo_initial.py (revision `kilo`) is the base at @8.0.0 … @28.0.0 (Liberty's, @7.0.0, is juno_initial,
/// whose liberty/ branches also start at `kilo`).
enum NeutronKnowledge {
    static let configFiles = ["--config-file", "/etc/neutron/neutron.conf", "--config-file", "/etc/neutron/plugins/ml2/ml2_conf.ini"]

    static let expand = ManageCommand(["neutron-db-manage"] + configFiles + ["upgrade", "--expand"],
                                      "expand branch: additive, safe while neutron-server runs")
    static let contract = ManageCommand(["neutron-db-manage"] + configFiles + ["upgrade", "--contract"],
                                        "contract branch: every neutron-server must be stopped")

    static let steps: [ReleaseStep] = Releases.all.filter { Releases.atLeast($0.name, "liberty") }.map { r in
        var step = ReleaseStep("neutron", r.name, commands: [expand, contract])
        switch r.name {
        case "liberty":
            step.notes = ["migrations split into the expand and contract branches (upgrade --expand / --contract)"]
        case "mitaka":
            step.notes = ["neutron-db-manage has_offline_migrations tells whether contract migrations are pending"]
        default: break
        }
        return step
    }

    /// What an OVS agent's restart does to its host's instances, release by release (docs/openstack-facts.md#neutron-data-plane;
    /// the simulation: NeutronDataplane).
    static let dataplane: [(release: String, fact: String, source: String)] = [
        ("kilo", "every start removes the host's flows (br-int: all but one NORMAL flow; br-tun re-created; physical bridges) and "
            + "allocates local VLANs afresh: tunnel and VLAN traffic stops until the first rpc_loop iteration has processed every port",
         "openstack/neutron@2015.1.0 neutron/plugins/openvswitch/agent/ovs_neutron_agent.py __init__, setup_integration_br, "
            + "reset_tunnel_br, setup_physical_bridges, provision_local_vlan, port_bound, rpc_loop"),
        ("liberty", "flows kept on start (drop_flows_on_start, default False), stale ones (older cookie) removed after the first full "
            + "sync; each port's local VLAN restored from the other_config net_uuid port_bound writes",
         "openstack/neutron@7.0.0 neutron/plugins/ml2/drivers/openvswitch/agent/ovs_neutron_agent.py _restore_local_vlan_map, "
            + "port_bound, cleanup_stale_flows; neutron/plugins/ml2/drivers/openvswitch/agent/common/config.py drop_flows_on_start"),
        ("liberty", "the first start over ports a Kilo agent bound finds no net_uuid: new local VLANs, br-tun's inbound flows replaced, "
            + "ports re-tagged only at the end of the first sync (_bind_devices): the host's instances cut off until then",
         "openstack/neutron@12.0.0 neutron/plugins/ml2/drivers/openvswitch/agent/ovs_neutron_agent.py _restore_local_vlan_map, "
            + "provision_local_vlan, _bind_devices, setup_integration_br; neutron/conf/plugins/ml2/drivers/ovs_conf.py drop_flows_on_start"),
        ("kilo", "a stopped agent changes no flow; local VLANs are host-local and a tunnel carries the segmentation id, so upgraded "
            + "and not yet upgraded hosts reach each other",
         "openstack/neutron@2015.1.0 and @12.0.0 ovs_neutron_agent.py provision_local_vlan (tun_id ↔ local VLAN per host)"),
    ]

    static let knowledge = ComponentKnowledge(
        component: "neutron", steps: steps,
        services: [
            ServiceUnit(role: "server", rpm: "neutron-server", deb: "neutron-server"),
            ServiceUnit(role: "openvswitch-agent", placement: "compute", rpm: "neutron-openvswitch-agent", deb: "neutron-openvswitch-agent"),
            ServiceUnit(role: "l3-agent", placement: "network", rpm: "neutron-l3-agent", deb: "neutron-l3-agent"),
            ServiceUnit(role: "dhcp-agent", placement: "network", rpm: "neutron-dhcp-agent", deb: "neutron-dhcp-agent"),
            ServiceUnit(role: "metadata-agent", placement: "network", rpm: "neutron-metadata-agent", deb: "neutron-metadata-agent"),
        ],
        packages: [
            .rpm: ["openstack-neutron", "openstack-neutron-ml2", "openstack-neutron-openvswitch"],
            .deb: ["neutron-server", "neutron-plugin-ml2", "neutron-openvswitch-agent", "neutron-l3-agent", "neutron-dhcp-agent",
                   "neutron-metadata-agent"],
        ],
        firstRelease: "kilo",
        notes: [
            "the migration chain starts at kilo_initial: newer code upgrades a Kilo schema directly (no compaction stop)",
            "upgrade every neutron-server first, then the agents (the server keeps RPC compatibility with older agents)",
            "restarting many agents at once loads the server and database: OVS agents past agent_boot_time lose tunnel flows, "
                + "L3 agents' sync_routers timeouts cause endless resyncs (LP#1516260); restart in waves behind a gate",
            // openstack/neutron@2015.1.0 neutron/db/agentschedulers_db.py, @12.0.0 neutron/conf/agent/database/agentschedulers_db.py
            // and neutron/conf/db/l3_agentschedulers_db.py (defaults True and False), @12.0.0 neutron/db/agentschedulers_db.py
            // remove_networks_from_down_agents.
            // NeutronKnowledge.dataplane cites each part.
            "the first Liberty-or-later start of an OVS agent over ports a Kilo agent bound re-tags their local VLANs at the end of "
                + "its first sync (Kilo wrote no other_config net_uuid to restore them from): the host's instances lose traffic until "
                + "then; a Kilo agent's every start wipes the flows; probe instances from the network nodes between waves",
            "a neutron-server on another broker than its agents sees them dead: allow_automatic_dhcp_failover (default True) "
                + "moves all their networks to the first agent that reports (allow_automatic_l3agent_failover, default False: routers); "
                + "turn both off until the agents follow, then restore them and restart the server",
        ])
}

extension NeutronKnowledge {
    /// neutron.conf and the ML2, OVS, DHCP, L3 and metadata agents' files as each release's code registers
    /// them (Schemas/neutron-<release>.txt, made by scripts/knowledge/config-schema.py in the Ocata (10.0.7),
    /// Pike (11.0.8) and Queens (12.1.1) virtualenvs from openstack/neutron@<tag> etc/oslo-config-generator/*).
    /// Option names of the releases without a schema: Schemas/neutron-older.txt (scripts/knowledge/config-older.py,
    /// a text scan of openstack/neutron at those releases' tags; recorded, not judged, when no schema has them).
    static let config = ConfigJudge(component: "neutron", schemas: [("ocata", PackageResources.neutron_ocata_txt),
                                                                     ("pike", PackageResources.neutron_pike_txt),
                                                                     ("queens", PackageResources.neutron_queens_txt)],
                                    older: PackageResources.neutron_older_txt)

    /// The files each unit reads (`--config-file` of its unit; oslo.config reads them into one namespace, so an
    /// option of any of them is valid in each): RDO's units (rdo-packages/neutron-distgit@queens-rdo
    /// neutron-server.service, neutron-openvswitch-agent.service, neutron-dhcp-agent.service, neutron-l3-agent.service,
    /// neutron-metadata-agent.service; the server's plugin file through /etc/neutron/plugin.ini → ml2_conf.ini) and
    /// Ubuntu's (openstack/deb-neutron@debian/ocata debian/neutron-*.init.in), the Mitaka-on paths.
    static func configFiles(unit: String) -> [ConfigJudge.File] {
        let conf = ConfigJudge.File("/etc/neutron/neutron.conf", "neutron.conf")
        switch unit {
        case "neutron-server": return [conf, .init("/etc/neutron/plugins/ml2/ml2_conf.ini", "ml2_conf.ini")]
        case "neutron-openvswitch-agent": return [conf, .init("/etc/neutron/plugins/ml2/openvswitch_agent.ini", "openvswitch_agent.ini")]
        case "neutron-dhcp-agent": return [conf, .init("/etc/neutron/dhcp_agent.ini", "dhcp_agent.ini")]
        case "neutron-l3-agent": return [conf, .init("/etc/neutron/l3_agent.ini", "l3_agent.ini")]
        case "neutron-metadata-agent": return [conf, .init("/etc/neutron/metadata_agent.ini", "metadata_agent.ini")]
        default: return [conf]
        }
    }
}
