/**
 * The review of one version (four eyes): what it changes against the version it replaces (or, for an item's first
 * version, all of it), what it asks of the platform, its tests, and the decision, which only someone other than
 * its importer can take.
 */
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useAdminItem, type AdminVersion } from "../../api/catalogAdmin";
import { DiffPanel } from "../../components/catalogAdmin/DiffPanel";
import { LifecycleBadge, stateLabel } from "../../components/catalogAdmin/lifecycle";
import { ReviewDecision } from "../../components/catalogAdmin/ReviewDecision";
import { TestResults } from "../../components/catalogAdmin/TestResults";
import { Empty, Section, Spinner, Time } from "../../components/ui";
import { errorText } from "../../lib/formErrors";

/** A new page for each version reviewed: what one review picked to compare with does not carry over. */
export default function CatalogReviewRoute() {
  const { itemId = "", version = "" } = useParams();
  return <CatalogReviewPage key={`${itemId}@${version}`} itemId={itemId} number={version} />;
}

function CatalogReviewPage({ itemId, number }: { itemId: string; number: string }) {
  const item = useAdminItem(itemId);
  const navigate = useNavigate();
  if (item.isPending) return <Spinner label="Loading the review" />;
  if (item.isError) return <Empty title={`${itemId} could not be loaded`}>{errorText(item.error)}</Empty>;
  const data = item.data;
  const version = data.versions.find((v) => v.version === number);
  if (!version) return <Empty title={`${itemId} has no version ${number}`}>It may have been purged.</Empty>;
  const itemPath = `/admin/catalog/${encodeURIComponent(data.id)}`;
  return (
    <section aria-labelledby="review-title">
      <p className="text-sm">
        <Link className="link" to="/admin/catalog">
          Catalog
        </Link>{" "}
        /{" "}
        <Link className="link font-mono" to={itemPath}>
          {data.id}
        </Link>{" "}
        / review
      </p>
      <h1 id="review-title" className="mb-1 text-2xl font-semibold">
        Review {data.name} <span className="font-mono">{version.version}</span>
      </h1>
      <p className="mb-3 text-sm muted">
        <LifecycleBadge state={version.state} /> imported by {version.imported_by}, <Time iso={version.imported_at} />
        {version.reviewed_by && ` · reviewed by ${version.reviewed_by}`}
      </p>
      {version.state !== "in_review" ? (
        <p className="mb-3 rounded-md border border-stone-300 p-3 text-sm" role="status">
          This version is {stateLabel(version.state)}: it does not wait for a review.
        </p>
      ) : !data.may_manage ? (
        <p className="mb-3 text-sm muted">Only the item's maintainers and admins review it.</p>
      ) : !version.may_review ? (
        <p className="mb-3 rounded-md border border-amber-300 p-3 text-sm" role="status">
          You brought this version in (you imported it or pushed its tag): someone else reviews it.
        </p>
      ) : (
        <div className="mb-3">
          <ReviewDecision itemId={data.id} version={version} onDecided={() => navigate(itemPath)} />
        </div>
      )}

      {data.may_manage && <ReviewDetails itemId={data.id} version={version} versions={data.versions} />}
    </section>
  );
}

/** What the reviewer reads: the comparison (with the version it replaces unless another is picked) and the tests. */
function ReviewDetails({ itemId, version, versions }: { itemId: string; version: AdminVersion; versions: AdminVersion[] }) {
  const [base, setBase] = useState<string | null>(null); // null: the version it replaces; "": nothing
  const from = base === null ? (version.replaces ?? null) : base || null;
  return (
    <>
      <Section id="review-diff-title" title="What it changes">
        <label className="mb-3 flex items-center gap-2 text-sm">
          Compared with
          <select className="input" value={from ?? ""} onChange={(e) => setBase(e.target.value)}>
            {versions
              .filter((v) => v.version !== version.version)
              .map((v) => (
                <option key={v.version} value={v.version}>
                  {v.version} ({stateLabel(v.state)}
                  {v.version === version.replaces ? ", the version it replaces" : ""})
                </option>
              ))}
            <option value="">nothing (the whole version)</option>
          </select>
        </label>
        <DiffPanel itemId={itemId} from={from} to={version.version} />
      </Section>

      <Section id="review-tests-title" title="Tests">
        <TestResults itemId={itemId} version={version.version} />
      </Section>
    </>
  );
}
