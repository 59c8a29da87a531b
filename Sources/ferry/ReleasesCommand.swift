import ArgumentParser
import FerryCore
import FerryPlugins

struct ReleasesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "releases", abstract: "What Ferry knows of each release step: commands, required stops, migrations, API changes.")
    @Argument(help: "A component (glance, cinder, nova, placement, neutron, keystone, rabbitmq). Without it, all.") var component: String?
    @Option(name: .long, help: "Only the steps after this release.") var from: String?
    @Option(name: .long, help: "Only the steps up to this release.") var to: String?
    @Flag(name: .long, help: "Print as JSON.") var json = false

    func run() async throws {
        try await guarded {
            if json {
                Console.out(try ReleaseListing.json(component: component, from: from, to: to).jsonString())
            } else {
                Console.out(try ReleaseListing.text(component: component, from: from, to: to))
            }
            return 0
        }
    }
}
