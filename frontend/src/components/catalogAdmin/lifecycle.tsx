/** A catalog version's lifecycle as the admin pages show it: its state's badge, and the moves a person can ask for. */
import { Badge, type Tone } from "../ui";
import type { LifecycleState } from "../../api/catalogAdmin";

const TONES: Record<LifecycleState, Tone> = {
  draft: "stone",
  in_review: "amber",
  active: "green",
  deprecated: "amber",
  archived: "stone",
  rejected: "red",
};

export const STATES: LifecycleState[] = ["draft", "in_review", "active", "deprecated", "archived", "rejected"];

export function stateLabel(state: string): string {
  return state.replace("_", " ");
}

/** Where a version in review is reviewed. */
export function reviewPath(itemId: string, version: string): string {
  return `/admin/catalog/${encodeURIComponent(itemId)}/versions/${encodeURIComponent(version)}/review`;
}

export function LifecycleBadge({ state, title }: { state: LifecycleState; title?: string }) {
  return (
    <Badge tone={TONES[state]} title={title}>
      {stateLabel(state)}
    </Badge>
  );
}

/** A move offered from a state: its label, the state it leads to, and whether it needs a reason. */
export interface Move {
  label: string;
  to: LifecycleState;
  reason: boolean;
  danger?: boolean;
}

/** The moves the server's edge table allows (reviews excepted: they have their own buttons). */
export function movesFrom(state: LifecycleState, restoresTo: LifecycleState | null, reviewRequired: boolean): Move[] {
  switch (state) {
    case "draft":
      return [
        { label: "Send to review", to: "in_review", reason: false },
        ...(reviewRequired ? [] : [{ label: "Activate", to: "active" as const, reason: false }]),
        { label: "Archive", to: "archived", reason: true, danger: true },
      ];
    case "in_review":
      return [
        { label: "Back to draft", to: "draft", reason: false },
        { label: "Archive", to: "archived", reason: true, danger: true },
      ];
    case "active":
      return [
        { label: "Deprecate", to: "deprecated", reason: true },
        { label: "Archive", to: "archived", reason: true, danger: true },
      ];
    case "deprecated":
      return [
        { label: "Undeprecate", to: "active", reason: false },
        { label: "Archive", to: "archived", reason: true, danger: true },
      ];
    case "rejected":
      return [
        { label: "Back to draft", to: "draft", reason: false },
        { label: "Archive", to: "archived", reason: true, danger: true },
      ];
    case "archived":
      return [{ label: `Restore (${stateLabel(restoresTo ?? "draft")})`, to: restoresTo ?? "draft", reason: true }];
  }
}
