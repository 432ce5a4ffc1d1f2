/**
 * Secrets for catalog items (admin; the server enforces it). A secret's value goes in and never comes back: the
 * list shows names, descriptions, the item versions granted each one and the versions that wait for a grant
 * (with Extend); values can only be replaced.
 */
import { useMemo, useState, type FormEvent } from "react";
import { useAllCatalogItems } from "../../api/catalog";
import { ApiError } from "../../api/client";
import {
  SECRET_NAME_PATTERN,
  useDeleteSecret,
  useExtendSecret,
  useSaveSecret,
  useSecrets,
  type Secret,
  type UncoveredVersion,
} from "../../api/secrets";
import { GrantList, GrantPicker } from "../../components/admin/SecretGrants";
import { Dialog, useConfirm } from "../../components/Dialog";
import { Field, fieldAria, FormError } from "../../components/forms";
import { useToast } from "../../components/toasts";
import { Empty, Spinner, TableHead, Time } from "../../components/ui";
import { errorText, fieldMessages } from "../../lib/formErrors";

type Editing = { mode: "create" } | { mode: "edit"; secret: Secret };

function SecretForm({ editing, onDone, onCancel }: { editing: Editing; onDone: (secret: Secret, outcome: "created" | "saved" | "unchanged") => void; onCancel: () => void }) {
  const original = editing.mode === "edit" ? editing.secret : null;
  const [name, setName] = useState(original?.name ?? "");
  const [value, setValue] = useState("");
  const [description, setDescription] = useState(original?.description ?? "");
  const [items, setItems] = useState<string[]>(original?.items ?? []);
  const [nameProblem, setNameProblem] = useState<string | null>(null);
  const catalog = useAllCatalogItems();

  const save = useSaveSecret({
    onSuccess: (secret) => {
      setValue(""); // never kept longer than needed
      if (secret) onDone(secret, original ? "saved" : "created");
      else if (original) onDone(original, "unchanged");
    },
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!original && !SECRET_NAME_PATTERN.test(name)) {
      setNameProblem("Capital letters, digits and underscores, not starting with a digit (e.g. BACKUP_API_KEY)");
      return;
    }
    if (!original && !value) return;
    setNameProblem(null);
    save.mutate({ original, name, value, description, items });
  };

  const errors = {
    name: [...(nameProblem ? [nameProblem] : []), ...fieldMessages(save.error, "name")],
    value: fieldMessages(save.error, "value"),
    description: fieldMessages(save.error, "description"),
    items: fieldMessages(save.error, "items"),
  };

  return (
    <form onSubmit={submit} className="space-y-4">
      {original ? (
        <p className="text-sm">
          Secret <span className="font-mono font-semibold">{original.name}</span>
        </p>
      ) : (
        <Field
          id="secret-name"
          label="Name"
          hint={
            <>
              Jobs of the granted items receive the value as the environment variable <span className="font-mono">{name || "NAME"}</span>. Capital
              letters, digits and underscores, not starting with a digit.
            </>
          }
          errors={errors.name}
        >
          <input
            id="secret-name"
            className="input font-mono"
            required
            maxLength={128}
            autoComplete="off"
            spellCheck={false}
            autoCapitalize="characters"
            value={name}
            onChange={(e) => {
              setName(e.target.value.toUpperCase());
              setNameProblem(null);
            }}
            placeholder="BACKUP_API_KEY"
            data-autofocus
            {...fieldAria("secret-name", errors.name, true)}
          />
        </Field>
      )}
      <Field
        id="secret-value"
        label={original ? "New value (optional)" : "Value"}
        hint={
          original
            ? "Leave it empty to keep the current value. The current value is never shown."
            : "Stored encrypted; it can be replaced later but never read back here."
        }
        errors={errors.value}
      >
        <input
          id="secret-value"
          type="password"
          className="input font-mono"
          required={!original}
          autoComplete="new-password"
          spellCheck={false}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          data-autofocus={original ? true : undefined}
          {...fieldAria("secret-value", errors.value, true)}
        />
      </Field>
      <Field id="secret-description" label="Description" errors={errors.description}>
        <textarea
          id="secret-description"
          className="input"
          rows={2}
          maxLength={1000}
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          {...fieldAria("secret-description", errors.description)}
        />
      </Field>
      <GrantPicker
        items={catalog.data?.items ?? []}
        loading={catalog.isPending}
        loadError={catalog.isError ? catalog.error.message : null}
        selected={items}
        onChange={setItems}
        errors={errors.items}
      />
      <FormError
        error={save.error}
        shown={original ? ["value", "description", "items"] : ["name", "value", "description", "items"]}
        title={original ? "The secret was not changed" : "The secret was not created"}
      />
      <div className="flex justify-end gap-2">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : original ? "Save changes" : "Create secret"}
        </button>
      </div>
    </form>
  );
}

