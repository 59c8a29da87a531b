import FerryCore
import Testing

@Suite struct AdHocExecTests {
    @Test func hostListsFoldLikeDshbak() {
        #expect(AdHocExec.compress(["cmp001", "cmp002", "cmp003", "cmp007", "ctl1", "db"]) == "cmp[001-003,007],ctl1,db")
        #expect(AdHocExec.compress(["n9", "n10", "n11"]) == "n9,n[10-11]")
        #expect(AdHocExec.compress(["web5"]) == "web5")
    }

    @Test func identicalResultsAreGroupedBiggestFirst() {
        let results = [
            AdHocExec.HostResult(host: "a1", exitCode: 0, stdout: "ok\n", stderr: "", error: nil),
            AdHocExec.HostResult(host: "a2", exitCode: 1, stdout: "", stderr: "boom\n", error: nil),
            AdHocExec.HostResult(host: "a3", exitCode: 0, stdout: "ok\n", stderr: "", error: nil),
            AdHocExec.HostResult(host: "a4", exitCode: nil, stdout: "", stderr: "", error: "a4: connection refused"),
            AdHocExec.HostResult(host: "a5", exitCode: nil, stdout: "", stderr: "", error: "a5: connection refused"),
            AdHocExec.HostResult(host: "a6", exitCode: 0, stdout: "ok\n", stderr: "", error: nil),
        ]
        let groups = AdHocExec.group(results)
        #expect(groups.map(\.hosts) == [["a1", "a3", "a6"], ["a4", "a5"], ["a2"]])
        #expect(groups[0].status == "exit 0")
        #expect(groups[1].status == "connection refused")
        #expect(groups[2].output == "boom\n")
    }
}
