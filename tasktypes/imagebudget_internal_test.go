package tasktypes

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
)

// png16 writes a real, valid PNG of w×h pixels, RGB at 16 bits a channel,
// all black, that declares (and decodes to) w×h×8 bytes in a file about
// 150 times smaller. Its zlib stream is written by hand (zeroDeflate):
// compressing hundreds of megabytes with compress/flate under -race takes
// minutes, and the stream of an all-zero image is simple to state.
func png16(t testing.TB, w, h int) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		out.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 2 // bit depth 16, colour type 2 (RGB)
	chunk("IHDR", ihdr)
	// Every row is filter byte 0 and black pixels: all zeros.
	chunk("IDAT", zeroZlib(int64(h)*int64(1+w*6)))
	chunk("IEND", nil)
	return out.Bytes()
}

// zeroZlib is a zlib stream (RFC 1950) of n zero bytes: one final
// deflate block with the fixed Huffman codes (RFC 1951, 3.2.6) holding a
// literal 0, then copies of 258 bytes from distance 1, then the rest as
// literals, then end-of-block; then the Adler-32 of n zeros.
func zeroZlib(n int64) []byte {
	var out []byte
	var acc uint64
	var nbits uint
	bits := func(v uint64, k uint) { // LSB first, as deflate packs
		acc |= v << nbits
		nbits += k
		for nbits >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			nbits -= 8
		}
	}
	code := func(c uint64, k uint) { // Huffman codes go most significant bit first
		var r uint64
		for i := range k {
			r |= (c >> i & 1) << (k - 1 - i)
		}
		bits(r, k)
	}
	out = append(out, 0x78, 0x01) // zlib header: deflate, 32K window, no dictionary
	bits(1, 1)                    // BFINAL
	bits(1, 2)                    // BTYPE 01: fixed Huffman codes
	literal0 := func() { code(0x30, 8) }
	if n > 0 {
		literal0()
		rest := n - 1
		for ; rest >= 258; rest -= 258 {
			code(0xC5, 8) // length code 285: 258 bytes
			code(0, 5)    // distance code 0: distance 1
		}
		for ; rest > 0; rest-- {
			literal0()
		}
	}
	code(0, 7) // end of block (256)
	if nbits > 0 {
		out = append(out, byte(acc))
	}
	a, b := uint32(1), uint32(n%65521) // Adler-32: a stays 1, b adds a per byte
	return binary.BigEndian.AppendUint32(out, b<<16|a)
}

func TestBytesPerPixel(t *testing.T) {
	enc := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var jpg bytes.Buffer
	// 64×64: Go's JPEG decoder rounds planes up to whole 16×16 blocks,
	// which on a tiny image outweighs the pixels.
	if err := jpeg.Encode(&jpg, image.NewRGBA(image.Rect(0, 0, 64, 64)), nil); err != nil {
		t.Fatal(err)
	}
	r := image.Rect(0, 0, 3, 2)
	for _, c := range []struct {
		name string
		data []byte
		want int64
	}{
		{"gray 8-bit PNG", enc(image.NewGray(r)), 1},
		{"gray 16-bit PNG", enc(image.NewGray16(r)), 2},
		{"paletted PNG", enc(image.NewPaletted(r, palette.Plan9)), 1},
		{"RGBA 8-bit PNG", enc(image.NewNRGBA(r)), 4},
		{"RGBA 16-bit PNG", enc(image.NewNRGBA64(r)), 8},
		{"RGB 16-bit PNG", png16(t, 3, 2), 8},
		{"JPEG", jpg.Bytes(), 3},
		{"progressive JPEG", progressive(jpg.Bytes()), 15},
	} {
		hdr, _, err := image.DecodeConfig(bytes.NewReader(c.data))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := decodedBytes(hdr, c.data) / int64(hdr.Width*hdr.Height); got != c.want {
			t.Errorf("%s: %d bytes a pixel, want %d", c.name, got, c.want)
		}
		if strings.HasPrefix(c.name, "progressive") {
			continue // its scans are baseline ones: it does not decode
		}
		// The count must not be below what decoding really allocates.
		img, _, err := image.Decode(bytes.NewReader(c.data))
		if err != nil {
			t.Fatal(err)
		}
		if real := pixBytes(img); real > decodedBytes(hdr, c.data) {
			t.Errorf("%s: decodes to %d bytes, counted %d", c.name, real, decodedBytes(hdr, c.data))
		}
	}
	if bytesPerPixel(color.ModelFunc(func(c color.Color) color.Color { return c })) != 8 {
		t.Error("an unknown colour model must count as the largest")
	}
}

// progressive turns a baseline JPEG's frame header into a progressive
// one: enough for the marker walk, which is all that reads it here.
func progressive(b []byte) []byte {
	out := bytes.Clone(b)
	i := bytes.Index(out, []byte{0xFF, 0xC0})
	out[i+1] = 0xC2
	return out
}

