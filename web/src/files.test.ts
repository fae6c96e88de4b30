import { describe, expect, it } from "vitest";
import { filePath } from "./api/client";
import type { Task } from "./api/types";
import { cleanFolder, cleanName } from "./components/FileUpload";
import { ranFor } from "./components/TaskTable";
import { mergeTaskEvent } from "./live/taskEvents";
import { fileTarget } from "./pages/Submit";
import { producedFiles } from "./pages/TaskDetail";

describe("uploads into the files folder", () => {
  it("keeps a browser's file name as one safe path element", () => {
    expect(cleanName("photo.png")).toBe("photo.png");
    expect(cleanName("C:\\fakepath\\photo.png")).toBe("photo.png");
    expect(cleanName("a/b/../x.png")).toBe("x.png");
    expect(cleanName("..")).toBe("upload");
    expect(cleanName("bad\nname.txt")).toBe("badname.txt");
  });
  it("reads a typed folder as a relative path without . or ..", () => {
    expect(cleanFolder(" images / 2026 ")).toBe("images/2026");
    expect(cleanFolder("/../etc/")).toBe("etc");
    expect(cleanFolder("")).toBe("");
  });
  it("escapes each element of a path, not the slashes", () => {
    expect(filePath("images/photo one.png")).toBe("/api/files/images/photo%20one.png");
    expect(filePath("a/100%.txt")).toBe("/api/files/a/100%25.txt");
  });
  it("offers the upload for the types that read a file or a folder", () => {
    expect(fileTarget([{ key: "image" }, { key: "path" }, { key: "width" }])).toEqual({ key: "path", names: "file", folder: "images", images: true });
    expect(fileTarget([{ key: "path" }])).toEqual({ key: "path", names: "file", folder: "uploads", images: false });
    expect(fileTarget([{ key: "source" }, { key: "destination" }])).toEqual({ key: "source", names: "folder", folder: "uploads", images: false });
    expect(fileTarget([{ key: "n" }])).toBeUndefined();
    expect(fileTarget(null)).toBeUndefined();
  });
  it("finds the files a result names, never one outside the folder", () => {
    expect(producedFiles({ mode: "archive", archive: "backups/docs.tar.gz" })).toEqual(["backups/docs.tar.gz"]);
    expect(producedFiles({ archive: "/etc/passwd", output: "../x" })).toEqual([]);
    expect(producedFiles("text")).toEqual([]);
  });
});

const base: Task = {
  id: "t1",
  type: "flaky",
  queue: "default",
  priority: 0,
  state: "processing",
  attempt: 2,
  max_attempts: 3,
  created_at: "2026-12-06T10:00:00Z",
} as Task;

describe("task details", () => {
  it("sums every attempt's run time, not the last one's", () => {
    const t = {
      ...base,
      state: "failed",
      started_at: "2026-12-06T10:00:10Z",
      finished_at: "2026-12-06T10:00:11Z",
      attempts: [
        { number: 1, worker_id: "w", started_at: "2026-12-06T10:00:00Z", finished_at: "2026-12-06T10:00:03Z", outcome: "failed" },
        { number: 2, worker_id: "w", started_at: "2026-12-06T10:00:10Z", finished_at: "2026-12-06T10:00:11Z", outcome: "failed" },
      ],
    } as Task;
    expect(ranFor(t, Date.parse("2026-12-06T11:00:00Z"))).toMatch(/^4(\.0)?\s?s in 2 attempts$/);
  });
  it("drops an old error when the task completes", () => {
    const failedOnce = { ...base, last_error: "first attempt failed" } as Task;
    const next = mergeTaskEvent(failedOnce, { type: "task_update", id: "t1", state: "completed", attempt: 2, result: { ok: true } } as never);
    expect(next.state).toBe("completed");
    expect(next.last_error).toBeUndefined();
  });
});
