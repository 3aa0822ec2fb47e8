// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/dsp-ai/fd2/inference/openai"
)

// The OpenAI side of the translation is package openai's ChatRequest. Its fields without a Gemini
// counterpart (logit_bias, logprobs, user, parallel_tool_calls, …) are ignored rather than refused, so
// SDK defaults do not make Gemini deployments unusable; n, seed and the penalties map to generationConfig.
// A replayed tool call's ID exists only on the OpenAI side (functionCall parts carry just name and args),
// so translateRequest remembers it to name the matching result; legacy role "function" messages name the
// function instead. Tool parameters need cleaning before Gemini accepts them (see cleanSchema), and
// input_audio data is already base64, the form inlineData takes, so audio is never re-encoded.

// Gemini GenerateContentRequest.
// The system prompt is not a turn but systemInstruction, and sampling options and limits live in
// generationConfig rather than at the top level as in OpenAI. Names are lowerCamelCase, the proto3
// JSON mapping the REST API uses.
type gmRequest struct {
	Contents          []gmContent       `json:"contents"`
	SystemInstruction *gmContent        `json:"systemInstruction,omitempty"`
	Tools             []gmTool          `json:"tools,omitempty"`
	ToolConfig        *gmToolConfig     `json:"toolConfig,omitempty"`
	GenerationConfig  *gmGenerationConf `json:"generationConfig,omitempty"`
}

// gmContent is one turn. Role is "user" or "model" (Gemini's name for the assistant); it stays empty
// in systemInstruction and in embedding requests, where Gemini does not use it.
type gmContent struct {
	Role  string   `json:"role,omitempty"`
	Parts []gmPart `json:"parts"`
}

// gmPart is a union: one of text, inlineData, fileData, functionCall or functionResponse is set per
// part. Thought marks a thought-summary text part in answers; it is reasoning, not answer text.
type gmPart struct {
	Text             string              `json:"text,omitempty"`
	Thought          bool                `json:"thought,omitempty"`
	InlineData       *gmBlob             `json:"inlineData,omitempty"`
	FileData         *gmFileData         `json:"fileData,omitempty"`
	FunctionCall     *gmFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *gmFunctionResponse `json:"functionResponse,omitempty"`
}

// gmBlob is media sent inline; data is standard base64, as in an OpenAI data URL.
type gmBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// gmFileData references media by URI instead of inlining it. Gemini downloads it itself, so the
// gateway never fetches a client-supplied URL.
type gmFileData struct {
	MimeType string `json:"mimeType"`
	FileURI  string `json:"fileUri"`
}

// gmFunctionCall is a call in a model turn. Args is a JSON object, not a string as in OpenAI; it stays
// raw so the client's arguments pass without a decode/encode round trip.
type gmFunctionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// gmFunctionResponse is a function result, sent in a user turn. With no call IDs in Gemini, it is tied
// to its call by Name, and Response must be a JSON object (see toolResponse).
type gmFunctionResponse struct {
	Name     string         `json:"name"`
	Response map[string]any `json:"response"`
}

// gmTool groups declarations: all of a request's functions go into one Tool, as in Gemini's examples.
type gmTool struct {
	FunctionDeclarations []gmFunctionDecl `json:"functionDeclarations"`
}

type gmFunctionDecl struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Parameters  any    `json:"parameters,omitempty"`
}

// gmToolConfig is tool_choice's counterpart. Mode is AUTO, ANY (some function must be called) or NONE;
// allowedFunctionNames narrows ANY to the named functions.
type gmToolConfig struct {
	FunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	} `json:"functionCallingConfig"`
}

// gmGenerationConf holds the sampling options. Every field is a pointer or omitempty so that unset
// OpenAI fields leave Gemini's per-model defaults in place instead of sending zeros (temperature 0
// would make sampling greedy).
type gmGenerationConf struct {
	MaxOutputTokens    *int64          `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	CandidateCount     *int64          `json:"candidateCount,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
}

