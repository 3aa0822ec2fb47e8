// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

package inference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/dsp-ai/fd2/dsp/apierr"
	"github.com/dsp-ai/fd2/dsp/background"
	"github.com/dsp-ai/fd2/dsp/reqbody"
)

// Backend is what the Engine needs of a Router: resolve a model to a deployment and call it, with
// fallback. *Router implements it; tests use fakes.
type Backend interface {
	// Do calls the deployment serving model (a client-facing name or alias) and returns its response and
	// the deployment that produced it.
	Do(ctx context.Context, model string, req *Request) (*Response, Deployment, error)
	// ListModels lists the client-facing model names, for GET /v1/models.
	ListModels(ctx context.Context) []string
	// HasModel reports whether GET /v1/models/{id} knows id: an alias, or a model a wildcard's provider
	// lists.
	HasModel(ctx context.Context, id string) bool
	// Known reports whether model resolves to any deployment (aliases and wildcards included): whether a
	// call naming it is routed.
	Known(model string) bool
}

// Hooks observe the calls an Engine makes. All are optional; they are called synchronously on the
// request's goroutine and must be cheap (increment a metric, hand usage to a limiter).
type Hooks struct {
	// OnUsage is called once per completed call with its final usage. kind is the provider family
	// (Provider.Kind) and model the provider-side model.
	OnUsage func(provider, kind, model string, u Usage)
	// OnFirstToken is called with the time from the request's start to the first streamed content event,
	// or to the complete response for a non-streamed call.
	OnFirstToken func(provider, kind, model string, d time.Duration)
	// OnProviderDone is called once per request whose provider call succeeded, with the status sent (a
	// stream that broke off after it began is a 502) and the time to the end of the response.
	OnProviderDone func(provider, kind, model string, status int, d time.Duration)
	// OnRouteFailed is called once per request that no provider served, with the last deployment tried
	// (provider "" when none was known) and its own status (0 when no provider was called: every breaker
	// was open, or the failure was not the provider's). Each failed call has been reported to
	// RouterOptions.OnAttempt already.
	OnRouteFailed func(provider, kind, model string, status int)
}

// Default body limits.
const (
	DefaultMaxBody = 10 << 20
	// DefaultMaxUploadBody is OpenAI's limit for audio files.
	DefaultMaxUploadBody = 25 << 20
)

// Engine serves the client-facing OpenAI API over a Backend: it validates and minimally edits request
// bodies, applies the endpoint's defaults, streams responses through (SSE event by event), captures
// usage and answers errors in the OpenAI shape. It is safe for concurrent use once configured.
type Engine struct {
	Backend  Backend
	Defaults Defaults
	// MaxBody bounds JSON request bodies, which are read whole to be edited; default 10 MiB. Larger
	// bodies are answered 413.
	MaxBody int64
	// MaxUploadBody bounds streamed bodies (multipart audio uploads, non-JSON pass-through), which are
	// never held in memory; default 25 MiB.
	MaxUploadBody int64
	// AllowModel restricts the models a caller may use (nil allows all); a refused model is answered 403
	// model_not_allowed and left out of the model list.
	AllowModel func(model string) bool
	Hooks      Hooks
	// FirstByteTimeout bounds the wait for a provider's response headers (non-streamed) or first event
	// (streamed); 0 leaves it to the providers' own timeouts.
	FirstByteTimeout time.Duration
	// IdleTimeout bounds each wait on the provider for a stream's next bytes (time spent writing to a slow
	// client does not count); when it passes the stream ends with an error event. 0 means none.
	IdleTimeout time.Duration
	// Responses keeps the Responses API's responses for GET/DELETE /v1/responses/{id} and for routing calls
	// naming them (nil: such calls go to the model-less route).
	Responses ResponseStore
	// CompletionBudget is a hard cap on the completion tokens of a streamed answer (a token limit's
	// reservation; ≤ 0: none). A stream that would outgrow it ends cleanly at the last event within it
	// (BudgetEnd) and the provider call is stopped.
	CompletionBudget int64
	// Extra is a request-scoped extension attached to a successful chat completion or message (the sources
	// of retrieval-augmented chat; nil: none). See Extra.
	Extra *Extra
}

