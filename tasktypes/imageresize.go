package tasktypes

import (
	"context"
	"fmt"
	"image"
	"math"
	"strconv"
	"time"

	"github.com/taskmill/taskmill"
	xdraw "golang.org/x/image/draw"
)

type imageResizePayload struct {
	imageInput
	Width  *int   `json:"width,omitempty"`
	Height *int   `json:"height,omitempty"`
	Fit    string `json:"fit,omitempty"`
	Method string `json:"method,omitempty"`
}

func (p *imageResizePayload) check() error {
	if err := p.checkInput(); err != nil {
		return err
	}
	limit := p.cfg.MaxImageSide
	switch {
	case p.Width == nil && p.Height == nil:
		return taskmill.Invalid("payload.width", "required", "give width, height or both")
	case p.Width != nil && (*p.Width < 1 || *p.Width > limit):
		return taskmill.Invalid("payload.width", "range", "must be between 1 and %d, got %d", limit, *p.Width)
	case p.Height != nil && (*p.Height < 1 || *p.Height > limit):
		return taskmill.Invalid("payload.height", "range", "must be between 1 and %d, got %d", limit, *p.Height)
	case p.Width != nil && p.Height != nil && int64(*p.Width)*int64(*p.Height) > int64(p.cfg.MaxImagePixels):
		return taskmill.Invalid("payload.width", "range", "%d×%d is more than %d pixels", *p.Width, *p.Height, p.cfg.MaxImagePixels)
	}
	switch p.Fit {
	case "":
		p.Fit = "contain"
	case "contain", "cover", "fill":
	default:
		return taskmill.Invalid("payload.fit", "enum", "must be contain, cover or fill, not %q", p.Fit)
	}
	switch p.Method {
	case "":
		p.Method = "catmull_rom"
	case "catmull_rom", "bilinear", "nearest":
	default:
		return taskmill.Invalid("payload.method", "enum", "must be catmull_rom, bilinear or nearest, not %q", p.Method)
	}
	if p.data != nil { // an inline image: its size is known now
		w, h, _ := resizeBox(p.header.Width, p.header.Height, p.Width, p.Height, p.Fit)
		if err := p.checkOutputSize(w, h); err != nil {
			return err
		}
		return p.checkShare(p.working(p.header))
	}
	return nil
}

// working is the memory a resize holds besides the decoded image: its
// output and the output's encoding. An output past the limits counts
// nothing here; checkOutputSize refuses it after the decode.
func (p *imageResizePayload) working(hdr image.Config) int64 {
	w, h, _ := resizeBox(hdr.Width, hdr.Height, p.Width, p.Height, p.Fit)
	if p.checkOutputSize(w, h) != nil {
		return 0
	}
	return int64(w) * int64(h) * resizeBytesPerPixel
}

// checkOutputSize refuses an output past the limits, which one given side
// can cause on a very tall or wide image.
func (p *imageResizePayload) checkOutputSize(w, h int) error {
	if w > p.cfg.MaxImageSide || h > p.cfg.MaxImageSide || int64(w)*int64(h) > int64(p.cfg.MaxImagePixels) {
		field := "payload.width"
		if p.Width == nil {
			field = "payload.height"
		}
		return taskmill.Invalid(field, "range", "the output would be %d×%d; each side may be at most %d and the whole at most %d pixels",
			w, h, p.cfg.MaxImageSide, p.cfg.MaxImagePixels)
	}
	return nil
}

