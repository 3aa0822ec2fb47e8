// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package modelserver

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/dsp-ai/fd2/dsp/apierr"
)

// OpenAI's embeddings API on a model_server module: POST /{project}/{module}/v1/embeddings takes OpenAI's
// {model, input, encoding_format, dimensions, user} and answers OpenAI's embedding list, so that an OpenAI
// SDK (or LangChain's OpenAIEmbeddings) can embed through the model server.
//
//   - model is the model server's model_name, with the module's default and allow-list (an SDK always
//     sends one, so an allow-list sees every request);
//   - input is a string or an array of strings; token arrays ([1,2,3], [[1,2]]) are refused with 400
//     unsupported_parameter, since the model server takes text only and FD2 cannot detokenize for it;
//   - encoding_format "base64" (what the official SDKs send when the caller sets none, decoding it
//     themselves) packs each vector as little-endian float32s, as OpenAI does; "float" (the API's
//     default) passes the model server's numbers through as written;
//   - dimensions is accepted and checked against the answer: the model server cannot shorten a vector,
//     but clients (vector stores, LangChain) often send the model's own size to assert it, which must keep
//     working; any other value is 400 unsupported_parameter naming the model's size, so that a client
//     never stores vectors of a size it did not ask for. It costs one upstream call, the price of not
//     refusing the common, correct case;
//   - user is accepted and not forwarded (the model server has no such field).
//
// The model server reports no usage, while OpenAI clients read it unconditionally: FD2 counts the inputs'
// tokens with the caller's counter, else estimates each text as ceil(len/4) bytes (OpenAI's rule of thumb).

// EmbeddingsMeta is what EmbeddingsResponse needs from the request: the model asked for (after defaults;
// "" when the model server's own default applies), the inputs, the encoding and the dimensions asked for
// (0 for none).
type EmbeddingsMeta struct {
	Model          string
	Inputs         []string
	EncodingFormat string // "float" or "base64"
	Dimensions     int
}

// EmbeddingsRequest translates an OpenAI embeddings request to the model server's {texts, model_name}.
func (s *Server) EmbeddingsRequest(openaiBody []byte) ([]byte, EmbeddingsMeta, *apierr.Error) {
	fields, e := object(openaiBody)
	if e != nil {
		return nil, EmbeddingsMeta{}, e
	}
	var meta EmbeddingsMeta
	if meta.Inputs, e = embeddingInputs(fields["input"]); e != nil {
		return nil, EmbeddingsMeta{}, e
	}
	switch f, e := optionalString(fields, "encoding_format"); {
	case e != nil:
		return nil, EmbeddingsMeta{}, e
	case f == "" || f == "float":
		meta.EncodingFormat = "float"
	case f == "base64":
		meta.EncodingFormat = "base64"
	default:
		return nil, EmbeddingsMeta{}, invalid(fmt.Sprintf("encoding_format %s is not supported; use float or base64", quoteBounded(f)))
	}
	if v, ok := fields["dimensions"]; ok && !isNull(v) {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 {
			return nil, EmbeddingsMeta{}, invalid("dimensions must be a positive integer")
		}
		meta.Dimensions = n
	}
	if _, e := optionalString(fields, "user"); e != nil {
		return nil, EmbeddingsMeta{}, e
	}
	requested, e := optionalString(fields, "model")
	if e != nil {
		return nil, EmbeddingsMeta{}, e
	}
	if meta.Model, e = s.model(KindEmbedding, requested, "model"); e != nil {
		return nil, EmbeddingsMeta{}, e
	}
	up := struct {
		Texts     []string `json:"texts"`
		ModelName string   `json:"model_name,omitempty"`
	}{meta.Inputs, meta.Model}
	b, err := json.Marshal(up)
	if err != nil {
		return nil, EmbeddingsMeta{}, apierr.Wrap(http.StatusInternalServerError, "internal_error", "encoding the model server request failed", err)
	}
	return b, meta, nil
}

// embeddingInputs reads OpenAI's input: a non-empty string or a non-empty array of non-empty strings (OpenAI
// refuses empty ones too).
func embeddingInputs(v json.RawMessage) ([]string, *apierr.Error) {
	if v == nil || isNull(v) {
		return nil, missing("input")
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, invalid("input must be a string or an array of strings")
		}
		if s == "" {
			return nil, invalid("input must not be empty")
		}
		return []string{s}, nil
	case '[':
	default:
		return nil, invalid("input must be a string or an array of strings")
	}
	var raw []json.RawMessage
	if json.Unmarshal(v, &raw) != nil {
		return nil, invalid("input must be a string or an array of strings")
	}
	if len(raw) == 0 {
		return nil, invalid("input must not be empty")
	}
	if len(raw) > MaxTexts {
		return nil, apierr.New(http.StatusBadRequest, "too_many_items",
			fmt.Sprintf("input has %d items; at most %d are allowed in one request", len(raw), MaxTexts))
	}
	out := make([]string, len(raw))
	for i, e := range raw {
		switch {
		case len(e) > 0 && (e[0] == '-' || e[0] == '[' || (e[0] >= '0' && e[0] <= '9')):
			// A number is a token of one input, an array the tokens of one input of a batch.
			return nil, apierr.New(http.StatusBadRequest, "unsupported_parameter",
				"input: token arrays are not supported by the model server; send the text itself")
		case len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &out[i]) != nil:
			return nil, invalid(fmt.Sprintf("input[%d] must be a string", i))
		case out[i] == "":
			return nil, invalid(fmt.Sprintf("input[%d] must not be empty", i))
		}
	}
	return out, nil
}