// Extra is an extension field of a chat completion or a Messages API message: a top-level member of a
// non-streamed answer, and in a stream a last event before the stream's end (see extraWriter).
type Extra struct {
	Field string
	Value json.RawMessage
}

// extraEndpoint reports whether endpoint's answers carry Engine.Extra.
func extraEndpoint(endpoint string) bool {
	return endpoint == EndpointChat || endpoint == EndpointMessages
}

// jsonEndpoints are the endpoints whose bodies are JSON the Engine reads and may edit.
var jsonEndpoints = map[string]bool{
	EndpointChat: true, EndpointCompletions: true, EndpointEmbeddings: true, EndpointResponses: true,
	EndpointModerations: true, EndpointImages: true, EndpointSpeech: true,
	EndpointMessages: true, EndpointCountTokens: true,
}

// forwardHeaders are the client headers worth passing to providers. Everything else (Authorization
// above all: it is the gateway's credential) stays here.
var forwardHeaders = []string{"OpenAI-Beta", "OpenAI-Organization", "Anthropic-Beta", "Anthropic-Version", "Idempotency-Key", "X-Request-Id", "Traceparent", "Tracestate", "Baggage"}

// safeHeaders are the provider response headers passed to clients. Rate-limit headers are not among
// them: they describe the gateway's provider account, not the client's quota.
var safeHeaders = []string{
	"Content-Type", "Content-Disposition", "Content-Language", "Content-Encoding",
	"Openai-Processing-Ms", "Openai-Version", "X-Request-Id",
}

// ServeHTTP serves one OpenAI endpoint; endpoint is the path relative to /v1/ ("chat/completions",
// "models", "models/gpt-4o", "audio/transcriptions", or any other path for pass-through). It writes the
// response, or returns an *apierr.Error when nothing has been written yet.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request, endpoint string) error {
	endpoint = strings.Trim(endpoint, "/")
	switch {
	case endpoint == EndpointModels:
		return e.listModels(w, r)
	case strings.HasPrefix(endpoint, EndpointModels+"/"):
		return e.getModel(w, r, strings.TrimPrefix(endpoint, EndpointModels+"/"))
	case jsonEndpoints[endpoint]:
		return e.serveJSON(w, r, endpoint)
	case endpoint == EndpointTranscription || endpoint == EndpointTranslation:
		return e.serveMultipart(w, r, endpoint)
	default:
		if id := responseID(endpoint); id != "" && e.Responses != nil {
			return e.serveResponseCall(w, r, endpoint, id)
		}
		return e.servePassThrough(w, r, endpoint, "")
	}
}

func (e *Engine) allowed(model string) bool { return e.AllowModel == nil || e.AllowModel(model) }

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func newModelObject(id string) modelObject {
	return modelObject{ID: id, Object: "model", OwnedBy: "fd2"}
}

func (e *Engine) listModels(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "use GET to list models")
	}
	list := struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{Object: "list", Data: []modelObject{}}
	models := e.Backend.ListModels(r.Context())
	if m := e.Defaults.Model; m != "" && !slices.Contains(models, m) && e.Backend.Known(m) {
		models = append(models, m) // a module's model_name is the model its clients get by default
	}
	for _, m := range models {
		if e.allowed(m) {
			list.Data = append(list.Data, newModelObject(m))
		}
	}
	return writeJSON(w, list)
}

