import FerryTestSupport
import Foundation
import Testing

/// FerrySimulation knows no component: what it knows of Nova, Neutron, RabbitMQ, … (ports,
/// databases, queue readers, the load model, the broker's hosts) comes from the plugins
/// through `SimComponent`. Its sources name none of them, not even in comments, so a fact
/// that creeps back is caught here rather than in review.
struct SimulationNamesNoComponentTests {
    static let names = ["nova", "glance", "cinder", "neutron", "placement", "keystone", "rabbit"]

    @Test func sourcesOfTheSimulationNameNoComponent() throws {
        let dir = Repository.root + "/Sources/Simulation"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".swift") }.sorted()
        #expect(files.count >= 10, "\(files)")
        var found: [String] = []
        for file in files {
            let text = try String(contentsOfFile: dir + "/" + file, encoding: .utf8)
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let lower = line.lowercased()
                for name in Self.names where lower.contains(name) { found.append("\(file):\(i + 1): \(name): \(line.trimmingCharacters(in: .whitespaces))") }
            }
            #expect(!text.contains("import FerryPlugins"), "\(file) imports FerryPlugins")
        }
        #expect(found.isEmpty, "Sources/Simulation names components (move the fact to the plugin's SimComponent):\n\(found.joined(separator: "\n"))")
    }
}
