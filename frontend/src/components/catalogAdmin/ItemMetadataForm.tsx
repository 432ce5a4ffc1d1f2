/**
 * An item's metadata without a new bundle: what its catalog card shows (overriding its manifest), featured and a
 * notice; admins also set its review and test policies, its maintainers, its storage quota and how long its jobs are kept. An emptied field goes
 * back to what the manifest (or the portal's default) says.
 */
import { useState } from "react";
import { useUpdateItem, type AdminItemDetail } from "../../api/catalogAdmin";
import type { Schemas } from "../../api/client";
import { errorText } from "../../lib/formErrors";
import { useToast } from "../toasts";

type Policy = "default" | "off" | "required";

const MIB = 1024 * 1024;

export function ItemMetadataForm({ item, isAdmin }: { item: AdminItemDetail; isAdmin: boolean }) {
  const [name, setName] = useState(String(item.overrides.name ?? ""));
  const [category, setCategory] = useState(String(item.overrides.category ?? ""));
  const [tags, setTags] = useState(item.tags.join(", "));
  const [owner, setOwner] = useState(String(item.overrides.owner ?? ""));
  const [featured, setFeatured] = useState(item.featured);
  const [notice, setNotice] = useState(item.notice ?? "");
  const [review, setReview] = useState<Policy>(item.review_policy ?? "default");
  const [maintainers, setMaintainers] = useState(item.maintainers.join(", "));
  const [tests, setTests] = useState(item.tests_required);
  const [keepDays, setKeepDays] = useState(item.job_retention_days === null ? "" : String(item.job_retention_days));
  const [quota, setQuota] = useState(item.storage_quota_bytes === null ? "" : String(item.storage_quota_bytes / MIB));
  const toast = useToast();
  const save = useUpdateItem({
    onSuccess: () => toast(`${item.id} saved`),
    onError: (error) => toast(`${item.id} was not saved: ${errorText(error)}`, "error"),
  });
  const list = (text: string) =>
    text
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean);
  const submit = () => {
    const body: Schemas["ItemUpdate"] = {
      name: name.trim() || null,
      category: category.trim() || null,
      tags: list(tags),
      owner: owner.trim() || null,
      featured,
      notice: notice.trim() || null,
    };
    if (isAdmin) {
      body.review_policy = review;
      body.maintainers = list(maintainers);
      body.tests_required = tests;
      body.storage_quota_bytes = quota.trim() === "" ? null : Math.round(Number(quota) * MIB);
      body.job_retention_days = keepDays.trim() === "" ? null : Math.round(Number(keepDays));
    }
    save.mutate({ itemId: item.id, body });
  };
  return (
    <form
      className="grid max-w-2xl gap-3 text-sm sm:grid-cols-2"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label>
        Display name
        <input className="input mt-1 w-full" value={name} placeholder={item.name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Category
        <input className="input mt-1 w-full" value={category} placeholder={item.category ?? ""} onChange={(e) => setCategory(e.target.value)} />
      </label>
      <label>
        Tags (comma-separated)
        <input className="input mt-1 w-full" value={tags} onChange={(e) => setTags(e.target.value)} />
      </label>
      <label>
        Owner (team)
        <input className="input mt-1 w-full" value={owner} placeholder={item.owner ?? ""} onChange={(e) => setOwner(e.target.value)} />
      </label>
      <label className="sm:col-span-2">
        Notice shown on the item page
        <input className="input mt-1 w-full" value={notice} onChange={(e) => setNotice(e.target.value)} />
      </label>
      <label className="flex items-center gap-2">
        <input type="checkbox" checked={featured} onChange={(e) => setFeatured(e.target.checked)} /> Featured
      </label>
      {isAdmin && (
        <>
          <label>
            Review before activation
            <select className="input mt-1 w-full" value={review} onChange={(e) => setReview(e.target.value as Policy)}>
              <option value="default">The default (PORTAL_CATALOG_REVIEW)</option>
              <option value="required">Required</option>
              <option value="off">Off</option>
            </select>
          </label>
          <label>
            Maintainers (usernames)
            <input className="input mt-1 w-full" value={maintainers} onChange={(e) => setMaintainers(e.target.value)} />
          </label>
          <label className="flex items-center gap-2">
            <input type="checkbox" checked={tests} onChange={(e) => setTests(e.target.checked)} /> Tests must pass before activation
          </label>
          <label>
            Storage quota (MiB; empty: the default, 0: none)
            <input className="input mt-1 w-full" type="number" min={0} step="any" value={quota} onChange={(e) => setQuota(e.target.value)} />
          </label>
          <label>
            Keep finished jobs (days; empty: the default, 0: for ever)
            <input className="input mt-1 w-full" type="number" min={0} step={1} value={keepDays} onChange={(e) => setKeepDays(e.target.value)} />
          </label>
        </>
      )}
      <div className="sm:col-span-2">
        <button type="submit" className="btn btn-primary" disabled={save.isPending}>
          Save
        </button>
      </div>
    </form>
  );
}