func (e *Engine) getModel(w http.ResponseWriter, r *http.Request, id string) error {
	if r.Method != http.MethodGet {
		return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "use GET to retrieve a model")
	}
	if id == "" || !e.allowed(id) || (id != e.Defaults.Model && !e.Backend.HasModel(r.Context(), id)) {
		return errModelNotFound(id)
	}
	return writeJSON(w, newModelObject(id))
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return apierr.Wrap(http.StatusInternalServerError, "internal_error", "internal gateway error", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

func errModelNotFound(model string) *apierr.Error {
	return apierr.New(http.StatusNotFound, "model_not_found", fmt.Sprintf("the model %q does not exist", model))
}

// checkModel answers whether model may be called: 404 for a model no route serves, 403 for one the
// caller may not use.
func (e *Engine) checkModel(model string) error {
	if !e.Backend.Known(model) {
		return errModelNotFound(model)
	}
	if !e.allowed(model) {
		return apierr.New(http.StatusForbidden, "model_not_allowed",
			fmt.Sprintf("you are not allowed to use the model %q", model))
	}
	return nil
}

// readBody reads a JSON body whole, up to MaxBody; a body an earlier stage read (reqbody) is not read
// again.
func (e *Engine) readBody(r *http.Request) ([]byte, error) {
	limit := e.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := reqbody.Read(r, limit)
	if err != nil {
		var tl *reqbody.TooLargeError
		if errors.As(err, &tl) {
			return nil, apierr.New(http.StatusRequestEntityTooLarge, "request_too_large", tl.Error())
		}
		if r.Context().Err() != nil {
			return nil, errClientClosed(r.Context().Err())
		}
		return nil, apierr.Wrap(http.StatusBadRequest, "invalid_request_error", "reading the request body failed", err)
	}
	return body, nil
}

func errClientClosed(cause error) *apierr.Error {
	return apierr.Wrap(499, "client_closed_request", "client closed the request", cause)
}

// checkJSONObject answers 400 invalid_json, with the parser's reason, for a body that is not a JSON object.
func checkJSONObject(body []byte) error {
	if !json.Valid(body) {
		var v any
		msg := "the request body is empty; expected a JSON object"
		if len(body) > 0 {
			msg = "the request body is not valid JSON"
			if err := json.Unmarshal(body, &v); err != nil {
				msg += ": " + strings.TrimPrefix(err.Error(), "json: ")
			}
		}
		return &apierr.Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_json", Message: msg}
	}
	if !gjson.ParseBytes(body).IsObject() {
		return &apierr.Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "invalid_json",
			Message: "the request body must be a JSON object"}
	}
	return nil
}

func (e *Engine) serveJSON(w http.ResponseWriter, r *http.Request, endpoint string) error {
	if r.Method != http.MethodPost {
		return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "use POST for "+endpoint)
	}
	body, err := e.readBody(r)
	if err != nil {
		return err
	}
	// One pass over the whole document at most per request: a body an earlier stage parsed or produced
	// (a prompt template's output) is known to be an object already.
	if !reqbody.IsObject(r) {
		if err := checkJSONObject(body); err != nil {
			return err
		}
		reqbody.Parsed(r, true)
	}
	mv := gjson.GetBytes(body, "model")
	if mv.Exists() && mv.Type != gjson.String && mv.Type != gjson.Null {
		return apierr.New(http.StatusBadRequest, "invalid_model", "model must be a string")
	}
	model := mv.Str
	if model == "" {
		if e.Defaults.Model == "" {
			return apierr.New(http.StatusBadRequest, "missing_model", "you must provide a model parameter")
		}
		model = e.Defaults.Model
		if body, err = setValidModel(body, model); err != nil {
			return apierr.Wrap(http.StatusBadRequest, "invalid_json", "the request body must be a JSON object", err)
		}
	}
	if err := e.checkModel(model); err != nil {
		return err
	}

	stream := gjson.GetBytes(body, "stream").Bool()
	stripUsage := false
	switch endpoint {
	case EndpointMessages:
		if body, err = applyMessagesDefaults(body, e.Defaults); err != nil {
			return apierr.Wrap(http.StatusInternalServerError, "internal_error", "applying the endpoint defaults failed", err)
		}
	case EndpointCountTokens:
		stream = false
	case EndpointChat:
		if body, err = applyChatDefaults(body, e.Defaults); err != nil {
			return apierr.Wrap(http.StatusInternalServerError, "internal_error", "applying the endpoint defaults failed", err)
		}
		if stream && !gjson.GetBytes(body, "stream_options.include_usage").Bool() {
			// Ask for the usage chunk regardless: it is the only reliable token count of a stream. The
			// client did not ask for it, so it is taken out of what the client receives.
			if body, err = sjson.SetBytes(body, "stream_options.include_usage", true); err != nil {
				return apierr.Wrap(http.StatusInternalServerError, "internal_error", "requesting stream usage failed", err)
			}
			stripUsage = true
		}
	}
	req := &Request{
		Endpoint:    endpoint,
		Method:      r.Method,
		Body:        body,
		bodyObject:  true,
		ContentType: "application/json",
		Model:       model,
		Stream:      stream,
		Header:      clientHeaders(r.Header),
		Query:       r.URL.Query(),
	}
	return e.call(w, r, model, req, stripUsage)
}

