package backendtest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/taskmill/taskmill/backend"
)

type opKind int

const (
	opEnqueue opKind = iota
	opLease
	opExtend
	opProgress
	opAck
	opFail
	opRelease
	opCancel
	opRetry
	opDelete
	opGet
	opPurge
	opReclaim
	opPromote
	opAdvance
	opPause
	opResume
	opDeleteQueue
	opForgetQueues
	opHeartbeat
	opUnregister
	opRequestStop
	opWorkers
	opLead
	opResign
	opList
	opQueues
	opHistory
	opPruneHistory
	opNow
)

var opWeights = []struct {
	kind   opKind
	weight int
}{
	{opEnqueue, 18}, {opLease, 14}, {opExtend, 5}, {opProgress, 3}, {opAck, 8}, {opFail, 7},
	{opRelease, 3}, {opCancel, 4}, {opRetry, 3}, {opDelete, 3}, {opGet, 2}, {opPurge, 2},
	{opReclaim, 4}, {opPromote, 3}, {opAdvance, 11}, {opPause, 1}, {opResume, 2},
	{opDeleteQueue, 1}, {opForgetQueues, 1}, {opHeartbeat, 3}, {opUnregister, 1},
	{opRequestStop, 1}, {opWorkers, 1}, {opLead, 2}, {opResign, 1}, {opList, 2},
	{opQueues, 1}, {opHistory, 1}, {opPruneHistory, 1}, {opNow, 1},
}

var (
	diffQueues  = []string{"a", "b", "c"}
	diffTypes   = []string{"x", "y", "z"}
	diffWorkers = []string{"w0", "w1", "w2"}
	diffHolders = []string{"h0", "h1"}
)

// leasePair is one lease as each side knows it.
type leasePair struct {
	model, got backend.LeaseRef
	worker     string
}

// runner holds one run's two backends and what the steps learned.
type runner struct {
	clock   *Clock
	ref, b  backend.Backend
	evRef   <-chan backend.Event
	evB     <-chan backend.Event
	cancel  context.CancelFunc
	ids     []string // every id enqueued, stored or not
	known   map[string]bool
	leases  []leasePair
	next    int    // for new ids
	term    uint64 // the latest term Lead granted
	touched map[string]bool
}

func newRunner(clock *Clock, ref, b backend.Backend) (*runner, error) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{clock: clock, ref: ref, b: b, cancel: cancel, known: map[string]bool{}}
	var err error
	if r.evRef, err = ref.Subscribe(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe to the model: %w", err)
	}
	if r.evB, err = b.Subscribe(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe to the backend: %w", err)
	}
	return r, nil
}

func (r *runner) stop() { r.cancel() }

func (r *runner) touch(ids ...string) {
	for _, id := range ids {
		r.touched[id] = true
	}
}

// pickID returns a known id, now and then one that never existed.
func (r *runner) pickID(p *params) string {
	if len(r.ids) == 0 || p.pct(5) {
		return "nope"
	}
	// Favour recent ids: they are the live ones.
	if p.pct(60) {
		return r.ids[max(0, len(r.ids)-1-p.n(8))]
	}
	return r.ids[p.n(len(r.ids))]
}

// pickLease returns a lease pair, now and then tampered with.
func (r *runner) pickLease(p *params) leasePair {
	if len(r.leases) == 0 || p.pct(3) {
		return leasePair{model: backend.LeaseRef{TaskID: "nope", Token: 1, Secret: "00"}, got: backend.LeaseRef{TaskID: "nope", Token: 1, Secret: "00"}, worker: "w0"}
	}
	var l leasePair
	if p.pct(70) {
		l = r.leases[max(0, len(r.leases)-1-p.n(6))]
	} else {
		l = r.leases[p.n(len(r.leases))]
	}
	switch {
	case p.pct(4):
		l.model.Secret, l.got.Secret = "f00d", "f00d"
	case p.pct(3):
		l.model.Token += 1000
		l.got.Token += 1000
	}
	return l
}

