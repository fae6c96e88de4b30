package tasktypes

import (
	"context"
	"fmt"
	"image"
	"math"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
)

type applyFilterPayload struct {
	imageInput
	Filter string   `json:"filter"`
	Amount *float64 `json:"amount,omitempty"`
}

// filterSpec says what a filter's amount means and its bounds; a filter
// without one takes no amount.
type filterSpec struct {
	amount           bool
	lo, hi, fallback float64
}

var filters = map[string]filterSpec{
	"grayscale":   {},
	"sepia":       {},
	"invert":      {},
	"edge_detect": {},
	"brightness":  {amount: true, lo: -100, hi: 100, fallback: 20}, // percent of full scale added
	"contrast":    {amount: true, lo: -100, hi: 100, fallback: 25}, // percent more (or less) contrast
	"blur":        {amount: true, lo: 0.1, hi: 50, fallback: 2},    // Gaussian sigma in pixels
	"sharpen":     {amount: true, lo: 0.1, hi: 10, fallback: 1},    // unsharp-mask strength
}

const filterNames = "grayscale, sepia, invert, edge_detect, brightness, contrast, blur, sharpen"

func (p *applyFilterPayload) check() error {
	if err := p.checkInput(); err != nil {
		return err
	}
	spec, ok := filters[p.Filter]
	switch {
	case p.Filter == "":
		return taskmill.Invalid("payload.filter", "required", "give filter: one of %s", filterNames)
	case !ok:
		return taskmill.Invalid("payload.filter", "enum", "must be one of %s, not %q", filterNames, p.Filter)
	case !spec.amount && p.Amount != nil:
		return taskmill.Invalid("payload.amount", "conflict", "the %s filter takes no amount", p.Filter)
	case spec.amount && p.Amount == nil:
		a := spec.fallback
		p.Amount = &a
	case spec.amount && (*p.Amount < spec.lo || *p.Amount > spec.hi):
		return taskmill.Invalid("payload.amount", "range", "for %s must be between %g and %g, got %g", p.Filter, spec.lo, spec.hi, *p.Amount)
	}
	if p.data != nil { // an inline image: its size is known now
		return p.checkShare(filterWorking(p.header))
	}
	return nil
}

// filterWorking is the memory a filter holds besides the decoded image:
// its copies and the output's encoding.
func filterWorking(hdr image.Config) int64 {
	return int64(hdr.Width) * int64(hdr.Height) * filterBytesPerPixel
}

func applyFilterType(cfg Config, budget *imageBudget) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "apply_filter",
		Description: "Applies a filter to a PNG, JPEG or GIF image (inline base64 or a file in the files folder): " +
			filterNames + "; returns the new image base64.",
		Schema: schema(`{"type":"object","required":["filter"],"additionalProperties":false,"properties":{` + imageSchemaProps(cfg) + `,
			"filter":{"type":"string","enum":["grayscale","sepia","invert","edge_detect","brightness","contrast","blur","sharpen"],"default":"grayscale","description":"the filter"},
			"amount":{"type":"number","minimum":-100,"maximum":100,"description":"brightness and contrast: -100 to 100 percent (default 20, 25); blur: Gaussian sigma 0.1 to 50 pixels (default 2); sharpen: strength 0.1 to 10 (default 1); other filters take none"}},
			` + imageSchemaOneOf + `}`),
		Timeout: 5 * time.Minute,
	}, func(p *applyFilterPayload) { p.cfg, p.budget = cfg, budget },
		func(ctx context.Context, t *taskmill.Task, p *applyFilterPayload) (any, error) {
			img, inFmt, release, err := p.load(ctx, filterWorking)
			if err != nil {
				return nil, err
			}
			defer release()
			src := img.Bounds()
			_ = t.ReportProgress(ctx, 30, fmt.Sprintf("decoded %d×%d %s", src.Dx(), src.Dy(), inFmt))
			out, err := applyFilter(ctx, img, p.Filter, p.Amount)
			if err != nil {
				return nil, err
			}
			_ = t.ReportProgress(ctx, 80, "applied "+p.Filter)
			res, err := p.encode(out, inFmt, src)
			if err != nil {
				return nil, err
			}
			res.Filter, res.Amount = p.Filter, p.Amount
			_ = t.ReportProgress(ctx, 100, fmt.Sprintf("%s %d×%d %s, %d bytes", p.Filter, res.Width, res.Height, res.Format, res.Bytes))
			return res, nil
		})
}

