import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { QueueInfo } from "../api/types";
import { ServiceWarning } from "./ServiceWarning";

afterEach(cleanup);

function queue(over: Partial<QueueInfo>): QueueInfo {
  return { name: "reports", paused: false, counts: { pending: 2 }, ...over };
}

describe("ServiceWarning", () => {
  it("says in words that no worker takes from the queue, and what to do", () => {
    render(<ServiceWarning q={queue({ served: false, unserved_types: ["pdf"] })} />);
    const w = screen.getByTestId("service-warning");
    expect(w.dataset.kind).toBe("queue");
    expect(w.textContent).toContain("Warning for queue reports: No worker takes from this queue");
    expect(w.textContent).toContain("2 waiting tasks stay in line");
    expect(w.textContent).toContain("taskmill worker --queues reports");
    expect(screen.getByRole("link", { name: "Go to Workers" }).getAttribute("href")).toBe("/workers");
    // One warning: the types are not listed again.
    expect(screen.getAllByTestId("service-warning")).toHaveLength(1);
  });

  it("names the types no worker of the queue runs", () => {
    render(<ServiceWarning q={queue({ served: true, unserved_types: ["pdf", "thumbnail"] })} />);
    const w = screen.getByTestId("service-warning");
    expect(w.dataset.kind).toBe("types");
    expect(w.textContent).toContain("Waiting for a worker that runs: pdf, thumbnail");
    expect(w.textContent).toContain("start a worker for reports that handles them");
  });

  it("keeps the help in a tooltip and for screen readers when compact", () => {
    render(<ServiceWarning compact q={queue({ served: true, unserved_types: ["pdf"] })} />);
    const w = screen.getByTestId("service-warning");
    expect(w.getAttribute("title")).toMatch(/^The workers taking from reports do not run this type, so its tasks wait: start a worker/);
    expect(w.textContent).toContain(w.getAttribute("title")!);
    expect(screen.queryByRole("link")).toBeNull();
  });

  it("renders nothing when the work is served, or the server does not say", () => {
    const { container, rerender } = render(<ServiceWarning q={queue({ served: true, unserved_types: [] })} />);
    expect(container.innerHTML).toBe("");
    rerender(<ServiceWarning q={queue({})} />);
    expect(container.innerHTML).toBe("");
    rerender(<ServiceWarning q={queue({ served: false, counts: { completed: 3 } })} />);
    expect(container.innerHTML).toBe("");
  });
});
