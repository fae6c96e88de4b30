import { useEffect, useMemo, useState } from "react";
import { api, ApiError } from "../api/client";
import type { SubmitRequest, TaskType } from "../api/types";
import { FileUpload } from "../components/FileUpload";
import { SchemaForm } from "../components/SchemaForm";
import { ErrorNote, PageHeader, Spinner } from "../components/ui";
import { normalizeDuration } from "../format";
import { useResource } from "../hooks";
import { navigate, useLocation } from "../router";
import { buildPayload, fieldKeyOfServerError, fieldsFromSchema, initialValues, type FieldValue, type FormErrors, type FormValues } from "../schema/form";

interface Options {
  queue: string;
  priority: string;
  delay: string;
  maxAttempts: string;
  timeout: string;
  uniqueKey: string;
}

const NO_OPTIONS: Options = { queue: "", priority: "", delay: "", maxAttempts: "", timeout: "", uniqueKey: "" };

/** buildRequest checks the options and assembles the POST /api/tasks body; errors are keyed by option name. */
export function buildRequest(type: string, payload: unknown, o: Options): { req?: SubmitRequest; errors: FormErrors } {
  const errors: FormErrors = {};
  const req: SubmitRequest = { type };
  if (payload !== undefined) req.payload = payload;
  const queue = o.queue.trim();
  if (queue) {
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(queue)) errors.queue = "may hold only letters, digits and _ - . : (at most 128)";
    else req.queue = queue;
  }
  if (o.priority.trim()) {
    const p = Number(o.priority);
    if (!Number.isInteger(p) || p < 0 || p > 1000) errors.priority = "must be a whole number from 0 to 1000";
    else req.priority = p;
  }
  if (o.maxAttempts.trim()) {
    const m = Number(o.maxAttempts);
    if (!Number.isInteger(m) || m < 1 || m > 100) errors.max_attempts = "must be a whole number from 1 to 100";
    else req.max_attempts = m;
  }
  const d = normalizeDuration(o.delay);
  if (d.error) errors.delay = d.error;
  else if (d.value) req.delay = d.value;
  const t = normalizeDuration(o.timeout);
  if (t.error) errors.timeout = t.error;
  else if (t.value) req.timeout = t.value;
  if (o.uniqueKey.trim()) req.unique_key = o.uniqueKey.trim();
  return Object.keys(errors).length ? { errors } : { req, errors };
}

/** fileTarget says whether a type's payload names a file of the files folder, and how the upload control should fill it in. */
export function fileTarget(fields: { key: string }[] | null | undefined): { key: string; names: "file" | "folder"; folder: string; images: boolean } | undefined {
  if (!fields) return undefined;
  const keys = new Set(fields.map((f) => f.key));
  if (keys.has("path")) {
    const images = keys.has("image"); // image_resize, apply_filter: inline image or a file
    return { key: "path", names: "file", folder: images ? "images" : "uploads", images };
  }
  if (keys.has("source")) return { key: "source", names: "folder", folder: "uploads", images: false };
  return undefined;
}

function OptionInput({
  id,
  label,
  help,
  error,
  ...input
}: { id: string; label: string; help?: string; error?: string } & React.InputHTMLAttributes<HTMLInputElement>) {
  const describedBy = [help ? id + "-help" : "", error ? id + "-err" : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div>
      <label htmlFor={id} className="label">
        {label}
      </label>
      <input id={id} className="input" aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...input} />
      {help && (
        <p id={id + "-help"} className="help">
          {help}
        </p>
      )}
      {error && (
        <p id={id + "-err"} className="field-error">
          {label} {error}
        </p>
      )}
    </div>
  );
}

function TypePicker({ types, value, onChange }: { types: TaskType[]; value: string; onChange: (name: string) => void }) {
  return (
    <fieldset>
      <legend className="label">Task type</legend>
      <div className="grid gap-2 sm:grid-cols-2 xl:grid-cols-3">
        {types.map((t) => (
          <label
            key={t.name}
            className={`flex cursor-pointer gap-2.5 rounded-md border px-3 py-2 text-sm has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-indigo-500 ${
              value === t.name ? "border-indigo-500 bg-indigo-50 dark:bg-indigo-950/40" : "border-zinc-200 hover:border-zinc-300 dark:border-zinc-800 dark:hover:border-zinc-700"
            }`}
          >
            <input type="radio" name="task-type" value={t.name} checked={value === t.name} onChange={() => onChange(t.name)} className="mt-0.5 accent-indigo-600" />
            <span className="min-w-0">
              <span className="mono block font-medium">{t.name}</span>
              {t.description && <span className="line-clamp-2 text-xs text-zinc-500 dark:text-zinc-400">{t.description}</span>}
            </span>
          </label>
        ))}
      </div>
    </fieldset>
  );
}