// serveMultipart serves the audio upload endpoints without buffering the upload. The model travels in
// a form field, and routing needs it before the provider call starts; so the form is parsed as a
// stream and re-encoded, with the same boundary, into a pipe the provider reads:
//
//   - parts are read in order until the "model" field: small fields are kept in memory (≤ 64 KiB
//     each), and any file part that comes before it (the Node SDK sends the file first) is spooled to
//     a temporary file, never memory;
//   - a goroutine then writes those parts into the pipe, followed by the rest of the form copied part
//     by part straight from the client's body.
//
// Memory use is therefore bounded by the small fields and the copy buffers, whatever the file size.
func (e *Engine) serveMultipart(w http.ResponseWriter, r *http.Request, endpoint string) error {
	if r.Method != http.MethodPost {
		return apierr.New(http.StatusMethodNotAllowed, "method_not_allowed", "use POST for "+endpoint)
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return apierr.New(http.StatusBadRequest, "invalid_multipart", "the request must be multipart/form-data with a boundary")
	}
	limit := e.MaxUploadBody
	if limit <= 0 {
		limit = DefaultMaxUploadBody
	}
	if r.ContentLength > limit {
		return apierr.New(http.StatusRequestEntityTooLarge, "request_too_large",
			fmt.Sprintf("the request body exceeds %d bytes", limit))
	}
	src := http.MaxBytesReader(w, r.Body, limit)
	mr := multipart.NewReader(src, params["boundary"])

	f, err := readFormHead(mr)
	if err != nil {
		f.cleanup()
		return e.uploadError(r, err, limit)
	}
	model := f.model
	if model == "" {
		model = e.Defaults.Model
		if model == "" {
			f.cleanup()
			return apierr.New(http.StatusBadRequest, "missing_model", "you must provide a model form field")
		}
		f.parts = append(f.parts, formPart{header: fieldHeader("model"), data: []byte(model)})
	}
	if err := e.checkModel(model); err != nil {
		f.cleanup()
		return err
	}

	pr, pw := io.Pipe()
	var copyErr error
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// A panic here would end the process (no net/http recovery off the request goroutine).
		copyErr = background.Run(nil, "multipart_copy", func() error { return f.writeTo(pw, mr, params["boundary"]) })
		pw.CloseWithError(copyErr)
	}()

	req := &Request{
		Endpoint:    endpoint,
		Method:      r.Method,
		BodyReader:  pr,
		ContentType: ct,
		Model:       model,
		Header:      clientHeaders(r.Header),
		Query:       r.URL.Query(),
	}
	err = e.call(w, r, model, req, false)
	// Closing the pipe fails the goroutine's next write if the provider stopped reading early; waiting
	// for it matters because the request body must not be read once ServeHTTP has returned.
	_ = pr.Close()
	<-copied
	var mbe *http.MaxBytesError
	if err != nil && errors.As(copyErr, &mbe) {
		// An upload cut short by our own limit surfaces as a provider failure; report the real cause.
		return e.uploadError(r, copyErr, limit)
	}
	return err
}

func (e *Engine) uploadError(r *http.Request, err error, limit int64) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return apierr.New(http.StatusRequestEntityTooLarge, "request_too_large",
			fmt.Sprintf("the request body exceeds %d bytes", limit))
	case r.Context().Err() != nil:
		return errClientClosed(r.Context().Err())
	default:
		var ae *apierr.Error
		if errors.As(err, &ae) {
			return ae
		}
		return apierr.Wrap(http.StatusBadRequest, "invalid_multipart", "the multipart form is malformed", err)
	}
}