// translateRequest turns an OpenAI chat body into a Gemini request. Errors describe the client's mistake.
func translateRequest(oa *openai.ChatRequest) (*gmRequest, error) {
	// Contents starts non-nil so it is encoded as [] rather than null.
	gr := &gmRequest{Contents: []gmContent{}}
	// Gemini's functionResponse is keyed by function name, OpenAI's tool message by call ID: remember
	// which name each earlier call had.
	callNames := map[string]string{}
	// One pass in order: callNames only knows calls made before a result, which is where a valid
	// history puts them.
	for i, m := range oa.Messages {
		var role string
		var parts []gmPart
		switch m.Role {
		case "system", "developer":
			// Gemini has one system instruction, not system turns; instructions anywhere in the
			// conversation are collected in order.
			ps, err := contentParts(m.Content, true)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			if gr.SystemInstruction == nil {
				gr.SystemInstruction = &gmContent{}
			}
			gr.SystemInstruction.Parts = append(gr.SystemInstruction.Parts, ps...)
			continue
		case "user":
			role = "user"
			ps, err := contentParts(m.Content, false)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			parts = ps
		case "assistant":
			// Gemini calls the assistant role "model"; it accepts no other name for it.
			role = "model"
			ps, err := contentParts(m.Content, false)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			parts = ps
			// Tool calls follow the text in the same model turn, the order Gemini itself answers
			// in: text parts first, then functionCall parts.
			for _, tc := range m.ToolCalls {
				args, err := callArgs(tc.Function.Arguments)
				if err != nil {
					return nil, fmt.Errorf("messages[%d]: tool call %q: %w", i, tc.ID, err)
				}
				callNames[tc.ID] = tc.Function.Name
				parts = append(parts, gmPart{FunctionCall: &gmFunctionCall{Name: tc.Function.Name, Args: args}})
			}
		case "tool", "function":
			// The Gemini API takes function results in a user turn (older docs called the role
			// "function"); several consecutive results merge into one turn, as parallel calls require.
			role = "user"
			// Tool messages are resolved through the earlier call's ID; legacy function messages,
			// and calls the history no longer shows, fall back to the message's name.
			name := callNames[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			if name == "" {
				return nil, fmt.Errorf("messages[%d]: tool_call_id %q matches no earlier assistant tool call", i, m.ToolCallID)
			}
			text, err := contentText(m.Content)
			if err != nil {
				return nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			parts = []gmPart{{FunctionResponse: &gmFunctionResponse{Name: name, Response: toolResponse(text)}}}
		default:
			return nil, fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
		if len(parts) == 0 {
			// Gemini rejects a content without parts; an empty assistant turn carries nothing anyway.
			continue
		}
		// Gemini wants strictly alternating turns, so consecutive same-role messages become one content.
		if n := len(gr.Contents); n > 0 && gr.Contents[n-1].Role == role {
			gr.Contents[n-1].Parts = append(gr.Contents[n-1].Parts, parts...)
			continue
		}
		gr.Contents = append(gr.Contents, gmContent{Role: role, Parts: parts})
	}

	// Type "" is accepted as function because older clients leave it out.
	var decls []gmFunctionDecl
	for _, t := range oa.Tools {
		if t.Type != "" && t.Type != "function" {
			return nil, fmt.Errorf("tool type %q is not supported by gemini", t.Type)
		}
		d := gmFunctionDecl{Name: t.Function.Name, Description: t.Function.Description}
		// Absent or null parameters mean a function without arguments: Parameters stays unset, which
		// Gemini accepts for such a function.
		if len(t.Function.Parameters) > 0 && !bytes.Equal(t.Function.Parameters, []byte("null")) {
			// Decoded into a map rather than kept raw, because cleanSchema has to edit it.
			var schema map[string]any
			if err := json.Unmarshal(t.Function.Parameters, &schema); err != nil {
				return nil, fmt.Errorf("tool %q parameters: %w", t.Function.Name, err)
			}
			// Gemini rejects an OBJECT schema with no properties ("should be non-empty for OBJECT
			// type"), which is how OpenAI clients spell a function without arguments.
			if props, ok := schema["properties"].(map[string]any); !ok || len(props) > 0 {
				d.Parameters = cleanSchema(schema)
			}
		}
		decls = append(decls, d)
	}
	if len(decls) > 0 {
		gr.Tools = []gmTool{{FunctionDeclarations: decls}}
	}

	// tool_choice without tools is passed on; Gemini reports it if it objects.
	if tc, err := toolConfig(oa.ToolChoice); err != nil {
		return nil, err
	} else if tc != nil {
		gr.ToolConfig = tc
	}

	// n becomes candidateCount: Gemini returns several candidates in one call, which become choices
	// with their own index. Models that support only one reject the request with their own error.
	// Both APIs take temperature in [0, 2] and top_p in [0, 1], so the values pass unchanged. The
	// output limit includes reasoning in both (max_completion_tokens; maxOutputTokens with thinking),
	// so it keeps its meaning for reasoning models.
	gc := &gmGenerationConf{
		MaxOutputTokens:  oa.MaxTokens,
		Temperature:      oa.Temperature,
		TopP:             oa.TopP,
		CandidateCount:   oa.N,
		Seed:             oa.Seed,
		PresencePenalty:  oa.PresencePenalty,
		FrequencyPenalty: oa.FrequencyPenalty,
	}
	if oa.MaxCompletionTokens != nil {
		// max_completion_tokens supersedes the deprecated max_tokens in the OpenAI API.
		gc.MaxOutputTokens = oa.MaxCompletionTokens
	}
	stop, err := stopSequences(oa.Stop)
	if err != nil {
		return nil, err
	}
	gc.StopSequences = stop
	// json_object and json_schema both switch Gemini to JSON output through responseMimeType; "text"
	// (the default) needs nothing.
	if rf := oa.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			gc.ResponseMimeType = "application/json"
			// json_schema's name and strict flag have no counterpart and are dropped.
			if rf.JSONSchema != nil && len(rf.JSONSchema.Schema) > 0 {
				// responseJsonSchema takes standard JSON Schema, unlike responseSchema's OpenAPI subset.
				gc.ResponseJSONSchema = rf.JSONSchema.Schema
			}
		}
	}
	// generationConfig is left out when nothing is set, which keeps simple requests minimal.
	if gc.MaxOutputTokens != nil || gc.Temperature != nil || gc.TopP != nil || gc.StopSequences != nil ||
		gc.CandidateCount != nil || gc.Seed != nil || gc.PresencePenalty != nil || gc.FrequencyPenalty != nil ||
		gc.ResponseMimeType != "" || gc.ResponseJSONSchema != nil {
		gr.GenerationConfig = gc
	}
	return gr, nil
}

// contentParts translates an OpenAI message content (string, array of parts or null). textOnly is set
// for system instructions, which may carry only text.
// "input_text" (the Responses API's name) counts as text because clients moving between the two APIs
// mix them up. Empty texts are dropped: Gemini refuses a text part with no text.
func contentParts(raw json.RawMessage, textOnly bool) ([]gmPart, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	// A leading quote tells a string from a parts list without trying both decodings.
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("content: %w", err)
		}
		if s == "" {
			return nil, nil
		}
		return []gmPart{{Text: s}}, nil
	}
	var ops []openai.Part
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, fmt.Errorf("content: %w", err)
	}
	var parts []gmPart
	for _, op := range ops {
		switch op.Type {
		case "text", "input_text":
			if op.Text != "" {
				parts = append(parts, gmPart{Text: op.Text})
			}
			continue
		}
		// Text is handled before this check, so a system message may use the parts form as long as
		// every part is text.
		if textOnly {
			return nil, fmt.Errorf("content part %q is not allowed in a system message", op.Type)
		}
		switch op.Type {
		case "image_url":
			// OpenAI's detail hint (low/high/auto) is not translated; Gemini picks the resolution itself.
			if op.ImageURL == nil || op.ImageURL.URL == "" {
				return nil, fmt.Errorf("image_url part without url")
			}
			p, err := mediaPart(op.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		case "input_audio":
			// OpenAI's formats are "wav" and "mp3"; audio/wav and audio/mp3 are MIME types Gemini
			// lists among its supported audio formats.
			if op.InputAudio == nil {
				return nil, fmt.Errorf("input_audio part without input_audio")
			}
			parts = append(parts, gmPart{InlineData: &gmBlob{MimeType: "audio/" + op.InputAudio.Format, Data: op.InputAudio.Data}})
		case "file":
			// A file_id names a file uploaded to OpenAI, which Gemini cannot see.
			if op.File == nil || !strings.HasPrefix(op.File.FileData, "data:") {
				return nil, fmt.Errorf("file part needs inline file_data (uploaded file IDs are OpenAI-only)")
			}
			p, err := mediaPart(op.File.FileData)
			if err != nil {
				return nil, err
			}
			parts = append(parts, p)
		default:
			return nil, fmt.Errorf("content part type %q is not supported by gemini", op.Type)
		}
	}
	return parts, nil
}