// EmbeddingsResponse translates the model server's {embeddings, dimensions, model} to OpenAI's embedding
// list. countTokens counts one input's tokens; nil means the ceil(len/4) estimate. An answer that does not
// hold one numeric vector per input, all of one size, is 502 upstream_error: vectors are paired with inputs
// by position, so a short or ragged answer would misattribute them.
func EmbeddingsResponse(upstream []byte, meta EmbeddingsMeta, countTokens func(string) int) ([]byte, *apierr.Error) {
	if !json.Valid(upstream) {
		return nil, malformed("the answer is not JSON")
	}
	doc := gjson.ParseBytes(upstream)
	if !doc.IsObject() {
		return nil, malformed("the answer is not a JSON object")
	}
	rows := doc.Get("embeddings")
	if !rows.IsArray() {
		return nil, malformed("the answer has no embeddings array")
	}
	vectors := rows.Array()
	if len(vectors) == 0 {
		return nil, malformed("the answer has no embeddings")
	}
	if len(vectors) != len(meta.Inputs) {
		return nil, malformed(fmt.Sprintf("the answer has %d embeddings for %d inputs", len(vectors), len(meta.Inputs)))
	}
	dims := -1
	for i, v := range vectors {
		if !v.IsArray() {
			return nil, malformed(fmt.Sprintf("embedding %d is not an array", i))
		}
		n := 0
		var notNumber, outOfRange bool
		v.ForEach(func(_, x gjson.Result) bool {
			n++
			notNumber = x.Type != gjson.Number
			// The model server's vectors are float32s (sentence-transformers): a value beyond that range
			// is a broken answer, and one beyond float64's (1e400) would fail the client's JSON decoder.
			outOfRange = !notNumber && math.Abs(x.Float()) > math.MaxFloat32
			return !notNumber && !outOfRange
		})
		switch {
		case notNumber:
			return nil, malformed(fmt.Sprintf("embedding %d has a value that is not a number", i))
		case outOfRange:
			return nil, malformed(fmt.Sprintf("embedding %d has a value beyond float32 range", i))
		case n == 0:
			return nil, malformed(fmt.Sprintf("embedding %d is empty", i))
		case dims >= 0 && n != dims:
			return nil, malformed(fmt.Sprintf("embedding %d has %d dimensions, embedding 0 has %d", i, n, dims))
		}
		dims = n
	}
	if d := doc.Get("dimensions"); d.Exists() && d.Type != gjson.Null {
		if d.Type != gjson.Number || d.Float() != float64(dims) {
			return nil, malformed(fmt.Sprintf("the answer says %s dimensions for vectors of %d", bounded(d.Raw), dims))
		}
	}
	model := meta.Model
	if m := doc.Get("model"); model == "" && m.Type == gjson.String {
		model = m.String()
	}
	if meta.Dimensions != 0 && meta.Dimensions != dims {
		return nil, apierr.New(http.StatusBadRequest, "unsupported_parameter",
			fmt.Sprintf("dimensions: %s embeds in %d dimensions and the model server cannot shorten its vectors; leave dimensions out or set it to %d",
				quoteBounded(model), dims, dims))
	}
	var out bytes.Buffer
	out.Grow(len(upstream) + 64*len(vectors))
	out.WriteString(`{"object":"list","data":[`)
	for i, v := range vectors {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`{"object":"embedding","index":`)
		out.WriteString(strconv.Itoa(i))
		out.WriteString(`,"embedding":`)
		if meta.EncodingFormat == "base64" {
			out.WriteByte('"')
			out.WriteString(float32Base64(v, dims))
			out.WriteByte('"')
		} else {
			out.WriteByte('[')
			j := 0
			v.ForEach(func(_, x gjson.Result) bool {
				if j > 0 {
					out.WriteByte(',')
				}
				out.WriteString(x.Raw) // a number literal json.Valid accepted
				j++
				return true
			})
			out.WriteByte(']')
		}
		out.WriteByte('}')
	}
	out.WriteString(`],"model":`)
	mb, _ := json.Marshal(model) // a string: cannot fail
	out.Write(mb)
	tokens := 0
	for _, in := range meta.Inputs {
		if countTokens != nil {
			tokens += countTokens(in)
		} else {
			tokens += (len(in) + 3) / 4
		}
	}
	fmt.Fprintf(&out, `,"usage":{"prompt_tokens":%d,"total_tokens":%d}}`, tokens, tokens)
	return out.Bytes(), nil
}

// float32Base64 packs a vector as OpenAI's base64 format: little-endian float32s, the layout of
// numpy.frombuffer(data, dtype=float32), which is how the SDKs decode it. Digits beyond float32 precision
// are lost, as they are in OpenAI's own answers.
func float32Base64(v gjson.Result, dims int) string {
	buf := make([]byte, 0, 4*dims)
	v.ForEach(func(_, x gjson.Result) bool {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(x.Float())))
		return true
	})
	return base64.StdEncoding.EncodeToString(buf)
}

func malformed(why string) *apierr.Error {
	return apierr.New(http.StatusBadGateway, "upstream_error", "the model server's embeddings answer is malformed: "+why)
}

// bounded cuts upstream text for a message.
func bounded(s string) string {
	const max = 40
	if len(s) > max {
		return truncateUTF8(s, max) + "…"
	}
	return s
}
