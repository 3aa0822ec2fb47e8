// Copyright 2026 The FD2 Authors. SPDX-License-Identifier: Apache-2.0

// Package modelserver is the Caddy-free core of FD2's model_server module type: it decodes a manifest's
// ModelServerModule config, maps a client's path below /{project}/{module} to the DSP model server's
// /api/v1/models API (embeddings, rerank, classify, classify/eval, health, list), applies the module's
// default models and enforces its allow-lists, translates OpenAI's /v1/embeddings to the model server's
// {texts, model_name} → {embeddings, dimensions, model} and back, answers /v1/models itself, and maps the
// model server's FastAPI errors to FD2's error shape.
//
// The Caddy glue (caddymodules/moduletypes) owns the transport: it calls Resolve, then Rewrite (or the
// OpenAI pair EmbeddingsRequest / EmbeddingsResponse), forwards to Call.Path behind the service URL, and
// passes a non-2xx answer through MapError.
//
// # Paths
//
// service_url is the service root, as the Control Tower's manifests write it (http://model-server:8000);
// the model server's API is under /api/v1/models, which FD2 adds unless the URL's path already ends with
// it. The original Front Door forwarded to {service_url}{endpoint} and so missed that prefix unless a
// manifest spelled it out in every *_endpoint field; FD2 accepts both spellings: an endpoint starting with
// /api/v1/models/ is taken as written, any other as a path under the prefix.
//
// # What FD2 enforces that the model server does not
//
//   - default_{embedding,reranker,classifier}_model fills a request without model_name (the model server
//     would otherwise fall back to its own built-in default, whatever the module says);
//   - available_*_models, when non-empty, is an allow-list: another model is refused with 400
//     model_not_allowed naming the list, and a request without a model where the module has no default
//     is refused too (400 model_required), so that the model server's built-in default cannot slip past
//     the list;
//   - request bodies are validated and re-encoded, so that what the model server reads is what FD2
//     checked: a duplicated "model_name" key is resolved as Python's json module resolves it (the last
//     one wins) before the allow-list sees it, and the forwarded body has each key once.
//
// batch_size is informational here: the model server encodes a request's texts in one call and has no
// batch parameter, and splitting a request into several calls would make one client request several
// upstream failures and retries. The bound on one request is MaxTexts texts.
package modelserver
