package tasktypes_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
)

// twoColorPNG is a w×h PNG whose left half is pure red and right half
// pure blue.
func twoColorPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{255, 0, 0, 255}
			if x >= w/2 {
				c = color.NRGBA{0, 0, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// decodeResult decodes a result image and checks it is what it says.
func decodeResult(t *testing.T, r tasktypes.ImageResult) image.Image {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(r.Image)
	if err != nil {
		t.Fatal(err)
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("result image: %v", err)
	}
	if format != r.Format || r.MediaType != "image/"+format || r.Bytes != len(data) {
		t.Errorf("result says %s %s %d bytes; image is %s, %d bytes", r.Format, r.MediaType, r.Bytes, format, len(data))
	}
	if b := img.Bounds(); b.Dx() != r.Width || b.Dy() != r.Height {
		t.Errorf("result says %d×%d; image is %d×%d", r.Width, r.Height, b.Dx(), b.Dy())
	}
	return img
}

func rgb(img image.Image, x, y int) (uint8, uint8, uint8) {
	c := color.NRGBAModel.Convert(img.At(img.Bounds().Min.X+x, img.Bounds().Min.Y+y)).(color.NRGBA)
	return c.R, c.G, c.B
}

func TestImageResizeDimensionsAndPixels(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	src := b64(twoColorPNG(t, 40, 20))
	var r tasktypes.ImageResult
	task := mustRun(t, mux, "image_resize", map[string]any{"image": src, "width": 20}, &r)
	if r.Width != 20 || r.Height != 10 || r.OriginalWidth != 40 || r.OriginalHeight != 20 || r.Format != "png" {
		t.Fatalf("result = %+v", r)
	}
	img := decodeResult(t, r)
	if R, G, B := rgb(img, 2, 5); R != 255 || G != 0 || B != 0 {
		t.Errorf("pixel (2,5) = %d,%d,%d; want red", R, G, B)
	}
	if R, G, B := rgb(img, 17, 5); R != 0 || G != 0 || B != 255 {
		t.Errorf("pixel (17,5) = %d,%d,%d; want blue", R, G, B)
	}
	if p := task.LastProgress(); p == nil || p.Percent != 100 {
		t.Errorf("progress = %+v", p)
	}

	for _, c := range []struct {
		payload map[string]any
		w, h    int
	}{
		{map[string]any{"height": 5}, 10, 5},
		{map[string]any{"width": 10, "height": 10}, 10, 5}, // contain
		{map[string]any{"width": 10, "height": 10, "fit": "cover"}, 10, 10},
		{map[string]any{"width": 10, "height": 10, "fit": "fill", "method": "nearest"}, 10, 10},
		{map[string]any{"width": 80, "method": "bilinear", "format": "jpeg", "quality": 80}, 80, 40},
	} {
		c.payload["image"] = src
		mustRun(t, mux, "image_resize", c.payload, &r)
		img := decodeResult(t, r)
		if r.Width != c.w || r.Height != c.h {
			t.Errorf("%v: %d×%d, want %d×%d", c.payload["width"], r.Width, r.Height, c.w, c.h)
		}
		if c.payload["fit"] == "cover" {
			// The middle 20×20 of the source: left half still red.
			if R, _, B := rgb(img, 1, 5); R < 250 || B > 5 {
				t.Errorf("cover: pixel (1,5) = %d,_,%d; want red", R, B)
			}
		}
	}
}

func TestImageFromFileAndGIF(t *testing.T) {
	dir := t.TempDir()
	mux := testMux(t, tasktypes.Config{DataDir: dir})
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "photo.png"), twoColorPNG(t, 30, 30), 0o644); err != nil {
		t.Fatal(err)
	}
	var r tasktypes.ImageResult
	mustRun(t, mux, "image_resize", map[string]any{"path": "in/photo.png", "width": 15}, &r)
	if r.Width != 15 || r.Height != 15 {
		t.Errorf("from file: %d×%d", r.Width, r.Height)
	}
	decodeResult(t, r)

	// A GIF comes back a GIF unless another format is asked for.
	pal := image.NewPaletted(image.Rect(0, 0, 8, 4), color.Palette{color.White, color.Black})
	var buf bytes.Buffer
	if err := gif.Encode(&buf, pal, nil); err != nil {
		t.Fatal(err)
	}
	mustRun(t, mux, "apply_filter", map[string]any{"image": b64(buf.Bytes()), "filter": "invert"}, &r)
	img := decodeResult(t, r)
	if r.Format != "gif" || r.OriginalFormat != "gif" {
		t.Errorf("gif: %+v", r)
	}
	if R, G, B := rgb(img, 0, 0); R != 0 || G != 0 || B != 0 {
		t.Errorf("inverted white = %d,%d,%d; want black", R, G, B)
	}
	// A data: URL works as well as bare base64.
	mustRun(t, mux, "apply_filter", map[string]any{"image": "data:image/gif;base64," + b64(buf.Bytes()), "filter": "grayscale", "format": "png"}, &r)
	if r.Format != "png" {
		t.Errorf("data URL: %+v", r)
	}
}