export default function SecretsPage() {
  const [editing, setEditing] = useState<Editing | null>(null);
  const toast = useToast();
  const confirm = useConfirm();
  const catalog = useAllCatalogItems();
  const names = useMemo(() => new Map((catalog.data?.items ?? []).map((i) => [i.id, i.name])), [catalog.data]);

  const secrets = useSecrets();

  const remove = useDeleteSecret({
    onSuccess: (_, secret) => toast(`Secret ${secret.name} deleted`),
    onError: (error, secret) => toast(`${secret.name} was not deleted: ${errorText(error)}`, "error"),
  });

  const extend = useExtendSecret({
    onSuccess: (_, { secret, version }) => toast(`${secret.name} granted to ${version.item_id} ${version.version}`),
    onError: (error, { secret }) => toast(`${secret.name} was not extended: ${errorText(error)}`, "error"),
  });

  const askExtend = async (secret: Secret, version: UncoveredVersion) => {
    const yes = await confirm({
      title: `Grant ${secret.name} to ${version.item_id} ${version.version}?`,
      message: (
        <>
          Jobs of version {version.version} of <span className="font-mono">{version.item_id}</span> will receive the value of{" "}
          <span className="font-mono">{secret.name}</span>. Check what that version does with it first: its code may differ from the versions
          granted before.
        </>
      ),
      confirmLabel: "Extend the grant",
    });
    if (yes) extend.mutate({ secret, version });
  };

  const askDelete = async (secret: Secret) => {
    const yes = await confirm({
      title: `Delete secret ${secret.name}?`,
      message: (
        <>
          Its value is gone for good. Jobs of items that declare <span className="font-mono">{secret.name}</span>
          {secret.items.length ? ` (${secret.items.join(", ")})` : ""} can no longer be launched until it is created again.
        </>
      ),
      confirmLabel: "Delete",
      danger: true,
    });
    if (yes) remove.mutate(secret);
  };

  return (
    <section aria-labelledby="secrets-title">
      <div className="mb-2 flex flex-wrap items-end justify-between gap-2">
        <h1 id="secrets-title" className="text-2xl font-semibold">
          Secrets
        </h1>
        <div className="flex items-center gap-3">
          {secrets.isFetching && !secrets.isPending && <Spinner label="Updating" />}
          <button type="button" className="btn btn-primary" onClick={() => setEditing({ mode: "create" })}>
            New secret
          </button>
        </div>
      </div>
      <p className="mb-4 max-w-3xl text-sm muted">
        A secret is given to the jobs of the item versions it is granted to, as an environment variable named like the secret. A new
        version gets it only when its grant covers it: extend the grant once you trust the new code. Values are stored encrypted and are
        never shown again, here or in job logs (not even base64, URL or hex encoded).
      </p>
      {secrets.isPending ? (
        <Spinner label="Loading secrets" />
      ) : secrets.isError ? (
        <Empty title="The secrets could not be loaded">
          {secrets.error instanceof ApiError && secrets.error.status === 403 ? "Only admins may manage secrets." : secrets.error.message}
        </Empty>
      ) : secrets.data.length === 0 ? (
        <Empty title="No secrets yet">
          <button type="button" className="link" onClick={() => setEditing({ mode: "create" })}>
            Create the first one
          </button>
        </Empty>
      ) : (
        <div className="card relative overflow-x-auto">
          <table className="cards w-full min-w-[48rem] text-left text-sm">
            <caption className="sr-only">Secrets, {secrets.data.length} in all</caption>
            <TableHead columns={["Name", "Description", "Granted items", "Created by", "Updated", null]} />
            <tbody>
              {secrets.data.map((secret) => (
                <tr key={secret.name} className="border-t border-stone-200 align-top dark:border-stone-800" data-secret={secret.name}>
                  <td className="px-3 py-2 font-mono font-medium">{secret.name}</td>
                  <td className="max-w-72 px-3 py-2">{secret.description || <span className="muted">—</span>}</td>
                  <td className="px-3 py-2">
                    <GrantList
                      secret={secret}
                      names={names}
                      extending={extend.isPending && extend.variables ? `${extend.variables.version.item_id}@${extend.variables.version.version}` : null}
                      onExtend={(version) => void askExtend(secret, version)}
                    />
                  </td>
                  <td className="px-3 py-2">{secret.created_by}</td>
                  <td className="px-3 py-2 whitespace-nowrap">
                    <Time iso={secret.updated_at} />
                  </td>
                  <td className="px-3 py-2">
                    <div className="flex justify-end gap-2">
                      <button type="button" className="btn" onClick={() => setEditing({ mode: "edit", secret })} aria-label={`Edit ${secret.name}`}>
                        Edit
                      </button>
                      <button
                        type="button"
                        className="btn"
                        disabled={remove.isPending && remove.variables?.name === secret.name}
                        onClick={() => void askDelete(secret)}
                        aria-label={`Delete ${secret.name}`}
                      >
                        Delete
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Dialog
        open={editing !== null}
        onClose={() => setEditing(null)}
        title={editing?.mode === "edit" ? `Edit secret ${editing.secret.name}` : "New secret"}
        wide
      >
        {editing && (
          <SecretForm
            key={editing.mode === "edit" ? editing.secret.name : "new"}
            editing={editing}
            onCancel={() => setEditing(null)}
            onDone={(secret, outcome) => {
              setEditing(null);
              if (outcome === "unchanged") toast(`Nothing changed in ${secret.name}`, "info");
              else toast(`Secret ${secret.name} ${outcome}`);
            }}
          />
        )}
      </Dialog>
    </section>
  );
}