// contentText joins the text of a content (tool results are plain text in OpenAI).
func contentText(raw json.RawMessage) (string, error) {
	parts, err := contentParts(raw, true)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// mediaPart turns an image (or file) URL into inline data for data: URLs, or a file reference for
// http(s) URLs, which Gemini fetches itself.
func mediaPart(u string) (gmPart, error) {
	// data: URLs go inline, since Gemini cannot fetch them; inline data counts toward Gemini's
	// request size limit (20 MB), beyond which only its File API helps, out of OpenAI clients' reach.
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		if !ok {
			return gmPart{}, fmt.Errorf("malformed data URL")
		}
		mimeType, isBase64 := strings.CutSuffix(meta, ";base64")
		if i := strings.IndexByte(mimeType, ';'); i >= 0 {
			mimeType = mimeType[:i] // drop parameters such as charset
		}
		if mimeType == "" {
			mimeType = "text/plain" // RFC 2397 default
		}
		if !isBase64 {
			// inlineData is always base64; percent-encoded data URLs (RFC 2397) are re-encoded.
			dec, err := url.PathUnescape(data)
			if err != nil {
				return gmPart{}, fmt.Errorf("malformed data URL: %w", err)
			}
			data = base64.StdEncoding.EncodeToString([]byte(dec))
		}
		return gmPart{InlineData: &gmBlob{MimeType: mimeType, Data: data}}, nil
	}
	// Other schemes are refused: gs:// URIs only work on Vertex AI, and the rest mean nothing to a
	// remote API.
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return gmPart{}, fmt.Errorf("image URL must be a data: or http(s) URL")
	}
	// The MIME type is guessed from the extension, since the gateway never fetches the URL to learn it.
	return gmPart{FileData: &gmFileData{MimeType: guessImageType(pu.Path), FileURI: u}}, nil
}

