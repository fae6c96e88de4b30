package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/amqpbridge"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/server"
)

// amqpBenchResult is what --mode amqp-enqueue measures: the same submits
// over HTTP (POST /api/tasks) and over AMQP (through an in-process
// bridge), one after the other, against the same backend in one run.
type amqpBenchResult struct {
	Mode        string  `json:"mode"`
	Tasks       int     `json:"tasks"`
	Publishers  int     `json:"publishers"`
	Prefetch    int     `json:"prefetch"`
	HTTPPerSec  float64 `json:"http_tasks_per_sec"`
	HTTPSeconds float64 `json:"http_seconds"`
	AMQPPerSec  float64 `json:"amqp_tasks_per_sec"`
	AMQPSeconds float64 `json:"amqp_seconds"`
}

// runAMQPBench submits tasks tasks over HTTP from publishers clients, then
// publishes as many messages from publishers AMQP connections (confirm
// mode, up to 100 unconfirmed each) and times until the backend has
// stored every one. Both paths share one taskmill.Client and so one
// validation; tasks are of a type no worker runs, and stay pending.
func runAMQPBench(ctx context.Context, b backend.Backend, amqpURL string, tasks, publishers, prefetch, payload int, classic bool) (*amqpBenchResult, error) {
	if amqpURL == "" {
		return nil, usagef("--mode amqp-enqueue needs --amqp URL (env TASKMILL_AMQP)")
	}
	quiet := slog.New(slog.DiscardHandler)
	client := taskmill.NewClient(b, taskmill.ClientConfig{Logger: quiet})
	queue := fmt.Sprintf("tmbench.%08x", rand.Uint32())
	bridge, err := amqpbridge.New(amqpbridge.Config{URL: amqpURL, Client: client, Queue: queue, ClassicQueue: classic,
		Prefetch: prefetch, NoReplies: true, Logger: quiet})
	if err != nil {
		return nil, usagef("--amqp: %v", err)
	}
	api, err := server.New(server.Config{Client: client, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer api.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	bctx, stop := context.WithCancel(ctx)
	bridgeDone := make(chan struct{})
	go func() {
		defer close(bridgeDone)
		_ = bridge.Run(bctx)
	}()
	defer func() {
		stop()
		<-bridgeDone
		cleanupBenchQueue(amqpURL, queue)
	}()
	for deadline := time.Now().Add(30 * time.Second); bridge.LinkStatus().State != server.LinkUp; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the AMQP link did not come up within 30s: %s", bridge.LinkStatus().Detail)
		}
	}

	body := func(i int) []byte {
		pad := max(0, payload-24)
		return fmt.Appendf(nil, `{"type":"bench","payload":{"i":%d,"p":"%s"}}`, i, bytes.Repeat([]byte("x"), pad))
	}
	res := &amqpBenchResult{Mode: "amqp-enqueue", Tasks: tasks, Publishers: publishers, Prefetch: prefetch}

	// HTTP: publishers clients, each posting its share one after another.
	start := time.Now()
	if err := fanOut(publishers, tasks, func(w, i int) error { return postTask(ctx, "http://"+ln.Addr().String(), body(i)) }); err != nil {
		return nil, fmt.Errorf("http submits: %w", err)
	}
	res.HTTPSeconds = time.Since(start).Seconds()
	res.HTTPPerSec = float64(tasks) / res.HTTPSeconds

	// AMQP: time from the first publish until the backend holds them all.
	before, err := countTasks(ctx, b)
	if err != nil {
		return nil, err
	}
	start = time.Now()
	if err := publishAll(ctx, amqpURL, queue, publishers, tasks, body); err != nil {
		return nil, fmt.Errorf("amqp publishes: %w", err)
	}
	for {
		n, err := countTasks(ctx, b)
		if err != nil {
			return nil, err
		}
		if n-before >= tasks {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return nil, fmt.Errorf("only %d of %d AMQP submits stored after 10 minutes", n-before, tasks)
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.AMQPSeconds = time.Since(start).Seconds()
	res.AMQPPerSec = float64(tasks) / res.AMQPSeconds
	return res, nil
}

// fanOut runs do for tasks indexes split among workers goroutines.
func fanOut(workers, tasks int, do func(w, i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < tasks; i = int(next.Add(1)) - 1 {
				if err := do(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

var benchHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}

func postTask(ctx context.Context, base string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/tasks", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := benchHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("submit: status %d: %s", resp.StatusCode, msg)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// publishAll publishes tasks messages from publishers connections, each
// keeping up to 100 publishes unconfirmed.
func publishAll(ctx context.Context, amqpURL, queue string, publishers, tasks int, body func(int) []byte) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := publishShare(ctx, amqpURL, queue, tasks, &next, body); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func publishShare(ctx context.Context, amqpURL, queue string, tasks int, next *atomic.Int64, body func(int) []byte) error {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	const window = 100
	var pending []*amqp.DeferredConfirmation
	for i := int(next.Add(1)) - 1; i < tasks; i = int(next.Add(1)) - 1 {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body(i)})
		if err != nil {
			return err
		}
		if pending = append(pending, dc); len(pending) == window {
			if !pending[0].Wait() {
				return errors.New("the broker nacked a publish")
			}
			pending = pending[1:]
		}
	}
	for _, dc := range pending {
		if !dc.Wait() {
			return errors.New("the broker nacked a publish")
		}
	}
	return nil
}

func countTasks(ctx context.Context, b backend.Backend) (int, error) {
	qs, err := b.Queues(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, q := range qs {
		for _, c := range q.Counts {
			n += c
		}
	}
	return n, nil
}

// cleanupBenchQueue deletes the benchmark's queue and dead-letter
// exchange and queue from the broker.
func cleanupBenchQueue(amqpURL, queue string) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	_, _ = ch.QueueDelete(queue, false, false, false)
	_, _ = ch.QueueDelete(queue+".dlx.dead", false, false, false)
	_ = ch.ExchangeDelete(queue+".dlx", false, false)
}
