package redis

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Bounds on the work of one Purge call and of each script it runs.
// Retention calls Purge every minute from every server, so a call must
// be cheap when nothing is due and must not hold Redis for long when a
// backlog is.
const (
	// purgeRound is the most log entries one round consumes over all
	// queues, and the most due entries a scan reports for one queue.
	purgeRound = 1000
	// purgeScriptEntries is the most log entries one purgeScript call
	// consumes; a round's share of a slot is split over several calls
	// (one pipeline). Deleting costs Redis about 3 µs per task, so a call
	// holds Redis for under a millisecond, less than an ack batch does.
	purgeScriptEntries = 256
	// purgeFirstLook is how many due entries the first round's scan
	// reports per queue. Most queues have nothing due, or fewer than
	// this; a queue with more is either a backlog the merge lets the
	// round go on with (see mergeDue), or later rounds find the rest.
	purgeFirstLook = 16
	// purgeScanEntries bounds the log entries one purgeScanScript call
	// may report: a scan of many queues is split over several calls
	// (still one pipeline).
	purgeScanEntries = 4096
	// purgeStaleBudget is how many stale log entries (of tasks retried or
	// deleted since they finished) one call may drop besides the tasks it
	// deletes; past it the call returns what it deleted, and the next
	// call goes on.
	purgeStaleBudget = 10 * purgeRound
)

// finalSets names each final state's sorted set; its finish log is
// sfxFinLog followed by the same name.
var finalSets = map[backend.State]string{
	backend.StateCompleted: sfxCompleted, backend.StateFailed: sfxFailed, backend.StateCanceled: sfxCanceled,
}

// Purge deletes up to max tasks of the final state s that finished before
// the given time, oldest first; see backend.Backend.
//
// Each queue keeps a finish log per final state (see purgeScript), so the
// due tasks are a run at the head of each log. Purge works in rounds: a
// round scans the head of the queues' logs for due entries (one script
// call per slot, in one pipeline), merges what it found oldest first
// across queues, and consumes that many entries of each log, deleting
// their tasks (again one call per slot). When nothing is due a call is
// one round trip that reads the first entry of each log.
//
// The first round reads a few due entries per queue. When there are
// more, later rounds read every entry up to a time — a window of finish
// times sized by the rate at which the rounds before found entries, so
// that it holds about what is left to delete — rather than a number per
// queue: when queues took turns finishing batches of tasks, a number per
// queue would see one queue's batch per round.
//
// Concurrent calls from other processes, and retries and deletes, are
// safe: each script checks every entry against its task before deleting
// it, and the count is of the tasks this call deleted.
//
// TODO(redis branch): fence by term; the cutoff from the server's TIME.
func (b *Backend) Purge(ctx context.Context, term uint64, s backend.State, olderThan time.Duration, max int) (int, error) {
	set, ok := finalSets[s]
	if !ok {
		return 0, fmt.Errorf("purge %s tasks: only completed, failed and canceled tasks can be purged: %w", s, backend.ErrInvalid)
	}
	if term != 0 {
		return 0, errNotImplemented("fenced Purge")
	}
	before := time.Now().Add(-olderThan)
	if max <= 0 {
		return 0, nil
	}
	look, _, err := b.knownQueues(ctx, 0)
	if err != nil {
		return 0, err
	}
	cutoff := micros(before)
	n, stale, used := 0, 0, 0
	// Every due entry that finished before reached has been consumed;
	// the first that this call saw finished at oldest.
	oldest, reached := int64(math.MaxInt64), int64(0)
	for round := 0; len(look) > 0 && n < max && stale < purgeStaleBudget; round++ {
		r := min(max-n, purgeRound)
		until, depth := cutoff, min(purgeFirstLook, r)
		if round > 0 {
			until, depth = window(oldest, reached, used, r, cutoff), r
		}
		heads, err := b.purgeScan(ctx, look, depth, set, itoa(until))
		if err != nil {
			return n, err
		}
		for _, h := range heads {
			oldest = min(oldest, slices.Min(h.fts))
		}
		take, reach, more := mergeDue(heads, r, until)
		if len(take) > 0 {
			deleted, u, err := b.purgeRun(ctx, take, stateCodes[s])
			n += deleted
			stale += u - deleted
			used += u
			if err != nil {
				return n, err
			}
			// Another process consumed these entries between the scan
			// and the run, and it goes on with the rest.
			if u == 0 {
				break
			}
		}
		if reach > reached {
			reached = reach
		}
		if until == cutoff {
			if !more {
				break
			}
			look = stillDue(heads, take)
		}
	}
	return n, nil
}

