// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package openai declares the OpenAI API's wire types that FD2's translating providers (anthropic,
// gemini) read from clients and write back to them: chat requests, chat completions and their stream
// chunks, tool calls, usage and embeddings. They are declared once so every translator speaks exactly
// the same OpenAI.
//
// Request types hold only the fields some translator maps; the others are ignored on decoding, the way
// OpenAI-compatible gateways behave, so SDK defaults do not break non-OpenAI deployments. Response types
// follow OpenAI's field order and null/omitted conventions, which clients and golden files depend on.
package openai

import "encoding/json"

// ChatRequest is a chat/completions request. Loosely typed fields (content, stop, tool_choice) stay raw
// because OpenAI accepts several shapes for each.
//
// max_completion_tokens is OpenAI's current name for max_tokens (which it deprecates); translators
// read both and the newer one wins.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Tools               []Tool          `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int64          `json:"n"`
	Seed                *int64          `json:"seed"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	ResponseFormat      *ResponseFormat `json:"response_format"`
	Stream              bool            `json:"stream"`
	StreamOptions       *StreamOptions  `json:"stream_options"`
	User                string          `json:"user"`
}

// ResponseFormat asks for JSON output, optionally against a schema.
type ResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// StreamOptions of a streamed request; IncludeUsage asks for a final usage chunk.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one entry of messages. Content stays raw because OpenAI accepts a string, a list of
// content parts or null (an assistant turn made only of tool_calls), and each role reads it
// differently. ToolCallID is set on role "tool" messages and names the call being answered; Name on
// legacy role "function" messages names the function instead.
type Message struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCalls  []ToolCall      `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

// Part is one element of a list-valued content.
type Part struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
	// InputAudio.Data is already base64.
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
	File *struct {
		FileData string `json:"file_data"`
	} `json:"file"`
}

// Tool is a function tool definition; Parameters is its JSON Schema.
type Tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// ToolCall is a tool call: replayed in a request's history, or made in an answer. Arguments is a JSON
// document encoded as a string, OpenAI's wire form. In stream chunks, Index places the call and only
// its first chunk carries ID, Type and Name, so those are omitted when empty.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"` // stream chunks only
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is a ToolCall's function.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// ChatCompletion is a chat.completion, or a chat.completion.chunk when Object says so. Usage is left
// out until known; a stream's usage chunk has an empty, never absent, choices list.
type ChatCompletion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage,omitempty"`
}

// Choice is a completion's answer (Message) or a chunk's piece of it (Delta). Logprobs is raw: set it
// to JSONNull where the key must be present as null, leave it nil to leave the key out. FinishReason
// is null until the choice is finished.
type Choice struct {
	Index        int             `json:"index"`
	Message      *ChatMessage    `json:"message,omitempty"`
	Delta        *Delta          `json:"delta,omitempty"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	FinishReason *string         `json:"finish_reason"`
}

// JSONNull is the literal null, for raw fields that must be present.
var JSONNull = json.RawMessage("null")

// ChatMessage is an answer's message. Content is null, not "", when the answer is only tool calls, as
// OpenAI sends it.
type ChatMessage struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// Delta holds only what changed: the role on the first chunk, then content or tool_calls pieces; the
// finish chunk's delta is {}. Content is a pointer so a first chunk can carry "content": "".
type Delta struct {
	Role      string     `json:"role,omitempty"`
	Content   *string    `json:"content,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// Usage is a completion's token usage. Cached prompt tokens are part of prompt_tokens and reasoning
// tokens part of completion_tokens; the details break them out when there are any.
type Usage struct {
	PromptTokens            int64                    `json:"prompt_tokens"`
	CompletionTokens        int64                    `json:"completion_tokens"`
	TotalTokens             int64                    `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails breaks out cached prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

// CompletionTokensDetails breaks out reasoning tokens.
type CompletionTokensDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

// EmbeddingRequest is an embeddings request. Input stays raw: a string, a list of strings, or token
// IDs.
type EmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int64          `json:"dimensions"`
}

// Embedding is one vector of an EmbeddingList.
type Embedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float64, or a base64 string for encoding_format=base64
}

// EmbeddingList is the embeddings answer. Usage is always present, since OpenAI clients read it
// unconditionally.
type EmbeddingList struct {
	Object string      `json:"object"`
	Data   []Embedding `json:"data"`
	Model  string      `json:"model"`
	Usage  struct {
		PromptTokens int64 `json:"prompt_tokens"`
		TotalTokens  int64 `json:"total_tokens"`
	} `json:"usage"`
}