// pixBytes is the size of a decoded image's pixel buffers.
func pixBytes(img image.Image) int64 {
	switch m := img.(type) {
	case *image.Gray:
		return int64(len(m.Pix))
	case *image.Gray16:
		return int64(len(m.Pix))
	case *image.Paletted:
		return int64(len(m.Pix))
	case *image.NRGBA:
		return int64(len(m.Pix))
	case *image.NRGBA64:
		return int64(len(m.Pix))
	case *image.RGBA64:
		return int64(len(m.Pix))
	case *image.YCbCr:
		return int64(len(m.Y) + len(m.Cb) + len(m.Cr))
	}
	return 1 << 62
}

// TestIssuePNGRefused: the PNG of the report — 8192×4882 at 16 bits a
// channel, within the 40-megapixel limit — is refused by default, inline
// at submit and as a file before any pixel is decoded, with an error
// naming the limit.
func TestIssuePNGRefused(t *testing.T) {
	data := png16(t, 8192, 4882)
	t.Logf("the PNG is %d bytes and declares 8192×4882 RGB at 16 bits: %d bytes decoded", len(data), 8192*4882*8)
	cfg := Config{DataDir: t.TempDir()}.WithDefaults()
	if 8192*4882 > cfg.MaxImagePixels {
		t.Fatalf("the image should pass the pixel limit %d", cfg.MaxImagePixels)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "big.png"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	budget := newImageBudget(cfg.ImageMemoryBytes)
	for _, tt := range []taskmill.TaskType{imageResizeType(cfg, budget), applyFilterType(cfg, budget)} {
		inline, _ := json.Marshal(map[string]any{"image": base64.StdEncoding.EncodeToString(data), "filter": "invert"})
		if tt.Name == "image_resize" {
			inline, _ = json.Marshal(map[string]any{"image": base64.StdEncoding.EncodeToString(data), "width": 64})
		}
		err := tt.Validate(inline)
		var ve *taskmill.ValidationError
		if !errors.As(err, &ve) || ve.Field != "payload.image" || ve.Rule != "memory" ||
			!strings.Contains(err.Error(), "268435456") || !strings.Contains(err.Error(), "--max-image-decode-bytes") {
			t.Fatalf("%s inline: err = %v; want payload.image refused by the decode limit, naming it", tt.Name, err)
		}
		path := json.RawMessage(`{"path":"big.png","width":64}`)
		if tt.Name == "apply_filter" {
			path = json.RawMessage(`{"path":"big.png","filter":"invert"}`)
		}
		if err := tt.Validate(path); err != nil {
			t.Fatalf("%s: a path is checked when the task runs, not at submit: %v", tt.Name, err)
		}
		_, err = tt.Handler.ProcessTask(context.Background(), taskmill.NewTask(tt.Name, path))
		if !errors.As(err, &ve) || ve.Field != "payload.path" || !strings.Contains(err.Error(), "--max-image-decode-bytes") || !errors.Is(err, taskmill.ErrSkipRetry) {
			t.Fatalf("%s from a file: err = %v; want payload.path refused without retry, naming the limit", tt.Name, err)
		}
	}
	if budget.peak.Load() != 0 {
		t.Fatalf("the refused images took %d bytes of the budget", budget.peak.Load())
	}
}

// heapSampler records the peak of live and not-yet-collected heap objects.
type heapSampler struct {
	stop chan struct{}
	done chan int64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan int64)}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, int64(s[0].Value.Uint64()))
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) peak() int64 { close(h.stop); return <-h.done }

