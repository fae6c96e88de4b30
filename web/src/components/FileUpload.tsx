// Upload a file into the server's files folder from the submit form, then
// fill in the payload field that names it. File-based task types (image
// resize and filters, large files, backups) read only that folder, so
// without this a first user had nowhere to put their file.

import { useEffect, useId, useState } from "react";
import { api } from "../api/client";
import { formatBytes } from "../format";

interface Props {
  /** "file": the field names the uploaded file; "folder": the folder it went into (a backup's source). */
  names: "file" | "folder";
  /** the folder to upload into, relative to the files folder */
  defaultFolder: string;
  accept?: string;
  onUploaded: (value: string) => void;
}

/** cleanName keeps a browser's file name usable as one path element. */
export function cleanName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, "").trim();
  return clean === "." || clean === ".." || clean === "" ? "upload" : clean;
}

/** cleanFolder turns what a person typed into a relative folder path ("" for the top). */
export function cleanFolder(folder: string): string {
  return folder
    .split("/")
    .map((p) => p.trim())
    .filter((p) => p !== "" && p !== "." && p !== "..")
    .join("/");
}

export function FileUpload({ names, defaultFolder, accept, onUploaded }: Props) {
  const id = useId();
  const [folder, setFolder] = useState(defaultFolder);
  const [status, setStatus] = useState<{ kind: "idle" | "busy" | "done" | "error"; text: string }>({ kind: "idle", text: "" });
  const [preview, setPreview] = useState<string | undefined>();
  useEffect(
    () => () => {
      if (preview) URL.revokeObjectURL(preview);
    },
    [preview],
  );

  async function upload(file: File) {
    const dir = cleanFolder(folder);
    const path = (dir ? dir + "/" : "") + cleanName(file.name);
    setStatus({ kind: "busy", text: `uploading ${path}…` });
    setPreview(file.type.startsWith("image/") ? URL.createObjectURL(file) : undefined);
    try {
      const entry = await api.uploadFile(path, file);
      setStatus({ kind: "done", text: `Uploaded ${entry.path} (${formatBytes(entry.size)})` });
      onUploaded(names === "folder" ? dir || "." : entry.path);
    } catch (e) {
      setStatus({ kind: "error", text: `Not uploaded: ${(e as Error).message}` });
    }
  }

  return (
    <div className="mb-4 rounded-md border border-dashed border-zinc-300 p-3 dark:border-zinc-700" data-testid="file-upload">
      <p className="mb-2 text-xs text-zinc-500 dark:text-zinc-400">
        This type reads the server's files folder. Upload a file there and the {names === "folder" ? "folder" : "path"} below is filled in.
      </p>
      <div className="flex flex-wrap items-end gap-3">
        <div>
          <label htmlFor={id + "-folder"} className="label">
            Into folder
          </label>
          <input id={id + "-folder"} className="input w-40" value={folder} onChange={(e) => setFolder(e.target.value)} placeholder="(the top)" />
        </div>
        <div>
          <label htmlFor={id + "-file"} className="label">
            Upload to the files folder
          </label>
          <input
            id={id + "-file"}
            type="file"
            accept={accept}
            className="block text-sm"
            disabled={status.kind === "busy"}
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void upload(f);
            }}
          />
        </div>
        {preview && <img src={preview} alt="The file being uploaded" className="h-16 rounded border border-zinc-200 dark:border-zinc-700" />}
      </div>
      {status.text && (
        <p role="status" data-testid="file-upload-status" className={`mt-2 text-xs ${status.kind === "error" ? "text-red-700 dark:text-red-300" : "text-zinc-600 dark:text-zinc-300"}`}>
          {status.text}
        </p>
      )}
    </div>
  );
}