// imageTypes are the image formats Gemini accepts, by extension. A fixed table rather than
// mime.TypeByExtension keeps the guess independent of the host's mime.types.
var imageTypes = map[string]string{
	".png":  "image/png",
	".jpg":  "image/jpeg",
	".jpeg": "image/jpeg",
	".gif":  "image/gif",
	".webp": "image/webp",
	".heic": "image/heic",
	".heif": "image/heif",
}

// guessImageType guesses a URL path's image type; JPEG is the most common, hence the fallback.
func guessImageType(p string) string {
	if t, ok := imageTypes[strings.ToLower(path.Ext(p))]; ok {
		return t
	}
	return "image/jpeg"
}

// callArgs turns an OpenAI arguments string into Gemini's args object.
// The string is only checked, not re-encoded: Gemini wants an object (a string or array is refused
// with INVALID_ARGUMENT), and checking here names the offending message in the error.
func callArgs(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		// Clients store "" for a call without parameters; Gemini wants an object.
		return json.RawMessage("{}"), nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return nil, fmt.Errorf("arguments are not a JSON object: %w", err)
	}
	return json.RawMessage(s), nil
}

// toolResponse wraps a tool result for functionResponse.response, which must be a JSON object: the
// result, parsed when it is JSON and kept as text otherwise, goes under "content".
func toolResponse(text string) map[string]any {
	var v any
	// A JSON result, the common case for structured tools, is passed as structure so the model sees
	// fields rather than an escaped string.
	if err := json.Unmarshal([]byte(text), &v); err == nil {
		// Any key is allowed (Gemini's docs suggest output or result); content mirrors the OpenAI
		// field the text came from.
		return map[string]any{"content": v}
	}
	return map[string]any{"content": text}
}

// schemaDropKeys are JSON Schema keywords that OpenAI clients send and Gemini's OpenAPI-subset schema
// rejects with INVALID_ARGUMENT ("Unknown name").
var schemaDropKeys = []string{"$schema", "additionalProperties", "strict", "$id", "$comment"}

// cleanSchema strips schemaDropKeys from a schema and its sub-schemas (but not from property names,
// which are data).
func cleanSchema(s map[string]any) map[string]any {
	for _, k := range schemaDropKeys {
		delete(s, k)
	}
	// Only properties, items and the combinators are walked; $defs and $ref are not resolved here.
	if props, ok := s["properties"].(map[string]any); ok {
		for name, sub := range props {
			if m, ok := sub.(map[string]any); ok {
				props[name] = cleanSchema(m)
			}
		}
	}
	if m, ok := s["items"].(map[string]any); ok {
		s["items"] = cleanSchema(m)
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if list, ok := s[k].([]any); ok {
			for i, sub := range list {
				if m, ok := sub.(map[string]any); ok {
					list[i] = cleanSchema(m)
				}
			}
		}
	}
	return s
}

// toolConfig translates tool_choice: "auto", "none", "required" or {"type":"function","function":{name}}.
func toolConfig(raw json.RawMessage) (*gmToolConfig, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	tc := &gmToolConfig{}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			tc.FunctionCallingConfig.Mode = "AUTO"
		case "none":
			// NONE keeps the tools declared but uncallable, like OpenAI's none.
			tc.FunctionCallingConfig.Mode = "NONE"
		case "required":
			// ANY forces at least one function call, which is what required means in OpenAI.
			tc.FunctionCallingConfig.Mode = "ANY"
		default:
			return nil, fmt.Errorf("unknown tool_choice %q", s)
		}
		return tc, nil
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Function.Name == "" {
		// Newer forms (allowed_tools, custom tools) have no function name and end up here rather than
		// being half-translated.
		return nil, fmt.Errorf("tool_choice must be auto, none, required or a function")
	}
	// ANY restricted to one name is Gemini's way of forcing a specific function.
	tc.FunctionCallingConfig.Mode = "ANY"
	tc.FunctionCallingConfig.AllowedFunctionNames = []string{obj.Function.Name}
	return tc, nil
}

// stopSequences reads stop, a string or an array of strings.
// Gemini takes at most 5 stop sequences; a longer list is reported by Gemini rather than cut here.
func stopSequences(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		// An empty stop means none, as in OpenAI, and is not sent as an empty sequence.
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("stop must be a string or an array of strings")
	}
	return list, nil
}
