package server_test

import (
	"strings"
	"testing"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/model"
)

// TestWorkerProtocolForgedAck repeats issue #11's attack: a worker acks
// another worker's task with a credential made from its own (its token
// plus or minus one, its secret). The ack is refused with lease_lost and
// nothing is stored; naming a worker that does not hold the lease is
// refused too. Run on the reference model, which checks lease secrets as
// every backend must.
func TestWorkerProtocolForgedAck(t *testing.T) {
	m := model.New(model.Options{})
	t.Cleanup(func() { m.Close() })
	e := newEnv(t, m, withoutWorker())
	lease := func(worker string) apiclient.LeasedTask {
		t.Helper()
		var lr apiclient.LeaseReply
		e.wantStatus(200, "POST", "/api/workers/"+worker+"/lease", map[string]any{"queues": []string{"ext"}, "wait": "5s"}, &lr)
		if len(lr.Tasks) != 1 {
			t.Fatalf("lease for %s = %+v", worker, lr)
		}
		return lr.Tasks[0]
	}
	victim := e.submit(map[string]any{"type": "resize", "queue": "ext"})
	held := lease("alice")
	mine := e.submit(map[string]any{"type": "resize", "queue": "ext"})
	own := lease("mallory")
	if held.ID != victim.ID || own.ID != mine.ID {
		t.Fatalf("leases: alice %s, mallory %s", held.ID, own.ID)
	}
	if !strings.Contains(held.LeaseToken, ".") || len(held.LeaseToken) < 20 {
		t.Fatalf("lease_token %q carries no secret", held.LeaseToken)
	}
	path := "/api/tasks/" + victim.ID
	for _, forged := range []string{bumpToken(t, own.LeaseToken, -1), bumpToken(t, own.LeaseToken, 1),
		strings.Split(held.LeaseToken, ".")[0], strings.Split(held.LeaseToken, ".")[0] + "."} {
		e.wantError(409, "lease_lost", "token", "POST", path+"/ack", map[string]any{"token": forged, "result": "forged"})
		e.wantError(409, "lease_lost", "token", "POST", path+"/fail", map[string]any{"token": forged, "error": "forged", "final": true})
		e.wantError(409, "lease_lost", "token", "POST", path+"/release", map[string]any{"token": forged})
		e.wantError(409, "lease_lost", "token", "POST", path+"/progress", map[string]any{"token": forged, "percent": 99})
	}
	// The right credential from a worker that says it is someone else.
	e.wantError(409, "lease_lost", "token", "POST", path+"/ack", map[string]any{"token": held.LeaseToken, "worker_id": "mallory", "result": "forged"})
	// Extending another's lease under one's own id does not hold it.
	var ext apiclient.ExtendReply
	e.wantStatus(200, "POST", "/api/workers/mallory/extend", map[string]any{"leases": []any{map[string]any{"task_id": victim.ID, "token": held.LeaseToken}}}, &ext)
	if len(ext.Leases) != 1 || ext.Leases[0].Held {
		t.Fatalf("mallory extended alice's lease: %+v", ext)
	}
	got := e.get(victim.ID)
	if got.State != backend.StateProcessing || got.WorkerID != "alice" || got.Result != nil || got.Progress != nil {
		t.Fatalf("after the forgeries the task is %+v, want it untouched, processing for alice", got)
	}
	// The holder's own ack goes through.
	var out apiclient.AttemptOutcome
	e.wantStatus(200, "POST", path+"/ack", map[string]any{"token": held.LeaseToken, "worker_id": "alice", "result": "real"}, &out)
	if got := e.get(victim.ID); got.State != backend.StateCompleted || string(got.Result) != `"real"` {
		t.Fatalf("after the real ack: %+v", got)
	}
}

// TestWorkerProtocolRegistrySpoofing: a worker that registered with a
// secret cannot be heartbeaten as or unregistered by another worker key
// that does not know it.
func TestWorkerProtocolRegistrySpoofing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		runRegistrySpoofing(t, open(t))
	})
	t.Run("model", func(t *testing.T) {
		m := model.New(model.Options{})
		t.Cleanup(func() { m.Close() })
		runRegistrySpoofing(t, m)
	})
}

func runRegistrySpoofing(t *testing.T, b backend.Backend) {
	e := newEnv(t, b, withoutWorker())
	const real, fake = "0123456789abcdef0123456789abcdef", "ffffffffffffffffffffffffffffffff"
	hb := func(secret string, concurrency int) map[string]any {
		return map[string]any{"queues": []string{"ext"}, "concurrency": concurrency, "secret": secret}
	}
	e.wantStatus(200, "POST", "/api/workers/alice/heartbeat", hb(real, 2), nil)
	e.wantError(409, "worker_taken", "secret", "POST", "/api/workers/alice/heartbeat", hb(fake, 9))
	e.wantError(409, "worker_taken", "secret", "POST", "/api/workers/alice/heartbeat", hb("", 9))
	e.wantError(409, "worker_taken", "secret", "POST", "/api/workers/alice/unregister", map[string]any{"secret": fake})
	e.wantError(409, "worker_taken", "secret", "POST", "/api/workers/alice/unregister", nil)
	e.wantError(400, "invalid_length", "secret", "POST", "/api/workers/alice/heartbeat", hb("short", 2))
	var list apiclient.WorkerList
	e.wantStatus(200, "GET", "/api/workers", nil, &list)
	if len(list.Workers) != 1 || list.Workers[0].ID != "alice" || list.Workers[0].Concurrency != 2 || list.Workers[0].Secret != "" {
		t.Fatalf("registry after the spoofing = %+v", list.Workers)
	}
	e.wantStatus(200, "POST", "/api/workers/alice/heartbeat", hb(real, 3), nil)
	e.wantStatus(204, "POST", "/api/workers/alice/unregister", map[string]any{"secret": real}, nil)
	list = apiclient.WorkerList{}
	e.wantStatus(200, "GET", "/api/workers", nil, &list)
	if len(list.Workers) != 0 {
		t.Fatalf("after the real unregister = %+v", list.Workers)
	}
}