// resizeBox works out the output size and the part of the source drawn
// into it. With one side given the other keeps the aspect ratio; with
// both, "contain" fits inside the box, "cover" fills it and crops the
// middle, "fill" stretches.
func resizeBox(srcW, srcH int, w, h *int, fit string) (outW, outH int, crop image.Rectangle) {
	crop = image.Rect(0, 0, srcW, srcH)
	scaleTo := func(s float64) int { return max(1, int(math.Round(s))) }
	switch {
	case w != nil && h == nil:
		return *w, scaleTo(float64(srcH) * float64(*w) / float64(srcW)), crop
	case w == nil && h != nil:
		return scaleTo(float64(srcW) * float64(*h) / float64(srcH)), *h, crop
	}
	switch fit {
	case "fill":
		return *w, *h, crop
	case "cover":
		// Crop the source to the box's aspect ratio, centred.
		if float64(srcW)*float64(*h) > float64(srcH)*float64(*w) {
			cw := scaleTo(float64(srcH) * float64(*w) / float64(*h))
			x0 := (srcW - cw) / 2
			crop = image.Rect(x0, 0, x0+cw, srcH)
		} else {
			ch := scaleTo(float64(srcW) * float64(*h) / float64(*w))
			y0 := (srcH - ch) / 2
			crop = image.Rect(0, y0, srcW, y0+ch)
		}
		return *w, *h, crop
	}
	scale := math.Min(float64(*w)/float64(srcW), float64(*h)/float64(srcH))
	return min(*w, scaleTo(float64(srcW)*scale)), min(*h, scaleTo(float64(srcH)*scale)), crop
}

var resizeKernels = map[string]xdraw.Interpolator{
	"catmull_rom": xdraw.CatmullRom,
	"bilinear":    xdraw.BiLinear,
	"nearest":     xdraw.NearestNeighbor,
}

func imageResizeType(cfg Config, budget *imageBudget) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "image_resize",
		Description: "Resizes a PNG, JPEG or GIF image (inline base64 or a file in the files folder) to a width and/or " +
			"height, keeping the aspect ratio unless told to fill; returns the new image base64.",
		Schema: schema(`{"type":"object","additionalProperties":false,"properties":{` + imageSchemaProps(cfg) + `,
			"width":{"type":"integer","minimum":1,"maximum":` + strconv.Itoa(cfg.MaxImageSide) + `,"default":320,"description":"output width in pixels; leave out to follow the height"},
			"height":{"type":"integer","minimum":1,"maximum":` + strconv.Itoa(cfg.MaxImageSide) + `,"description":"output height in pixels; leave out to follow the width"},
			"fit":{"type":"string","enum":["contain","cover","fill"],"default":"contain","description":"with both sides: fit inside, fill and crop, or stretch"},
			"method":{"type":"string","enum":["catmull_rom","bilinear","nearest"],"default":"catmull_rom","description":"interpolation: sharpest, faster, or blocky"}},
			` + imageSchemaOneOf + `}`),
		Timeout: 5 * time.Minute,
	}, func(p *imageResizePayload) { p.cfg, p.budget = cfg, budget },
		func(ctx context.Context, t *taskmill.Task, p *imageResizePayload) (any, error) {
			img, inFmt, release, err := p.load(ctx, p.working)
			if err != nil {
				return nil, err
			}
			defer release()
			src := img.Bounds()
			_ = t.ReportProgress(ctx, 30, fmt.Sprintf("decoded %d×%d %s", src.Dx(), src.Dy(), inFmt))
			w, h, crop := resizeBox(src.Dx(), src.Dy(), p.Width, p.Height, p.Fit)
			if err := p.checkOutputSize(w, h); err != nil {
				return nil, taskmill.SkipRetry(err)
			}
			dst := image.NewRGBA(image.Rect(0, 0, w, h))
			resizeKernels[p.Method].Scale(dst, dst.Bounds(), img, crop.Add(src.Min), xdraw.Src, nil)
			if ctx.Err() != nil {
				return nil, canceled(ctx)
			}
			_ = t.ReportProgress(ctx, 80, fmt.Sprintf("resized to %d×%d", w, h))
			res, err := p.encode(dst, inFmt, src)
			if err != nil {
				return nil, err
			}
			_ = t.ReportProgress(ctx, 100, fmt.Sprintf("%d×%d %s, %d bytes", w, h, res.Format, res.Bytes))
			return res, nil
		})
}
