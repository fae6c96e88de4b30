import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, eventsURL, getToken, onAuthRequired, request, setToken } from "./client";

function answer(status: number, body?: unknown) {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

describe("request", () => {
  let fetchMock: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    localStorage.clear();
    fetchMock = vi.fn();
    vi.stubGlobal("fetch", fetchMock);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    setToken(null);
  });

  it("sends the saved token as a bearer header, and none without one", async () => {
    fetchMock.mockImplementation(async () => answer(200, { queues: [] }));
    await api.listQueues();
    expect(fetchMock.mock.calls[0][1].headers.Authorization).toBeUndefined();
    setToken("s3cret");
    expect(localStorage.getItem("taskmill.token")).toBe("s3cret");
    await api.listQueues();
    expect(fetchMock.mock.calls[1][1].headers.Authorization).toBe("Bearer s3cret");
  });

  it("tells listeners on 401 and throws the API's error", async () => {
    const seen: boolean[] = [];
    const off = onAuthRequired((r) => seen.push(r));
    fetchMock.mockImplementation(async () => answer(401, { error: { code: "unauthorized", message: "a token is required" } }));
    await expect(request("/api/tasks")).rejects.toMatchObject({ status: 401, code: "unauthorized", message: "a token is required" });
    setToken("t");
    off();
    expect(seen).toEqual([true, false]);
    expect(getToken()).toBe("t");
  });

  it("keeps the field of a validation error", async () => {
    fetchMock.mockResolvedValue(answer(400, { error: { code: "invalid_range", field: "payload.n", message: "must be 0 or more" } }));
    const err = await api.submitTask({ type: "fibonacci", payload: { n: -1 } }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.field).toBe("payload.n");
    const body = JSON.parse(fetchMock.mock.calls[0][1].body);
    expect(body).toEqual({ type: "fibonacci", payload: { n: -1 } });
    expect(fetchMock.mock.calls[0][1].method).toBe("POST");
  });

  it("maps a 204 to undefined and network failures to a readable error", async () => {
    fetchMock.mockResolvedValueOnce(new Response(null, { status: 204 }));
    expect(await api.cancelOrDelete("x")).toBeUndefined();
    expect(fetchMock.mock.calls[0][0]).toBe("/api/tasks/x");
    expect(fetchMock.mock.calls[0][1].method).toBe("DELETE");
    fetchMock.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    await expect(api.listWorkers()).rejects.toMatchObject({ code: "network" });
  });

  it("builds list queries without empty parameters", async () => {
    fetchMock.mockResolvedValue(answer(200, { tasks: [] }));
    await api.listTasks({ state: "failed", queue: "", q: "a b", cursor: undefined, limit: 50 });
    expect(fetchMock.mock.calls[0][0]).toBe("/api/tasks?state=failed&q=a+b&limit=50");
  });
});

describe("eventsURL", () => {
  it("puts the token in the query, since browsers cannot set WebSocket headers", () => {
    expect(eventsURL({ protocol: "http:", host: "127.0.0.1:8080" }, null)).toBe("ws://127.0.0.1:8080/api/events");
    expect(eventsURL({ protocol: "https:", host: "tm.example" }, "a b&c")).toBe("wss://tm.example/api/events?access_token=a%20b%26c");
  });
});
