import { useEffect, useRef } from "react";
import { Layout } from "./components/Layout";
import { ToastProvider } from "./components/toast";
import { LiveProvider } from "./live/LiveContext";
import { DeadLettersPage } from "./pages/DeadLetters";
import { OverviewPage } from "./pages/Overview";
import { QueuesPage } from "./pages/Queues";
import { SubmitPage } from "./pages/Submit";
import { TaskDetailPage } from "./pages/TaskDetail";
import { TasksPage } from "./pages/Tasks";
import { WorkersPage } from "./pages/Workers";
import { Link, match, useLocation } from "./router";

function route(path: string): { title: string; page: React.ReactNode } {
  let m: Record<string, string> | null;
  if (path === "/" || path === "") return { title: "Overview", page: <OverviewPage /> };
  if (path === "/submit") return { title: "Submit", page: <SubmitPage /> };
  if (path === "/tasks") return { title: "Tasks", page: <TasksPage /> };
  if ((m = match("/tasks/:id", path))) return { title: "Task " + m.id, page: <TaskDetailPage key={m.id} id={m.id} /> };
  if (path === "/queues") return { title: "Queues", page: <QueuesPage /> };
  if (path === "/workers") return { title: "Workers", page: <WorkersPage /> };
  if (path === "/dead-letters") return { title: "Dead letters", page: <DeadLettersPage /> };
  return {
    title: "Not found",
    page: (
      <div>
        <h1 id="page-title" tabIndex={-1} className="text-xl font-semibold">
          No such page
        </h1>
        <p className="mt-2 text-sm">
          <Link className="link" href="/">
            Back to the overview
          </Link>
        </p>
      </div>
    ),
  };
}

function Routes() {
  const { path } = useLocation();
  const { title, page } = route(path);
  const first = useRef(true);
  useEffect(() => {
    document.title = `${title} · taskmill`;
    // After a navigation, move focus to the new page's heading so that
    // keyboard and screen reader users start there (not on the first load).
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById("page-title")?.focus({ preventScroll: false });
    window.scrollTo(0, 0);
  }, [path, title]);
  return <>{page}</>;
}

export function App() {
  useEffect(() => {
    performance.mark?.("taskmill:app-mounted");
  }, []);
  return (
    <ToastProvider>
      <LiveProvider>
        <Layout>
          <Routes />
        </Layout>
      </LiveProvider>
    </ToastProvider>
  );
}