func (r *runner) pickTerm(p *params) uint64 {
	switch p.n(8) {
	case 0, 1, 2, 3:
		return 0
	case 4, 5:
		return r.term
	case 6:
		return r.term + 1
	default:
		return max(r.term, 1) - 1
	}
}

// both calls f on the model and on the backend and compares the results
// f renders.
func (r *runner) both(f func(b backend.Backend, model bool) (string, error)) string {
	want, werr := f(r.ref, true)
	got, gerr := f(r.b, false)
	if we, ge := errClass(werr), errClass(gerr); we != ge {
		return fmt.Sprintf("error: model %s (%v), backend %s (%v)", we, werr, ge, gerr)
	}
	if werr == nil && want != got {
		return fmt.Sprintf("result:\n    model   %s\n    backend %s", want, got)
	}
	return ""
}

var sentinels = []struct {
	name string
	err  error
}{
	{"ErrNotFound", backend.ErrNotFound}, {"ErrLeaseLost", backend.ErrLeaseLost}, {"ErrFinal", backend.ErrFinal},
	{"ErrNotFinal", backend.ErrNotFinal}, {"ErrDuplicate", backend.ErrDuplicate}, {"ErrClosed", backend.ErrClosed},
	{"ErrBadCursor", backend.ErrBadCursor}, {"ErrInvalid", backend.ErrInvalid}, {"ErrNotLeader", backend.ErrNotLeader},
	{"ErrNotEmpty", backend.ErrNotEmpty}, {"ErrWorkerTaken", backend.ErrWorkerTaken},
	{"context.Canceled", context.Canceled}, {"context.DeadlineExceeded", context.DeadlineExceeded},
}

// errClass names the sentinel err wraps, "nil", or "other".
func errClass(err error) string {
	if err == nil {
		return "nil"
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "other"
}

// render writes v as JSON for comparison.
func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unrenderable %T: %v", v, err)
	}
	return string(b)
}

// normTask blanks what each side makes its own: the lease token and
// secret (checked for shape here), keeping whether there is one.
func normTask(t *backend.Task) (*backend.Task, string) {
	if t == nil {
		return nil, ""
	}
	c := t.Clone()
	bad := ""
	if c.LeaseSecret != "" {
		if b, err := hex.DecodeString(c.LeaseSecret); err != nil || len(b) != 16 {
			bad = fmt.Sprintf("task %s: lease secret %q is not 32 hex digits", c.ID, c.LeaseSecret)
		}
		c.LeaseSecret = "<secret>"
	}
	if c.LeaseToken != 0 {
		c.LeaseToken = 1
	}
	return c, bad
}

func renderTasks(ts []*backend.Task) (string, error) {
	out := make([]*backend.Task, len(ts))
	for i, t := range ts {
		var bad string
		out[i], bad = normTask(t)
		if bad != "" {
			return "", errors.New(bad)
		}
	}
	return render(out), nil
}