func TestApplyFilterPixels(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	src := b64(twoColorPNG(t, 40, 20))
	for _, c := range []struct {
		filter     string
		amount     any
		x          int
		wr, wg, wb uint8
	}{
		// BT.601 luma, as image/color computes it: red → 76, blue → 29.
		{"grayscale", nil, 0, 76, 76, 76},
		{"grayscale", nil, 39, 29, 29, 29},
		// Sepia of pure red: 0.393·255, 0.349·255, 0.272·255.
		{"sepia", nil, 0, 100, 89, 69},
		{"invert", nil, 0, 0, 255, 255},
		// +20% of 255 is +51.
		{"brightness", 20, 39, 51, 51, 255},
		{"brightness", -100, 39, 0, 0, 0},
		// Contrast pushes 255 and 0 no further; the colours stay put.
		{"contrast", 50, 0, 255, 0, 0},
		// Far from the edge a blur changes nothing.
		{"blur", 1.5, 0, 255, 0, 0},
		{"edge_detect", nil, 0, 0, 0, 0},
	} {
		p := map[string]any{"image": src, "filter": c.filter}
		if c.amount != nil {
			p["amount"] = c.amount
		}
		var r tasktypes.ImageResult
		mustRun(t, mux, "apply_filter", p, &r)
		img := decodeResult(t, r)
		if R, G, B := rgb(img, c.x, 10); R != c.wr || G != c.wg || B != c.wb {
			t.Errorf("%s %v at x=%d: %d,%d,%d; want %d,%d,%d", c.filter, c.amount, c.x, R, G, B, c.wr, c.wg, c.wb)
		}
		if r.Filter != c.filter || r.Width != 40 || r.Height != 20 {
			t.Errorf("%s: result %+v", c.filter, r)
		}
	}
	// At the red/blue edge: blur mixes the two, edge_detect lights up,
	// sharpen keeps them pure.
	var r tasktypes.ImageResult
	mustRun(t, mux, "apply_filter", map[string]any{"image": src, "filter": "blur", "amount": 2}, &r)
	if R, _, B := rgb(decodeResult(t, r), 19, 10); R < 100 || R > 220 || B < 40 || B > 160 {
		t.Errorf("blurred edge pixel = %d,_,%d; want a mix", R, B)
	}
	mustRun(t, mux, "apply_filter", map[string]any{"image": src, "filter": "edge_detect"}, &r)
	if R, _, _ := rgb(decodeResult(t, r), 20, 10); R < 20 {
		t.Errorf("edge pixel = %d; want bright", R)
	}
	mustRun(t, mux, "apply_filter", map[string]any{"image": src, "filter": "sharpen", "amount": 2}, &r)
	if R, _, B := rgb(decodeResult(t, r), 19, 10); R != 255 || B != 0 {
		t.Errorf("sharpened edge pixel = %d,_,%d; want pure red", R, B)
	}
}