// Bounds on the form fields read into memory to find the model.
const (
	maxFormField  = 64 << 10
	maxFormFields = 1 << 20
)

// formPart is a part read before the model field: data in memory, or a spooled file.
type formPart struct {
	header textproto.MIMEHeader
	data   []byte
	file   *os.File
}

type formHead struct {
	parts []formPart
	model string
	done  bool // the form ended before (or at) the model field
}

func fieldHeader(name string) textproto.MIMEHeader {
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"`, name))
	return h
}

// readFormHead reads parts up to and including the "model" field (or to the end of the form).
func readFormHead(mr *multipart.Reader) (*formHead, error) {
	f := &formHead{}
	var fieldBytes int
	for {
		// NextRawPart keeps each part's bytes as sent (NextPart would decode quoted-printable).
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			f.done = true
			return f, nil
		}
		if err != nil {
			return f, fmt.Errorf("reading multipart form: %w", err)
		}
		if p.FileName() != "" {
			tmp, err := os.CreateTemp("", "fd2-upload-*")
			if err != nil {
				return f, apierr.Wrap(http.StatusInternalServerError, "internal_error", "spooling the upload failed", err)
			}
			f.parts = append(f.parts, formPart{header: p.Header, file: tmp})
			if _, err := io.Copy(tmp, p); err != nil {
				return f, fmt.Errorf("spooling upload: %w", err)
			}
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				return f, apierr.Wrap(http.StatusInternalServerError, "internal_error", "spooling the upload failed", err)
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(p, maxFormField+1))
		if err != nil {
			return f, fmt.Errorf("reading form field: %w", err)
		}
		fieldBytes += len(data)
		if len(data) > maxFormField || fieldBytes > maxFormFields {
			return f, apierr.New(http.StatusBadRequest, "invalid_multipart", "a form field is too large")
		}
		f.parts = append(f.parts, formPart{header: p.Header, data: data})
		if p.FormName() == "model" {
			f.model = strings.TrimSpace(string(data))
			return f, nil
		}
	}
}

// cleanup removes spooled files; it is safe to call more than once.
func (f *formHead) cleanup() {
	if f == nil {
		return
	}
	for i := range f.parts {
		if tf := f.parts[i].file; tf != nil {
			_ = tf.Close()
			_ = os.Remove(tf.Name())
			f.parts[i].file = nil
		}
	}
}

