/** Catches render errors so one broken view shows a friendly page instead of a blank screen. */
import { Component, type ErrorInfo, type ReactNode } from "react";

interface State {
  error: Error | null;
}

export class ErrorBoundary extends Component<{ children: ReactNode; resetKey?: string }, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  componentDidUpdate(previous: { resetKey?: string }) {
    if (previous.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error("view crashed", error, info.componentStack);
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <ProblemPage title="Something went wrong on this page">
        <p>{this.state.error.message}</p>
        <button className="btn mt-4" onClick={() => window.location.reload()}>
          Reload
        </button>
      </ProblemPage>
    );
  }
}

export function ProblemPage({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <section className="mx-auto max-w-xl py-16 text-center">
      <h1 className="text-2xl font-semibold">{title}</h1>
      <div className="mt-3 muted">{children}</div>
    </section>
  );
}
