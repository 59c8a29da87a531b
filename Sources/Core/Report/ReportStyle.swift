/// The report's stylesheet, inlined in the page: system fonts only, nothing fetched,
/// and a print layout for attaching the page to a change review. The stylesheet is
/// report.css beside this file, embedded in the binary (Package.swift, `.embedInCode`).
enum ReportStyle {
    static let css = String(decoding: PackageResources.report_css, as: UTF8.self)
}