// step runs one operation on both sides and returns its description and
// the first difference ("" when none).
func (r *runner) step(op diffOp) (string, string) {
	r.touched = map[string]bool{}
	p := &params{op: &op}
	ctx := context.Background()
	var desc, diff string
	switch op.kind {
	case opEnqueue:
		tasks := r.genTasks(p)
		var parts []string
		for _, t := range tasks {
			parts = append(parts, describeTask(t, r.clock.Now()))
		}
		desc = "enqueue " + strings.Join(parts, "; ")
		var stored []backend.EnqueueResult
		diff = r.both(func(b backend.Backend, isModel bool) (string, error) {
			in := make([]*backend.Task, len(tasks))
			for i, t := range tasks {
				in[i] = t.Clone()
			}
			res, err := b.Enqueue(ctx, in)
			if isModel {
				stored = res
			}
			return render(res), err
		})
		for _, t := range tasks {
			if !r.known[t.ID] {
				r.known[t.ID] = true
				r.ids = append(r.ids, t.ID)
			}
			r.touch(t.ID)
		}
		_ = stored
	case opLease:
		req := backend.LeaseRequest{WorkerID: pick(p, diffWorkers...), Max: 1 + p.n(3),
			LeaseFor: pick(p, time.Second, 5*time.Second, 30*time.Second)}
		if p.pct(3) {
			req.LeaseFor = 0
		}
		qs := slices.Clone(diffQueues)
		for i := len(qs) - 1; i > 0; i-- {
			j := p.n(i + 1)
			qs[i], qs[j] = qs[j], qs[i]
		}
		req.Queues = qs[:1+p.n(3)]
		if p.pct(5) {
			req.Queues = append(req.Queues, req.Queues[0])
		}
		if p.pct(30) {
			req.Types = []string{pick(p, diffTypes...)}
			if p.pct(40) {
				req.Types = append(req.Types, pick(p, diffTypes...))
			}
		}
		desc = fmt.Sprintf("lease worker=%s queues=%v types=%v max=%d for=%s", req.WorkerID, req.Queues, req.Types, req.Max, req.LeaseFor)
		var mt, bt []*backend.Task
		diff = r.both(func(b backend.Backend, isModel bool) (string, error) {
			ts, err := b.Lease(ctx, req)
			if err != nil {
				return "", err
			}
			if isModel {
				mt = ts
			} else {
				bt = ts
			}
			return renderTasks(ts)
		})
		if diff == "" && len(mt) == len(bt) {
			for i := range mt {
				r.leases = append(r.leases, leasePair{model: mt[i].Ref(), got: bt[i].Ref(), worker: req.WorkerID})
				r.touch(mt[i].ID)
			}
		}
	case opExtend:
		worker := pick(p, diffWorkers...)
		var mrefs, brefs []backend.LeaseRef
		for range 1 + p.n(2) {
			l := r.pickLease(p)
			if p.pct(80) {
				worker = l.worker
			}
			mrefs, brefs = append(mrefs, l.model), append(brefs, l.got)
			r.touch(l.model.TaskID)
		}
		d := pick(p, time.Second, 5*time.Second, 30*time.Second)
		if p.pct(2) {
			d = 0
		}
		desc = fmt.Sprintf("extend worker=%s %s for=%s", worker, describeRefs(mrefs), d)
		diff = r.both(func(b backend.Backend, isModel bool) (string, error) {
			refs := brefs
			if isModel {
				refs = mrefs
			}
			res, err := b.Extend(ctx, worker, refs, d)
			return render(res), err
		})
	case opProgress, opAck, opFail, opRelease:
		l := r.pickLease(p)
		r.touch(l.model.TaskID)
		var call func(b backend.Backend, ref backend.LeaseRef) error
		switch op.kind {
		case opProgress:
			pr := backend.Progress{Percent: float64(p.n(101)), Message: pick(p, "", "half", "almost")}
			desc = fmt.Sprintf("progress %s %v%% %q", describeRefs([]backend.LeaseRef{l.model}), pr.Percent, pr.Message)
			call = func(b backend.Backend, ref backend.LeaseRef) error { return b.SetProgress(ctx, ref, pr) }
		case opAck:
			res := json.RawMessage(fmt.Sprintf(`{"ok":%d}`, p.n(100)))
			if p.pct(20) {
				res = nil
			}
			desc = fmt.Sprintf("ack %s %s", describeRefs([]backend.LeaseRef{l.model}), res)
			call = func(b backend.Backend, ref backend.LeaseRef) error { return b.Ack(ctx, ref, res) }
		case opFail:
			f := backend.Failure{Error: fmt.Sprintf("e%d", p.n(10)), Final: p.pct(15),
				RetryIn: pick(p, time.Duration(0), 500*time.Millisecond, 2*time.Second, time.Minute, -time.Second)}
			desc = fmt.Sprintf("fail %s %+v", describeRefs([]backend.LeaseRef{l.model}), f)
			call = func(b backend.Backend, ref backend.LeaseRef) error { return b.Fail(ctx, ref, f) }
		default:
			desc = "release " + describeRefs([]backend.LeaseRef{l.model})
			call = func(b backend.Backend, ref backend.LeaseRef) error { return b.Release(ctx, ref) }
		}
		diff = r.both(func(b backend.Backend, isModel bool) (string, error) {
			if isModel {
				return "", call(b, l.model)
			}
			return "", call(b, l.got)
		})
	case opCancel, opRetry, opGet:
		id := r.pickID(p)
		r.touch(id)
		desc = map[opKind]string{opCancel: "cancel ", opRetry: "retry ", opGet: "get "}[op.kind] + id
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			var t *backend.Task
			var err error
			switch op.kind {
			case opCancel:
				t, err = b.Cancel(ctx, id)
			case opRetry:
				t, err = b.Retry(ctx, id)
			default:
				t, err = b.Get(ctx, id)
			}
			if err != nil {
				return "", err
			}
			return renderTasks([]*backend.Task{t})
		})
	case opDelete:
		id := r.pickID(p)
		r.touch(id)
		desc = "delete " + id
		diff = r.both(func(b backend.Backend, _ bool) (string, error) { return "", b.Delete(ctx, id) })
	case opPurge:
		term := r.pickTerm(p)
		s := pick(p, backend.StateCompleted, backend.StateFailed, backend.StateCanceled, backend.StateCompleted)
		if p.pct(5) {
			s = backend.StatePending
		}
		age := pick(p, -time.Hour, 0, time.Second, time.Minute, time.Hour)
		max := pick(p, 0, 1, 2, 5, 100)
		desc = fmt.Sprintf("purge term=%d %s older than %s max %d", term, s, age, max)
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			n, err := b.Purge(ctx, term, s, age, max)
			return fmt.Sprint(n), err
		})
		r.touchAll()
	case opReclaim, opPromote:
		term := r.pickTerm(p)
		name := map[opKind]string{opReclaim: "reclaim", opPromote: "promote"}[op.kind]
		desc = fmt.Sprintf("%s term=%d", name, term)
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			var n int
			var err error
			if op.kind == opReclaim {
				n, err = b.Reclaim(ctx, term)
			} else {
				n, err = b.Promote(ctx, term)
			}
			return fmt.Sprint(n), err
		})
		r.touchAll()
	case opAdvance:
		d := pick(p, 0, time.Millisecond, 100*time.Millisecond, time.Second, 2*time.Second, 5*time.Second,
			30*time.Second, 2*time.Minute, time.Hour)
		desc = "advance the clock " + d.String()
		r.clock.Advance(d)
	case opPause, opResume, opDeleteQueue:
		q := pick(p, "a", "b", "c", "d")
		name := map[opKind]string{opPause: "pause", opResume: "resume", opDeleteQueue: "delete queue"}[op.kind]
		desc = name + " " + q
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			switch op.kind {
			case opPause:
				return "", b.PauseQueue(ctx, q)
			case opResume:
				return "", b.ResumeQueue(ctx, q)
			}
			return "", b.DeleteQueue(ctx, q)
		})
	case opForgetQueues:
		term := r.pickTerm(p)
		age := pick(p, time.Duration(0), time.Minute, time.Hour)
		desc = fmt.Sprintf("forget queues term=%d unused for %s", term, age)
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			n, err := b.ForgetQueues(ctx, term, age)
			return fmt.Sprint(n), err
		})
	case opHeartbeat:
		i := p.n(len(diffWorkers))
		w := backend.WorkerInfo{ID: diffWorkers[i], Host: "host", PID: 100 + i, Queues: diffQueues[:1+p.n(3)],
			Concurrency: 1 + p.n(2), StartedAt: ClockStart, Secret: "secret-" + diffWorkers[i], Stopping: p.pct(5)}
		if p.pct(8) {
			w.Secret = "impostor"
		}
		if p.pct(50) && len(r.ids) > 0 {
			w.Running = []string{r.ids[len(r.ids)-1]}
		}
		if p.pct(30) {
			w.Types = []string{pick(p, diffTypes...)}
		}
		ttl := pick(p, time.Second, 5*time.Second, 30*time.Second)
		if p.pct(2) {
			ttl = 0
		}
		desc = fmt.Sprintf("heartbeat %s secret=%s queues=%v types=%v running=%v stopping=%v ttl=%s", w.ID, w.Secret, w.Queues, w.Types, w.Running, w.Stopping, ttl)
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			rep, err := b.Heartbeat(ctx, w, ttl)
			return render(rep), err
		})
	case opUnregister:
		id := pick(p, diffWorkers...)
		secret := "secret-" + id
		if p.pct(20) {
			secret = "impostor"
		}
		desc = fmt.Sprintf("unregister %s secret=%s", id, secret)
		diff = r.both(func(b backend.Backend, _ bool) (string, error) { return "", b.Unregister(ctx, id, secret) })
	case opRequestStop:
		id := pick(p, "w0", "w1", "w2", "w9")
		desc = "request stop " + id
		diff = r.both(func(b backend.Backend, _ bool) (string, error) { return "", b.RequestStop(ctx, id) })
	case opWorkers:
		desc = "workers"
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			ws, err := b.Workers(ctx)
			return render(ws), err
		})
	case opLead:
		holder := pick(p, diffHolders...)
		ttl := pick(p, time.Second, 5*time.Second, 30*time.Second)
		desc = fmt.Sprintf("lead %s ttl=%s", holder, ttl)
		var got backend.Leadership
		diff = r.both(func(b backend.Backend, isModel bool) (string, error) {
			l, err := b.Lead(ctx, holder, ttl)
			if isModel {
				got = l
			}
			return render(l), err
		})
		if got.Held {
			r.term = got.Term
		}
	case opResign:
		holder := pick(p, diffHolders...)
		term := r.pickTerm(p)
		desc = fmt.Sprintf("resign %s term=%d", holder, term)
		diff = r.both(func(b backend.Backend, _ bool) (string, error) { return "", b.Resign(ctx, holder, term) })
	case opList:
		f := backend.Filter{Limit: pick(p, 0, 1, 2, 5, 2000)}
		if p.pct(40) {
			f.State = pick(p, backend.States...)
		}
		if p.pct(30) {
			f.Queue = pick(p, diffQueues...)
		}
		if p.pct(20) {
			f.Type = pick(p, diffTypes...)
		}
		if p.pct(10) {
			f.Query = pick(p, "t1", "y", `"n":3`)
		}
		bad := p.pct(5)
		desc = fmt.Sprintf("list %+v bad cursor=%v", f, bad)
		diff = r.both(func(b backend.Backend, _ bool) (string, error) { return listAll(ctx, b, f, bad) })
	case opQueues:
		desc = "queues"
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			qs, err := b.Queues(ctx)
			for i := range qs {
				qs[i].OldestPendingAt = time.Time{} // informational: backends may approximate it
			}
			return render(qs), err
		})
	case opHistory:
		q := pick(p, "", "a", "b")
		since := r.clock.Now().Add(-pick(p, time.Minute, time.Hour, 10*24*time.Hour))
		desc = fmt.Sprintf("history %q since %s", q, since.Format(time.RFC3339Nano))
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			h, err := b.History(ctx, q, since)
			return render(h), err
		})
	case opPruneHistory:
		term := r.pickTerm(p)
		age := pick(p, time.Duration(0), time.Minute, time.Hour)
		desc = fmt.Sprintf("prune history term=%d older than %s", term, age)
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			n, err := b.PruneHistory(ctx, term, age)
			return fmt.Sprint(n), err
		})
	case opNow:
		desc = "now"
		diff = r.both(func(b backend.Backend, _ bool) (string, error) {
			t, err := b.Now(ctx)
			return t.UTC().Format(time.RFC3339Nano), err
		})
	}
	if diff != "" {
		return desc, diff
	}
	if diff := r.compareEvents(); diff != "" {
		return desc, diff
	}
	return desc, r.compareTasks(keysOf(r.touched))
}