// hugePNGHeader is a PNG whose header claims w×h pixels: a few dozen
// bytes that would make a naive decoder allocate gigabytes.
func hugePNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk := append([]byte("IHDR"), ihdr...)
	_ = binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestImageLimits(t *testing.T) {
	dir := t.TempDir()
	mux := testMux(t, tasktypes.Config{DataDir: dir, MaxImageSide: 64, MaxImagePixels: 2000, MaxImageBytes: 4000})
	checkRefused(t, mux, "image_resize", []refusedCase{
		{"a side too long", `{"width":10,"image":"` + b64(twoColorPNG(t, 65, 10)) + `"}`, "payload.image"},
		{"too many pixels", `{"width":10,"image":"` + b64(twoColorPNG(t, 50, 50)) + `"}`, "payload.image"},
		{"header claiming 100000²", `{"width":10,"image":"` + b64(hugePNGHeader(100000, 100000)) + `"}`, "payload.image"},
		{"too many bytes", `{"width":10,"image":"` + b64(bytes.Repeat([]byte{1}, 4100)) + `"}`, "payload.image"},
		{"not an image", `{"width":10,"image":"` + b64([]byte("hello, world")) + `"}`, "payload.image"},
		{"not base64", `{"width":10,"image":"***"}`, "payload.image"},
		{"no image", `{"width":10}`, "payload.image"},
		{"image and path", `{"width":10,"path":"a.png","image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.path"},
		{"no size", `{"image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.width"},
		{"width 0", `{"width":0,"image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.width"},
		{"height too large", `{"height":65,"image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.height"},
		{"output too large", `{"width":64,"image":"` + b64(twoColorPNG(t, 4, 40)) + `"}`, "payload.width"},
		{"bad fit", `{"width":10,"fit":"squash","image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.fit"},
		{"bad format", `{"width":10,"format":"webp","image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.format"},
		{"quality 0", `{"width":10,"quality":0,"image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.quality"},
		{"absolute path", `{"width":10,"path":"/etc/passwd"}`, "payload.path"},
		{"path with ..", `{"width":10,"path":"in/../../secret.png"}`, "payload.path"},
	})
	checkRefused(t, mux, "apply_filter", []refusedCase{
		{"no filter", `{"image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.filter"},
		{"unknown filter", `{"filter":"vignette","image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.filter"},
		{"amount for grayscale", `{"filter":"grayscale","amount":3,"image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.amount"},
		{"blur too strong", `{"filter":"blur","amount":51,"image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.amount"},
		{"brightness out of range", `{"filter":"brightness","amount":-101,"image":"` + b64(twoColorPNG(t, 4, 4)) + `"}`, "payload.amount"},
	})

	// Files are checked when the task runs: size first, then the header.
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("big.png", append(twoColorPNG(t, 4, 4), make([]byte, 5000)...))
	write("wide.png", twoColorPNG(t, 65, 2))
	write("bomb.png", hugePNGHeader(100000, 100000))
	for _, name := range []string{"big.png", "wide.png", "bomb.png", "missing.png"} {
		_, err := runTask(t, mux, "image_resize", map[string]any{"path": name, "width": 2}, nil)
		if err == nil || !errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "payload.path") {
			t.Errorf("%s: err = %v; want a failure without retry naming payload.path", name, err)
		}
	}
}

func TestImageJPEGRoundTrip(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	var r tasktypes.ImageResult
	mustRun(t, mux, "apply_filter", map[string]any{"image": b64(buf.Bytes()), "filter": "brightness", "amount": -20}, &r)
	out := decodeResult(t, r)
	// 200 − 51 = 149, give or take JPEG's rounding.
	if R, G, B := rgb(out, 8, 8); R < 145 || R > 153 || G < 145 || G > 153 || B < 145 || B > 153 || r.Format != "jpeg" {
		t.Errorf("jpeg brightness: %d,%d,%d (%s)", R, G, B, r.Format)
	}
}
