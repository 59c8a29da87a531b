import FerryCore
import FerryPlugins
import Testing

@Suite struct ReleaseChainTests {
    @Test func kiloToQueensWalksLibertyThroughQueens() throws {
        let chain = try Releases.chain(from: "kilo", to: "queens").map(\.name)
        #expect(chain == ["liberty", "mitaka", "newton", "ocata", "pike", "queens"])
    }

    @Test func releasesRunFromKiloTo2026_1WithSLURPMarks() {
        #expect(Releases.names.first == "kilo")
        #expect(Releases.names.last == "2026.1")
        #expect(Releases.all.filter(\.slurp).map(\.name) == ["2023.1", "2024.1", "2025.1", "2026.1"])
    }

    @Test func seriesNamesAndIdsFindTheRelease() throws {
        #expect(Releases.find("Antelope")?.name == "2023.1")
        #expect(Releases.find("2015.1")?.name == "kilo")
        #expect(try Releases.chain(from: "zed", to: "caracal").map(\.name) == ["2023.1", "2023.2", "2024.1"])
    }

    @Test func anUnknownReleaseIsNamedAndTheKnownOnesListed() {
        #expect {
            try Releases.chain(from: "kilo", to: "quens")
        } throws: { error in
            let message = "\(error)"
            return message.contains("unknown release 'quens'") && message.contains("kilo, liberty") && message.contains("2026.1")
        }
    }

    @Test func aBackwardChainIsRefused() {
        #expect(throws: FerryError.self) { try Releases.chain(from: "queens", to: "kilo") }
        #expect(throws: FerryError.self) { try Releases.chain(from: "queens", to: "queens") }
    }

    @Test func onlySLURPToNextSLURPMaySkip() {
        #expect(Releases.skipSupported(from: "2023.1", to: "2024.1"))
        #expect(!Releases.skipSupported(from: "2023.1", to: "2025.1"))
        #expect(!Releases.skipSupported(from: "kilo", to: "mitaka"))
    }

    /// What a plan walks: Nova visits every release of Kilo → Queens, each a required stop; Cinder and Glance
    /// walk Liberty too, but it is optional for both.
    @Test func kiloToQueensPlansVisitEveryNovaReleaseAndLibertyIsOptionalForCinder() throws {
        let nova = try PluginRegistry.knowledge["nova"]!.steps(from: "kilo", to: "queens")
        #expect(nova.map(\.release) == (try Releases.chain(from: "kilo", to: "queens")).map(\.name))
        #expect(nova.allSatisfy { $0.requiredStop != nil })
        let cinder = try PluginRegistry.knowledge["cinder"]!.steps(from: "kilo", to: "queens")
        #expect(cinder.first?.release == "liberty" && cinder.first?.requiredStop == nil)
        #expect(cinder.first { $0.release == "mitaka" }?.requiredStop?.contains("045") == true)
        let glance = try PluginRegistry.knowledge["glance"]!.steps(from: "kilo", to: "queens")
        #expect(glance.first?.release == "liberty" && glance.first?.requiredStop == nil)
    }

    @Test func requiredStopsOfKiloToQueens() throws {
        let stops = try PluginRegistry.requiredStops(from: "kilo", to: "queens").map { "\($0.release) \($0.component)" }
        // Nova: every release (N → N+1 only). Cinder: Mitaka, not Liberty (Mitaka's INIT_VERSION 000 syncs Kilo's
        // 041; Newton needs 045). Glance: Newton, not Liberty (Newton's legacy tree 001…044 syncs Kilo's 041; Ocata needs 42).
        #expect(stops == ["liberty nova", "mitaka cinder", "mitaka nova", "newton glance", "newton nova", "ocata cinder",
                          "ocata nova", "pike nova", "queens nova"])
        let text = try ReleaseListing.text(from: "kilo", to: "queens")
        #expect(text.contains("Required stops from kilo to queens:\n  liberty   nova:"))
        #expect(!text.contains("liberty   glance:") && !text.contains("liberty   cinder:"))
    }

    /// The compaction stops after Queens (docs/openstack-facts.md, Cinder and Nova): Cinder's Train needs a
    /// database past 122, Nova's Wallaby a Train one, Nova's 2023.2 one synced by Xena…2023.1;
    /// placement leaves nova_api at Stein.
    @Test func requiredStopsAfterQueens() throws {
        let stops = try PluginRegistry.requiredStops(from: "queens", to: "2024.1").map { "\($0.release) \($0.component)" }
        #expect(stops.contains("stein cinder") && stops.contains("train nova") && stops.contains("2023.1 nova"), "\(stops)")
        #expect(stops.contains { $0.hasPrefix("stein ") && $0.contains("placement") }, "\(stops)")
        // Cinder's Xena starts at 134 (Ussuri or later), 2023.2 drops sqlalchemy-migrate; Glance's Xena needs an Alembic
        // database (Ocata…Wallaby); Keystone's Yoga starts at 72 (Newton…Xena), 2023.2 drops sqlalchemy-migrate.
        for stop in ["wallaby cinder", "2023.1 cinder", "wallaby glance", "xena keystone", "2023.1 keystone",
                     "rocky nova", "stein nova", "ussuri nova", "zed nova"] {
            #expect(stops.contains(stop), "\(stop) in \(stops)")
        }
        #expect(!stops.contains("2023.2 nova"))
        let hop = try ReleaseListing.text(from: "2023.1", to: "2024.1")
        #expect(hop.contains("2023.1 → 2024.1 is a SLURP hop"))
        #expect(!(try ReleaseListing.text(from: "queens", to: "rocky")).contains("SLURP hop"))
    }
}