func heapNow() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestImageBudgetFourAtOnce: four tasks on 16-bit PNGs that each need
// most of the budget run at once; the budget's accounting never exceeds
// it, they run one after another, and all complete. The images are
// 1024×1024 (8 MiB decoded each) rather than the report's 8192×4882 so
// that the test decodes eight of them quickly under -race on a shared
// machine; the mechanism does not depend on the size.
func TestImageBudgetFourAtOnce(t *testing.T) {
	const side = 1024
	data := png16(t, side, side)
	cfg := Config{DataDir: t.TempDir()}.WithDefaults()
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "img.png"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	payload := json.RawMessage(`{"path":"img.png","width":16}`)
	share := int64(side*side*8) + int64(len(data)) + 16*16*resizeBytesPerPixel

	run := func(budgetBytes int64) (peakShare, peakHeap int64) {
		budget := newImageBudget(budgetBytes)
		tt := imageResizeType(cfg, budget)
		runtime.GC()
		base := heapNow()
		h := sampleHeap()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard only
				defer cancel()
				res, err := tt.Handler.ProcessTask(ctx, taskmill.NewTask(tt.Name, payload))
				if err == nil && res.(*ImageResult).Width != 16 {
					err = errors.New("wrong output")
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("an image task failed: %v", err)
			}
		}
		if budget.inUse.Load() != 0 {
			t.Fatalf("%d bytes of the budget were not given back", budget.inUse.Load())
		}
		return budget.peak.Load(), h.peak() - base
	}

	// Collect often, so that the heap shows what is live rather than
	// what the collector has not come to yet.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	budget := share + share/2 // room for one task at a time
	peakShare, peakHeap := run(budget)
	t.Logf("budget %d bytes, one task's share %d: accounted peak %d, heap growth peak %d", budget, share, peakShare, peakHeap)
	if peakShare > budget || peakShare != share {
		t.Fatalf("accounted peak %d: want exactly one share (%d) held at a time, never over the budget %d", peakShare, share, budget)
	}
	// The heap also holds garbage not yet collected (with GOGC=10, about
	// a tenth more than is live, plus what is allocated between two
	// collections), so it may pass the budget by half; four images at
	// once would hold 4 × 8 MiB, more than twice the budget.
	if peakHeap > budget+budget/2 {
		t.Errorf("the heap grew by %d bytes, more than 1.5 times the budget %d", peakHeap, budget)
	}

	// The control: with room for all four, they do run at once, so the
	// bound above is the budget's doing.
	peakShare, peakHeap = run(8 * share)
	t.Logf("with room for all four: accounted peak %d, heap growth peak %d", peakShare, peakHeap)
	if peakShare <= budget {
		t.Errorf("with room for all four, the accounted peak %d stayed under %d: the tasks did not run at once", peakShare, budget)
	}
}

// TestImageBudgetTooLargeAndCanceled: a share larger than the whole
// budget fails at once (at submit for an inline image) naming the limit,
// and a task waiting for its share gives up when its context ends.
func TestImageBudgetTooLargeAndCanceled(t *testing.T) {
	data := png16(t, 1024, 1024) // 8 MiB decoded
	cfg := Config{DataDir: t.TempDir()}.WithDefaults()
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "img.png"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	small := newImageBudget(4 << 20)
	tt := applyFilterType(cfg, small)
	inline, _ := json.Marshal(map[string]any{"image": base64.StdEncoding.EncodeToString(data), "filter": "invert"})
	err := tt.Validate(inline)
	var ve *taskmill.ValidationError
	if !errors.As(err, &ve) || ve.Rule != "memory" || !strings.Contains(err.Error(), "--image-memory") || !strings.Contains(err.Error(), "4194304") {
		t.Fatalf("inline image over the whole budget: err = %v; want refused at submit naming the budget", err)
	}
	_, err = tt.Handler.ProcessTask(context.Background(), taskmill.NewTask(tt.Name, json.RawMessage(`{"path":"img.png","filter":"invert"}`)))
	if !errors.As(err, &ve) || ve.Field != "payload.path" || !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "--image-memory") {
		t.Fatalf("file image over the whole budget: err = %v; want a failure without retry naming the budget", err)
	}

	// Hold the whole budget, then a task must wait, and leave when its
	// context ends, holding nothing.
	budget := newImageBudget(64 << 20)
	release, err := budget.acquire(context.Background(), "x", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := applyFilterType(cfg, budget).Handler.ProcessTask(ctx, taskmill.NewTask("apply_filter", json.RawMessage(`{"path":"img.png","filter":"invert"}`)))
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("a canceled wait returned %v; want the context's error", err)
		}
	case <-time.After(30 * time.Second): // a hang guard only
		t.Fatal("the task kept waiting after its context ended")
	}
	release()
	if budget.inUse.Load() != 0 {
		t.Fatalf("%d bytes still held", budget.inUse.Load())
	}
}

// TestResultLimit: a built-in task whose result is over MaxResultBytes
// fails without retry, naming the limit; one under it is stored as it is.
func TestResultLimit(t *testing.T) {
	h := limitResult(taskmill.HandlerFunc(func(ctx context.Context, t *taskmill.Task) (any, error) {
		return map[string]string{"text": strings.Repeat("x", 100)}, nil
	}), 64)
	_, err := h.ProcessTask(context.Background(), taskmill.NewTask("x", nil))
	if err == nil || !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "--max-result-bytes") {
		t.Fatalf("err = %v; want a failure without retry naming the limit", err)
	}
	res, err := limitResult(taskmill.HandlerFunc(func(ctx context.Context, t *taskmill.Task) (any, error) {
		return map[string]int{"n": 1}, nil
	}), 64).ProcessTask(context.Background(), taskmill.NewTask("x", nil))
	if err != nil || string(res.(json.RawMessage)) != `{"n":1}` {
		t.Fatalf("small result = %s, %v", res, err)
	}
}
