/**
 * The catalog's sources (admin; the server enforces it): where items come from, as one document. The saved
 * sources with their status, the editor of the whole document (form and YAML views, validated as you type, saved
 * over the revision read), and the revision history with diffs and rollback.
 */
import { ApiError } from "../../api/client";
import { useSources } from "../../api/sources";
import { RevisionHistory } from "../../components/sources/RevisionHistory";
import { SourcesEditor } from "../../components/sources/SourcesEditor";
import { SourceStates, SourcesTable } from "../../components/sources/SourcesTable";
import { Empty, Section, Spinner } from "../../components/ui";
import { errorText } from "../../lib/formErrors";

export default function SourcesPage() {
  const sources = useSources();
  const reload = async () => (await sources.refetch({ throwOnError: true })).data;
  return (
    <section aria-labelledby="sources-title">
      <div className="mb-2 flex flex-wrap items-end justify-between gap-2">
        <h1 id="sources-title" className="text-2xl font-semibold">
          Sources
        </h1>
        {sources.isFetching && !sources.isPending && <Spinner label="Updating" />}
      </div>
      <p className="mb-4 max-w-3xl text-sm muted">
        A source is a place catalog items come from: the tags of a Git repository, or a folder under the allowed roots. All of them form one
        document; every save is checked first and kept as a revision, and any revision can be brought back. Credentials are named by an admin
        secret, never written here.
      </p>
      {sources.isPending ? (
        <Spinner label="Loading sources" />
      ) : sources.isError ? (
        <Empty title="The sources could not be loaded">
          {sources.error instanceof ApiError && sources.error.status === 403 ? "Only admins may manage sources." : errorText(sources.error)}
        </Empty>
      ) : (
        <>
          <Section id="sources-list-title" title="Saved sources">
            {sources.data.sources.length === 0 ? (
              <Empty title="No sources yet">Add one in the editor below.</Empty>
            ) : (
              <>
                <SourceStates sources={sources.data.sources} />
                <SourcesTable sources={sources.data.sources} />
              </>
            )}
          </Section>
          <Section id="sources-editor-title" title="Edit the sources">
            <SourcesEditor current={sources.data} reload={reload} />
          </Section>
          <Section id="sources-revisions-title" title="Revisions">
            <RevisionHistory current={sources.data} reload={reload} />
          </Section>
        </>
      )}
    </section>
  );
}
