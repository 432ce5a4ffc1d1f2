import { describe, expect, it } from "vitest";
import { labelCells } from "./cardLabels";

describe("labelCells", () => {
  it("labels each body cell with its column's header, counting spans", () => {
    document.body.innerHTML = `<table><thead><tr><th></th><th>State</th><th colspan="2">When</th></tr></thead>
      <tbody><tr><td><input type="checkbox"></td><td>Failed</td><td>a</td><td>b</td></tr>
      <tr><td colspan="4">spacer</td></tr></tbody></table>`;
    const table = document.querySelector("table")!;
    labelCells(table);
    const cells = [...table.tBodies[0]!.rows[0]!.cells].map((c) => c.getAttribute("data-label"));
    expect(cells).toEqual([null, "State", "When", "When"]);
    expect(table.tBodies[0]!.rows[1]!.cells[0]!.hasAttribute("data-label")).toBe(false);
  });
});
