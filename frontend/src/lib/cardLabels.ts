/**
 * Labels for the cells of data tables shown as cards on a phone (index.css, `table.cards`): each cell gets its
 * column's header text as `data-label`, kept up to date as rows come and go.
 */

/** Set `data-label` on every body cell of `table` from its header row (column spans counted). */
export function labelCells(table: HTMLTableElement): void {
  const heads: string[] = [];
  for (const th of table.tHead?.rows[0]?.cells ?? []) {
    const text = (th.textContent ?? "").trim();
    for (let i = 0; i < th.colSpan; i += 1) heads.push(text);
  }
  for (const body of table.tBodies) {
    for (const row of body.rows) {
      let column = 0;
      for (const cell of row.cells) {
        const label = cell.colSpan === 1 ? heads[column] : "";
        if (label) {
          if (cell.getAttribute("data-label") !== label) cell.setAttribute("data-label", label);
        } else if (cell.hasAttribute("data-label")) {
          cell.removeAttribute("data-label");
        }
        column += cell.colSpan;
      }
    }
  }
}

/** Keep the cells of every `table.cards` under `root` labelled; returns the function that stops it. */
export function followCardLabels(root: HTMLElement): () => void {
  let frame = 0;
  const run = () => {
    frame = 0;
    for (const table of root.querySelectorAll<HTMLTableElement>("table.cards")) labelCells(table);
  };
  const observer = new MutationObserver(() => {
    if (!frame) frame = requestAnimationFrame(run);
  });
  observer.observe(root, { childList: true, subtree: true, characterData: true });
  run();
  return () => {
    observer.disconnect();
    if (frame) cancelAnimationFrame(frame);
  };
}
