// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package messages

import (
	"bytes"
	"encoding/base64"
	"image"
	_ "image/gif" // image.DecodeConfig reads the sizes of the formats Anthropic accepts
	_ "image/jpeg"
	_ "image/png"
	"strconv"
	"strings"

	"github.com/dsp-ai/fd2/inference"
)

func countTokens(model, text string) int64 { return inference.CountTokens(model, text) }

func itoa(i int) string { return strconv.Itoa(i) }

// Image sizing, as Anthropic documents it: an image is scaled down to at most 1568 pixels on its long
// edge and about 1.15 megapixels, then costs width×height/750 tokens. An image whose size cannot be read
// (a URL, a format without a decoder here) is counted at the maximum.
const (
	maxImageEdge   = 1568
	maxImagePixels = 1_150_000
	maxImageTokens = maxImagePixels / 750
	// pdfPageTokens is the cost of one PDF page: Anthropic sends each page as text plus an image, which
	// it documents as 1,500 to 3,000 tokens a page.
	pdfPageTokens = 2250
)

// promptTokens estimates the prompt of a Messages request for model: system, every message's text, tool
// inputs and results as JSON text, the tools' JSON, and images and PDF pages at Anthropic's rates. The
// text is counted with the OpenAI tokenizer (inference.CountTokens): the provider's own tokenizer is
// not available, so this is an estimate, the closest FD2 can make offline.
func promptTokens(model string, r *mRequest) int64 {
	var text strings.Builder
	var extra int64
	if r.System.Exists() {
		if s, err := systemText(r.System); err == nil {
			text.WriteString(s.text())
		} else {
			text.WriteString(r.System.Raw())
		}
		text.WriteByte('\n')
	}
	var addBlocks func(blocks []mBlock)
	addBlocks = func(blocks []mBlock) {
		for i := range blocks {
			b := &blocks[i]
			switch b.Type {
			case "text":
				text.WriteString(b.Text.text())
			case "thinking":
				// Thinking of earlier turns is not sent on, so it costs nothing.
			case "image":
				extra += imageTokens(b.Source)
			case "document":
				extra += documentTokens(b.Source)
			case "tool_use":
				text.WriteString(b.Name.text())
				text.WriteString(b.Input)
			case "tool_result":
				if nested, err := blocksOf(b.Content, ""); err == nil {
					addBlocks(nested)
				} else {
					text.WriteString(b.Content.Raw())
				}
			}
			text.WriteByte('\n')
		}
	}
	for _, m := range r.Messages {
		if blocks, err := blocksOf(m.Get("content"), ""); err == nil {
			addBlocks(blocks)
		}
	}
	if r.Tools.IsArray() {
		text.WriteString(r.Tools.Raw())
	}
	return countTokens(model, text.String()) + extra
}

// imageTokens estimates an image block's cost from its pixel size.
func imageTokens(src *mSource) int64 {
	if src == nil || src.Type != "base64" {
		return maxImageTokens
	}
	// DecodeConfig reads only the image's header, so only its first bytes are decoded.
	cfg, _, err := image.DecodeConfig(base64.NewDecoder(base64.StdEncoding, strings.NewReader(src.Data.text())))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return maxImageTokens
	}
	w, h := float64(cfg.Width), float64(cfg.Height)
	if long := max(w, h); long > maxImageEdge {
		w, h = w*maxImageEdge/long, h*maxImageEdge/long
	}
	if px := w * h; px > maxImagePixels {
		return maxImageTokens
	}
	return max(1, int64(w*h/750))
}

// documentTokens estimates a PDF from its page count (page objects in the file). A PDF that cannot be
// read counts one page.
func documentTokens(src *mSource) int64 {
	if src == nil || src.Type != "base64" {
		return pdfPageTokens
	}
	pdf, err := base64.StdEncoding.DecodeString(src.Data.text())
	if err != nil {
		return pdfPageTokens
	}
	// "/Type /Page" also prefixes "/Type /Pages" (the page tree), which is not a page.
	pages := 0
	for _, sep := range []string{"/Type /Page", "/Type/Page"} {
		pages += bytes.Count(pdf, []byte(sep)) - bytes.Count(pdf, []byte(sep+"s"))
	}
	return int64(max(1, pages)) * pdfPageTokens
}

// countRequest answers count_tokens. It reads the request leniently: counting asks nothing of the
// provider, so fields the translation would refuse are counted as they are rather than refused.
func countRequest(body []byte, model string) ([]byte, error) {
	r, err := decodeRequest(body, false)
	if err != nil {
		return nil, err
	}
	if model == "" {
		model = r.Model
	}
	return marshal(struct {
		InputTokens int64 `json:"input_tokens"`
	}{promptTokens(model, r)})
}