func (r *runner) touchAll() {
	for _, id := range r.ids {
		r.touched[id] = true
	}
}

// listAll reads up to five pages of f and renders their tasks and
// whether each page said more follow.
func listAll(ctx context.Context, b backend.Backend, f backend.Filter, badCursor bool) (string, error) {
	if badCursor {
		f.Cursor = "bm90LWEtY3Vyc29y"
	}
	var pages []string
	for range 5 {
		page, err := b.List(ctx, f)
		if err != nil {
			return "", err
		}
		s, err := renderTasks(page.Tasks)
		if err != nil {
			return "", err
		}
		pages = append(pages, fmt.Sprintf("%s more=%v", s, page.NextCursor != ""))
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	return strings.Join(pages, " | "), nil
}

// compareEvents compares the events each side sent for the step, as
// sorted lists: one transition, one event; the order between tasks within
// one call is not part of the contract.
func (r *runner) compareEvents() string {
	var want []string
	for {
		select {
		case e := <-r.evRef:
			want = append(want, renderEvent(e))
			if e.Task != nil {
				r.touch(e.Task.ID) // every task a step changed sends an event
			}
			continue
		default:
		}
		break
	}
	got := make([]string, 0, len(want))
	guard := time.NewTimer(10 * time.Second) // a hang guard for backends whose events travel (Redis pub/sub)
	defer guard.Stop()
	for len(got) < len(want) {
		select {
		case e := <-r.evB:
			got = append(got, renderEvent(e))
		case <-guard.C:
			return fmt.Sprintf("events: model sent %d, backend %d within 10s:\n    model   %v\n    backend %v", len(want), len(got), want, got)
		}
	}
	for {
		select {
		case e := <-r.evB:
			got = append(got, renderEvent(e))
			continue
		default:
		}
		break
	}
	sortStable(want)
	sortStable(got)
	if !slices.Equal(want, got) {
		return fmt.Sprintf("events:\n    model   %v\n    backend %v", want, got)
	}
	return ""
}

// sortStable sorts event renderings by the thing they are about, keeping
// the order of events about one thing.
func sortStable(evs []string) {
	key := func(s string) string {
		var e struct {
			Kind   string               `json:"kind"`
			Queue  string               `json:"queue"`
			Task   *struct{ ID string } `json:"task"`
			Worker *struct{ ID string } `json:"worker"`
		}
		_ = json.Unmarshal([]byte(s), &e)
		switch {
		case e.Task != nil:
			return e.Kind + e.Task.ID
		case e.Worker != nil:
			return e.Kind + e.Worker.ID
		}
		return e.Kind + e.Queue
	}
	sort.SliceStable(evs, func(i, j int) bool { return key(evs[i]) < key(evs[j]) })
}

func renderEvent(e backend.Event) string { return render(e) }

// compareTasks compares the visible state of the given tasks.
func (r *runner) compareTasks(ids []string) string {
	sort.Strings(ids)
	ctx := context.Background()
	for _, id := range ids {
		mt, merr := r.ref.Get(ctx, id)
		bt, berr := r.b.Get(ctx, id)
		if errClass(merr) != errClass(berr) {
			return fmt.Sprintf("task %s: model %v, backend %v", id, merr, berr)
		}
		if merr != nil {
			continue
		}
		if bt.LeaseSecret != "" {
			return fmt.Sprintf("task %s: Get returned the lease secret", id)
		}
		want, _ := renderTasks([]*backend.Task{mt})
		got, _ := renderTasks([]*backend.Task{bt})
		if want != got {
			return fmt.Sprintf("task %s:\n    model   %s\n    backend %s", id, want, got)
		}
	}
	return ""
}

// compareAll compares every task either side has ever known.
func (r *runner) compareAll() string {
	return r.compareTasks(slices.Clone(r.ids))
}

func describeRefs(refs []backend.LeaseRef) string {
	var parts []string
	for _, l := range refs {
		parts = append(parts, fmt.Sprintf("%s#%d/%s", l.TaskID, l.Token, l.Secret[:min(4, len(l.Secret))]))
	}
	return strings.Join(parts, ",")
}

func describeTask(t *backend.Task, now time.Time) string {
	s := fmt.Sprintf("%s q=%s type=%s prio=%d max=%d %s", t.ID, t.Queue, t.Type, t.Priority, t.MaxAttempts, t.State)
	if !t.CreatedAt.IsZero() {
		s += fmt.Sprintf(" created%+v", t.CreatedAt.Sub(now))
	}
	if !t.RunAt.IsZero() {
		s += fmt.Sprintf(" run_at%+v", t.RunAt.Sub(now))
	}
	if t.UniqueKey != "" {
		s += fmt.Sprintf(" unique=%s until%+v", t.UniqueKey, t.UniqueUntil.Sub(now))
	}
	if !t.Deadline.IsZero() {
		s += fmt.Sprintf(" deadline%+v", t.Deadline.Sub(now))
	}
	return s
}

// genTasks draws the tasks of one enqueue.
func (r *runner) genTasks(p *params) []*backend.Task {
	now := r.clock.Now()
	n := pick(p, 1, 1, 1, 2, 3)
	tasks := make([]*backend.Task, n)
	for i := range tasks {
		t := &backend.Task{Queue: pick(p, diffQueues...), Type: pick(p, diffTypes...),
			Priority: pick(p, 0, 0, 0, 1, 5, backend.MaxPriority), MaxAttempts: 1 + p.n(3), State: backend.StatePending}
		if len(r.ids) > 0 && p.pct(8) {
			t.ID = r.ids[p.n(len(r.ids))]
		} else {
			r.next++
			t.ID = fmt.Sprintf("t%04d", r.next)
		}
		switch {
		case p.pct(2):
			t.Priority = pick(p, -1, backend.MaxPriority+1)
		case p.pct(2):
			t.MaxAttempts = 0
		case p.pct(2):
			t.State = pick(p, backend.StateCompleted, backend.StateProcessing, backend.StateRetrying)
		}
		if p.pct(60) {
			t.Payload = json.RawMessage(fmt.Sprintf(`{"n":%d}`, p.n(10)))
		}
		// The caller's clock: usually right, sometimes off, sometimes unsaid.
		created := now.Add(pick(p, time.Duration(0), 0, 0, 30*time.Second, -30*time.Second))
		if p.pct(10) {
			created = time.Time{}
		}
		t.CreatedAt = created
		base := created
		if base.IsZero() {
			base = now
		}
		if p.pct(30) {
			t.State = backend.StateScheduled
			t.RunAt = base.Add(pick(p, time.Duration(0), 100*time.Millisecond, time.Second, 5*time.Second, -time.Second))
			if p.pct(3) {
				t.RunAt = time.Time{}
			}
		} else if p.pct(5) {
			// A pending task may carry a run-at of its own.
			t.RunAt = base.Add(pick(p, -time.Second, time.Second))
		}
		if p.pct(25) {
			t.UniqueKey = pick(p, "k1", "k2")
			t.UniqueUntil = base.Add(pick(p, time.Second, 10*time.Second, time.Hour))
		}
		if p.pct(15) {
			t.Deadline = now.Add(pick(p, 500*time.Millisecond, 3*time.Second, 30*time.Second))
		}
		tasks[i] = t
	}
	return tasks
}
