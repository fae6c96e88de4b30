package tasktypes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
)

// fetcher makes the HTTP calls of the network types: each attempt bounded
// by a timeout, answers bounded in size, and network errors, 5xx and 429
// tried again within the task, waiting as Retry-After asks when it does.
type fetcher struct {
	client  *http.Client
	timeout time.Duration
	retries int
	maxWait time.Duration
	maxBody int64
	backoff taskmill.BackoffFunc // the wait before try n (2, 3, …) when no Retry-After says
	// offlineHint ends the error of a name that does not resolve: how to
	// point this type at a service that does.
	offlineHint string
}

// newFetcher builds a client whose every connection passes the policy.
// trusted skips the host allow list (for operator-configured API hosts),
// and then redirects may not leave the first request's host.
func newFetcher(cfg Config, policy *netPolicy, trusted bool, offlineHint string) *fetcher {
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, out of the policy's sight
		DialContext:           policy.dialer(cfg.HTTPTimeout, trusted),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	client := &http.Client{Transport: tr}
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if trusted && req.URL.Host != via[0].URL.Host {
			return fmt.Errorf("redirect to %s: %w (an API client stays on its host)", req.URL.Host, ErrAddressDenied)
		}
		return nil
	}
	return &fetcher{client: client, timeout: cfg.HTTPTimeout, retries: cfg.HTTPMaxRetries,
		maxWait: cfg.HTTPMaxRetryWait, maxBody: cfg.HTTPMaxResponseBytes,
		// 0.25–0.5s before the second try, doubling, never over maxWait.
		backoff:     taskmill.ExponentialBackoff(500*time.Millisecond, cfg.HTTPMaxRetryWait),
		offlineHint: offlineHint}
}

// taskTimeout is the timeout of a task that makes the given number of
// requests one after the other: every try of each may take the attempt
// timeout and the longest wait, with ten seconds to spare.
func (f *fetcher) taskTimeout(requests int) time.Duration {
	return time.Duration(requests*(f.retries+1))*(f.timeout+f.maxWait) + 10*time.Second
}

// fetchResult is one HTTP answer, its body cut at the size limit.
type fetchResult struct {
	Status    int
	Header    http.Header
	Body      []byte
	Truncated bool
	Attempts  int
	FinalURL  string
	Elapsed   time.Duration
}

// retryableStatus are answers that say "not now" rather than "no".
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// errStillFailing is what a request ends with when its tries ran out on
// a retryable answer: the task fails and the queue's backoff takes over.
var errStillFailing = errors.New("the server kept failing")

// do sends the request newRequest builds, once per try. idempotent says
// whether a 5xx may be tried again (a 429 or a failed dial always may:
// the server did not act on them). It returns the last answer; a
// retryable status that outlasts the tries is an error wrapping
// errStillFailing, with the answer attached.
func (f *fetcher) do(ctx context.Context, t *taskmill.Task, idempotent bool,
	newRequest func(ctx context.Context) (*http.Request, error)) (*fetchResult, error) {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		res, err := f.once(ctx, newRequest)
		if res != nil {
			res.Attempts, res.Elapsed = attempt, time.Since(start)
		}
		switch {
		case ctx.Err() != nil:
			return nil, canceled(ctx)
		case err != nil && errors.Is(err, ErrAddressDenied):
			return nil, taskmill.SkipRetry(err)
		case err != nil && errors.Is(err, errRequestBuild):
			return nil, taskmill.SkipRetry(err)
		case err != nil && noSuchHost(err):
			// The resolver answered that the name does not exist: asking
			// again in a second (or in a retry of the task) gets the same
			// answer. Offline, every name ends here, at once.
			return nil, taskmill.SkipRetry(fmt.Errorf("%w: the name does not resolve (no network, or a typo?); %s", err, f.offlineHint))
		case err == nil && !retryableStatus(res.Status):
			return res, nil
		case err == nil && res.Status != http.StatusTooManyRequests && !idempotent:
			// A 5xx to a POST may have done half its work; doing it again
			// is the caller's choice, through the queue's retry.
			return res, fmt.Errorf("HTTP %d from %s: %w", res.Status, res.FinalURL, errStillFailing)
		}
		why := ""
		wait := f.backoff(attempt+1, err)
		if err != nil {
			why = err.Error()
		} else {
			why = "HTTP " + strconv.Itoa(res.Status)
			if ra, ok := retryAfter(res.Header, time.Now()); ok {
				if ra > f.maxWait {
					return res, fmt.Errorf("%s from %s asks to retry after %s, longer than the %s this task waits: %w",
						why, res.FinalURL, ra.Round(time.Second), f.maxWait, errStillFailing)
				}
				wait = ra
			}
		}
		if attempt > f.retries {
			if err != nil {
				return nil, fmt.Errorf("after %d tries: %w", attempt, err)
			}
			return res, fmt.Errorf("%s from %s after %d tries: %w", why, res.FinalURL, attempt, errStillFailing)
		}
		_ = t.ReportProgress(ctx, 0, fmt.Sprintf("try %d of %d: %s; trying again in %s", attempt, f.retries+1, why, wait.Round(time.Millisecond)))
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// noSuchHost tells an error of a name the resolver says does not exist,
// from one that may pass (a timeout, a resolver that is down).
func noSuchHost(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// errRequestBuild marks a request that could not be built: no try helps.
var errRequestBuild = errors.New("bad request")

func (f *fetcher) once(ctx context.Context, newRequest func(ctx context.Context) (*http.Request, error)) (*fetchResult, error) {
	actx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := newRequest(actx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errRequestBuild, err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	res := &fetchResult{Status: resp.StatusCode, Header: resp.Header, Body: body, FinalURL: resp.Request.URL.Redacted()}
	if int64(len(body)) > f.maxBody {
		res.Body, res.Truncated = body[:f.maxBody], true
	}
	return res, nil
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return canceled(ctx)
	case <-timer.C:
		return nil
	}
}
