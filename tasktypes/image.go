package tasktypes

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strconv"
	"strings"

	"github.com/taskmill/taskmill"
)

// This file holds what image_resize and apply_filter share: where the
// image comes from (inline base64 or a file under the files folder),
// the checks made on its header before any pixel is decoded, and the
// encoding of the result.

// imageInput is the part of an image payload that names the image and the
// output wanted. Both image types embed it.
type imageInput struct {
	Image   string `json:"image,omitempty"`
	Path    string `json:"path,omitempty"`
	Format  string `json:"format,omitempty"`
	Quality *int   `json:"quality,omitempty"`

	cfg    Config
	budget *imageBudget // shared by every image handler of the process
	data   []byte       // the inline image, decoded from base64
	header image.Config // the inline image's header
}

// imageSchemaProps is the JSON Schema of imageInput's fields.
func imageSchemaProps(cfg Config) string {
	return `"image":{"type":"string","contentEncoding":"base64","contentMediaType":"image/*","description":"the image, base64 (a data: URL also works): PNG, JPEG or GIF, at most ` +
		strconv.Itoa(cfg.MaxImageSide) + ` pixels a side and ` + strconv.Itoa(cfg.MaxImagePixels) + ` pixels in all; or give path"},
		"path":{"type":"string","maxLength":1024,"description":"or a PNG, JPEG or GIF file, relative to the files folder"},
		"format":{"type":"string","enum":["png","jpeg","gif"],"description":"output format; default the input's"},
		"quality":{"type":"integer","minimum":1,"maximum":100,"default":90,"description":"JPEG quality"}`
}

// imageSchemaOneOf says an image payload gives the image one way.
const imageSchemaOneOf = `"oneOf":[{"required":["image"]},{"required":["path"]}]`

func (in *imageInput) checkInput() error {
	switch {
	case in.Image == "" && in.Path == "":
		return taskmill.Invalid("payload.image", "required", "give image (base64) or path (a file in the files folder)")
	case in.Image != "" && in.Path != "":
		return taskmill.Invalid("payload.path", "conflict", "give image or path, not both")
	}
	switch in.Format {
	case "", "png", "jpeg", "gif":
	case "jpg":
		in.Format = "jpeg"
	default:
		return taskmill.Invalid("payload.format", "enum", "must be png, jpeg or gif, not %q", in.Format)
	}
	if in.Quality != nil && (*in.Quality < 1 || *in.Quality > 100) {
		return taskmill.Invalid("payload.quality", "range", "must be between 1 and 100, got %d", *in.Quality)
	}
	if in.Path != "" {
		return checkDataPath("payload.path", in.Path)
	}
	data, err := decodeBase64Image(in.Image, in.cfg.MaxImageBytes)
	if err != nil {
		return err
	}
	hdr, err := checkImageHeader("payload.image", data, in.cfg)
	if err != nil {
		return err
	}
	in.data, in.header = data, hdr
	return nil
}

// decodeBase64Image decodes an inline image, refusing one whose encoded
// length alone says it is too large before decoding anything.
func decodeBase64Image(s string, maxBytes int) ([]byte, error) {
	if strings.HasPrefix(s, "data:") {
		comma := strings.IndexByte(s, ',')
		if comma < 0 || !strings.HasSuffix(s[:comma], ";base64") {
			return nil, taskmill.Invalid("payload.image", "format", "a data: URL must be base64: data:image/png;base64,…")
		}
		s = s[comma+1:]
	}
	if n := base64.StdEncoding.DecodedLen(len(s)); n > maxBytes+3 {
		return nil, taskmill.Invalid("payload.image", "size", "is about %d bytes; the limit is %d", n, maxBytes)
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil {
		return nil, taskmill.Invalid("payload.image", "format", "is not base64: %v", err)
	}
	if len(data) > maxBytes {
		return nil, taskmill.Invalid("payload.image", "size", "is %d bytes; the limit is %d", len(data), maxBytes)
	}
	return data, nil
}

// checkImageHeader reads only the image's header and refuses a format we
// do not take or dimensions past the limits: a few bytes of PNG can claim
// a billion pixels, and decoding would allocate them all.
func checkImageHeader(field string, data []byte, cfg Config) (image.Config, error) {
	hdr, f, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return hdr, taskmill.Invalid(field, "format", "is not a PNG, JPEG or GIF image: %v", err)
	}
	switch {
	case f != "png" && f != "jpeg" && f != "gif":
		return hdr, taskmill.Invalid(field, "format", "is a %s image; PNG, JPEG and GIF are taken", f)
	case hdr.Width <= 0 || hdr.Height <= 0:
		return hdr, taskmill.Invalid(field, "dimensions", "has no pixels (%d×%d)", hdr.Width, hdr.Height)
	case hdr.Width > cfg.MaxImageSide || hdr.Height > cfg.MaxImageSide:
		return hdr, taskmill.Invalid(field, "dimensions", "is %d×%d; each side may be at most %d", hdr.Width, hdr.Height, cfg.MaxImageSide)
	case int64(hdr.Width)*int64(hdr.Height) > int64(cfg.MaxImagePixels):
		return hdr, taskmill.Invalid(field, "dimensions", "is %d×%d = %d pixels; the limit is %d",
			hdr.Width, hdr.Height, int64(hdr.Width)*int64(hdr.Height), cfg.MaxImagePixels)
	case decodedBytes(hdr, data) > cfg.MaxImageDecodeBytes:
		return hdr, taskmill.Invalid(field, "memory", "is %d×%d and would take %d bytes to decode (%d a pixel); the limit is %d (MaxImageDecodeBytes, --max-image-decode-bytes)",
			hdr.Width, hdr.Height, decodedBytes(hdr, data), decodedBytes(hdr, data)/(int64(hdr.Width)*int64(hdr.Height)), cfg.MaxImageDecodeBytes)
	}
	return hdr, nil
}

