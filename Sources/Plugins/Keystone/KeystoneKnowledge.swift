/// Keystone across releases (docs/openstack-facts.md#keystone; keystone release notes).
enum KeystoneKnowledge {
    static let sync = ManageCommand(["keystone-manage", "db_sync"], "schema sync")

    static let identityV3 = EndpointSpec(
        serviceName: "keystone", serviceType: "identity", port: 5000, path: "/v3",
        why: "Identity API v2.0 is removed in Queens: clients and catalog entries move to /v3")

    static let steps: [ReleaseStep] = Releases.all.filter { Releases.atLeast($0.name, "liberty") }.map { r in
        var step = ReleaseStep("keystone", r.name, commands: [sync])
        switch r.name {
        case "mitaka":
            step.notes = ["the migration repository of Mitaka…Xena starts at 067_kilo: later code syncs a Kilo database"]
        case "newton":
            step.notes = ["rolling upgrades: keystone-manage db_sync --expand, --migrate, --contract"]
        case "ocata":
            step.apiRemovals = ["PKI and PKIz token formats"]
        case "queens":
            step.apiRemovals = ["Identity API v2.0 (except the EC2 v2 API)", "admin_token_auth middleware"]
            step.endpoints = [identityV3]
            step.notes = ["keystone-manage bootstrap no longer creates a member role"]
        case "rocky":
            step.apiRemovals = ["uuid token provider and sql token driver: Fernet only (keystone.preflight.fernet_tokens)"]
        case "zed":
            step.notes = ["migrations move to Alembic"]
        default: break
        }
        return step
    }

    static let knowledge = ComponentKnowledge(
        component: "keystone", steps: steps,
        services: [ServiceUnit(role: "api", rpm: "httpd", deb: "apache2")],
        packages: [.rpm: ["openstack-keystone"], .deb: ["keystone"]],
        notes: [
            "registering endpoints (volumev3, compute v2.1, placement) is Keystone-side work for the other services",
        ])
}