// window returns the end of the next round's window of finish times: far
// enough past reached to hold about r more entries (and a quarter more)
// at the rate the call consumed them since oldest — at least as far
// again as it went so far and at most 64 times as far, never past the
// cutoff.
func window(oldest, reached int64, used, r int, cutoff int64) int64 {
	span := max(reached-oldest, 1)
	width := int64(float64(span) * 1.25 * float64(r) / float64(max(used, 1)))
	width = min(max(width, span), 64*span)
	if cutoff-reached <= width {
		return cutoff
	}
	return reached + width
}

// stillDue returns the queues that may have due entries left after a
// round that scanned up to the cutoff: those whose scan stopped at the
// number asked, or whose due entries were not all taken.
func stillDue(heads []dueHead, take []purgeTake) []string {
	taken := make(map[string]int, len(take))
	for _, t := range take {
		taken[t.queue] = t.n
	}
	var next []string
	for _, h := range heads {
		if h.full || taken[h.queue] < len(h.fts) {
			next = append(next, h.queue)
		}
	}
	return next
}

// dueHead is what a scan found at the head of one queue's finish log.
type dueHead struct {
	queue string
	fts   []int64 // finish times (µs) of the due entries, in log order
	full  bool    // the scan stopped at the number asked: more may be due
}

// purgeTake is what a round consumes of one queue's log: up to n entries
// from its head, as long as they finished before the given time.
type purgeTake struct {
	queue  string
	n      int
	before int64 // µs
}

// mergeDue chooses the oldest r of the entries the scan found before
// until, over all queues, and says what to consume of each log.
//
// A head that filled the number asked may hide more entries, none older
// than its last (a log is in finish order), so the entries up to the
// smallest such last — the horizon — are certainly among the oldest: the
// round takes those, the oldest r of them at most. The lead, the full
// head that set the horizon, may go on past what it showed for as long
// as its entries are older than every entry another queue showed and the
// round did not take: the purge script reads them as it goes. That makes
// one round do for a backlog in one queue.
//
// reach is the finish time before which every entry the scan could see
// will have been consumed; more reports that entries before until may
// be left for another round.
func mergeDue(heads []dueHead, r int, until int64) (take []purgeTake, reach int64, more bool) {
	type entry struct {
		ft   int64
		head int
	}
	horizon, lead := int64(math.MaxInt64), -1
	var all []entry
	for i, h := range heads {
		if h.full && len(h.fts) > 0 && h.fts[len(h.fts)-1] < horizon {
			horizon, lead = h.fts[len(h.fts)-1], i
		}
		for _, ft := range h.fts {
			all = append(all, entry{ft, i})
		}
	}
	kept := make([]entry, 0, len(all))
	next := until // the oldest entry of another queue left out
	for _, e := range all {
		if e.ft <= horizon {
			kept = append(kept, e)
		} else if e.head != lead {
			next = min(next, e.ft)
		}
	}
	slices.SortStableFunc(kept, func(a, b entry) int { return cmp.Compare(a.ft, b.ft) })
	reach, more = until, lead >= 0
	if lead >= 0 {
		reach = next
	}
	if len(kept) >= r && (len(kept) > r || more) {
		kept, reach, more = kept[:r], kept[r-1].ft+1, true
	}
	counts := make([]int, len(heads))
	for _, e := range kept {
		counts[e.head]++
	}
	for i, c := range counts {
		t := purgeTake{queue: heads[i].queue, n: c, before: until}
		if i == lead && len(kept) < r {
			t.n, t.before = c+r-len(kept), next
		}
		if t.n > 0 {
			take = append(take, t)
		}
	}
	return take, reach, more
}