// writeTo re-encodes the form into w with the original boundary: the parts read ahead, then the rest
// of mr part by part.
func (f *formHead) writeTo(w io.Writer, mr *multipart.Reader, boundary string) error {
	defer f.cleanup()
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(boundary); err != nil {
		return fmt.Errorf("setting boundary: %w", err)
	}
	for _, p := range f.parts {
		pw, err := mw.CreatePart(p.header)
		if err != nil {
			return fmt.Errorf("writing form part: %w", err)
		}
		if p.file != nil {
			_, err = io.Copy(pw, p.file)
		} else {
			_, err = pw.Write(p.data)
		}
		if err != nil {
			return fmt.Errorf("writing form part: %w", err)
		}
	}
	for !f.done {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading multipart form: %w", err)
		}
		pw, err := mw.CreatePart(p.Header)
		if err != nil {
			return fmt.Errorf("writing form part: %w", err)
		}
		if _, err := io.Copy(pw, p); err != nil {
			return fmt.Errorf("copying form part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("closing form: %w", err)
	}
	return nil
}

// servePassThrough forwards any other endpoint as is. A JSON body is read (bounded) only to find its
// model; any other body streams through. Without a model (nor model, the caller's choice for a call that
// names none) the Backend resolves the "" model: the default provider, or a "*" wildcard route.
func (e *Engine) servePassThrough(w http.ResponseWriter, r *http.Request, endpoint, model string) error {
	req := &Request{
		Endpoint:    endpoint,
		Method:      r.Method,
		ContentType: r.Header.Get("Content-Type"),
		Header:      clientHeaders(r.Header),
		Query:       r.URL.Query(),
	}
	mt, _, _ := mime.ParseMediaType(req.ContentType)
	hasBody := r.Body != nil && r.Body != http.NoBody
	switch {
	case hasBody && mt == "application/json":
		body, err := e.readBody(r)
		if err != nil {
			return err
		}
		req.Body = body
		if m := gjson.GetBytes(body, "model").String(); m != "" {
			model = m
		}
		req.Stream = gjson.GetBytes(body, "stream").Bool()
	case hasBody:
		limit := e.MaxUploadBody
		if limit <= 0 {
			limit = DefaultMaxUploadBody
		}
		req.BodyReader = http.MaxBytesReader(w, r.Body, limit)
	}
	req.Model = model
	if model != "" {
		if err := e.checkModel(model); err != nil {
			return err
		}
	} else if !e.allowed(model) {
		// A caller restricted to some models may not reach model-less endpoints: which model would it use?
		return apierr.New(http.StatusForbidden, "model_not_allowed", "you are not allowed to use this endpoint")
	}
	return e.call(w, r, model, req, false)
}

func clientHeaders(in http.Header) http.Header {
	var out http.Header
	for _, k := range forwardHeaders {
		if v := in.Values(k); len(v) > 0 {
			if out == nil {
				out = make(http.Header)
			}
			out[http.CanonicalHeaderKey(k)] = v
		}
	}
	return out
}

func copySafeHeaders(dst, src http.Header) {
	for _, k := range safeHeaders {
		if v := src.Values(k); len(v) > 0 {
			dst[k] = v
		}
	}
}

// call performs the provider call and writes its response.
func (e *Engine) call(w http.ResponseWriter, r *http.Request, model string, req *Request, stripUsage bool) error {
	start := time.Now()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var firstByteFired atomic.Bool
	var firstByte *time.Timer
	if e.FirstByteTimeout > 0 {
		firstByte = time.AfterFunc(e.FirstByteTimeout, func() {
			firstByteFired.Store(true)
			cancel()
		})
		defer firstByte.Stop()
	}

	if req.Endpoint == EndpointResponses {
		ctx = WithClientModel(ctx, model)
	}
	resp, dep, err := e.Backend.Do(ctx, model, req)
	provider, kind := "", ""
	if dep.Provider != nil {
		provider, kind = dep.Provider.Name(), dep.Provider.Kind()
	}
	upstreamModel := dep.Model
	if upstreamModel == "" {
		upstreamModel = model
	}
	if err != nil {
		ae := e.mapError(r, model, err, &firstByteFired)
		var pe *ProviderError
		if errors.As(err, &pe) {
			if provider == "" {
				provider = pe.Provider
			}
			if ae.Status == http.StatusTooManyRequests && pe.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(pe.RetryAfter), 10))
			}
		}
		// Each failed provider call was recorded by the router (RouterOptions.OnAttempt) with the provider's
		// own status; the request's outcome is reported once, for the log.
		if e.Hooks.OnRouteFailed != nil {
			status := 0
			if pe != nil && !errors.Is(err, ErrCircuitOpen) && !errors.Is(err, ErrResting) {
				status = pe.Status
			}
			e.Hooks.OnRouteFailed(provider, kind, upstreamModel, status)
		}
		return ae
	}
	if resp == nil || resp.Body == nil {
		return apierr.New(http.StatusBadGateway, "upstream_error", "the provider returned no response")
	}

	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	var res streamResult
	if resp.Stream {
		res, err = e.pipeStream(w, resp, &streamParams{
			endpoint: req.Endpoint, model: upstreamModel, stripUsage: stripUsage, start: start, budget: e.CompletionBudget,
			ctx: ctx, firstByte: firstByte, firstByteFired: &firstByteFired,
		})
	} else {
		if firstByte != nil {
			firstByte.Stop()
		}
		res, err = e.copyResponse(ctx, w, resp, req.Endpoint, upstreamModel, start)
	}
	d := time.Since(start)
	if err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) {
			status = ae.Status
		} else if errors.Is(err, ErrResponseAborted) {
			status = http.StatusBadGateway
		}
	}
	if provider != "" && e.Hooks.OnProviderDone != nil {
		e.Hooks.OnProviderDone(provider, kind, upstreamModel, status, d)
	}
	if res.gotToken && e.Hooks.OnFirstToken != nil {
		e.Hooks.OnFirstToken(provider, kind, upstreamModel, res.ttft)
	}
	if res.responseID != "" && e.Responses != nil && err == nil {
		e.Responses.Remember(context.WithoutCancel(ctx), res.responseID, model)
	}
	if usageEndpoints[req.Endpoint] && res.wrote {
		u := res.usage
		if u.Source != UsageSourceProvider {
			// The provider reported nothing: count the prompt from what was sent.
			u.Source = UsageSourceTokenizer
			u.PromptTokens = promptTokens(upstreamModel, req.Endpoint, req.Body)
			u.TotalTokens = u.PromptTokens + u.CompletionTokens
		}
		if e.Hooks.OnUsage != nil {
			e.Hooks.OnUsage(provider, kind, upstreamModel, u)
		}
	}
	return err
}

