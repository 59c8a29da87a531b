import FerryCore
import FerryPlugins
import Foundation
import Testing

@Suite struct ModuleTests {
    @Test func dbSyncDeclaresOneStepPerReleaseOfTheChain() async throws {
        let runbook = try await loadRunbook("""
            local glance = require "ferry.glance"
            local cinder = require "ferry.cinder"
            runbook { name = "t", from = "kilo", to = "queens" }
            step "backup" { run = function(ctx) end, undo = function(ctx) end }
            glance.db_sync { from = "kilo", to = "queens" }
            cinder.db_sync { from = "kilo", to = "pike", online_migrations = false }
            """)
        #expect(runbook.steps.map(\.name) == [
            "backup",
            "glance-db-sync-liberty", "glance-db-sync-mitaka", "glance-db-sync-newton", "glance-db-sync-ocata",
            "glance-db-sync-pike", "glance-db-sync-queens",
            "cinder-db-sync-liberty", "cinder-db-sync-mitaka", "cinder-db-sync-newton", "cinder-db-sync-ocata",
            "cinder-db-sync-pike",
        ])
        let liberty = runbook.steps[1]
        #expect(!liberty.isReversible)
        #expect(liberty.isPerHost)
        // Glance's stop before Ocata is Newton (the last legacy release), not Liberty.
        #expect(liberty.desc?.contains("Required stop") == false)
        #expect(runbook.steps[3].desc?.contains("Required stop") == true)
        #expect(liberty.tags == ["glance", "db-sync", "liberty"])
    }

    @Test func aSlurpHopSkipsTheReleaseBetweenUnlessAskedToWalk() async throws {
        let runbook = try await loadRunbook("""
            local nova = require "ferry.nova"
            local cinder = require "ferry.cinder"
            runbook { name = "t", from = "2023.1", to = "2024.1" }
            nova.db_sync { from = "2023.1", to = "2024.1" }
            cinder.db_sync { from = "2023.1", to = "2024.1", slurp = false }
            nova.db_sync { from = "2023.1", to = "2025.1", prefix = "nova-two-" }
            """)
        // 2023.1 → 2024.1 is one SLURP hop; 2023.1 → 2025.1 is not, and walks every release.
        #expect(runbook.steps.map(\.name) == [
            "nova-db-sync-2024.1",
            "cinder-db-sync-2023.2", "cinder-db-sync-2024.1",
            "nova-two-2023.2", "nova-two-2024.1", "nova-two-2024.2", "nova-two-2025.1",
        ])
        await #expect {
            _ = try await loadRunbook("""
                local nova = require "ferry.nova"
                runbook { name = "t" }
                nova.db_sync { from = "2023.1", to = "2024.1", slurp = "yes" }
                """)
        } throws: { "\($0)".contains("runbook.lua:3:") && "\($0)".contains("nova.db_sync { slurp = ... }: expected true or false") }
    }

    @Test func releaseModuleAnswersChainsAndNamesUnknownReleases() async throws {
        let runbook = try await loadRunbook("""
            assert(release ~= nil and release.chain ~= nil, "release is a global")
            assert(require("ferry.release") == release, "the global is the module")
            local chain = release.chain("kilo", "queens")
            runbook { name = "t" }
            assert(#chain == 6 and chain[1] == "liberty" and chain[6] == "queens", table.concat(chain, ","))
            assert(release.is_slurp("2024.1") and not release.is_slurp("queens"))
            assert(release.index("kilo") == 1)
            assert(#release.required_stops("kilo", "queens") == 9)
            local ok, err = pcall(release.chain, "kilo", "quens")
            assert(not ok and err:find("unknown release 'quens'"), err)
            local glance = require "ferry.glance"
            assert(glance.services("rpm", "api")[1] == "openstack-glance-api")
            assert(#glance.services("deb", nil, "ussuri") == 2 and #glance.services("deb", nil, "victoria") == 1)
            step "x" { run = function(ctx) end }
            """)
        #expect(runbook.steps.count == 1)
    }

    /// A native's error through `ferry.release` names the runbook line once (is_slurp
    /// read `runbook.lua:2: runbook.lua:2: unknown release`).
    @Test func releaseErrorsNameTheRunbookLineOnce() async throws {
        for call in ["release.is_slurp(\"quens\")", "release.info(\"quens\")", "release.chain(\"kilo\", \"quens\")"] {
            await #expect {
                try await loadRunbook("runbook { name = \"t\" }\nlocal x = \(call)\n")
            } throws: { error in
                let text = "\(error)"
                return text.contains("runbook.lua:2: unknown release 'quens'") && !text.contains("runbook.lua:2: runbook.lua:2")
            }
        }
    }

    @Test func anUnknownReleaseInDbSyncPointsAtTheRunbookLine() async throws {
        await #expect {
            try await loadRunbook("""
                local glance = require "ferry.glance"
                runbook { name = "t" }
                glance.db_sync { from = "kilo", to = "quens" }
                """)
        } throws: { error in
            let text = "\(error)"
            // Named once: it read `runbook.lua:3: runbook.lua:3: unknown release`.
            return text.contains("runbook.lua:3: unknown release 'quens'") && !text.contains("runbook.lua:3: runbook.lua:3")
        }
    }
}

@Suite struct ModuleChainTests {
    @Test func everyComponentDeclaresItsChain() async throws {
        let runbook = try await loadRunbook("""
            local nova = require "ferry.nova"
            local neutron = require "ferry.neutron"
            local keystone = require "ferry.keystone"
            local rabbitmq = require "ferry.rabbitmq"
            runbook { name = "t" }
            keystone.db_sync { from = "pike", to = "queens" }
            nova.db_sync { from = "mitaka", to = "ocata" }
            nova.placement.db_sync { from = "queens", to = "train" }
            neutron.db_sync { from = "kilo", to = "liberty", prefix = "neutron-schema-" }
            assert(#rabbitmq.db_sync { from = "kilo", to = "queens" } == 0)
            assert(rabbitmq.definition { lazy = true, locator = "min-masters" }["queue-master-locator"] == "min-masters")
            assert(nova.services("ubuntu", "compute")[1] == "nova-compute")
            assert(#nova.services("rpm", "consoleauth", "train") == 0)
            assert(nova.step("newton").required_stop == true)
            """)
        #expect(runbook.steps.map(\.name) == [
            "keystone-db-sync-queens", "nova-db-sync-newton", "nova-db-sync-ocata",
            "placement-db-sync-stein", "placement-db-sync-train", "neutron-schema-liberty",
        ])
    }
}
