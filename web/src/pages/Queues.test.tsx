import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ToastProvider } from "../components/toast";
import { DeleteQueueButton } from "./Queues";

function answer(status: number, body?: unknown) {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

describe("DeleteQueueButton", () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    fetchMock = vi.fn();
    vi.stubGlobal("fetch", fetchMock);
  });
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  function setup() {
    const onDeleted = vi.fn();
    const onRefused = vi.fn();
    render(
      <ToastProvider>
        <DeleteQueueButton q={{ name: "old jobs", paused: false, counts: {} }} onDeleted={onDeleted} onRefused={onRefused} />
      </ToastProvider>,
    );
    return { onDeleted, onRefused };
  }

  it("asks again, then sends DELETE /api/queues/{name}", async () => {
    fetchMock.mockImplementation(async () => answer(204));
    const { onDeleted, onRefused } = setup();
    fireEvent.click(screen.getByRole("button", { name: "Delete queue old jobs" }));
    expect(fetchMock).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Really delete queue old jobs?" }));
    await waitFor(() => expect(onDeleted).toHaveBeenCalledOnce());
    expect(fetchMock.mock.calls[0][0]).toBe("/api/queues/old%20jobs");
    expect(fetchMock.mock.calls[0][1].method).toBe("DELETE");
    expect(onRefused).not.toHaveBeenCalled();
    await screen.findByText("Queue old jobs deleted");
  });

  it("shows the server's message on 409 queue_not_empty and asks for a reload", async () => {
    fetchMock.mockImplementation(async () => answer(409, { error: { code: "queue_not_empty", message: "the queue still holds tasks; delete or purge them first" } }));
    const { onDeleted, onRefused } = setup();
    fireEvent.click(screen.getByRole("button", { name: "Delete queue old jobs" }));
    fireEvent.click(screen.getByRole("button", { name: "Really delete queue old jobs?" }));
    await screen.findByText("Queue old jobs was not deleted: the queue still holds tasks; delete or purge them first");
    expect(onRefused).toHaveBeenCalledOnce();
    expect(onDeleted).not.toHaveBeenCalled();
  });

  it("shows any other error as it came, without a reload", async () => {
    fetchMock.mockImplementation(async () => answer(403, { error: { code: "forbidden", message: "this key may only read" } }));
    const { onDeleted, onRefused } = setup();
    fireEvent.click(screen.getByRole("button", { name: "Delete queue old jobs" }));
    fireEvent.click(screen.getByRole("button", { name: "Really delete queue old jobs?" }));
    await screen.findByText("this key may only read");
    expect(onRefused).not.toHaveBeenCalled();
    expect(onDeleted).not.toHaveBeenCalled();
  });
});