// replyWindow is how much of a non-streamed answer is read before the status is sent. An answer that ends
// within it (every chat or embeddings reply in practice) is checked whole: one cut off by the provider
// becomes a 502, not a 200 with half a JSON document, and it goes out with an exact Content-Length.
const replyWindow = 1 << 20

// ErrResponseAborted is returned when a response that had already begun could not be completed (the
// provider cut its body off past replyWindow). The status and part of the body are out; the caller must
// abort the response (net/http: panic(http.ErrAbortHandler)) so that the client sees a broken transfer,
// never a clean end.
var ErrResponseAborted = errors.New("the provider's response broke off after it had begun")

// copyResponse writes a non-streamed response, keeping a bounded copy of usage-bearing bodies to read
// their usage from.
func (e *Engine) copyResponse(ctx context.Context, w http.ResponseWriter, resp *Response, endpoint, model string,
	start time.Time) (streamResult, error) {
	var res streamResult
	body := &onceCloser{rc: resp.Body}
	defer body.Close()
	stop := context.AfterFunc(ctx, func() { _ = body.Close() })
	defer stop()

	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	var src io.Reader = body
	var capture *boundedBuffer
	// A compressed body cannot be read for usage; it is passed through and counted from the request.
	if usageEndpoints[endpoint] && (resp.Header.Get("Content-Encoding") == "" || resp.Header.Get("Content-Encoding") == "identity") {
		capture = &boundedBuffer{max: maxUsageCapture}
		src = io.TeeReader(body, capture)
	}
	head, err := io.ReadAll(io.LimitReader(src, replyWindow+1))
	if err != nil {
		if ctx.Err() != nil {
			return res, errClientClosed(ctx.Err())
		}
		return res, apierr.Wrap(http.StatusBadGateway, "upstream_error", "the provider's response broke off", err)
	}
	h := w.Header()
	copySafeHeaders(h, resp.Header)
	whole := len(head) <= replyWindow
	if whole && status < 300 && e.Extra != nil && extraEndpoint(endpoint) && capture != nil {
		head = attachExtra(head, e.Extra)
	}
	if whole {
		h.Set("Content-Length", strconv.Itoa(len(head)))
	} else if cl := resp.Header.Get("Content-Length"); cl != "" {
		// Passed on, so that a client can tell a body cut short from a complete one.
		h.Set("Content-Length", cl)
	} else {
		h.Del("Content-Length")
	}
	w.WriteHeader(status)
	res.wrote = true
	_, werr := w.Write(head)
	if !whole && werr == nil {
		cw := &clientWriter{w: w}
		if _, err := io.Copy(cw, src); err != nil && cw.err == nil && ctx.Err() == nil {
			// A failed write means the client went away (nothing to tell it); a failed read with the client
			// still there is the provider's doing.
			return res, fmt.Errorf("%w: %w", ErrResponseAborted, err)
		}
	}
	res.gotToken, res.ttft = true, time.Since(start)
	if capture != nil && !capture.truncated {
		if endpoint == EndpointResponses && status < 300 {
			res.responseID = createdResponseID(capture.buf)
		}
		if u, ok := usageFromBody(capture.buf); ok {
			res.usage, res.hasUsage = u, true
		} else if endpoint != EndpointEmbeddings {
			res.usage = Usage{Source: UsageSourceTokenizer, CompletionTokens: completionTokens(model, capture.buf)}
		}
	}
	return res, nil
}