// applyFilter runs one filter. Colour filters work on straight
// (non-premultiplied) colour; blur and sharpen on premultiplied colour,
// so transparent pixels do not bleed their hidden colour into the edges.
func applyFilter(ctx context.Context, img image.Image, filter string, amount *float64) (image.Image, error) {
	switch filter {
	case "blur":
		return gaussianBlur(ctx, toRGBA(img), *amount)
	case "sharpen":
		return sharpen(ctx, toRGBA(img), *amount)
	case "edge_detect":
		return sobel(ctx, toNRGBA(img))
	}
	m := toNRGBA(img)
	var f func(r, g, b uint8) (uint8, uint8, uint8)
	switch filter {
	case "grayscale":
		f = func(r, g, b uint8) (uint8, uint8, uint8) { y := luma(r, g, b); return y, y, y }
	case "sepia":
		f = func(r, g, b uint8) (uint8, uint8, uint8) {
			R, G, B := float64(r), float64(g), float64(b)
			return clamp8(0.393*R + 0.769*G + 0.189*B), clamp8(0.349*R + 0.686*G + 0.168*B), clamp8(0.272*R + 0.534*G + 0.131*B)
		}
	case "invert":
		f = func(r, g, b uint8) (uint8, uint8, uint8) { return 255 - r, 255 - g, 255 - b }
	case "brightness":
		shift := *amount * 255 / 100
		f = func(r, g, b uint8) (uint8, uint8, uint8) {
			return clamp8(float64(r) + shift), clamp8(float64(g) + shift), clamp8(float64(b) + shift)
		}
	case "contrast":
		// The usual contrast curve: c' = F·(c−128)+128 with
		// F = 259(C+255) / (255(259−C)), C the amount on a ±255 scale.
		c := *amount * 2.55
		k := 259 * (c + 255) / (255 * (259 - c))
		f = func(r, g, b uint8) (uint8, uint8, uint8) {
			return clamp8(k*(float64(r)-128) + 128), clamp8(k*(float64(g)-128) + 128), clamp8(k*(float64(b)-128) + 128)
		}
	default:
		return nil, fmt.Errorf("unknown filter %q (one of %s)", filter, strings.ReplaceAll(filterNames, ",", ""))
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	for y := 0; y < h; y++ {
		if y%64 == 0 && ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		row := m.Pix[y*m.Stride : y*m.Stride+4*w]
		for i := 0; i < len(row); i += 4 {
			row[i], row[i+1], row[i+2] = f(row[i], row[i+1], row[i+2])
		}
	}
	return m, nil
}

// luma is ITU-R BT.601 luma, rounded as image/color's GrayModel rounds it.
func luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// gaussianKernel returns a normalised 1-D Gaussian of the given sigma,
// 3 sigma each side.
func gaussianKernel(sigma float64) []float64 {
	radius := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*radius+1)
	sum := 0.0
	for i := range k {
		x := float64(i - radius)
		k[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}

// gaussianBlur blurs premultiplied pixels with a separable Gaussian,
// edges extended.
func gaussianBlur(ctx context.Context, src *image.RGBA, sigma float64) (*image.RGBA, error) {
	k := gaussianKernel(sigma)
	r := len(k) / 2
	w, h := src.Rect.Dx(), src.Rect.Dy()
	tmp := image.NewRGBA(src.Rect)
	dst := image.NewRGBA(src.Rect)
	var acc [4]float64
	for y := 0; y < h; y++ {
		if y%32 == 0 && ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		for x := 0; x < w; x++ {
			acc = [4]float64{}
			for i, kv := range k {
				sx := min(max(x+i-r, 0), w-1)
				o := y*src.Stride + 4*sx
				for c := 0; c < 4; c++ {
					acc[c] += kv * float64(src.Pix[o+c])
				}
			}
			o := y*tmp.Stride + 4*x
			for c := 0; c < 4; c++ {
				tmp.Pix[o+c] = clamp8(acc[c])
			}
		}
	}
	for y := 0; y < h; y++ {
		if y%32 == 0 && ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		for x := 0; x < w; x++ {
			acc = [4]float64{}
			for i, kv := range k {
				sy := min(max(y+i-r, 0), h-1)
				o := sy*tmp.Stride + 4*x
				for c := 0; c < 4; c++ {
					acc[c] += kv * float64(tmp.Pix[o+c])
				}
			}
			o := y*dst.Stride + 4*x
			for c := 0; c < 4; c++ {
				dst.Pix[o+c] = clamp8(acc[c])
			}
		}
	}
	return dst, nil
}

// sharpen is an unsharp mask: the image plus amount times its difference
// from a blurred copy (sigma 1). Colour stays at most the alpha, as
// premultiplied colour must.
func sharpen(ctx context.Context, src *image.RGBA, amount float64) (*image.RGBA, error) {
	blurred, err := gaussianBlur(ctx, src, 1)
	if err != nil {
		return nil, err
	}
	out := image.NewRGBA(src.Rect)
	for i := 0; i < len(src.Pix); i += 4 {
		a := src.Pix[i+3]
		out.Pix[i+3] = a
		for c := 0; c < 3; c++ {
			v := float64(src.Pix[i+c]) + amount*(float64(src.Pix[i+c])-float64(blurred.Pix[i+c]))
			out.Pix[i+c] = min(clamp8(v), a)
		}
	}
	return out, nil
}

// sobel finds edges: the gradient magnitude of the luma under the Sobel
// operator, white on black, alpha kept.
func sobel(ctx context.Context, src *image.NRGBA) (*image.NRGBA, error) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	lum := make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := y*src.Stride + 4*x
			lum[y*w+x] = float64(luma(src.Pix[o], src.Pix[o+1], src.Pix[o+2]))
		}
	}
	at := func(x, y int) float64 { return lum[min(max(y, 0), h-1)*w+min(max(x, 0), w-1)] }
	out := image.NewNRGBA(src.Rect)
	for y := 0; y < h; y++ {
		if y%64 == 0 && ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		for x := 0; x < w; x++ {
			gx := at(x+1, y-1) + 2*at(x+1, y) + at(x+1, y+1) - at(x-1, y-1) - 2*at(x-1, y) - at(x-1, y+1)
			gy := at(x-1, y+1) + 2*at(x, y+1) + at(x+1, y+1) - at(x-1, y-1) - 2*at(x, y-1) - at(x+1, y-1)
			v := clamp8(math.Hypot(gx, gy) / 4) // |g| reaches 4·255·√2; /4 keeps strong edges bright
			o := y*out.Stride + 4*x
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = v, v, v, src.Pix[o+3]
		}
	}
	return out, nil
}