export function SubmitPage() {
  const { search } = useLocation();
  const types = useResource((s) => api.taskTypes(s), []);
  const queues = useResource((s) => api.listQueues(s), []);
  const [typeName, setTypeName] = useState(search.get("type") ?? "");
  const type = types.data?.find((t) => t.name === typeName);
  const fields = useMemo(() => fieldsFromSchema(type?.schema), [type]);
  const fileField = useMemo(() => fileTarget(fields), [fields]);
  const [values, setValues] = useState<FormValues>({});
  const [rawMode, setRawMode] = useState(false);
  const [raw, setRaw] = useState("{}");
  const [opts, setOpts] = useState<Options>(NO_OPTIONS);
  const [errors, setErrors] = useState<FormErrors>({});
  const [formError, setFormError] = useState<Error | undefined>();
  const [submitting, setSubmitting] = useState(false);

  // Pick the first type once the list arrives, unless the address named one.
  useEffect(() => {
    if (!typeName && types.data?.length) setTypeName((types.data.find((t) => fieldsFromSchema(t.schema)) ?? types.data[0]).name);
  }, [types.data, typeName]);
  useEffect(() => {
    setValues(fields ? initialValues(fields) : {});
    setRawMode(!fields);
    setRaw("{}");
    setErrors({});
    setFormError(undefined);
  }, [fields]);

  function change(key: string, v: FieldValue) {
    setValues((old) => ({ ...old, [key]: v }));
    if (errors[key]) setErrors(({ [key]: _gone, ...rest }) => rest);
  }

  function setOpt<K extends keyof Options>(k: K, v: string) {
    setOpts((o) => ({ ...o, [k]: v }));
  }

  function switchToRaw() {
    if (fields) {
      const { payload } = buildPayload(fields, values);
      setRaw(JSON.stringify(payload, null, 2));
    }
    setRawMode(true);
  }

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (!type) return;
    setFormError(undefined);
    let payload: unknown;
    let errs: FormErrors = {};
    if (rawMode || !fields) {
      if (raw.trim()) {
        try {
          payload = JSON.parse(raw);
        } catch (err) {
          errs["$raw"] = "is not valid JSON: " + (err as Error).message;
        }
      }
    } else {
      const b = buildPayload(fields, values);
      payload = b.payload;
      errs = b.errors;
    }
    const r = buildRequest(type.name, payload, opts);
    errs = { ...errs, ...r.errors };
    setErrors(errs);
    if (Object.keys(errs).length || !r.req) {
      const first = document.querySelector<HTMLElement>("[aria-invalid=true]");
      first?.focus();
      return;
    }
    setSubmitting(true);
    try {
      const task = await api.submitTask(r.req);
      navigate(`/tasks/${encodeURIComponent(task.id)}`);
    } catch (err) {
      const key = err instanceof ApiError ? (fieldKeyOfServerError(err.field) ?? (err.field && !err.field.startsWith("payload") ? err.field : undefined)) : undefined;
      if (err instanceof ApiError && key && !rawMode) setErrors({ [key]: err.message });
      else if (err instanceof ApiError && err.field?.startsWith("payload") && rawMode) setErrors({ $raw: `${err.field} ${err.message}` });
      else setFormError(err as Error);
    } finally {
      setSubmitting(false);
    }
  }

  if (!types.data) {
    return (
      <div>
        <PageHeader title="Submit a task" />
        <ErrorNote error={types.error} title="Could not load the task types" />
        {!types.error && <Spinner label="Loading task types" />}
      </div>
    );
  }
  if (types.data.length === 0) {
    return (
      <div>
        <PageHeader title="Submit a task" />
        <p className="text-sm">No task types are registered with this server, and no live worker advertises any.</p>
      </div>
    );
  }

  const defaultAttempts = type?.max_attempts ? String(type.max_attempts) : "5";
  return (
    <div className="max-w-3xl">
      <PageHeader title="Submit a task" subtitle="The task page opens as soon as it is accepted, and follows it live." />
      <form onSubmit={submit} noValidate className="grid gap-5" aria-label="Submit a task">
        <div className="card p-4">
          <TypePicker types={types.data} value={typeName} onChange={setTypeName} />
        </div>
        {type && (
          <div className="card p-4">
            <div className="mb-3 flex items-start justify-between gap-3">
              <div className="min-w-0">
                <h2 className="text-sm font-semibold">
                  Payload of <span className="mono">{type.name}</span>
                </h2>
                {type.description && <p className="mt-0.5 text-xs text-zinc-500 dark:text-zinc-400">{type.description}</p>}
              </div>
              {fields && (
                <button type="button" className="btn btn-sm shrink-0" onClick={() => (rawMode ? setRawMode(false) : switchToRaw())} aria-pressed={rawMode}>
                  {rawMode ? "Use the form" : "Edit as JSON"}
                </button>
              )}
            </div>
            {!rawMode && fields ? (
              <>
                {fileField && (
                  <FileUpload
                    key={type.name}
                    names={fileField.names}
                    defaultFolder={fileField.folder}
                    accept={fileField.images ? "image/png,image/jpeg,image/gif" : undefined}
                    onUploaded={(v) => change(fileField.key, v)}
                  />
                )}
                <SchemaForm fields={fields} values={values} errors={errors} onChange={change} />
              </>
            ) : (
              <div>
                <label htmlFor="raw-payload" className="label">
                  Payload (JSON)
                </label>
                <textarea
                  id="raw-payload"
                  className="input font-mono text-xs"
                  rows={8}
                  spellCheck={false}
                  value={raw}
                  onChange={(e) => setRaw(e.target.value)}
                  aria-invalid={errors.$raw ? true : undefined}
                  aria-describedby={errors.$raw ? "raw-payload-err" : "raw-payload-help"}
                />
                {type.schema ? (
                  <details id="raw-payload-help" className="help">
                    <summary className="cursor-pointer">Schema</summary>
                    <pre className="mt-1 overflow-auto text-xs">{JSON.stringify(type.schema, null, 2)}</pre>
                  </details>
                ) : (
                  <p id="raw-payload-help" className="help">
                    This type publishes no schema; any JSON value is sent as is.
                  </p>
                )}
                {errors.$raw && (
                  <p id="raw-payload-err" className="field-error">
                    Payload {errors.$raw}
                  </p>
                )}
              </div>
            )}
          </div>
        )}
        <details className="card p-4" open={Object.keys(errors).some((k) => k in { queue: 1, priority: 1, delay: 1, max_attempts: 1, timeout: 1, unique_key: 1 }) || undefined}>
          <summary className="cursor-pointer text-sm font-semibold">Options: queue, priority, delay, attempts, timeout</summary>
          <div className="mt-3 grid gap-4 sm:grid-cols-2">
            <OptionInput id="opt-queue" label="Queue" placeholder="default" list="queue-names" value={opts.queue} onChange={(e) => setOpt("queue", e.target.value)} error={errors.queue} />
            <datalist id="queue-names">
              {(queues.data ?? []).map((q) => (
                <option key={q.name} value={q.name} />
              ))}
            </datalist>
            <OptionInput
              id="opt-priority"
              label="Priority"
              type="number"
              min={0}
              max={1000}
              placeholder="0"
              help="0 to 1000; higher runs first"
              value={opts.priority}
              onChange={(e) => setOpt("priority", e.target.value)}
              error={errors.priority}
            />
            <OptionInput id="opt-delay" label="Delay" placeholder="e.g. 30s, 5m, 1h" help="wait this long before it may run" value={opts.delay} onChange={(e) => setOpt("delay", e.target.value)} error={errors.delay} />
            <OptionInput
              id="opt-attempts"
              label="Max attempts"
              type="number"
              min={1}
              max={100}
              placeholder={defaultAttempts}
              help={`default ${defaultAttempts}`}
              value={opts.maxAttempts}
              onChange={(e) => setOpt("maxAttempts", e.target.value)}
              error={errors.max_attempts}
            />
            <OptionInput
              id="opt-timeout"
              label="Timeout per attempt"
              placeholder={type?.timeout || "worker default"}
              help="e.g. 30s or 2m"
              value={opts.timeout}
              onChange={(e) => setOpt("timeout", e.target.value)}
              error={errors.timeout}
            />
            <OptionInput
              id="opt-unique"
              label="Unique key"
              placeholder="optional"
              help="refuse a second task with this key while one holds it"
              value={opts.uniqueKey}
              onChange={(e) => setOpt("uniqueKey", e.target.value)}
              error={errors.unique_key}
            />
          </div>
        </details>
        <ErrorNote error={formError} title="Not submitted" />
        <div>
          <button type="submit" className="btn btn-primary px-5" disabled={!type || submitting}>
            {submitting ? "Submitting…" : `Submit ${type?.name ?? "task"}`}
          </button>
        </div>
      </form>
    </div>
  );
}
