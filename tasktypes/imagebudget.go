package tasktypes

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"sync/atomic"

	"github.com/taskmill/taskmill"
	"golang.org/x/sync/semaphore"
)

// A PNG of a few hundred kilobytes can declare 8192×4882 pixels at 16
// bits a channel: within the pixel limit, yet 320 MB once decoded and
// more in the copies a filter makes. So image work is bounded twice, by
// bytes rather than pixels: one image may decode to at most
// Config.MaxImageDecodeBytes, and all the image tasks of a process hold
// at most Config.ImageMemoryBytes at once (imageBudget), each waiting for
// its share before it decodes anything.

// bytesPerPixel is what image.Decode allocates per pixel for an image of
// colour model m (from image.DecodeConfig). Unknown models count as the
// largest, 8.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel: // 4:4:4 at most; 4:2:0 JPEGs take less
		return 3
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// decodedBytes is the memory decoding the image data, of header h, takes.
// A progressive JPEG is decoded through a buffer of every coefficient
// (4 bytes each, per component) besides the image itself.
func decodedBytes(h image.Config, data []byte) int64 {
	bpp := bytesPerPixel(h.ColorModel)
	if jpegProgressive(data) {
		switch h.ColorModel {
		case color.GrayModel:
			bpp += 4
		case color.CMYKModel:
			bpp += 16
		default:
			bpp += 12
		}
	}
	return int64(h.Width) * int64(h.Height) * bpp
}

// jpegProgressive reports whether data is a JPEG whose frame header is
// SOF2 (progressive), walking the marker segments up to the first frame
// header or scan.
func jpegProgressive(data []byte) bool {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return false
	}
	for i := 2; i+3 < len(data); {
		if data[i] != 0xFF {
			return false
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xC2:
			return true
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC, m == 0xDA:
			return false // another frame type, or a scan: not progressive
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // markers without a length
			i += 2
			continue
		}
		i += 2 + int(data[i+2])<<8 | int(data[i+3])
	}
	return false
}

// Working memory per pixel besides the decoded image, counted into an
// image task's share of the budget. A filter holds an 8-bit copy (4
// bytes), and at most 12 more (blur: two RGBA planes; edge detection: a
// float64 luminance plane and the output); resize holds its RGBA output.
// Encoding the output adds the encoder's buffer and the base64 result,
// about 5 bytes per output pixel at worst.
const (
	filterBytesPerPixel = 4 + 12 + 5
	resizeBytesPerPixel = 4 + 5
)

// imageBudget is a weighted semaphore over bytes, shared by every image
// handler that one Register call sets up (one per taskmill process).
type imageBudget struct {
	size int64
	sem  *semaphore.Weighted
	// inUse and peak account what is held, so that tests (and a reader
	// of the code) can see the bound hold.
	inUse, peak atomic.Int64
}

func newImageBudget(size int64) *imageBudget {
	return &imageBudget{size: size, sem: semaphore.NewWeighted(size)}
}

// tooLarge is the error for a task whose share is more than the whole
// budget: it could never run, so it fails at once rather than wait.
func (b *imageBudget) tooLarge(field string, need int64) error {
	return taskmill.Invalid(field, "memory", "processing this image needs about %d bytes of memory; the image memory budget of the process is %d (ImageMemoryBytes, --image-memory)", need, b.size)
}

// acquire waits until n bytes of the budget are free, or ctx ends, and
// returns the function that gives them back. A request larger than the
// whole budget is refused at once.
func (b *imageBudget) acquire(ctx context.Context, field string, n int64) (release func(), err error) {
	if n > b.size {
		return nil, taskmill.SkipRetry(b.tooLarge(field, n))
	}
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, fmt.Errorf("wait for image memory (%d bytes): %w", n, canceled(ctx))
	}
	now := b.inUse.Add(n)
	for {
		p := b.peak.Load()
		if now <= p || b.peak.CompareAndSwap(p, now) {
			break
		}
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			b.inUse.Add(-n)
			b.sem.Release(n)
		}
	}, nil
}
