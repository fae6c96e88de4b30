package server

import (
	"net/http"
	"reflect"

	"github.com/taskmill/taskmill/apiclient"
)

// route is one endpoint. The same entry registers the handler (New) and
// describes the endpoint in the OpenAPI document (openapi.go), so the two
// cannot drift apart; TestOpenAPIMatchesServer checks the rest.
type route struct {
	method, pattern string
	op              string // operationId
	tag             string
	summary, desc   string
	access          access
	params          []param
	body            reflect.Type // request body; nil for none
	bodyOptional    bool
	example         any // a valid request body, validated by the drift test
	status          int // success status
	reply           reflect.Type
	replyType       string // content type of a non-JSON reply
	bodyType        string // content type of a non-JSON request body
	errors          []int  // error statuses besides 401/403 (added for protected routes) and 500
	websocket       bool
	handle          http.HandlerFunc
}

// param is a path or query parameter.
type param struct {
	name, in, desc string
	schema         map[string]any
	required       bool
}

func pathParam(name, desc string) param {
	return param{name: name, in: "path", desc: desc, schema: map[string]any{"type": "string"}, required: true}
}

func queryParam(name, typ, desc string) param {
	return param{name: name, in: "query", desc: desc, schema: map[string]any{"type": typ}}
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var (
	idParam        = pathParam("id", "the task id")
	workerIDParam  = pathParam("id", "the worker id: 1–128 letters, digits and _ - . :")
	queueNameParam = pathParam("name", "the queue name")
	filePathParam  = pathParam("path", "the file's path in the files folder, with / between folders (images/photo.png)")
)

// routeTable lists every endpoint of the server.
func (s *Server) routeTable() []route {
	stateParam := queryParam("state", "string", "only tasks in this state")
	stateParam.schema["enum"] = stateNames()
	return []route{
		// Tasks.
		{method: "POST", pattern: "/api/tasks", op: "submitTask", tag: "tasks", access: accessAdmin,
			summary: "Submit a task",
			desc:    "Validates the request (and the payload against its type's rules) and stores the task durably before answering. A unique key held by another task answers 409 duplicate with existing_id.",
			body:    typeOf[apiclient.TaskRequest](), example: map[string]any{"type": "fibonacci", "payload": map[string]any{"n": 35}, "queue": "default", "priority": 10, "max_attempts": 3, "timeout": "30s"},
			status: 201, reply: typeOf[apiclient.Task](), errors: []int{400, 409, 413}, handle: s.submitTask},
		{method: "POST", pattern: "/api/tasks/batch", op: "submitBatch", tag: "tasks", access: accessAdmin,
			summary: "Submit many tasks at once",
			desc:    "Stores every task or none (one backend call); tasks refused for a held unique key are reported per task. Errors name the task as tasks[i].field.",
			body:    typeOf[apiclient.BatchRequest](), example: map[string]any{"tasks": []any{map[string]any{"type": "echo", "payload": map[string]any{"hello": "world"}}, map[string]any{"type": "sleep", "payload": map[string]any{"ms": 100}, "delay": "10s"}}},
			status: 201, reply: typeOf[apiclient.BatchResult](), errors: []int{400, 409, 413}, handle: s.submitBatch},
		{method: "GET", pattern: "/api/tasks", op: "listTasks", tag: "tasks", access: accessRead,
			summary: "List tasks",
			desc:    "One page of tasks, newest first (ids are time-ordered, so the order is stable while tasks are added). Pass next_cursor back as cursor for the next page.",
			params: []param{stateParam, queryParam("queue", "string", "only tasks of this queue"), queryParam("type", "string", "only tasks of this type"),
				queryParam("q", "string", "text search: a substring of the id, the type or the payload (at most 256 characters)"),
				queryParam("cursor", "string", "next_cursor of the previous page"), queryParam("limit", "integer", "page size, 1–1000 (default 50)")},
			status: 200, reply: typeOf[apiclient.TaskList](), errors: []int{400}, handle: s.listTasks},
		{method: "POST", pattern: "/api/tasks/bulk", op: "bulkTasks", tag: "tasks", access: accessAdmin,
			summary: "Retry, cancel or delete every task a filter selects",
			desc:    "Acts on at most limit tasks (default 1000) and scans a bounded number per call; when next_cursor is present, call again with filter.cursor set to it. dry_run reports what would be done.",
			body:    typeOf[apiclient.BulkRequest](), example: map[string]any{"action": "retry", "filter": map[string]any{"state": "failed", "queue": "emails"}, "limit": 500},
			status: 200, reply: typeOf[apiclient.BulkResult](), errors: []int{400, 413}, handle: s.bulkTasks},
		{method: "GET", pattern: "/api/tasks/{id}", op: "getTask", tag: "tasks", access: accessRead,
			summary: "Get a task", desc: "The whole record: payload, result, progress, every attempt with its worker, times and error, and timestamps. The lease token is never shown.",
			params: []param{idParam}, status: 200, reply: typeOf[apiclient.Task](), errors: []int{400, 404}, handle: s.getTask},
		{method: "DELETE", pattern: "/api/tasks/{id}", op: "cancelOrDeleteTask", tag: "tasks", access: accessAdmin,
			summary: "Cancel a task, or delete a final one",
			desc:    "mode=auto (default) cancels a task that is not final (200 with the task) and deletes a final one (204). mode=cancel only cancels (409 task_final otherwise); mode=delete only deletes (409 task_not_final otherwise).",
			params:  []param{idParam, {name: "mode", in: "query", desc: "auto, cancel or delete", schema: map[string]any{"type": "string", "enum": []any{"auto", "cancel", "delete"}}}},
			status:  200, reply: typeOf[apiclient.Task](), errors: []int{204, 400, 404, 409}, handle: s.cancelOrDeleteTask},
		{method: "POST", pattern: "/api/tasks/{id}/cancel", op: "cancelTask", tag: "tasks", access: accessAdmin,
			summary: "Cancel a task", desc: "Moves a task that is not final to canceled; a running handler is told through its worker. 409 task_final when it already finished.",
			params: []param{idParam}, status: 200, reply: typeOf[apiclient.Task](), errors: []int{400, 404, 409}, handle: s.cancelTask},
		{method: "POST", pattern: "/api/tasks/{id}/retry", op: "retryTask", tag: "tasks", access: accessAdmin,
			summary: "Retry a failed or canceled task", desc: "Back to pending with a fresh set of attempts; its attempt history is kept. 409 task_not_final otherwise.",
			params: []param{idParam}, status: 200, reply: typeOf[apiclient.Task](), errors: []int{400, 404, 409}, handle: s.retryTask},

		// Queues and statistics.
		{method: "GET", pattern: "/api/queues", op: "listQueues", tag: "queues", access: accessRead,
			summary: "List queues with counts and statistics",
			desc:    "Per queue: counts per state, paused, the oldest pending task and its wait (latency), the completed/failed attempts, throughput and failure rate over the stats window, whether a live worker serves it (served) and the types of its pending tasks no live worker serving it runs (unserved_types).",
			status:  200, reply: typeOf[apiclient.QueueList](), errors: []int{400}, handle: s.listQueues},
		{method: "GET", pattern: "/api/queues/{name}", op: "getQueue", tag: "queues", access: accessRead,
			summary: "Get one queue", params: []param{queueNameParam},
			status: 200, reply: typeOf[apiclient.QueueView](), errors: []int{400, 404}, handle: s.getQueue},
		{method: "DELETE", pattern: "/api/queues/{name}", op: "deleteQueue", tag: "queues", access: accessAdmin,
			summary: "Delete an empty queue", desc: "Forgets a queue that holds no tasks in any state (delete or purge them first): it leaves the queue list and upkeep. 409 queue_not_empty otherwise. Queues unused for --forget-queues-after are forgotten by themselves.",
			params: []param{queueNameParam}, status: 204, errors: []int{400, 404, 409}, handle: s.deleteQueue},
		{method: "GET", pattern: "/api/queues/{name}/load", op: "getQueueLoad", tag: "queues", access: accessRead,
			summary: "The work a queue asks of workers now, for autoscalers",
			desc:    "Pending and processing tasks of one queue, and active: processing plus pending (pending only while the queue is not paused). A valid queue name with no tasks answers zeros, never 404, so an autoscaler (KEDA metrics-api: valueLocation active) keeps working when a queue is new or retention emptied it. One read of the queue counts, no history.",
			params:  []param{queueNameParam}, status: 200, reply: typeOf[apiclient.QueueLoad](), errors: []int{400}, handle: s.getQueueLoad},
		{method: "POST", pattern: "/api/queues/{name}/pause", op: "pauseQueue", tag: "queues", access: accessAdmin,
			summary: "Pause a queue", desc: "Workers stop leasing from it; submits still succeed and running tasks finish.",
			params: []param{queueNameParam}, status: 200, reply: typeOf[apiclient.QueueActionReply](), errors: []int{400}, handle: s.pauseQueue},
		{method: "POST", pattern: "/api/queues/{name}/resume", op: "resumeQueue", tag: "queues", access: accessAdmin,
			summary: "Resume a queue", params: []param{queueNameParam},
			status: 200, reply: typeOf[apiclient.QueueActionReply](), errors: []int{400}, handle: s.resumeQueue},
		{method: "GET", pattern: "/api/history", op: "history", tag: "queues", access: accessRead,
			summary: "Finished attempts over time, for charts",
			desc:    "Completed and failed attempts per bucket, oldest first. Without step: only the minutes in which something finished. With step (minutes per bucket): every bucket of the window, zeros included.",
			params: []param{queryParam("queue", "string", "one queue; default all"), queryParam("minutes", "integer", "the window, 1–10080 minutes (default 60)"),
				queryParam("step", "integer", "bucket width in minutes, 1–1440; the window holds at most 2000 buckets")},
			status: 200, reply: typeOf[apiclient.HistoryView](), errors: []int{400}, handle: s.history},
		{method: "GET", pattern: "/api/stats", op: "stats", tag: "queues", access: accessRead,
			summary: "The whole system at a glance", desc: "Totals per state, queues, workers and their busy slots, throughput and failure rate over the stats window, the longest wait of a pending task, and health.",
			status: 200, reply: typeOf[apiclient.StatsView](), errors: []int{400}, handle: s.stats},
		{method: "GET", pattern: "/api/schedules", op: "listSchedules", tag: "queues", access: accessRead,
			summary: "List the periodic schedules",
			desc:    "The schedules this server submits tasks for (serve --schedules FILE), each with its cron spec, the task it submits, and its next and last firing. Every server over a shared backend may run the same schedules: each firing still yields one task.",
			status:  200, reply: typeOf[apiclient.ScheduleList](), errors: []int{400}, handle: s.listSchedules},
		{method: "GET", pattern: "/api/task-types", op: "listTaskTypes", tag: "queues", access: accessRead,
			summary: "Known task types", desc: "The types this server validates (with their payload JSON Schema) and the types live workers advertise.",
			status: 200, reply: typeOf[apiclient.TaskTypeList](), handle: s.listTaskTypes},

		// Workers.
		{method: "GET", pattern: "/api/workers", op: "listWorkers", tag: "workers", access: accessRead,
			summary: "List live workers", desc: "Every worker of every process whose heartbeat has not run out: id, host, pid, queues, types, concurrency, running tasks, start and last heartbeat.",
			status: 200, reply: typeOf[apiclient.WorkerList](), errors: []int{400}, handle: s.listWorkers},
		{method: "POST", pattern: "/api/workers", op: "startWorker", tag: "workers", access: accessAdmin,
			summary: "Start worker slots inside this server",
			body:    typeOf[apiclient.StartWorkerRequest](), bodyOptional: true, example: map[string]any{"concurrency": 4, "queues": map[string]any{"default": 3, "emails": 1}},
			status: 201, reply: typeOf[apiclient.WorkerInfo](), errors: []int{400, 409, 413}, handle: s.startWorker},
		{method: "DELETE", pattern: "/api/workers/{id}", op: "stopWorker", tag: "workers", access: accessAdmin,
			summary: "Ask a worker to drain and stop", desc: "Works for workers of any process and any language: the worker sees the request at its next heartbeat, stops leasing, finishes or hands back its tasks, and leaves.",
			params: []param{workerIDParam}, status: 202, reply: typeOf[apiclient.WorkerStopReply](), errors: []int{400, 404}, handle: s.stopWorker},

		// The HTTP worker protocol.
		{method: "POST", pattern: "/api/workers/{id}/heartbeat", op: "workerHeartbeat", tag: "worker protocol", access: accessWorker,
			summary: "Register or refresh an HTTP worker", desc: "Call it every few seconds (well within ttl). The reply says whether someone asked the worker to stop. Send a secret the worker made at start with every heartbeat and its unregister: while the worker lives, another caller with the same id and another secret is refused with 409 worker_taken. types declares the task types the worker runs (the queue list shows types no live worker serves).",
			params: []param{workerIDParam}, body: typeOf[apiclient.HeartbeatRequest](), example: map[string]any{"host": "box-1", "pid": 4242, "queues": []any{"node"}, "types": []any{"node:resize"}, "concurrency": 2, "ttl": "15s", "secret": "5f0c1e9a7b3d4c2e8a6f1b0d9c7e3a5b"},
			status: 200, reply: typeOf[apiclient.HeartbeatReply](), errors: []int{400, 409, 413}, handle: s.workerHeartbeat},
		{method: "POST", pattern: "/api/workers/{id}/lease", op: "workerLease", tag: "worker protocol", access: accessWorker,
			summary: "Lease tasks (long poll)",
			desc:    "Takes up to max ready tasks from the queues in the order given, blocking up to wait when none is ready. Each task carries its lease_token: extend the lease before lease_for runs out, then ack or fail with the token. Only tasks of the types listed in types are leased (none listed: every type); the others keep their place for a worker that runs them.",
			params:  []param{workerIDParam}, body: typeOf[apiclient.LeaseRequest](), example: map[string]any{"queues": []any{"node"}, "types": []any{"node:resize"}, "max": 2, "wait": "20s", "lease_for": "30s"},
			status: 200, reply: typeOf[apiclient.LeaseReply](), errors: []int{400, 413, 503}, handle: s.workerLease},
		{method: "POST", pattern: "/api/workers/{id}/extend", op: "workerExtend", tag: "worker protocol", access: accessWorker,
			summary: "Extend leases", desc: "Pushes each held lease to now+lease_for and says, per task, whether it is still held; when it is not (canceled, reclaimed) stop the task and report nothing.",
			params: []param{workerIDParam}, body: typeOf[apiclient.ExtendRequest](), example: map[string]any{"leases": []any{map[string]any{"task_id": "0193c2a4-5b6e-7c1d-9e2f-3a4b5c6d7e8f", "token": "17.3f9a0c5e1b7d4a2c8e6f0b1d9c7a5e3f"}}, "lease_for": "30s"},
			status: 200, reply: typeOf[apiclient.ExtendReply](), errors: []int{400, 413}, handle: s.workerExtend},
		{method: "POST", pattern: "/api/workers/{id}/unregister", op: "workerUnregister", tag: "worker protocol", access: accessWorker,
			summary: "Leave the worker registry", desc: "Call it when the worker exits, after it has acked, failed or released its tasks, with the secret it registered with (the body is optional for a worker registered without one). 409 worker_taken for another live worker's id.",
			params: []param{workerIDParam}, body: typeOf[apiclient.UnregisterRequest](), example: map[string]any{"secret": "5f0c1e9a7b3d4c2e8a6f1b0d9c7e3a5b"},
			status: 204, errors: []int{400, 409, 413}, handle: s.workerUnregister},
		{method: "POST", pattern: "/api/tasks/{id}/ack", op: "ackTask", tag: "worker protocol", access: accessWorker,
			summary: "Complete a leased task with its result", desc: "409 lease_lost when the token is no longer the task's lease: the result is not recorded.",
			params: []param{idParam}, body: typeOf[apiclient.AckRequest](), example: map[string]any{"token": "17.3f9a0c5e1b7d4a2c8e6f0b1d9c7a5e3f", "result": map[string]any{"width": 640}},
			status: 200, reply: typeOf[apiclient.AttemptOutcome](), errors: []int{400, 409, 413}, handle: s.ackTask},
		{method: "POST", pattern: "/api/tasks/{id}/fail", op: "failTask", tag: "worker protocol", access: accessWorker,
			summary: "Record a failed attempt", desc: "The task is retried after retry_after (default: exponential backoff with jitter) while attempts are left and final is false; otherwise it fails (the dead-letter queue). The reply says which.",
			params: []param{idParam}, body: typeOf[apiclient.FailRequest](), example: map[string]any{"token": "17.3f9a0c5e1b7d4a2c8e6f0b1d9c7a5e3f", "error": "image is corrupt", "final": true},
			status: 200, reply: typeOf[apiclient.AttemptOutcome](), errors: []int{400, 409, 413}, handle: s.failTask},
		{method: "POST", pattern: "/api/tasks/{id}/progress", op: "reportProgress", tag: "worker protocol", access: accessWorker,
			summary: "Report progress of a leased task", desc: "Stored with the task and streamed to watchers as a task_update event.",
			params: []param{idParam}, body: typeOf[apiclient.ProgressRequest](), example: map[string]any{"token": "17.3f9a0c5e1b7d4a2c8e6f0b1d9c7a5e3f", "percent": 40, "message": "resizing"},
			status: 204, errors: []int{400, 409, 413}, handle: s.reportProgress},
		{method: "POST", pattern: "/api/tasks/{id}/release", op: "releaseTask", tag: "worker protocol", access: accessWorker,
			summary: "Hand a leased task back", desc: "Back to pending without counting the attempt, for a worker that shuts down before finishing.",
			params: []param{idParam}, body: typeOf[apiclient.ReleaseRequest](), example: map[string]any{"token": "17.3f9a0c5e1b7d4a2c8e6f0b1d9c7a5e3f"},
			status: 204, errors: []int{400, 409, 413}, handle: s.releaseTask},

		// Live events.
		{method: "GET", pattern: "/api/events", op: "events", tag: "events", access: accessRead, websocket: true,
			summary: "Live events (WebSocket)",
			desc:    "Upgrade to a WebSocket that streams one JSON Event per message: task_update for every transition of a task (with progress, result or error), queue_update, worker_update, and resync when this client fell behind and lost events (reload what you show). Browsers pass the token as ?access_token=.",
			params: []param{queryParam("task", "string", "only events of this task"), queryParam("queue", "string", "only events of this queue"),
				queryParam("access_token", "string", "the API key, for clients that cannot send headers")},
			status: 101, reply: typeOf[apiclient.Event](), errors: []int{400, 503}, handle: s.streamEvents},

		// Files.
		{method: "GET", pattern: "/api/files", op: "listFiles", tag: "files", access: accessRead,
			summary: "List a folder of the files folder",
			desc:    "The files folder is where file-based task types (image_resize, large_file_processing, simulate_backup, …) read and write; payloads name files by their path in it. Folders first, then files, by name; at most 10000 entries (truncated says when there are more).",
			params:  []param{queryParam("path", "string", "the folder, relative to the files folder; default its top")},
			status:  200, reply: typeOf[apiclient.FileList](), errors: []int{400, 404}, handle: s.listFiles},
		{method: "GET", pattern: "/api/files/{path}", op: "downloadFile", tag: "files", access: accessRead,
			summary: "Download a file of the files folder",
			desc:    "The bytes as stored, with Content-Disposition (attachment, or inline for images and plain text with inline=true), a content type from the extension (never HTML or SVG) and X-Content-Type-Options: nosniff. Range requests work.",
			params:  []param{filePathParam, queryParam("inline", "boolean", "show images and plain text in the browser instead of saving them")},
			status:  200, replyType: "application/octet-stream", errors: []int{400, 404}, handle: s.downloadFile},
		{method: "PUT", pattern: "/api/files/{path}", op: "uploadFile", tag: "files", access: accessAdmin,
			summary: "Upload a file into the files folder",
			desc:    "The request body, as it is, becomes the file (folders are created; an existing file is replaced once the whole body has arrived). Bounded by serve --max-upload-bytes (413 body_too_large).",
			params:  []param{filePathParam}, bodyType: "application/octet-stream",
			status: 201, reply: typeOf[apiclient.FileEntry](), errors: []int{400, 409, 413}, handle: s.uploadFile},
		{method: "DELETE", pattern: "/api/files/{path}", op: "deleteFile", tag: "files", access: accessAdmin,
			summary: "Delete a file, or an empty folder, of the files folder",
			params:  []param{filePathParam}, status: 204, errors: []int{400, 404, 409}, handle: s.deleteFile},
		{method: "GET", pattern: "/api/info", op: "info", tag: "operations", access: accessRead,
			summary: "This server: version, backend, where its data lives, links",
			desc:    "The build (version, commit, Go version), the backend's kind, the absolute paths of the data directory and of the files folder, and the state of each link to a system other than the backend.",
			status:  200, reply: typeOf[apiclient.InfoView](), errors: []int{400}, handle: s.info},

		// Operations.
		{method: "GET", pattern: "/healthz", op: "healthz", tag: "operations", access: accessPublic,
			summary: "Liveness", desc: "200 while the process serves requests.", status: 200, reply: typeOf[apiclient.HealthStatus](), handle: s.healthz},
		{method: "GET", pattern: "/readyz", op: "readyz", tag: "operations", access: accessPublic,
			summary: "Readiness", desc: "200 when the backend answers and every required link is up, 503 backend_unavailable or link_unavailable otherwise.", status: 200, reply: typeOf[apiclient.HealthStatus](), errors: []int{503}, handle: s.readyz},
		{method: "GET", pattern: "/metrics", op: "metrics", tag: "operations", access: s.metricsAccess(),
			summary: "Prometheus metrics", desc: "Text exposition format. Needs a read key when API keys are set, unless the server runs with --public-metrics.",
			status: 200, replyType: "text/plain", errors: []int{404}, handle: s.metrics},
		{method: "GET", pattern: "/api/openapi.json", op: "openapi", tag: "operations", access: accessPublic,
			summary: "This OpenAPI 3.1 document", status: 200, replyType: "application/json", handle: s.openAPI},
		{method: "GET", pattern: "/docs", op: "docs", tag: "operations", access: accessPublic,
			summary: "Readable API documentation (HTML, self-contained)", status: 200, replyType: "text/html", handle: s.docsPage},
	}
}

func (s *Server) metricsAccess() access {
	if s.cfg.PublicMetrics {
		return accessPublic
	}
	return accessRead
}
