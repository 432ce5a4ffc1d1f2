/** How full something is (a disk): a bar that turns amber from 80 % and red from 90 %. */
export function UsageBar({ used, total, label }: { used: number; total: number; label: string }) {
  const pct = total > 0 ? Math.max(0, Math.min(100, (used / total) * 100)) : 0;
  const colour = pct >= 90 ? "bg-red-600" : pct >= 80 ? "bg-amber-500" : "bg-accent-600";
  return (
    <div
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(pct)}
      aria-valuetext={`${Math.round(pct)} % used`}
      className="h-2 w-full overflow-hidden rounded-full bg-stone-200 dark:bg-stone-800"
    >
      <div className={`h-full rounded-full ${colour}`} style={{ width: `${pct}%` }} />
    </div>
  );
}