// checkShare refuses, at submit, an inline image whose task could never
// get its share of the image memory budget.
func (in *imageInput) checkShare(working int64) error {
	if need := decodedBytes(in.header, in.data) + int64(len(in.data)) + working; in.budget != nil && need > in.budget.size {
		return in.budget.tooLarge("payload.image", need)
	}
	return nil
}

// load returns the decoded image and its format, reading the file when
// the payload named one. Everything wrong with the file fails without
// retry, naming payload.path. Before decoding, it waits for the task's
// share of the image memory budget: the decoded image, the encoded
// bytes, and working(header), what the handler needs besides. The caller
// calls release once it no longer holds the image, its copies or its
// output (after encoding the result).
func (in *imageInput) load(ctx context.Context, working func(image.Config) int64) (img image.Image, format string, release func(), err error) {
	data, hdr, field := in.data, in.header, "payload.image"
	if in.Path != "" {
		field = "payload.path"
		root, err := openDataRoot(in.cfg.DataDir)
		if err != nil {
			return nil, "", nil, err
		}
		defer root.Close()
		f, st, err := openRegular(root, "payload.path", in.Path)
		if err != nil {
			return nil, "", nil, err
		}
		defer f.Close()
		if st.Size() > int64(in.cfg.MaxImageBytes) {
			return nil, "", nil, taskmill.SkipRetry(taskmill.Invalid("payload.path", "size", "%q is %d bytes; the limit is %d", in.Path, st.Size(), in.cfg.MaxImageBytes))
		}
		if data, err = io.ReadAll(io.LimitReader(f, int64(in.cfg.MaxImageBytes)+1)); err != nil {
			return nil, "", nil, fileError(root, "payload.path", in.Path, err)
		}
		if len(data) > in.cfg.MaxImageBytes { // it grew since Stat
			return nil, "", nil, taskmill.SkipRetry(taskmill.Invalid("payload.path", "size", "%q is over %d bytes", in.Path, in.cfg.MaxImageBytes))
		}
		if hdr, err = checkImageHeader("payload.path", data, in.cfg); err != nil {
			return nil, "", nil, taskmill.SkipRetry(err)
		}
	}
	if ctx.Err() != nil {
		return nil, "", nil, canceled(ctx)
	}
	release = func() {}
	if in.budget != nil {
		if release, err = in.budget.acquire(ctx, field, decodedBytes(hdr, data)+int64(len(data))+working(hdr)); err != nil {
			return nil, "", nil, err
		}
	}
	img, format, err = image.Decode(bytes.NewReader(data))
	if err != nil {
		release()
		return nil, "", nil, taskmill.SkipRetry(fmt.Errorf("decode the image: %w", err))
	}
	return img, format, release, nil
}

// ImageResult is the result of image_resize and apply_filter: the new
// image, base64, with what a page needs to show it
// ("data:" + media_type + ";base64," + image).
type ImageResult struct {
	Image          string   `json:"image"`
	MediaType      string   `json:"media_type"`
	Format         string   `json:"format"`
	Width          int      `json:"width"`
	Height         int      `json:"height"`
	Bytes          int      `json:"bytes"`
	OriginalWidth  int      `json:"original_width"`
	OriginalHeight int      `json:"original_height"`
	OriginalFormat string   `json:"original_format"`
	Filter         string   `json:"filter,omitempty"`
	Amount         *float64 `json:"amount,omitempty"`
}

// encode writes img in the payload's format (default: the input's).
func (in *imageInput) encode(img image.Image, inFmt string, orig image.Rectangle) (*ImageResult, error) {
	f := in.Format
	if f == "" {
		f = inFmt
	}
	var buf bytes.Buffer
	var err error
	switch f {
	case "png":
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, img)
	case "jpeg":
		q := 90
		if in.Quality != nil {
			q = *in.Quality
		}
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: q})
	case "gif":
		// Floyd–Steinberg dithering onto the default (Plan 9) palette keeps
		// gradients from banding in GIF's 256 colours.
		err = gif.Encode(&buf, img, &gif.Options{NumColors: 256, Drawer: draw.FloydSteinberg})
	default:
		err = fmt.Errorf("no encoder for %q", f)
	}
	if err != nil {
		return nil, fmt.Errorf("encode the %s image: %w", f, err)
	}
	b := img.Bounds()
	return &ImageResult{
		Image: base64.StdEncoding.EncodeToString(buf.Bytes()), MediaType: "image/" + f, Format: f,
		Width: b.Dx(), Height: b.Dy(), Bytes: buf.Len(),
		OriginalWidth: orig.Dx(), OriginalHeight: orig.Dy(), OriginalFormat: inFmt,
	}, nil
}

// toNRGBA copies img into a fresh *image.NRGBA with origin (0, 0).
func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}

// toRGBA copies img into a fresh premultiplied *image.RGBA at (0, 0).
func toRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}