// purgeScan runs purgeScanScript over the queues, asking for at most
// depth entries before until of each: one call per slot, or several
// when a slot has so many queues that a call could report more than
// purgeScanEntries entries.
func (b *Backend) purgeScan(ctx context.Context, queues []string, depth int, set, until string) ([]dueHead, error) {
	per := max(1, purgeScanEntries/depth)
	var calls []*scriptCall
	var callQueues [][]string
	for _, group := range bySlot(b, queues, func(q string) string { return q }) {
		for len(group) > 0 {
			part := group[:min(per, len(group))]
			group = group[len(part):]
			args := make([]any, 0, 3+len(part))
			args = append(args, sfxFinLog+set, until, depth)
			for _, q := range part {
				args = append(args, b.qp(q))
			}
			calls = append(calls, &scriptCall{script: purgeScanScript, keys: []string{b.k.meta(part[0])}, args: args})
			callQueues = append(callQueues, part)
		}
	}
	b.runAll(ctx, calls, false)
	var heads []dueHead
	for i, c := range calls {
		if c.err != nil {
			return nil, redisErr("purge", c.err)
		}
		replies, _ := c.val.([]any)
		if len(replies) != len(callQueues[i]) {
			return nil, fmt.Errorf("redis: purge: unexpected scan reply %v", c.val)
		}
		for j, v := range replies {
			list, _ := v.([]any)
			if len(list) == 0 {
				continue
			}
			h := dueHead{queue: callQueues[i][j], fts: make([]int64, len(list)), full: len(list) >= depth}
			for k, x := range list {
				// An entry that is not a number was taken as due (and
				// will be dropped as stale): order it first.
				str, _ := x.(string)
				h.fts[k], _ = strconv.ParseInt(str, 10, 64)
			}
			heads = append(heads, h)
		}
	}
	return heads, nil
}

// purgeRun runs purgeScript for a round: one call per slot, in one
// pipeline. It returns the tasks deleted and the log entries consumed.
func (b *Backend) purgeRun(ctx context.Context, take []purgeTake, code string) (deleted, used int, err error) {
	now := itoa(nowMicros())
	var calls []*scriptCall
	var args []any
	room := 0
	for _, group := range bySlot(b, take, func(t purgeTake) string { return t.queue }) {
		room = 0 // a new slot, a new call
		for _, t := range group {
			// A queue's share may span calls: they run in order, each
			// going on from the head the one before left.
			for left := t.n; left > 0; {
				if room == 0 {
					args = []any{now, b.evArg(), code}
					calls = append(calls, &scriptCall{script: purgeScript, keys: []string{b.k.meta(t.queue)}})
					room = purgeScriptEntries
				}
				k := min(left, room)
				args = append(args, b.qp(t.queue), t.queue, k, itoa(t.before))
				calls[len(calls)-1].args = args
				left -= k
				room -= k
			}
		}
	}
	b.runAll(ctx, calls, false)
	for _, c := range calls {
		if c.err != nil {
			err = redisErr("purge", c.err)
			continue
		}
		replies, _ := c.val.([]any)
		for _, v := range replies {
			pair, _ := v.([]any)
			if len(pair) != 2 {
				err = fmt.Errorf("redis: purge: unexpected reply %v", c.val)
				continue
			}
			d, _ := pair[0].(int64)
			u, _ := pair[1].(int64)
			deleted += int(d)
			used += int(u)
		}
	}
	return deleted, used, err
}

// bySlot splits items into groups whose queues share a slot, keeping
// their order: the one helper by which every batch is cut into script
// calls. On a single server it returns items itself as the one group
// (none when there are no items), without computing a slot or copying.
func bySlot[T any](b *Backend, items []T, queue func(T) string) [][]T {
	if len(items) == 0 {
		return nil
	}
	if !b.cluster {
		return [][]T{items}
	}
	idx := map[int]int{}
	var groups [][]T
	for _, it := range items {
		s := b.slotOf(queue(it))
		i, ok := idx[s]
		if !ok {
			i = len(groups)
			idx[s] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], it)
	}
	return groups
}