// attachExtra adds the extension member to a JSON object answer; anything else is left as it is.
func attachExtra(body []byte, x *Extra) []byte {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return body
	}
	if out, err := sjson.SetRawBytes(body, x.Field, x.Value); err == nil {
		return out
	}
	return body
}

// clientWriter remembers whether a copy failed on the client's side.
type clientWriter struct {
	w   io.Writer
	err error
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// mapError turns a Backend failure into the client's error.
func (e *Engine) mapError(r *http.Request, model string, err error, firstByteFired *atomic.Bool) *apierr.Error {
	if firstByteFired.Load() {
		return apierr.Wrap(http.StatusGatewayTimeout, "upstream_timeout",
			"the provider did not answer within "+e.FirstByteTimeout.String(), err)
	}
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		return errClientClosed(err)
	}
	if errors.Is(err, ErrUnknownModel) {
		if model == "" {
			return apierr.Wrap(http.StatusBadRequest, "no_default_provider",
				"this request names no model, and the gateway has no default provider for such requests "+
					"(the operator sets one with default_provider)", err)
		}
		return apierr.Wrap(http.StatusNotFound, "model_not_found", "the model does not exist", err)
	}
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae
	}
	var pe *ProviderError
	hasPE := errors.As(err, &pe)
	switch {
	case hasPE && ProviderAuthFailed(pe):
		// The provider refused FD2's credential, not the client's: a 401 here would tell the client its own
		// key failed.
		return apierr.Wrap(http.StatusBadGateway, "provider_auth_failed",
			"the provider refused the gateway's credentials; the operator has been alerted", err)
	case hasPE && pe.Status == http.StatusTooManyRequests:
		msg := "the provider's rate limit was reached"
		if pe.RetryAfter > 0 {
			msg += "; retry after " + strconv.FormatInt(retryAfterSeconds(pe.RetryAfter), 10) + "s"
		}
		return apierr.Wrap(http.StatusTooManyRequests, "rate_limit_exceeded", msg, err)
	case hasPE && !pe.Retryable && pe.Status >= 400 && pe.Status < 500:
		// The client's own mistake (bad parameter, context too long): the provider's words help it most.
		return providerAPIError(pe, err)
	}
	if errors.Is(err, ErrAllFailed) || hasPE {
		status, msg := http.StatusBadGateway, "all providers failed"
		if hasPE {
			if pe.Message != "" {
				msg += ": " + pe.Message
			}
			if isTimeout(pe) {
				status = http.StatusGatewayTimeout
			}
		}
		return apierr.Wrap(status, "upstream_error", msg, err)
	}
	if errors.Is(err, ErrUnsupported) {
		return apierr.Wrap(http.StatusBadRequest, "unsupported_endpoint", "no provider of this model supports this endpoint", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return apierr.Wrap(http.StatusGatewayTimeout, "upstream_timeout", "the provider timed out", err)
	}
	return apierr.Wrap(http.StatusBadGateway, "upstream_error", "the provider call failed", err)
}

// retryAfterSeconds is d in whole seconds for a Retry-After header, rounded up and at least 1 (0 invites an
// immediate retry storm).
func retryAfterSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

func providerAPIError(pe *ProviderError, err error) *apierr.Error {
	ae := &apierr.Error{Status: pe.Status, Type: pe.Type, Code: pe.Code, Message: pe.Message, Cause: err}
	if ae.Type == "" {
		ae.Type = apierr.TypeFor(pe.Status)
	}
	if ae.Message == "" {
		ae.Message = http.StatusText(pe.Status)
	}
	return ae
}

func isTimeout(pe *ProviderError) bool {
	if pe.Status == http.StatusGatewayTimeout || pe.Status == http.StatusRequestTimeout {
		return true
	}
	if errors.Is(pe.Cause, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(pe.Cause, &ne) && ne.Timeout()
}
