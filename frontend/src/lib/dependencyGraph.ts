/**
 * The dependency map's geometry: which edges concern one item (both ways, transitively), each item's column
 * (after everything it depends on) and where its box and version rows sit.
 */
import type { DependencyEdge } from "../api/catalogAdmin";

export const COLUMN = 240;
export const BOX = 180;
export const ROW = 22;
export const HEADER = 26;
const GAP = 24;

export interface Box {
  item: string;
  versions: string[];
  x: number;
  y: number;
}

/** Edges that lead to `focus` or away from it, following dependencies in both directions. */
export function around(edges: DependencyEdge[], focus: string): DependencyEdge[] {
  const reach = (next: (e: DependencyEdge) => [string, string]) => {
    const seen = new Set([focus]);
    const queue = [focus];
    while (queue.length) {
      const here = queue.pop() as string;
      for (const e of edges) {
        const [at, other] = next(e);
        if (at === here && !seen.has(other)) {
          seen.add(other);
          queue.push(other);
        }
      }
    }
    return seen;
  };
  const upstream = reach((e) => [e.item_id, e.to]);
  const downstream = reach((e) => [e.to, e.item_id]);
  return edges.filter(
    (e) => (upstream.has(e.item_id) && upstream.has(e.to)) || (downstream.has(e.item_id) && downstream.has(e.to)),
  );
}

/** Column of each item: one after the furthest of what it depends on (a circle stops counting). */
export function columns(edges: DependencyEdge[], items: string[]): Map<string, number> {
  const needs = new Map<string, Set<string>>();
  for (const e of edges) {
    if (!needs.has(e.item_id)) needs.set(e.item_id, new Set());
    needs.get(e.item_id)?.add(e.to);
  }
  const depth = new Map<string, number>();
  const visit = (item: string, path: Set<string>): number => {
    const known = depth.get(item);
    if (known !== undefined) return known;
    if (path.has(item)) return 0;
    path.add(item);
    let d = 0;
    for (const other of needs.get(item) ?? []) d = Math.max(d, visit(other, path) + 1);
    path.delete(item);
    depth.set(item, d);
    return d;
  };
  for (const item of items) visit(item, new Set());
  return depth;
}

export function layout(edges: DependencyEdge[]): { boxes: Map<string, Box>; width: number; height: number } {
  const versions = new Map<string, Set<string>>();
  const add = (item: string, version: string | null) => {
    if (!versions.has(item)) versions.set(item, new Set());
    if (version) versions.get(item)?.add(version);
  };
  for (const e of edges) {
    add(e.item_id, e.version);
    add(e.to, e.resolved ?? null);
  }
  const items = [...versions.keys()].sort();
  const depth = columns(edges, items);
  const boxes = new Map<string, Box>();
  const bottom: number[] = [];
  for (const item of items) {
    const column = depth.get(item) ?? 0;
    const listed = [...(versions.get(item) ?? [])].sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
    const y = bottom[column] ?? 0;
    boxes.set(item, { item, versions: listed, x: column * COLUMN, y });
    bottom[column] = y + HEADER + Math.max(listed.length, 1) * ROW + GAP;
  }
  return { boxes, width: Math.max(bottom.length, 1) * COLUMN, height: Math.max(0, ...bottom) };
}

export function anchor(box: Box, version: string | null, side: "left" | "right"): [number, number] {
  const row = version === null ? -1 : box.versions.indexOf(version);
  const y = row < 0 ? box.y + HEADER / 2 : box.y + HEADER + row * ROW + ROW / 2;
  return [side === "left" ? box.x : box.x + BOX, y];
}
