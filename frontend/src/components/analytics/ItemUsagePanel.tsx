/** One item's usage over the last 30 days on its admin page: figures per version and the adoption chart. */
import { lazy, Suspense, useMemo } from "react";
import { Link } from "react-router";
import { lastDays, useAdoption, useItemAnalytics } from "../../api/analytics";
import { errorText } from "../../lib/formErrors";
import { Spinner } from "../ui";
import { UsageTable } from "./UsageTable";

const AdoptionChart = lazy(() => import("./Charts").then((m) => ({ default: m.AdoptionChart })));

export function ItemUsagePanel({ itemId }: { itemId: string }) {
  const period = useMemo(() => lastDays(30), []);
  const usage = useItemAnalytics(period, itemId);
  const adoption = useAdoption(itemId, period);
  if (usage.isPending) return <Spinner label="Loading usage" />;
  if (usage.isError) return <p className="text-sm">{errorText(usage.error)}</p>;
  const items = usage.data.items;
  return (
    <div className="space-y-2" data-testid="item-usage">
      {items.length === 0 ? (
        <p className="text-sm muted">No runs in the last 30 days.</p>
      ) : (
        <>
          <UsageTable items={items} single />
          {adoption.data && (
            <Suspense fallback={<Spinner label="Loading the chart" />}>
              <AdoptionChart adoption={adoption.data} />
            </Suspense>
          )}
        </>
      )}
      <Link className="link text-sm" to={`/admin/analytics?item=${encodeURIComponent(itemId)}`}>
        All analytics
      </Link>
    </div>
  );
}
