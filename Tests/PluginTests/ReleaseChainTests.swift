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

    @Test func requiredStopsOfKiloToQueens() throws {
        let stops = try PluginRegistry.requiredStops(from: "kilo", to: "queens").map { "\($0.release) \($0.component)" }
        #expect(stops == ["liberty glance", "liberty cinder", "mitaka nova", "newton nova", "ocata cinder"])
        let text = try ReleaseListing.text(from: "kilo", to: "queens")
        #expect(text.contains("Required stops from kilo to queens:\n  liberty   glance:"))
    }

    /// The compaction stops after Queens (docs/openstack-facts.md, Cinder and Nova): Cinder's Train needs a
    /// database past 122, Nova's Wallaby a Train one, Nova's 2023.2 one synced by Xena…2023.1;
    /// placement leaves nova_api at Stein.
    @Test func requiredStopsAfterQueens() throws {
        let stops = try PluginRegistry.requiredStops(from: "queens", to: "2024.1").map { "\($0.release) \($0.component)" }
        #expect(stops.contains("stein cinder") && stops.contains("train nova") && stops.contains("2023.1 nova"), "\(stops)")
        #expect(stops.contains { $0.hasPrefix("stein ") && $0.contains("placement") }, "\(stops)")
        let hop = try ReleaseListing.text(from: "2023.1", to: "2024.1")
        #expect(hop.contains("2023.1 → 2024.1 is a SLURP hop"))
        #expect(!(try ReleaseListing.text(from: "queens", to: "rocky")).contains("SLURP hop"))
    }
}
