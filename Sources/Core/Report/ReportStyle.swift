/// The report's stylesheet, inlined in the page: system fonts only, nothing fetched,
/// and a print layout for attaching the page to a change review.
enum ReportStyle {
    static let css = """
        :root {
          --ink: #1f2933; --muted: #6b7785; --line: #e3e7ec; --paper: #ffffff; --page: #f4f6f8;
          --run: #2f6db5; --run-2: #4f8bd1; --run-soft: #d6e4f5;
          --undo: #b7661c; --undo-2: #d4893f; --undo-soft: #f6e3cf;
          --bad: #c62828; --bad-soft: #fde8e8; --ok: #2e7d32; --ok-soft: #e3f3e4; --warn: #a86800; --warn-soft: #fff3d6;
          --sim: #6a3fb5; --sim-soft: #ece5f8;
        }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--page); color: var(--ink);
          font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
        main { max-width: 1380px; margin: 0 auto; padding: 24px 28px 40px; }
        code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
        h1 { font-size: 26px; margin: 2px 0 10px; display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
        h2 { font-size: 17px; margin: 0 0 12px; }
        h3 { font-size: 14px; margin: 0 0 6px; }
        section { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; margin: 16px 0; }
        .head { padding: 4px 0 4px; }
        .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: var(--muted); font-weight: 600; }
        .meta { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0; }
        .meta div { display: flex; gap: 8px; }
        .meta dt { color: var(--muted); }
        .meta dd { margin: 0; }
        .pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 600;
          vertical-align: middle; white-space: nowrap; }
        h1 .pill { font-size: 13px; padding: 3px 12px; }
        .pill-ok { background: var(--ok-soft); color: var(--ok); }
        .pill-bad { background: var(--bad-soft); color: var(--bad); }
        .pill-undo { background: var(--undo-soft); color: var(--undo); }
        .pill-warn { background: var(--warn-soft); color: var(--warn); }
        .pill-sim { background: var(--sim-soft); color: var(--sim); }
        .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px;
          background: none; border: 0; padding: 0; }
        .card { background: var(--paper); border: 1px solid var(--line); border-left: 4px solid var(--run); border-radius: 8px; padding: 12px 14px; }
        .card-undo { border-left-color: var(--undo); }
        .card-bad { border-left-color: var(--bad); }
        .card-label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; font-weight: 600; }
        .card-value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; margin: 2px 0; }
        .card-detail { font-size: 12.5px; color: var(--muted); }
        .alert { background: var(--bad-soft); border: 1px solid #f3b7b7; color: #8e1b1b; border-radius: 8px; padding: 10px 14px; margin: 16px 0; }
        .legend { display: flex; flex-wrap: wrap; gap: 6px 20px; font-size: 12.5px; color: var(--muted); margin: -4px 0 10px; }
        .legend span { display: inline-flex; align-items: center; gap: 6px; }
        .chart { overflow-x: auto; }
        svg text { fill: var(--ink); }
        .grid { stroke: var(--line); stroke-width: 1; }
        .axis-line { stroke: #b8c0c9; }
        .axis { fill: var(--muted); font-size: 11px; font-variant-numeric: tabular-nums; }
        .axis-title { fill: var(--muted); font-size: 11px; font-style: italic; }
        .zebra { fill: #f7f9fb; }
        .break rect { fill: #eceff3; }
        .break path { fill: none; stroke: #9aa5b1; stroke-width: 1.2; }
        .break-label { fill: var(--muted); font-size: 11px; font-weight: 600; }
        .lane { fill: #eef3fa; }
        .lane-undo { fill: #fbf1e6; }
        .lane-title { font-weight: 700; font-size: 13px; }
        .lane-summary { fill: var(--muted); font-size: 12px; }
        .label { font-size: 12.5px; }
        .label-failed { fill: var(--bad); font-weight: 600; }
        .step-no { fill: var(--muted); font-variant-numeric: tabular-nums; }
        .undo-tag { fill: var(--undo); font-size: 11px; font-weight: 600; }
        .dot-done { fill: var(--ok); } .dot-undo { fill: var(--undo); } .dot-failed { fill: var(--bad); } .dot-other { fill: #9aa5b1; }
        .bar-run { fill: var(--run); }
        .bar-undo { fill: var(--undo); }
        .bar-failed { fill: var(--bad); }
        .envelope { stroke-width: 1; }
        .bar-run-envelope { fill: var(--run-soft); stroke: #a9c4e6; }
        .bar-undo-envelope { fill: var(--undo-soft); stroke: #e5bf96; }
        .envelope-failed { stroke: var(--bad); stroke-width: 1.5; }
        .bar-run.wave-b { fill: var(--run-2); }
        .bar-undo.wave-b { fill: var(--undo-2); }
        .wave-failed { fill: var(--bad); }
        .bar-broken { stroke: var(--bad); stroke-width: 2.5; }
        .hatch { fill: url(#hatch); }
        .skipped { fill: #9aa5b1; }
        .check-failed { fill: var(--bad); stroke: #fff; stroke-width: 1.2; }
        .check-recovered { fill: #e0a100; }
        .marker-line { stroke: var(--undo); stroke-width: 1.2; stroke-dasharray: 4 3; }
        .info { font-size: 12px; font-variant-numeric: tabular-nums; }
        .dur { font-weight: 600; }
        .hosts { fill: var(--muted); }
        svg .fail-text { fill: var(--bad); font-weight: 600; }
        .fail-text { color: var(--bad); font-weight: 600; }
        .warn-text { color: var(--warn); font-weight: 600; }
        .mean-run { stroke: var(--run); stroke-width: 1.5; stroke-dasharray: 6 4; }
        .mean-undo { stroke: var(--undo); stroke-width: 1.5; stroke-dasharray: 6 4; }
        .mean-label { font-size: 11px; font-weight: 600; }
        .mean-run-text { fill: var(--run); } .mean-undo-text { fill: var(--undo); }
        .bar-value { font-size: 10.5px; fill: var(--muted); font-variant-numeric: tabular-nums;
          paint-order: stroke; stroke: #ffffff; stroke-width: 3px; stroke-linejoin: round; }
        .rep-label { font-weight: 600; }
        .rep-status { font-size: 11px; fill: var(--muted); }
        .whisker { stroke: #6b7785; stroke-width: 1.2; }
        table { border-collapse: collapse; width: 100%; font-size: 13px; }
        th { text-align: left; font-size: 12px; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); padding: 6px 8px; }
        th.group { text-align: center; color: var(--run); border-bottom: 1px solid var(--line); }
        th.group-undo { color: var(--undo); }
        td { border-bottom: 1px solid var(--line); padding: 5px 8px; vertical-align: top; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
        td.message { color: #45515e; max-width: 520px; overflow-wrap: anywhere; }
        tr.row-failed td { background: #fff6f6; }
        tr.row-undo td { background: #fffaf4; }
        table.compact td { padding: 3px 8px; }
        .kind { font-size: 12px; background: #eef1f4; border-radius: 4px; padding: 1px 6px; }
        .kind-warn { background: var(--warn-soft); color: var(--warn); }
        .muted { color: var(--muted); }
        .failure { border-left: 3px solid var(--bad); padding: 4px 0 4px 12px; margin: 10px 0 14px; }
        .failure p.message { margin: 4px 0 8px; }
        details { border-top: 1px solid var(--line); padding: 8px 0; }
        summary { cursor: pointer; padding: 4px 0; }
        footer { color: var(--muted); font-size: 12px; margin-top: 20px; }
        @media print {
          body { background: #fff; font-size: 12px; }
          main { max-width: none; padding: 0; }
          section { break-inside: avoid; border-color: #ccc; }
          details { display: block; }
          details > summary { list-style: none; }
        }
        """
}
